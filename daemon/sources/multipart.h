/* SPDX-License-Identifier: GPL-3.0-or-later */
/* multipart.h: an incremental reader of the multipart streams cameras push
 * (multipart/mixed, multipart/x-mixed-replace, RFC 2046 section 5.1), fed
 * arbitrary chunks and tolerant of what cameras really send. Memory is bounded
 * per stream: a part larger than max_part is passed over and counted. It knows
 * nothing of XML or event codes and does no I/O. */
#ifndef NTM_MULTIPART_H
#define NTM_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NTM_MULTIPART_BOUNDARY_MAX 70 /* RFC 2046's limit on a boundary */
#define NTM_MULTIPART_LINE_MAX 256    /* longest delimiter or header line looked at */

struct ntm_multipart_part {
    const char *content_type; /* the part's own Content-Type, "" when it had none */
    const char *body;         /* NUL-terminated after `len` bytes; valid during the call */
    size_t len;
};

/* Called for each complete part; a non-zero return stops the reader and is
 * returned by ntm_multipart_feed (then and at every later call). */
typedef int (*ntm_multipart_part_fn)(void *arg, const struct ntm_multipart_part *part);

struct ntm_multipart_stats {
    uint64_t parts;         /* delivered */
    uint64_t oversized;     /* passed over: longer than max_part */
    uint64_t truncated;     /* the stream ended inside a part */
    uint64_t garbage_bytes; /* non-blank bytes outside any part */
    bool boundary_learned;  /* the boundary came from the stream, not the header */
    size_t peak_buffer;     /* most bytes ever held for one part */
};

enum ntm_multipart_state { NTM_MP_SEEK, NTM_MP_HEADERS, NTM_MP_BODY, NTM_MP_SKIP };

/* Opaque in spirit: the fields are here only so that it can be embedded. */
struct ntm_multipart {
    ntm_multipart_part_fn fn;
    void *arg;
    size_t max_part;
    char token[NTM_MULTIPART_BOUNDARY_MAX + 1]; /* the boundary without leading dashes */
    size_t token_len;                           /* 0: not known yet */
    bool token_from_header, seen_delimiter;
    enum ntm_multipart_state state;
    char line[NTM_MULTIPART_LINE_MAX]; /* the first bytes of the line being read */
    size_t line_len;
    bool line_long;      /* the line was longer than line[] */
    uint64_t line_total; /* its whole length so far */
    char *buf;           /* the body of the part being read */
    size_t len, cap;
    size_t line_start; /* in the body: where its current line starts */
    int64_t clen;      /* the part's Content-Length, -1 when it gave none */
    uint64_t skipped;  /* bytes of an oversized part passed over */
    char content_type[64];
    int stop;
    struct ntm_multipart_stats st;
};

/* `content_type` is the HTTP response's Content-Type (may be NULL or have no
 * boundary: the boundary is then learned from the first "--token" line). */
void ntm_multipart_init(struct ntm_multipart *m, const char *content_type, size_t max_part,
                        ntm_multipart_part_fn fn, void *arg);
/* Feeds `len` bytes; returns 0, or the non-zero value a part callback returned. */
int ntm_multipart_feed(struct ntm_multipart *m, const char *data, size_t len);
/* The stream has ended: a part still being read is dropped and counted as
 * truncated (its end is unknown, so it is never half-understood). */
void ntm_multipart_finish(struct ntm_multipart *m);
/* Frees the part buffer; the reader may then be initialized again. */
void ntm_multipart_free(struct ntm_multipart *m);

#endif
