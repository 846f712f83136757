/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_config_docs.c: the documentation of the configuration keys agrees with their
 * tables (daemon/config_keys.c): README.md's table is the one --print-config-keys prints,
 * and config/gateway.yaml, the commented example the package installs, shows every key
 * (set, or in a comment) with its default. NTM_SOURCE_ROOT points at the checkout. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#include "check.h"

#define BEGIN_MARK "<!-- The table below is generated"
#define END_MARK "<!-- end of the generated table -->"

static const char *source_root(void)
{
    const char *root = getenv("NTM_SOURCE_ROOT");
    return root && *root ? root : "../..";
}

static char *read_file(const char *rel)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", source_root(), rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(f);
    fclose(m);
    return buf;
}

static char *generated_table(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    CHECK(ntm_config_print_keys(m) == 0);
    fclose(m);
    return buf;
}

/* The table between the markers, without the blank lines around it; NULL if absent. */
static char *readme_table(const char *readme)
{
    const char *b = strstr(readme, BEGIN_MARK);
    const char *e = b ? strstr(b, END_MARK) : NULL;
    if (e == NULL)
        return NULL;
    b = strstr(b, "-->\n");
    if (b == NULL || b > e)
        return NULL;
    b += 4;
    while (b < e && *b == '\n')
        b++;
    while (e > b && e[-1] == '\n')
        e--;
    char *t = malloc((size_t)(e - b) + 2);
    memcpy(t, b, (size_t)(e - b));
    strcpy(t + (e - b), "\n");
    return t;
}

static void test_readme_table(void)
{
    char *readme = read_file("README.md");
    char *want = generated_table();
    CHECK(readme != NULL && want != NULL);
    if (readme == NULL || want == NULL)
        return;
    char *got = readme_table(readme);
    if (got == NULL) {
        failed++;
        fprintf(stderr, "README.md: no generated configuration table between '%s' and '%s'\n",
                BEGIN_MARK, END_MARK);
    } else if (strcmp(got, want) != 0) {
        failed++;
        const char *g = got, *w = want;
        int line = 1;
        while (*g && *g == *w) {
            line += *g == '\n';
            g++;
            w++;
        }
        while (g > got && g[-1] != '\n')
            g--, w--;
        fprintf(stderr,
                "README.md's configuration table differs from the key tables at its line %d:\n"
                "  README.md: %.*s\n  generated: %.*s\n"
                "Paste the output of `build/daemon/ntm-gatewayd --print-config-keys` there.\n",
                line, (int)strcspn(g, "\n"), g, (int)strcspn(w, "\n"), w);
    } else {
        passed++;
    }
    free(got);
    free(want);
    free(readme);
}

/* ---- config/gateway.yaml ---- */

struct yaml_text {
    char **lines;
    int n;
};

static struct yaml_text split_lines(char *text)
{
    struct yaml_text y = {0};
    for (char *p = text; p && *p;) {
        y.lines = realloc(y.lines, (size_t)(y.n + 1) * sizeof *y.lines);
        y.lines[y.n++] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
    return y;
}

static int indent_of(const char *l)
{
    int i = 0;
    while (l[i] == ' ')
        i++;
    return i;
}

static bool is_blank(const char *l)
{
    return l[indent_of(l)] == '\0';
}

static bool is_comment(const char *l)
{
    return l[indent_of(l)] == '#';
}

/* The content of a line with an optional leading "# " (a key shown commented out). */
static const char *uncommented(const char *l)
{
    l += indent_of(l);
    if (*l == '#')
        for (l++; *l == ' '; l++)
            ;
    return l;
}

/* A comment line that shows a key (`# username: ...`), not prose. */
static bool is_key_comment(const char *l)
{
    if (!is_comment(l))
        return false;
    const char *c = uncommented(l);
    size_t n = strspn(c, "abcdefghijklmnopqrstuvwxyz_");
    return n > 0 && c[n] == ':' && (c[n + 1] == ' ' || c[n + 1] == '\0');
}

/* Where `name:` stands in line l as a key (not part of a longer name), or NULL. */
static const char *key_in(const char *l, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(l, name); p; p = strstr(p + 1, name)) {
        bool start = p == l || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
        if (start && p[n] == ':' && (p[n + 1] == ' ' || p[n + 1] == '\0'))
            return p;
    }
    return NULL;
}

/* The first line in [lo, hi) where `name` is a key; at the top level (top) only at the
 * start of a line, set or commented out. -1 when absent. */
static int find_key(const struct yaml_text *y, int lo, int hi, const char *name, bool top)
{
    for (int i = lo; i < hi; i++) {
        const char *l = y->lines[i];
        const char *at = key_in(l, name);
        if (at != NULL && (!top || at == uncommented(l)) && (!top || indent_of(l) == 0))
            return i;
    }
    return -1;
}

/* The lines under the key at line i: itself and those indented deeper. */
static int block_end(const struct yaml_text *y, int i)
{
    int ind = indent_of(y->lines[i]), j = i + 1;
    while (j < y->n && (is_blank(y->lines[j]) || indent_of(y->lines[j]) > ind))
        j++;
    return j;
}

/* Appends the comments documenting line i: the prose comment lines right above it and the
 * comment at its end. */
static void add_context(const struct yaml_text *y, int i, char *buf, size_t size)
{
    int top = i;
    while (top > 0 && is_comment(y->lines[top - 1]) && !is_key_comment(y->lines[top - 1]))
        top--;
    for (int j = top; j <= i; j++) {
        const char *l = y->lines[j];
        const char *c = j < i ? l : strchr(l + indent_of(l) + 1, '#');
        if (c != NULL && strlen(buf) + strlen(c) + 2 < size) {
            strcat(buf, " ");
            strcat(buf, c);
        }
    }
}

/* Lower case, '#' dropped, white space collapsed. */
static void normalize(char *s)
{
    char *o = s;
    bool space = false;
    for (char *p = s; *p; p++) {
        char ch = *p == '#' ? ' ' : (char)tolower((unsigned char)*p);
        if (isspace((unsigned char)ch)) {
            space = o != s;
            continue;
        }
        if (space)
            *o++ = ' ';
        space = false;
        *o++ = ch;
    }
    *o = '\0';
}

/* Whether the documentation says the default `def` (or "required"). */
static bool says_default(char *doc, const char *def)
{
    char want[256];
    snprintf(want, sizeof want, "%s%s", strcmp(def, "required") == 0 ? "" : "default: ", def);
    normalize(want);
    normalize(doc);
    size_t n = strlen(want);
    for (const char *p = strstr(doc, want); p; p = strstr(p + 1, want))
        if (!isalnum((unsigned char)p[n]) && p[n] != '_')
            return true;
    return false;
}

struct yaml_check {
    struct yaml_text y;
    int checked;
};

static void check_key(void *arg, const struct ntm_config_key_doc *k)
{
    struct yaml_check *yc = arg;
    const struct yaml_text *y = &yc->y;
    char path[128], doc[4096] = "";
    snprintf(path, sizeof path, "%s", k->key);
    int lo = 0, hi = y->n, line = -1;
    bool top = true;
    for (char *seg = strtok(path, "."); seg != NULL; seg = strtok(NULL, ".")) {
        char *br = strstr(seg, "[]");
        if (br)
            *br = '\0';
        line = find_key(y, lo, hi, seg, top);
        if (line < 0)
            break;
        /* the parent's comments count for keys written inside a flow mapping or list entry */
        const char *at = key_in(y->lines[line], seg);
        const char *content = uncommented(y->lines[line]);
        bool inline_key = at != content || strncmp(content, "- ", 2) == 0;
        if (!inline_key)
            doc[0] = '\0';
        if (!inline_key || line != lo || top)
            add_context(y, line, doc, sizeof doc);
        lo = line;
        hi = block_end(y, line);
        top = false;
    }
    yc->checked++;
    if (line < 0) {
        failed++;
        fprintf(stderr, "config/gateway.yaml does not show the key %s (set or in a comment)\n",
                k->key);
    } else if (!says_default(doc, k->def)) {
        failed++;
        fprintf(stderr,
                "config/gateway.yaml, line %d: the comments on %s do not say \"%s%s\" (its "
                "default in daemon/config_keys.c); they say: %s\n",
                line + 1, k->key, strcmp(k->def, "required") == 0 ? "" : "Default: ", k->def, doc);
    } else {
        passed++;
    }
}

static void test_example_documents_every_key(void)
{
    struct yaml_check yc = {0};
    char *text = read_file("config/gateway.yaml");
    CHECK(text != NULL);
    if (text == NULL)
        return;
    yc.y = split_lines(text);
    ntm_config_each_key(check_key, &yc);
    CHECK(yc.checked >= 30); /* the walk saw the tables */
    free(yc.y.lines);
    free(text);
}

int main(void)
{
    test_readme_table();
    test_example_documents_every_key();
    printf("config_docs: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
