/* SPDX-License-Identifier: GPL-3.0-or-later */
/* lang.c: the page's language per request through gettext (domain
 * ntm-gateway, po/vi.po). English is the msgid itself; Vietnamese is looked
 * up with LANGUAGE=vi under the C.UTF-8 locale, so no vi_VN locale needs to
 * be generated on the board. Holds no words itself. */
#include <libintl.h>
#include <locale.h>
#include <stdlib.h>

#include "view.h"

void web_lang_init(void)
{
    if (!setlocale(LC_ALL, "C.UTF-8"))
        setlocale(LC_ALL, "");
    const char *dir = getenv("NTM_LOCALEDIR");
    bindtextdomain(NTM_GETTEXT_DOMAIN, dir && dir[0] ? dir : NTM_LOCALEDIR);
    bind_textdomain_codeset(NTM_GETTEXT_DOMAIN, "UTF-8");
}

const char *web_tr(int lang, const char *en)
{
    if (lang == NTM_LANG_EN)
        return en;
    setenv("LANGUAGE", "vi", 1);
    const char *t = dgettext(NTM_GETTEXT_DOMAIN, en);
    unsetenv("LANGUAGE");
    return t;
}
