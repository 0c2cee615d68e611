/* The request part's pure parsers: no I/O of their own, no allocation (see
 * request_parse.h). request.c and cookie.c put them on requests and
 * responses; the unit tests drive them over plain buffers. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "request_parse.h"

/* ---- application/x-www-form-urlencoded ----------------------------------- */

size_t cio__http_urlencoded_max(const char *s, size_t n)
{
    size_t c = 1;
    for (const char *p = s, *e = s + n; (p = memchr(p, '&', (size_t)(e - p))) != NULL; p++)
        c++;
    return c;
}

ssize_t cio__http_urlencoded_parse(char *s, size_t n, struct cio__http_kv *kv, size_t max)
{
    size_t count = 0, i = 0;
    while (i < n) {
        char *piece = s + i;
        char *amp = memchr(piece, '&', n - i);
        size_t plen = amp ? (size_t)(amp - piece) : n - i;
        i += plen + 1; /* past the '&' (or the end) before anything is rewritten */
        if (plen == 0)
            continue;
        if (count == max)
            return -EINVAL;
        char *eq = memchr(piece, '=', plen);
        size_t nlen = eq ? (size_t)(eq - piece) : plen;
        /* Decoding in place never grows: the NUL lands at most on the '='
         * or '&' just read past. */
        ssize_t dn = cio__http_pct_decode(piece, piece, nlen, true);
        if (dn < 0 || memchr(piece, 0, (size_t)dn))
            return -EINVAL;
        const char *value = "";
        if (eq) {
            char *v = eq + 1;
            size_t vlen = plen - nlen - 1;
            ssize_t dv = cio__http_pct_decode(v, v, vlen, true);
            if (dv < 0 || memchr(v, 0, (size_t)dv))
                return -EINVAL;
            value = v;
        }
        kv[count++] = (struct cio__http_kv){piece, value};
    }
    return (ssize_t)count;
}

/* ---- Cookie -------------------------------------------------------------- */

static bool is_ws(char c) { return c == ' ' || c == '\t'; }

size_t cio__http_cookie_max(const char *s, size_t n)
{
    size_t c = 1;
    for (const char *p = s, *e = s + n; (p = memchr(p, ';', (size_t)(e - p))) != NULL; p++)
        c++;
    return c;
}

size_t cio__http_cookie_parse(char *s, size_t n, struct cio__http_kv *kv, size_t max)
{
    size_t count = 0, i = 0;
    while (i < n && count < max) {
        char *piece = s + i;
        char *semi = memchr(piece, ';', n - i);
        char *pe = semi ? semi : s + n;
        i = (size_t)(pe - s) + 1;
        char *eq = memchr(piece, '=', (size_t)(pe - piece));
        if (!eq)
            continue; /* RFC 6265 5.2: a pair without '=' is ignored */
        char *nb = piece, *ne = eq;
        while (nb < ne && is_ws(*nb))
            nb++;
        while (ne > nb && is_ws(ne[-1]))
            ne--;
        if (nb == ne)
            continue;
        char *vb = eq + 1, *ve = pe;
        while (vb < ve && is_ws(*vb))
            vb++;
        while (ve > vb && is_ws(ve[-1]))
            ve--;
        if (ve - vb >= 2 && *vb == '"' && ve[-1] == '"') {
            vb++;
            ve--;
        }
        *ne = 0; /* on the '=' or whitespace before it */
        *ve = 0; /* on the ';', the closing quote, whitespace or s[n] */
        kv[count++] = (struct cio__http_kv){nb, vb};
    }
    return count;
}

/* ---- Media types and parameters ------------------------------------------ */

static const char *skip_ows(const char *p)
{
    while (is_ws(*p))
        p++;
    return p;
}

static const char *token_end(const char *p)
{
    while (*p && cio__http_is_tchar((unsigned char)*p))
        p++;
    return p;
}

/* qdtext and quoted-pair's second octet (RFC 9110 5.6.4). */
static bool is_qdtext(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

/* A quoted-string at p ('"' ...): the end past the closing quote, or NULL. */
static const char *quoted_end(const char *p)
{
    for (p++;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c == '\\') {
            p++;
            c = (unsigned char)*p;
        }
        if (!c || !is_qdtext(c))
            return NULL;
    }
}

/* The inside of a quoted-string [b, e) (quotes excluded) without its
 * backslashes, into dst. Returns the length. */
static size_t unquote(char *dst, const char *b, const char *e)
{
    size_t o = 0;
    for (const char *p = b; p < e; p++) {
        if (*p == '\\')
            p++;
        dst[o++] = *p;
    }
    return o;
}

struct param {
    const char *name, *val; /* val: inside the quotes when quoted */
    size_t nlen, vlen;
    bool quoted;
};

/* The next "OWS ; OWS name = value" of a parameter list. Returns 1 (a
 * parameter), 0 (the end), -EBADMSG. A trailing ';' is tolerated. BWS
 * around '=' too, as senders put it there. */
static int param_next(const char **pp, struct param *pr)
{
    const char *p = skip_ows(*pp);
    for (;;) {
        if (!*p)
            return 0;
        if (*p != ';')
            return -EBADMSG;
        p = skip_ows(p + 1);
        if (*p != ';')
            break;
    }
    if (!*p)
        return 0;
    const char *ne = token_end(p);
    if (ne == p)
        return -EBADMSG;
    pr->name = p;
    pr->nlen = (size_t)(ne - p);
    p = skip_ows(ne);
    if (*p != '=')
        return -EBADMSG;
    p = skip_ows(p + 1);
    if (*p == '"') {
        const char *q = quoted_end(p);
        if (!q)
            return -EBADMSG;
        pr->val = p + 1;
        pr->vlen = (size_t)(q - p - 2);
        pr->quoted = true;
        p = q;
    } else {
        const char *ve = token_end(p);
        if (ve == p)
            return -EBADMSG;
        pr->val = p;
        pr->vlen = (size_t)(ve - p);
        pr->quoted = false;
        p = ve;
    }
    *pp = p;
    return 1;
}

int cio__http_media_parse(const char *ct, struct cio__http_media *m)
{
    if (!ct)
        return -EBADMSG;
    const char *p = skip_ows(ct);
    const char *te = token_end(p);
    if (te == p || *te != '/')
        return -EBADMSG;
    const char *sb = te + 1, *se = token_end(sb);
    if (se == sb)
        return -EBADMSG;
    *m = (struct cio__http_media){.type = p, .type_len = (size_t)(te - p), .sub = sb,
                                  .sub_len = (size_t)(se - sb), .params = se};
    struct param pr;
    const char *q = se;
    int rc;
    while ((rc = param_next(&q, &pr)) == 1)
        ;
    return rc;
}

int cio__http_media_param(const struct cio__http_media *m, const char *name, char *out, size_t cap,
                          size_t *len)
{
    const char *q = m->params;
    struct param pr;
    int rc;
    while ((rc = param_next(&q, &pr)) == 1) {
        if (!cio__http_ieq(pr.name, pr.nlen, name, strlen(name)))
            continue;
        if (pr.vlen >= cap)
            return -EBADMSG; /* unquoting only shortens: vlen bounds it */
        size_t n = pr.quoted ? unquote(out, pr.val, pr.val + pr.vlen) : pr.vlen;
        if (!pr.quoted)
            memcpy(out, pr.val, n);
        out[n] = 0;
        *len = n;
        return 1;
    }
    return rc;
}

static bool media_is(const struct cio__http_media *m, const char *type, const char *sub)
{
    return cio__http_ieq(m->type, m->type_len, type, strlen(type)) &&
           cio__http_ieq(m->sub, m->sub_len, sub, strlen(sub));
}

bool cio__http_is_form_type(const char *ct)
{
    struct cio__http_media m;
    return cio__http_media_parse(ct, &m) == 0 &&
           media_is(&m, "application", "x-www-form-urlencoded");
}

bool cio__http_is_json_type(const char *ct)
{
    struct cio__http_media m;
    if (cio__http_media_parse(ct, &m) != 0)
        return false;
    if (media_is(&m, "application", "json"))
        return true;
    return m.sub_len > 5 && cio__http_ieq(m.sub + m.sub_len - 5, 5, "+json", 5);
}

/* bchars (RFC 2046 5.1.1): DIGIT ALPHA ' ( ) + _ , - . / : = ? and space. */
static bool is_bchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c && strchr("'()+_,-./:=? ", c) != NULL;
}

int cio__http_multipart_boundary(const char *ct, char *out, size_t *len)
{
    struct cio__http_media m;
    if (cio__http_media_parse(ct, &m) != 0 || !media_is(&m, "multipart", "form-data"))
        return -EBADMSG;
    size_t n = 0;
    int rc = cio__http_media_param(&m, "boundary", out, 71, &n);
    if (rc != 1 || n == 0 || out[n - 1] == ' ')
        return -EBADMSG;
    for (size_t i = 0; i < n; i++)
        if (!is_bchar((unsigned char)out[i]))
            return -EBADMSG;
    *len = n;
    return 0;
}

/* ---- Set-Cookie ------------------------------------------------------------ */

/* cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E (RFC 6265 4.1.1) */
static bool is_cookie_octet(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e && c != '"' && c != ',' && c != ';' && c != '\\';
}

/* av-octet: any CHAR except CTLs or ';' (RFC 6265 4.1.1). */
static bool valid_path(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c > 0x7e || c == ';')
            return false;
    }
    return true;
}

/* A domain (RFC 6265 4.1.2.3, RFC 1034 3.5 as 1123 relaxed it): labels of
 * letters, digits and hyphens, a leading dot tolerated (and ignored by
 * user agents). IDNs go in their A-label (punycode) form. */
static bool valid_domain(const char *s)
{
    if (*s == '.')
        s++;
    size_t label = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   c == '-') {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return label > 0;
}

struct out {
    char *buf;
    size_t cap, len;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->len + n < o->cap)
        memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void puts_(struct out *o, const char *s) { put(o, s, strlen(s)); }

/* The latest date cookie-date (and 4-digit years) can say: 9999-12-31. */
#define COOKIE_MAX_TIME INT64_C(253402300799)

ssize_t cio__http_set_cookie_format(char *buf, size_t cap, const char *name, const char *value,
                                    const cio_http_cookie_options *o)
{
    if (!name || !value || !o || !cio__http_is_token(name, strlen(name)))
        return -EINVAL;
    size_t vlen = strlen(value);
    const char *vb = value, *ve = value + vlen;
    if (vlen >= 2 && *vb == '"' && ve[-1] == '"') {
        vb++;
        ve--;
    }
    for (const char *p = vb; p < ve; p++)
        if (!is_cookie_octet((unsigned char)*p))
            return -EINVAL;
    if ((o->path && !valid_path(o->path)) || (o->domain && !valid_domain(o->domain)))
        return -EINVAL;
    if (o->has_max_age && o->max_age < 0)
        return -EINVAL;
    if (o->expires < 0 || o->expires > COOKIE_MAX_TIME)
        return -EINVAL;
    if (o->same_site < CIO_HTTP_SAME_SITE_DEFAULT || o->same_site > CIO_HTTP_SAME_SITE_NONE)
        return -EINVAL;
    if (o->same_site == CIO_HTTP_SAME_SITE_NONE && !o->secure)
        return -EINVAL;

    struct out w = {buf, cap, 0};
    puts_(&w, name);
    put(&w, "=", 1);
    put(&w, value, vlen);
    if (o->path) {
        puts_(&w, "; Path=");
        puts_(&w, o->path);
    }
    if (o->domain) {
        puts_(&w, "; Domain=");
        puts_(&w, o->domain);
    }
    if (o->has_max_age) {
        char num[24];
        int n = snprintf(num, sizeof num, "; Max-Age=%" PRId64, o->max_age);
        put(&w, num, (size_t)n);
    }
    if (o->expires) {
        char date[30];
        puts_(&w, "; Expires=");
        put(&w, date, (size_t)cio__http_format_date(date, o->expires));
    }
    if (o->secure)
        puts_(&w, "; Secure");
    if (o->http_only)
        puts_(&w, "; HttpOnly");
    static const char *const same_site[] = {NULL, "; SameSite=Lax", "; SameSite=Strict",
                                            "; SameSite=None"};
    if (same_site[o->same_site])
        puts_(&w, same_site[o->same_site]);
    if (w.len < cap)
        buf[w.len] = 0;
    return (ssize_t)w.len;
}

/* ---- Streaming multipart/form-data ------------------------------------------ */

enum { MP_PREAMBLE, MP_AFTER_DELIM, MP_BODY, MP_DONE, MP_ERROR };

#define MP_NONE SIZE_MAX
/* The body buffer: large enough for a whole part header section, and for
 * big reads on large uploads. It never grows: memory per multipart request
 * is fixed whatever the size of the parts. */
#define MP_MIN_BUF 65536

static size_t mp_bufcap(size_t max_header)
{
    size_t c = max_header + 256;
    return c < MP_MIN_BUF ? MP_MIN_BUF : c;
}

static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; }

size_t cio__http_mp_size(size_t max_header, size_t max_headers)
{
    return align16(mp_bufcap(max_header)) + align16(max_header + 1) + align16(max_header + 2) +
           max_headers * sizeof(struct cio__http_kv);
}

void cio__http_mp_init(struct cio_http_part *mp, void *mem, const char *boundary, size_t blen,
                       size_t max_header, size_t max_headers, cio__http_mp_read_fn read,
                       void *ctx)
{
    memset(mp, 0, sizeof *mp);
    mp->read = read;
    mp->ctx = ctx;
    memcpy(mp->delim, "\r\n--", 4);
    memcpy(mp->delim + 4, boundary, blen);
    mp->dlen = 4 + blen;
    char *m = mem;
    mp->buf = m;
    mp->cap = mp_bufcap(max_header);
    m += align16(mp->cap);
    mp->hdr = m;
    m += align16(max_header + 1);
    mp->dec = m;
    m += align16(max_header + 2);
    mp->headers = (struct cio__http_kv *)(void *)m;
    mp->max_header = max_header;
    mp->max_headers = max_headers;
    /* The body starts with the first delimiter's "--" when there is no
     * preamble: a CRLF in front makes it look like any other delimiter. */
    memcpy(mp->buf, "\r\n", 2);
    mp->end = 2;
    mp->found = MP_NONE;
    mp->state = MP_PREAMBLE;
}

static int mp_fail(struct cio_http_part *mp, int err)
{
    mp->state = MP_ERROR;
    mp->err = err;
    return err;
}

/* Reads more into the buffer (moving what is left to its front first).
 * Returns 1 (bytes came), 0 (the body's end), or the (kept) error. */
static int mp_fill(struct cio_http_part *mp)
{
    if (mp->eof)
        return 0;
    if (mp->pos) {
        size_t left = mp->end - mp->pos;
        memmove(mp->buf, mp->buf + mp->pos, left);
        mp->scanned = mp->scanned > mp->pos ? mp->scanned - mp->pos : 0;
        if (mp->found != MP_NONE)
            mp->found -= mp->pos;
        mp->end = left;
        mp->pos = 0;
    }
    ssize_t n = mp->read(mp->ctx, mp->buf + mp->end, mp->cap - mp->end);
    if (n < 0)
        return mp_fail(mp, (int)n);
    if (n == 0) {
        mp->eof = true;
        return 0;
    }
    mp->end += (size_t)n;
    return 1;
}

/* Where the next delimiter starts in the buffer, or MP_NONE; each byte is
 * searched once however small the reads that consume the body are. */
static size_t mp_find(struct cio_http_part *mp)
{
    if (mp->found != MP_NONE)
        return mp->found;
    if (mp->scanned < mp->pos)
        mp->scanned = mp->pos;
    size_t from = mp->scanned;
    if (mp->end - from >= mp->dlen) {
        const char *p = memmem(mp->buf + from, mp->end - from, mp->delim, mp->dlen);
        if (p)
            return mp->found = (size_t)(p - mp->buf);
        /* A delimiter may still start in the last dlen - 1 bytes. */
        mp->scanned = mp->end - mp->dlen + 1;
    }
    return MP_NONE;
}

/* Takes up to len bytes of the body or preamble before the next delimiter
 * (buf NULL: drops them). Returns the count, 0 once the delimiter is
 * reached (consumed: the state is then MP_AFTER_DELIM), or an error. */
static ssize_t mp_take(struct cio_http_part *mp, void *buf, size_t len)
{
    for (;;) {
        size_t f = mp_find(mp);
        size_t safe = (f != MP_NONE ? f : mp->scanned) - mp->pos;
        if (safe > 0) {
            size_t n = safe < len ? safe : len;
            if (buf)
                memcpy(buf, mp->buf + mp->pos, n);
            mp->pos += n;
            return (ssize_t)n;
        }
        if (f != MP_NONE) {
            mp->pos = f + mp->dlen;
            mp->scanned = mp->pos;
            mp->found = MP_NONE;
            mp->state = MP_AFTER_DELIM;
            return 0;
        }
        int rc = mp_fill(mp);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return mp_fail(mp, -EBADMSG); /* no (closing) delimiter */
    }
}

/* Waits until at least n bytes are buffered. 0, or -EBADMSG at the end. */
static int mp_need(struct cio_http_part *mp, size_t n)
{
    while (mp->end - mp->pos < n) {
        int rc = mp_fill(mp);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return mp_fail(mp, -EBADMSG);
    }
    return 0;
}

/* RFC 8187 ext-value: charset "'" [ language ] "'" value-chars, UTF-8 only
 * (the one charset RFC 8187 requires). Decodes into dst. Returns the
 * length, -ENOENT for another charset (the caller then falls back on
 * filename=), -EBADMSG when malformed. */
static ssize_t ext_value_decode(char *dst, const char *v, size_t n)
{
    const char *e = v + n;
    const char *q1 = memchr(v, '\'', n);
    if (!q1)
        return -EBADMSG;
    const char *q2 = memchr(q1 + 1, '\'', (size_t)(e - q1 - 1));
    if (!q2)
        return -EBADMSG;
    bool utf8 = cio__http_ieq(v, (size_t)(q1 - v), "UTF-8", 5);
    const char *p = q2 + 1;
    for (const char *c = p; c < e; c++) /* attr-char / pct-encoded */
        if (!cio__http_is_tchar((unsigned char)*c) || *c == '*' || *c == '\'')
            return -EBADMSG;
    ssize_t d = cio__http_pct_decode(dst, p, (size_t)(e - p), false);
    if (d < 0 || memchr(dst, 0, (size_t)d))
        return -EBADMSG;
    return utf8 ? d : -ENOENT;
}

/* Content-Disposition: form-data; name="f"; filename="a.txt" (RFC 7578
 * 4.2, RFC 6266): name and filename unquoted, filename*= preferred. */
static int mp_disposition(struct cio_http_part *mp, const char *v)
{
    const char *p = skip_ows(v), *te = token_end(p);
    if (te == p)
        return -EBADMSG;
    /* RFC 7578 4.2: a form field's disposition type is form-data; a part
     * of another type (read as any part) names no field and no file. */
    bool form_data = cio__http_ieq(p, (size_t)(te - p), "form-data", 9);
    char *d = mp->dec;
    const char *fname = NULL, *fstar = NULL;
    struct param pr;
    int rc;
    p = te;
    while ((rc = param_next(&p, &pr)) == 1) {
        bool is_name = cio__http_ieq(pr.name, pr.nlen, "name", 4);
        bool is_file = cio__http_ieq(pr.name, pr.nlen, "filename", 8);
        bool is_star = cio__http_ieq(pr.name, pr.nlen, "filename*", 9);
        if (!is_name && !is_file && !is_star)
            continue;
        if ((is_name && mp->name) || (is_file && fname) || (is_star && fstar))
            return -EBADMSG; /* a parameter twice: which one would be meant? */
        size_t n;
        if (is_star) {
            ssize_t dn = ext_value_decode(d, pr.val, pr.vlen);
            if (dn == -ENOENT)
                continue;
            if (dn < 0)
                return (int)dn;
            n = (size_t)dn;
        } else {
            n = pr.quoted ? unquote(d, pr.val, pr.val + pr.vlen) : pr.vlen;
            if (!pr.quoted)
                memcpy(d, pr.val, n);
        }
        d[n] = 0;
        if (is_name)
            mp->name = d;
        else if (is_file)
            fname = d;
        else
            fstar = d;
        d += n + 1;
    }
    if (rc < 0)
        return rc;
    mp->filename = fstar ? fstar : fname;
    if (!form_data)
        mp->name = mp->filename = NULL;
    return 0;
}

/* Splits the header section [src, src + n) (its lines, each ending in
 * CRLF) into mp->headers. */
static int mp_headers(struct cio_http_part *mp, const char *src, size_t n)
{
    mp->nheaders = 0;
    mp->name = mp->filename = NULL;
    memcpy(mp->hdr, src, n);
    mp->hdr[n] = 0;
    char *p = mp->hdr, *e = mp->hdr + n;
    while (p < e) {
        char *le = memmem(p, (size_t)(e - p), "\r\n", 2);
        if (!le || is_ws(*p))
            return -EBADMSG; /* obs-fold (RFC 9112 5.2) is refused, as on requests */
        char *colon = memchr(p, ':', (size_t)(le - p));
        if (!colon || !cio__http_is_token(p, (size_t)(colon - p)))
            return -EBADMSG;
        char *vb = colon + 1, *ve = le;
        while (vb < ve && is_ws(*vb))
            vb++;
        while (ve > vb && is_ws(ve[-1]))
            ve--;
        if (!cio__http_is_field_value(vb, (size_t)(ve - vb)))
            return -EBADMSG; /* a bare CR or LF, NUL, other controls */
        if (mp->nheaders == mp->max_headers)
            return -EBADMSG;
        *colon = 0;
        *ve = 0;
        mp->headers[mp->nheaders++] = (struct cio__http_kv){p, vb};
        p = le + 2;
    }
    for (size_t i = 0; i < mp->nheaders; i++)
        if (strcasecmp(mp->headers[i].name, "Content-Disposition") == 0)
            return mp_disposition(mp, mp->headers[i].value);
    return 0;
}

int cio__http_mp_next(struct cio_http_part *mp)
{
    int rc;
    ssize_t n;
    switch (mp->state) {
    case MP_ERROR:
        return mp->err;
    case MP_DONE:
        return 0;
    case MP_PREAMBLE:
    case MP_BODY:
        while ((n = mp_take(mp, NULL, SIZE_MAX)) > 0)
            ;
        if (n < 0)
            return (int)n;
        break;
    default:
        break;
    }
    /* After a delimiter: "--" closes, else transport padding and CRLF. */
    if ((rc = mp_need(mp, 2)) < 0)
        return rc;
    if (mp->buf[mp->pos] == '-' && mp->buf[mp->pos + 1] == '-') {
        mp->state = MP_DONE;
        mp->name = mp->filename = NULL;
        mp->nheaders = 0;
        mp->pos = mp->end;
        while ((rc = mp_fill(mp)) > 0) /* the epilogue: read and dropped */
            mp->pos = mp->end;
        return rc < 0 ? rc : 0;
    }
    for (;;) {
        while (mp->pos < mp->end && is_ws(mp->buf[mp->pos]))
            mp->pos++;
        if (mp->pos < mp->end)
            break;
        if ((rc = mp_need(mp, 1)) < 0)
            return rc;
    }
    if ((rc = mp_need(mp, 2)) < 0)
        return rc;
    if (mp->buf[mp->pos] != '\r' || mp->buf[mp->pos + 1] != '\n')
        return mp_fail(mp, -EBADMSG);
    mp->pos += 2;
    /* The part's header section, up to the empty line. */
    for (;;) {
        size_t avail = mp->end - mp->pos;
        const char *b = mp->buf + mp->pos;
        if (avail >= 2 && b[0] == '\r' && b[1] == '\n') {
            mp->pos += 2;
            mp->nheaders = 0;
            mp->name = mp->filename = NULL;
            break;
        }
        const char *q = memmem(b, avail, "\r\n\r\n", 4);
        if (q) {
            size_t hlen = (size_t)(q - b) + 2;
            if (hlen > mp->max_header)
                return mp_fail(mp, -EBADMSG);
            if ((rc = mp_headers(mp, b, hlen)) < 0)
                return mp_fail(mp, rc);
            mp->pos += hlen + 2;
            break;
        }
        if (avail > mp->max_header + 2)
            return mp_fail(mp, -EBADMSG);
        if ((rc = mp_fill(mp)) < 0)
            return rc;
        if (rc == 0)
            return mp_fail(mp, -EBADMSG);
    }
    mp->scanned = mp->pos;
    mp->found = MP_NONE;
    mp->state = MP_BODY;
    return 1;
}

/* ---- The part's public face ------------------------------------------------ */

const char *cio_http_part_name(const cio_http_part *part) { return part ? part->name : NULL; }

const char *cio_http_part_filename(const cio_http_part *part)
{
    return part ? part->filename : NULL;
}

const char *cio_http_part_header(const cio_http_part *part, const char *name)
{
    if (!part || !name)
        return NULL;
    for (size_t i = 0; i < part->nheaders; i++)
        if (strcasecmp(part->headers[i].name, name) == 0)
            return part->headers[i].value;
    return NULL;
}

ssize_t cio_http_part_read(cio_http_part *part, void *buf, size_t len)
{
    if (!part || !buf || len == 0)
        return -EINVAL;
    if (part->state == MP_ERROR)
        return part->err;
    if (part->state != MP_BODY)
        return 0;
    return mp_take(part, buf, len);
}
