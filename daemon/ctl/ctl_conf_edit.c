/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ctl_conf_edit.c: line edits of the configuration's top-level `devices:`
 * sequence and the atomic replacement of the file (see ctl_conf_edit.h). It
 * knows YAML only as lines; it must not decide validity (the caller re-parses). */
#include "ctl_conf_edit.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "i18n.h"

#define MAX_CONF (1024 * 1024)

struct line {
    size_t start, end; /* [start, end): without its newline */
    size_t next;       /* the start of the next line */
};

static bool next_line(const char *t, size_t len, size_t at, struct line *l)
{
    if (at >= len)
        return false;
    const char *nl = memchr(t + at, '\n', len - at);
    l->start = at;
    l->end = nl ? (size_t)(nl - t) : len;
    l->next = nl ? l->end + 1 : len;
    return true;
}

/* The first character of the line that is not a blank, or end. */
static size_t first_char(const char *t, const struct line *l)
{
    size_t i = l->start;
    while (i < l->end && (t[i] == ' ' || t[i] == '\t'))
        i++;
    return i;
}

/* Where the devices: sequence is: its key line, the form of its value, and
 * the lines of its block (up to the next top-level key). */
struct devices_block {
    bool found;
    struct line key;
    size_t value;        /* first character after "devices:" and blanks */
    bool empty_flow;     /* "devices: []" */
    size_t last_content; /* end of the block's last line that is not blank or a comment */
    size_t n_items;
    int indent; /* of the first item, 2 when none */
};

static int find_devices(const char *t, size_t len, struct devices_block *b, char *why,
                        size_t whylen)
{
    memset(b, 0, sizeof *b);
    b->indent = 2;
    struct line l;
    size_t at = 0;
    while (next_line(t, len, at, &l)) {
        at = l.next;
        if (!b->found) {
            size_t n = l.end - l.start;
            if (n < 8 || memcmp(t + l.start, "devices:", 8) != 0 ||
                (n > 8 && t[l.start + 8] != ' ' && t[l.start + 8] != '\t'))
                continue;
            b->found = true;
            b->key = l;
            size_t v = l.start + 8;
            while (v < l.end && (t[v] == ' ' || t[v] == '\t'))
                v++;
            b->value = v;
            b->last_content = l.end;
            if (v + 1 < l.end && t[v] == '[' && t[v + 1] == ']') {
                size_t r = v + 2;
                while (r < l.end && (t[r] == ' ' || t[r] == '\t'))
                    r++;
                b->empty_flow = r == l.end || t[r] == '#';
            }
            if (v < l.end && t[v] != '#' && !b->empty_flow) {
                snprintf(why, whylen,
                         _("the devices: list of the configuration is written on one line; "
                           "write it as a block of `- {id: ...}` lines first"));
                return -1;
            }
            continue;
        }
        size_t c = first_char(t, &l);
        if (l.start == c && c < l.end && t[c] != '#' && t[c] != '-')
            break; /* the next top-level key */
        if (c == l.end || t[c] == '#')
            continue;
        if (b->empty_flow) {
            snprintf(why, whylen,
                     _("the devices: list of the configuration is `[]` followed by more lines; "
                       "edit it by hand"));
            return -1;
        }
        if (t[c] == '-' && (c + 1 == l.end || t[c + 1] == ' ')) {
            if (b->n_items++ == 0)
                b->indent = (int)(c - l.start);
        }
        b->last_content = l.end;
    }
    return 0;
}

static char *text_splice(const char *t, size_t len, size_t cut_from, size_t cut_to, const char *ins,
                         size_t *out_len)
{
    size_t il = strlen(ins);
    char *o = malloc(len - (cut_to - cut_from) + il + 1);
    if (!o)
        return NULL;
    memcpy(o, t, cut_from);
    memcpy(o + cut_from, ins, il);
    memcpy(o + cut_from + il, t + cut_to, len - cut_to);
    *out_len = len - (cut_to - cut_from) + il;
    o[*out_len] = '\0';
    return o;
}

char *ntm_conf_add_device(const char *text, size_t len, const char *item, size_t *out_len,
                          char *why, size_t whylen)
{
    struct devices_block b;
    if (find_devices(text, len, &b, why, whylen) != 0)
        return NULL;
    char ins[1024];
    if (!b.found) {
        bool nl = len == 0 || text[len - 1] == '\n';
        snprintf(ins, sizeof ins, "%sdevices:\n  - %s\n", nl ? "" : "\n", item);
        return text_splice(text, len, len, len, ins, out_len);
    }
    if (b.empty_flow) { /* "devices: []  # c" -> "devices: # c" and the item below */
        size_t vend = b.value + 2;
        while (vend < b.key.end && (text[vend] == ' ' || text[vend] == '\t'))
            vend++;
        snprintf(ins, sizeof ins, "%s%.*s\n%*s- %s", vend < b.key.end ? " " : "",
                 (int)(b.key.end - vend), text + vend, b.indent, "", item);
        return text_splice(text, len, b.key.start + 8, b.key.end, ins, out_len);
    }
    snprintf(ins, sizeof ins, "\n%*s- %s", b.indent, "", item);
    return text_splice(text, len, b.last_content, b.last_content, ins, out_len);
}

/* Whether the line is `- {..., id: ID, ...}` (one flow mapping, perhaps a
 * comment after it). */
static bool item_is(const char *t, const struct line *l, const char *id)
{
    size_t c = first_char(t, l);
    if (c + 2 >= l->end || t[c] != '-' || t[c + 1] != ' ')
        return false;
    c += 2;
    while (c < l->end && t[c] == ' ')
        c++;
    if (c >= l->end || t[c] != '{')
        return false;
    const char *close = memchr(t + c, '}', l->end - c);
    if (!close)
        return false;
    for (const char *r = close + 1; r < t + l->end && *r != '#'; r++)
        if (*r != ' ' && *r != '\t')
            return false;
    const char *p = t + c + 1;
    while (p < close) {
        const char *comma = memchr(p, ',', (size_t)(close - p));
        const char *e = comma ? comma : close;
        while (p < e && *p == ' ')
            p++;
        if (e - p > 3 && memcmp(p, "id:", 3) == 0) {
            const char *v = p + 3, *ve = e;
            while (v < ve && *v == ' ')
                v++;
            while (ve > v && ve[-1] == ' ')
                ve--;
            if (ve - v >= 2 && (*v == '"' || *v == '\'') && ve[-1] == *v) {
                v++;
                ve--;
            }
            return (size_t)(ve - v) == strlen(id) && memcmp(v, id, strlen(id)) == 0;
        }
        p = e + 1;
    }
    return false;
}

char *ntm_conf_remove_device(const char *text, size_t len, const char *id, size_t *out_len,
                             char *why, size_t whylen)
{
    struct devices_block b;
    if (find_devices(text, len, &b, why, whylen) != 0)
        return NULL;
    struct line l;
    size_t at = b.found ? b.key.next : len;
    while (b.found && at <= b.last_content && next_line(text, len, at, &l)) {
        at = l.next;
        if (!item_is(text, &l, id))
            continue;
        if (b.n_items > 1)
            return text_splice(text, len, l.start, l.next, "", out_len);
        /* the last one: devices: becomes `[]` again */
        char *o = text_splice(text, len, l.start, l.next, "", out_len);
        if (!o)
            return NULL;
        char *r = text_splice(o, *out_len, b.value, b.value, b.value < b.key.end ? "[] " : " []",
                              out_len);
        free(o);
        return r;
    }
    snprintf(why, whylen,
             _("device %s is not declared on a line of its own (`  - {id: %s, ...}`) in the "
               "devices: list; remove it by hand"),
             id, id);
    return NULL;
}

char *ntm_conf_read(const char *path, size_t *len, char *why, size_t whylen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(why, whylen, _("cannot read %s: %s"), path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_CONF + 1);
    size_t n = buf ? fread(buf, 1, MAX_CONF + 1, f) : 0;
    bool bad = !buf || ferror(f) || n > MAX_CONF;
    fclose(f);
    if (bad) {
        snprintf(why, whylen, _("cannot read %s: %s"), path,
                 buf && n > MAX_CONF ? _("larger than 1 MiB") : strerror(errno));
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int ntm_conf_replace(const char *path, const char *text, size_t len, char *why, size_t whylen)
{
    char real[PATH_MAX], dir[PATH_MAX], tmp[PATH_MAX + 32];
    struct stat st;
    if (!realpath(path, real) || stat(real, &st) != 0) {
        snprintf(why, whylen, _("cannot write %s: %s"), path, strerror(errno));
        return -1;
    }
    snprintf(dir, sizeof dir, "%s", real);
    snprintf(tmp, sizeof tmp, "%s.ntmctl-XXXXXX", real);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(why, whylen, _("cannot write in the directory of %s: %s"), real, strerror(errno));
        return -1;
    }
    const char *problem = NULL;
    if (fchmod(fd, st.st_mode & 07777) != 0)
        problem = strerror(errno);
    else if ((st.st_uid != geteuid() || st.st_gid != getegid()) &&
             fchown(fd, st.st_uid, st.st_gid) != 0)
        problem = strerror(errno);
    for (size_t off = 0; !problem && off < len;) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            problem = strerror(errno);
        else
            off += (size_t)w;
    }
    if (!problem && fsync(fd) != 0)
        problem = strerror(errno);
    if (close(fd) != 0 && !problem)
        problem = strerror(errno);
    if (!problem && rename(tmp, real) != 0)
        problem = strerror(errno);
    if (problem) {
        snprintf(why, whylen, _("cannot write %s: %s (the file is unchanged)"), real, problem);
        unlink(tmp);
        return -1;
    }
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}
