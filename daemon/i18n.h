/* SPDX-License-Identifier: GPL-3.0-or-later */
/* i18n.h: gettext for what operators read (ntmctl, the web page), domain
 * ntm-gateway. English msgids; the locale (LANG=vi_VN.UTF-8) picks the
 * language, the C locale gives English. The daemon's log stays English (one
 * language for the journal and for searching it). */
#ifndef NTM_I18N_H
#define NTM_I18N_H

#include <libintl.h>
#include <locale.h>
#include <stdlib.h>

#define _(s) gettext(s)
#define N_(s) (s)

/* setlocale + bindtextdomain; NTM_LOCALEDIR in the environment overrides the
 * installed directory (the tests use the build tree's). */
static inline void ntm_i18n_init(void)
{
    setlocale(LC_ALL, "");
    const char *dir = getenv("NTM_LOCALEDIR");
    bindtextdomain(NTM_GETTEXT_DOMAIN, dir && dir[0] ? dir : NTM_LOCALEDIR);
    bind_textdomain_codeset(NTM_GETTEXT_DOMAIN, "UTF-8");
    textdomain(NTM_GETTEXT_DOMAIN);
}

#endif
