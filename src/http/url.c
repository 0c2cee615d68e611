/* URLs for the HTTP and WebSocket clients: an absolute http(s)/ws(s) URL
 * split into what a request needs (RFC 3986, with the WHATWG habits HTTP
 * clients follow), and a Location reference resolved against the URL it
 * came from (RFC 3986 5.2). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bool is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

/* RFC 3986 unreserved and sub-delims. */
static bool is_unreserved_or_sub(unsigned char c)
{
    if (is_alpha(c) || is_digit(c)) return true;
    return c && strchr("-._~!$&'()*+,;=", c) != NULL;
}

/* Sent as they are in a target's path and query: pchar, '/', '?', and '%'
 * (an escape the caller wrote; a stray '%' is passed on as browsers do).
 * Everything else (non-ASCII bytes, '"', '<', '>', '\', '^', '`', '{',
 * '|', '}', '[', ']') is percent-encoded, as browsers do, since a strict
 * server refuses them raw. */
static bool target_ok(unsigned char c)
{
    return is_unreserved_or_sub(c) || c == ':' || c == '@' || c == '/' || c == '?' || c == '%';
}
static bool userinfo_ok(unsigned char c) { return is_unreserved_or_sub(c) || c == ':' || c == '%'; }

/* Copies s[0..n) to dst percent-encoding the bytes ok refuses; returns
 * the bytes written (at most 3n). */
static size_t encode(char *dst, const char *s, size_t n, bool (*ok)(unsigned char))
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (ok(c)) {
            dst[o++] = (char)c;
        } else {
            dst[o++] = '%';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        }
    }
    return o;
}

/* remove_dot_segments (RFC 3986 5.2.4) on p[0..n), in place (the output
 * never runs ahead of the input). Returns the new length. */
static size_t remove_dots(char *p, size_t n)
{
    size_t i = 0, o = 0;
    while (i < n) {
        size_t left = n - i;
        const char *in = p + i;
        if (left >= 3 && memcmp(in, "../", 3) == 0) {
            i += 3; /* A */
        } else if (left >= 2 && memcmp(in, "./", 2) == 0) {
            i += 2; /* A */
        } else if (left >= 3 && memcmp(in, "/./", 3) == 0) {
            i += 2; /* B: "/./" becomes "/" */
        } else if (left == 2 && memcmp(in, "/.", 2) == 0) {
            i += 1; /* B: a final "/." becomes "/" */
            p[i] = '/';
        } else if ((left >= 4 && memcmp(in, "/../", 4) == 0) ||
                   (left == 3 && memcmp(in, "/..", 3) == 0)) {
            /* C: up one segment; the input's "/../" or final "/.." becomes "/" */
            if (left == 3) {
                i += 2;
                p[i] = '/';
            } else {
                i += 3;
            }
            while (o > 0 && p[o - 1] != '/') o--;
            if (o > 0) o--;
        } else if ((left == 1 && in[0] == '.') || (left == 2 && memcmp(in, "..", 2) == 0)) {
            i = n; /* D */
        } else {
            /* E: the first segment (with its leading '/') to the output */
            size_t j = i + (in[0] == '/' ? 1 : 0);
            while (j < n && p[j] != '/') j++;
            memmove(p + o, p + i, j - i);
            o += j - i;
            i = j;
        }
    }
    return o;
}

/* Whether s[0..n) holds a space or a control character. */
static bool has_ctl(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f) return true;
    }
    return false;
}

/* The length of a scheme at s[0..n) followed by ':', or 0. */
static size_t scheme_len(const char *s, size_t n)
{
    if (n == 0 || !is_alpha((unsigned char)s[0])) return 0;
    size_t i = 1;
    while (i < n && (is_alpha((unsigned char)s[i]) || is_digit((unsigned char)s[i]) ||
                     s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    return i < n && s[i] == ':' ? i : 0;
}

static size_t span_until(const char *s, size_t from, size_t n, const char *stops)
{
    while (from < n && !strchr(stops, s[from])) from++;
    return from;
}

/* A registered name: letters, digits, '-', '_' (which DNS names carry in
 * practice), '.' between non-empty labels and at most one trailing dot.
 * A name whose last label is numeric must be a dotted-quad IPv4 address
 * (WHATWG's "ends in a number" rule: "1.2.3" and "0x7f.1" are refused
 * instead of being looked up as names). Writes it lower-cased to dst
 * (canonical for an address). Returns its length or -EINVAL. */
static ssize_t parse_reg_host(const char *s, size_t n, char *dst, bool *is_ip)
{
    *is_ip = false;
    if (n == 0) return -EINVAL;
    size_t label = 0, last_start = 0, last_end = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0) return -EINVAL; /* leading dot or ".." */
            last_end = i;
            label = 0;
            if (i + 1 < n) last_start = i + 1;
            continue;
        }
        if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_') return -EINVAL;
        label++;
        dst[i] = lower((char)c);
    }
    if (label != 0) last_end = n;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '.') dst[i] = '.';
    bool numeric = last_end > last_start;
    for (size_t i = last_start; i < last_end && numeric; i++)
        numeric = is_digit((unsigned char)s[i]);
    if (last_end > last_start + 1 && s[last_start] == '0' && (s[last_start + 1] | 0x20) == 'x')
        numeric = true;
    if (!numeric) return (ssize_t)n;
    char tmp[16];
    struct in_addr a;
    if (n >= sizeof tmp) return -EINVAL;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (inet_pton(AF_INET, tmp, &a) != 1) return -EINVAL;
    if (!inet_ntop(AF_INET, &a, dst, INET_ADDRSTRLEN)) return -EINVAL;
    *is_ip = true;
    return (ssize_t)strlen(dst);
}

int cio__http_url_parse(const char *url, struct cio__http_url *out)
{
    if (!out) return -EINVAL;
    memset(out, 0, sizeof *out);
    if (!url) return -EINVAL;
    size_t n = strlen(url);
    if (has_ctl(url, n)) return -EINVAL;

    size_t sl = scheme_len(url, n);
    static const struct {
        const char *name;
        uint16_t port;
        bool tls;
    } schemes[] = {{"http", 80, false}, {"https", 443, true}, {"ws", 80, false}, {"wss", 443, true}};
    int k = -1;
    for (int j = 0; j < 4 && sl; j++)
        if (cio__http_ieq(url, sl, schemes[j].name, strlen(schemes[j].name))) k = j;
    if (k < 0) return -EINVAL;
    if (n < sl + 3 || memcmp(url + sl, "://", 3) != 0) return -EINVAL;

    size_t a = sl + 3;
    size_t e = span_until(url, a, n, "/?#");
    size_t h = a;
    const char *at = NULL;
    for (size_t i = a; i < e; i++)
        if (url[i] == '@') at = url + i;
    size_t ui_len = 0;
    if (at) {
        ui_len = (size_t)(at - url) - a;
        h = (size_t)(at - url) + 1;
    }

    /* One allocation: scheme, userinfo, host, target (each NUL-ended). */
    char *mem = malloc(sl + 1 + 3 * ui_len + 1 + INET6_ADDRSTRLEN + (e - h) + 1 + 3 * (n - e) + 2);
    if (!mem) return -ENOMEM;
    char *w = mem;
    out->scheme = w;
    memcpy(w, schemes[k].name, sl + 1);
    w += sl + 1;
    if (ui_len) {
        out->userinfo = w;
        w += encode(w, url + a, ui_len, userinfo_ok);
        *w++ = '\0';
    }

    size_t port_at = 0; /* index of the ':' before a port, 0: none */
    char *host = w;
    if (h < e && url[h] == '[') {
        size_t close = h + 1;
        while (close < e && url[close] != ']') close++;
        char tmp[INET6_ADDRSTRLEN];
        struct in6_addr a6;
        size_t len = close - h - 1;
        if (close >= e || len == 0 || len >= sizeof tmp) goto bad;
        memcpy(tmp, url + h + 1, len);
        tmp[len] = '\0';
        if (inet_pton(AF_INET6, tmp, &a6) != 1 || !inet_ntop(AF_INET6, &a6, host, INET6_ADDRSTRLEN))
            goto bad;
        out->ipv6 = true;
        w += strlen(host) + 1;
        if (close + 1 < e) {
            if (url[close + 1] != ':') goto bad;
            port_at = close + 1;
        }
    } else {
        size_t he = span_until(url, h, e, ":");
        bool is_ip;
        ssize_t len = parse_reg_host(url + h, he - h, host, &is_ip);
        if (len < 0) goto bad;
        host[len] = '\0';
        w += len + 1;
        if (he < e) port_at = he;
    }
    out->host = host;

    out->port = schemes[k].port;
    out->default_port = true;
    if (port_at && port_at + 1 < e) { /* "host:" alone keeps the default, as WHATWG says */
        unsigned long port = 0;
        for (size_t i = port_at + 1; i < e; i++) {
            if (!is_digit((unsigned char)url[i])) goto bad;
            port = port * 10 + (unsigned long)(url[i] - '0');
            if (port > 65535) goto bad;
        }
        if (port == 0) goto bad;
        out->port = (uint16_t)port;
        out->default_port = port == schemes[k].port;
    }

    size_t q = span_until(url, e, n, "?#");
    size_t f = span_until(url, q, n, "#");
    char *target = w;
    size_t tl = encode(target, url + e, q - e, target_ok);
    tl = remove_dots(target, tl);
    if (tl == 0 || target[0] != '/') {
        memmove(target + 1, target, tl);
        target[0] = '/';
        tl++;
    }
    tl += encode(target + tl, url + q, f - q, target_ok);
    target[tl] = '\0';
    out->target = target;
    out->tls = schemes[k].tls;
    out->mem = mem;
    return 0;
bad:
    free(mem);
    memset(out, 0, sizeof *out);
    return -EINVAL;
}

void cio__http_url_free(struct cio__http_url *u)
{
    if (!u) return;
    free(u->mem);
    memset(u, 0, sizeof *u);
}

/* A URI reference's five parts (RFC 3986 appendix B); a NULL part is
 * absent (which differs from empty). */
struct parts {
    const char *scheme, *auth, *path, *query, *frag;
    size_t scheme_n, auth_n, path_n, query_n, frag_n;
};

static void split(const char *s, struct parts *p)
{
    size_t n = strlen(s), i = 0;
    memset(p, 0, sizeof *p);
    size_t sl = scheme_len(s, n);
    if (sl) {
        p->scheme = s;
        p->scheme_n = sl;
        i = sl + 1;
    }
    if (n - i >= 2 && s[i] == '/' && s[i + 1] == '/') {
        size_t e = span_until(s, i + 2, n, "/?#");
        p->auth = s + i + 2;
        p->auth_n = e - i - 2;
        i = e;
    }
    size_t e = span_until(s, i, n, "?#");
    p->path = s + i;
    p->path_n = e - i;
    i = e;
    if (i < n && s[i] == '?') {
        e = span_until(s, i + 1, n, "#");
        p->query = s + i + 1;
        p->query_n = e - i - 1;
        i = e;
    }
    if (i < n && s[i] == '#') {
        p->frag = s + i + 1;
        p->frag_n = n - i - 1;
    }
}

static char *put(char *w, const char *s, size_t n)
{
    memcpy(w, s, n);
    return w + n;
}

int cio__http_url_resolve(const char *base, const char *reference, char **out)
{
    if (!out) return -EINVAL;
    *out = NULL;
    if (!base || !reference) return -EINVAL;
    size_t bn = strlen(base), rn = strlen(reference);
    if (has_ctl(base, bn) || has_ctl(reference, rn)) return -EINVAL;
    struct parts b, r, t;
    split(base, &b);
    split(reference, &r);
    if (!b.scheme) return -EINVAL;

    /* The merged path needs at most base's path, '/' and the reference's. */
    char *pathbuf = malloc(bn + rn + 2);
    if (!pathbuf) return -ENOMEM;
    size_t pn;
    memset(&t, 0, sizeof t);
    /* RFC 3986 5.2.2, strict: a reference with a scheme is absolute. */
    if (r.scheme) {
        t = r;
        memcpy(pathbuf, r.path, r.path_n);
        pn = remove_dots(pathbuf, r.path_n);
    } else {
        t.scheme = b.scheme;
        t.scheme_n = b.scheme_n;
        if (r.auth) {
            t.auth = r.auth;
            t.auth_n = r.auth_n;
            memcpy(pathbuf, r.path, r.path_n);
            pn = remove_dots(pathbuf, r.path_n);
            t.query = r.query;
            t.query_n = r.query_n;
        } else {
            t.auth = b.auth;
            t.auth_n = b.auth_n;
            if (r.path_n == 0) {
                memcpy(pathbuf, b.path, b.path_n);
                pn = b.path_n;
                t.query = r.query ? r.query : b.query;
                t.query_n = r.query ? r.query_n : b.query_n;
            } else {
                if (r.path[0] == '/') {
                    memcpy(pathbuf, r.path, r.path_n);
                    pn = r.path_n;
                } else if (b.auth && b.path_n == 0) { /* 5.2.3 merge */
                    pathbuf[0] = '/';
                    memcpy(pathbuf + 1, r.path, r.path_n);
                    pn = r.path_n + 1;
                } else {
                    size_t keep = b.path_n;
                    while (keep > 0 && b.path[keep - 1] != '/') keep--;
                    memcpy(pathbuf, b.path, keep);
                    memcpy(pathbuf + keep, r.path, r.path_n);
                    pn = keep + r.path_n;
                }
                pn = remove_dots(pathbuf, pn);
                t.query = r.query;
                t.query_n = r.query_n;
            }
        }
        t.frag = r.frag;
        t.frag_n = r.frag_n;
    }

    /* 5.3 recomposition */
    size_t len = t.scheme_n + 1 + (t.auth ? 2 + t.auth_n : 0) + pn + (t.query ? 1 + t.query_n : 0) +
                 (t.frag ? 1 + t.frag_n : 0);
    char *s = malloc(len + 1);
    if (!s) {
        free(pathbuf);
        return -ENOMEM;
    }
    char *w = put(s, t.scheme, t.scheme_n);
    *w++ = ':';
    if (t.auth) {
        w = put(w, "//", 2);
        w = put(w, t.auth, t.auth_n);
    }
    w = put(w, pathbuf, pn);
    if (t.query) {
        *w++ = '?';
        w = put(w, t.query, t.query_n);
    }
    if (t.frag) {
        *w++ = '#';
        w = put(w, t.frag, t.frag_n);
    }
    *w = '\0';
    free(pathbuf);
    *out = s;
    return 0;
}
