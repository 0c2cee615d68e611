/* Content-Encoding decoding for the client: gzip (one or more members),
 * deflate (zlib-wrapped as RFC 9110 says, or raw as some servers send),
 * stacked codings undone last first. Streaming with bounded memory: each
 * stage is one zlib inflate state, and stacked stages pass data through a
 * small buffer each; nothing grows with the body (the caller's body limit
 * bounds what a decompression bomb can make it read). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "client_parts.h"

/* More than this many stacked codings is refused (-EPROTO) rather than
 * run: no server stacks more, and each costs an inflate window. */
#define MAX_STAGES 4
#define STAGE_BUF 16384

enum kind { GZIP, DEFLATE };

struct stage {
    z_stream z;
    enum kind kind;
    bool started;  /* inflateInit2 done */
    bool ended;    /* the compressed stream ended (Z_STREAM_END) */
    bool full;     /* the last call filled its output: more may be held */
    unsigned char head[2]; /* deflate: the first bytes, held until the form is known */
    unsigned nhead;
    /* The output buffer feeding the next stage (unused in the last). */
    unsigned char *buf;
    size_t pos, len;
};

struct cio__http_decoder {
    int n;
    struct stage st[MAX_STAGES];
};

static int token_kind(const char *s, size_t n)
{
    if (cio__http_ieq(s, n, "gzip", 4) || cio__http_ieq(s, n, "x-gzip", 6)) return GZIP;
    if (cio__http_ieq(s, n, "deflate", 7)) return DEFLATE;
    if (cio__http_ieq(s, n, "identity", 8)) return -1;
    return -2;
}

int cio__http_decoder_new(const char *coding, struct cio__http_decoder **out)
{
    if (!out) return -EINVAL;
    *out = NULL;
    if (!coding) return 0;
    enum kind kinds[MAX_STAGES];
    int n = 0;
    const char *p = coding;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        const char *e = p;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t')) t--;
        if (t > p) { /* empty list elements are allowed (RFC 9110 5.6.1) */
            int k = token_kind(p, (size_t)(t - p));
            if (k == -2) return -EPROTO;
            if (k >= 0) {
                if (n == MAX_STAGES) return -EPROTO;
                kinds[n++] = (enum kind)k;
            }
        }
        if (!*e) break;
        p = e + 1;
    }
    if (n == 0) return 0;
    struct cio__http_decoder *d = calloc(1, sizeof *d);
    if (!d) return -ENOMEM;
    d->n = n;
    /* The coding applied last is undone first. */
    for (int i = 0; i < n; i++) {
        d->st[i].kind = kinds[n - 1 - i];
        if (i < n - 1) {
            d->st[i].buf = malloc(STAGE_BUF);
            if (!d->st[i].buf) {
                cio__http_decoder_free(d);
                return -ENOMEM;
            }
        }
    }
    *out = d;
    return 0;
}

void cio__http_decoder_free(struct cio__http_decoder *d)
{
    if (!d) return;
    for (int i = 0; i < d->n; i++) {
        if (d->st[i].started) inflateEnd(&d->st[i].z);
        free(d->st[i].buf);
    }
    free(d);
}

static int zerr(int rc) { return rc == Z_MEM_ERROR ? -ENOMEM : -EPROTO; }

/* A zlib header (RFC 1950): CM 8, a window of at most 32 KiB, and the
 * check bits; anything else is taken as raw deflate, the way browsers
 * sniff "deflate" bodies. */
static bool zlib_header(const unsigned char h[2])
{
    return (h[0] & 0x0f) == 8 && (h[0] >> 4) <= 7 && ((h[0] << 8) | h[1]) % 31 == 0;
}

static int start(struct stage *s, int wbits)
{
    memset(&s->z, 0, sizeof s->z);
    int rc = inflateInit2(&s->z, wbits);
    if (rc != Z_OK) return zerr(rc);
    s->started = true;
    return 0;
}

/* Runs one inflate step of s from in[0..inlen) into out[0..outlen).
 * Sets *used and *made. Returns 0 or a negative error. */
static int step(struct stage *s, const unsigned char *in, size_t inlen, size_t *used,
                unsigned char *out, size_t outlen, size_t *made)
{
    *used = *made = 0;
    if (s->ended) {
        if (inlen == 0) return 0;
        /* Another gzip member may follow one that ended (RFC 1952 2.2);
         * anything else after the end is refused. */
        if (s->kind != GZIP) return -EPROTO;
        if (in[0] != 0x1f) return -EPROTO;
        int rc = inflateReset(&s->z);
        if (rc != Z_OK) return zerr(rc);
        s->ended = false;
    }
    if (!s->started) {
        int rc;
        if (s->kind == GZIP) {
            rc = start(s, 16 + MAX_WBITS);
        } else {
            while (s->nhead < 2 && *used < inlen) s->head[s->nhead++] = in[(*used)++];
            if (s->nhead < 2) return 0;
            rc = start(s, zlib_header(s->head) ? MAX_WBITS : -MAX_WBITS);
        }
        if (rc < 0) return rc;
    }
    size_t total_out = 0;
    /* Held header bytes first, then the caller's input. */
    while (s->nhead > 0 && !s->ended) {
        s->z.next_in = s->head + (2 - s->nhead);
        s->z.avail_in = s->nhead;
        s->z.next_out = out + total_out;
        s->z.avail_out = (uInt)(outlen - total_out);
        int rc = inflate(&s->z, Z_NO_FLUSH);
        s->nhead = s->z.avail_in;
        total_out = outlen - s->z.avail_out;
        if (rc == Z_STREAM_END) {
            s->ended = true;
            if (s->nhead) return -EPROTO; /* cannot happen: no stream is 1 byte */
        } else if (rc == Z_BUF_ERROR) {
            break;
        } else if (rc != Z_OK) {
            return zerr(rc);
        }
    }
    if (s->nhead == 0 && !s->ended && (inlen > *used || total_out < outlen)) {
        size_t avail = inlen - *used;
        uInt ain = avail > UINT32_MAX ? UINT32_MAX : (uInt)avail;
        size_t room = outlen - total_out;
        uInt aout = room > UINT32_MAX ? UINT32_MAX : (uInt)room;
        s->z.next_in = (unsigned char *)(uintptr_t)(in + *used);
        s->z.avail_in = ain;
        s->z.next_out = out + total_out;
        s->z.avail_out = aout;
        int rc = inflate(&s->z, Z_NO_FLUSH);
        *used += ain - s->z.avail_in;
        total_out += aout - s->z.avail_out;
        if (rc == Z_STREAM_END)
            s->ended = true;
        else if (rc != Z_OK && rc != Z_BUF_ERROR)
            return zerr(rc);
    }
    s->full = !s->ended && total_out == outlen && outlen > 0;
    *made = total_out;
    return 0;
}

ssize_t cio__http_decoder_run(struct cio__http_decoder *d, const void *in, size_t inlen,
                              size_t *consumed, void *out, size_t outlen, bool *done)
{
    if (consumed) *consumed = 0;
    if (!d || !consumed || !done || (!in && inlen) || (!out && outlen)) return -EINVAL;
    const unsigned char *src = in;
    unsigned char *dst = out;
    size_t inpos = 0, outpos = 0;
    /* Each pass moves data one stage along; a pass with no progress ends
     * the call. Bounded: every pass consumes input or fills output. */
    for (;;) {
        bool progress = false;
        for (int k = 0; k < d->n; k++) {
            struct stage *s = &d->st[k];
            const unsigned char *i;
            size_t ilen;
            if (k == 0) {
                i = src + inpos;
                ilen = inlen - inpos;
            } else {
                i = d->st[k - 1].buf + d->st[k - 1].pos;
                ilen = d->st[k - 1].len - d->st[k - 1].pos;
            }
            unsigned char *o;
            size_t olen;
            if (k == d->n - 1) {
                o = dst + outpos;
                olen = outlen - outpos;
            } else {
                if (s->pos == s->len) s->pos = s->len = 0;
                if (s->pos > 0 && s->len == STAGE_BUF) {
                    memmove(s->buf, s->buf + s->pos, s->len - s->pos);
                    s->len -= s->pos;
                    s->pos = 0;
                }
                o = s->buf + s->len;
                olen = STAGE_BUF - s->len;
            }
            /* Nothing to do without room, or without input unless inflate
             * may hold output or header bytes wait to be fed. */
            if (olen == 0) continue;
            if (ilen == 0 && !s->full && !(s->started && s->nhead > 0)) continue;
            size_t used, made;
            int rc = step(s, i, ilen, &used, o, olen, &made);
            if (rc < 0) {
                *consumed = inpos;
                return rc;
            }
            if (k == 0)
                inpos += used;
            else
                d->st[k - 1].pos += used;
            if (k == d->n - 1)
                outpos += made;
            else
                s->len += made;
            if (used || made) progress = true;
        }
        if (!progress || outpos == outlen) break;
    }
    *consumed = inpos;
    bool all = true;
    for (int k = 0; k < d->n; k++) {
        const struct stage *s = &d->st[k];
        if (!s->ended || s->full || (k < d->n - 1 && s->pos != s->len)) all = false;
    }
    *done = all;
    return (ssize_t)outpos;
}

bool cio__http_decoder_pending(const struct cio__http_decoder *d)
{
    if (!d) return false;
    for (int k = 0; k < d->n; k++) {
        const struct stage *s = &d->st[k];
        if (s->full || (k < d->n - 1 && s->pos != s->len)) return true;
    }
    return false;
}
