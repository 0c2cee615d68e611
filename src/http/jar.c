/* The client's cookie jar (RFC 6265 §5.2-5.4): Set-Cookie parsing,
 * storage with replacement, expiry and limits, and the Cookie field of a
 * request.
 *
 * The cookies sit in one array kept in the order §5.4 sends them (longer
 * paths first, then older first), so building a Cookie field is one scan
 * with no sorting and no allocation. A replaced cookie keeps its creation
 * time and path, hence its place; a new one is the newest of its path
 * length, so it goes after the last of them. A jar is used from one loop
 * (one thread): no locking. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_parts.h"

/* RFC 6265 §6.1's minimums, which browsers also use as maximums. */
#define MAX_NAME_VALUE 4096 /* name and value, per cookie (RFC 6265bis 5.6) */
#define MAX_ATTR_VALUE 1024 /* an attribute value; a longer one is ignored */
#define MAX_PER_DOMAIN 50
#define MAX_TOTAL 3000

enum same_site { SS_DEFAULT, SS_NONE, SS_LAX, SS_STRICT };

struct cookie {
    char *name, *value, *domain, *path; /* in the same allocation */
    size_t name_n, value_n, path_n;
    int64_t expiry;      /* INT64_MAX: a session cookie */
    int64_t created;     /* seconds */
    uint64_t seq;        /* creation order, for equal times */
    uint64_t accessed;   /* the jar's access clock, for eviction */
    bool host_only, secure, http_only;
    enum same_site same_site;
};

struct cio_http_jar {
    struct cookie **c; /* §5.4 order */
    size_t n, cap;
    uint64_t seq;    /* creation counter */
    uint64_t clock;  /* access counter (last-access-time, made strictly ordered) */
};

int cio_http_jar_new(cio_http_jar **out)
{
    if (!out) return -EINVAL;
    *out = calloc(1, sizeof **out);
    return *out ? 0 : -ENOMEM;
}

void cio_http_jar_clear(cio_http_jar *jar)
{
    if (!jar) return;
    for (size_t i = 0; i < jar->n; i++) free(jar->c[i]);
    jar->n = 0;
}

void cio_http_jar_free(cio_http_jar *jar)
{
    if (!jar) return;
    cio_http_jar_clear(jar);
    free(jar->c);
    free(jar);
}

static void drop_at(cio_http_jar *jar, size_t i)
{
    free(jar->c[i]);
    memmove(jar->c + i, jar->c + i + 1, (jar->n - i - 1) * sizeof *jar->c);
    jar->n--;
}

static void drop_expired(cio_http_jar *jar, int64_t now)
{
    size_t o = 0;
    for (size_t i = 0; i < jar->n; i++) {
        if (jar->c[i]->expiry <= now)
            free(jar->c[i]);
        else
            jar->c[o++] = jar->c[i];
    }
    jar->n = o;
}

/* ---- Dates (RFC 6265 §5.1.1) ---------------------------------------------- */

static bool is_delim(unsigned char c)
{
    return c == 0x09 || (c >= 0x20 && c <= 0x2f) || (c >= 0x3b && c <= 0x40) ||
           (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
}
static bool dig(unsigned char c) { return c >= '0' && c <= '9'; }

/* 1*max DIGIT at t[0..n), then nothing or a non-digit: the number, or -1. */
static int leading_num(const char *t, size_t n, size_t min, size_t max, size_t *used)
{
    size_t i = 0;
    int v = 0;
    while (i < n && dig((unsigned char)t[i])) {
        if (i == max) return -1;
        v = v * 10 + (t[i] - '0');
        i++;
    }
    if (i < min) return -1;
    if (used) *used = i;
    return v;
}

/* The cookie-date algorithm: lenient by design ("Wed, 21-Oct-2015
 * 07:28:00 GMT" and other forms servers send), used when the strict
 * HTTP-date parser refuses the value. */
static int cookie_date(const char *s, size_t n, int64_t *out)
{
    static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    int hour = -1, min = -1, sec = -1, mday = -1, mon = -1, year = -1;
    size_t i = 0;
    while (i < n) {
        while (i < n && is_delim((unsigned char)s[i])) i++;
        size_t b = i;
        while (i < n && !is_delim((unsigned char)s[i])) i++;
        const char *t = s + b;
        size_t tn = i - b;
        if (tn == 0) break;
        size_t u;
        if (hour < 0) {
            int h = leading_num(t, tn, 1, 2, &u), m = -1, sc = -1;
            size_t u2, u3;
            if (h >= 0 && u < tn && t[u] == ':' &&
                (m = leading_num(t + u + 1, tn - u - 1, 1, 2, &u2)) >= 0 && u + 1 + u2 < tn &&
                t[u + 1 + u2] == ':' &&
                (sc = leading_num(t + u + 2 + u2, tn - u - 2 - u2, 1, 2, &u3)) >= 0) {
                hour = h;
                min = m;
                sec = sc;
                continue;
            }
        }
        if (mday < 0 && (mday = leading_num(t, tn, 1, 2, NULL)) >= 0) continue;
        if (mon < 0 && tn >= 3) {
            for (int m = 0; m < 12; m++)
                if (cio__http_ieq(t, 3, months + 3 * m, 3)) mon = m;
            if (mon >= 0) continue;
        }
        if (year < 0 && (year = leading_num(t, tn, 2, 4, NULL)) >= 0) continue;
    }
    if (year >= 70 && year <= 99) year += 1900;
    if (year >= 0 && year <= 69) year += 2000;
    if (hour < 0 || mday < 1 || mday > 31 || mon < 0 || year < 1601 || hour > 23 || min > 59 ||
        sec > 59)
        return -EINVAL;
    struct tm tm = {.tm_sec = sec, .tm_min = min, .tm_hour = hour, .tm_mday = mday,
                    .tm_mon = mon, .tm_year = year - 1900};
    int64_t t = (int64_t)timegm(&tm);
    if (tm.tm_mday != mday) return -EINVAL; /* Feb 30 and the like */
    *out = t;
    return 0;
}

/* ---- Matching (RFC 6265 §5.1.3, §5.1.4) ----------------------------------- */

static bool is_ip(const char *host)
{
    unsigned char a[16];
    return strchr(host, ':') || inet_pton(AF_INET, host, a) == 1;
}

/* host domain-matches domain (both lower-case). An IP address matches
 * only itself. */
static bool domain_match(const char *host, const char *domain)
{
    size_t hn = strlen(host), dn = strlen(domain);
    if (hn == dn) return memcmp(host, domain, hn) == 0;
    return hn > dn && host[hn - dn - 1] == '.' && memcmp(host + hn - dn, domain, dn) == 0 &&
           !is_ip(host);
}

static bool path_match(const char *rp, size_t rn, const char *cp, size_t cn)
{
    if (cn > rn || memcmp(rp, cp, cn) != 0) return false;
    return cn == rn || cp[cn - 1] == '/' || rp[cn] == '/';
}

/* The request path of u (its target without the query). */
static size_t uri_path(const struct cio__http_url *u)
{
    const char *q = strchr(u->target, '?');
    return q ? (size_t)(q - u->target) : strlen(u->target);
}

/* ---- Storing (RFC 6265 §5.2, §5.3) ---------------------------------------- */

static const char *trim(const char *s, const char *e, const char **end)
{
    while (s < e && (*s == ' ' || *s == '\t')) s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
    *end = e;
    return s;
}

static bool has_ctl(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return true;
    }
    return false;
}

static bool secure_scheme(const struct cio__http_url *u) { return u->tls; }

/* A cookie holding copies of its strings (in the same allocation). */
static struct cookie *make(const char *name, size_t name_n, const char *value, size_t value_n,
                           const char *domain, const char *path, size_t path_n)
{
    size_t dn = strlen(domain);
    struct cookie *k = calloc(1, sizeof *k + name_n + value_n + dn + path_n + 4);
    if (!k) return NULL;
    char *w = (char *)(k + 1);
    k->name = w;
    memcpy(w, name, name_n);
    w += name_n + 1;
    k->value = w;
    memcpy(w, value, value_n);
    w += value_n + 1;
    k->domain = w;
    memcpy(w, domain, dn);
    w += dn + 1;
    k->path = w;
    memcpy(w, path, path_n);
    k->name_n = name_n;
    k->value_n = value_n;
    k->path_n = path_n;
    return k;
}

/* Inserts k where §5.4's order puts the newest cookie of its path length. */
static int insert(cio_http_jar *jar, struct cookie *k)
{
    if (jar->n == jar->cap) {
        size_t cap = jar->cap ? jar->cap * 2 : 16;
        struct cookie **c = realloc(jar->c, cap * sizeof *c);
        if (!c) return -ENOMEM;
        jar->c = c;
        jar->cap = cap;
    }
    size_t i = jar->n;
    while (i > 0 && jar->c[i - 1]->path_n < k->path_n) i--;
    memmove(jar->c + i + 1, jar->c + i, (jar->n - i) * sizeof *jar->c);
    jar->c[i] = k;
    jar->n++;
    return 0;
}

/* §5.3's last step: over the limits, drop the least recently used
 * cookies, first of the domain just stored to, then of the whole jar. */
static void evict(cio_http_jar *jar, const char *domain)
{
    for (;;) {
        size_t count = 0, oldest = SIZE_MAX;
        for (size_t i = 0; i < jar->n; i++) {
            if (strcmp(jar->c[i]->domain, domain) != 0) continue;
            count++;
            if (oldest == SIZE_MAX || jar->c[i]->accessed < jar->c[oldest]->accessed) oldest = i;
        }
        if (count <= MAX_PER_DOMAIN) break;
        drop_at(jar, oldest);
    }
    while (jar->n > MAX_TOTAL) {
        size_t oldest = 0;
        for (size_t i = 1; i < jar->n; i++)
            if (jar->c[i]->accessed < jar->c[oldest]->accessed) oldest = i;
        drop_at(jar, oldest);
    }
}

int cio__http_jar_store(cio_http_jar *jar, const struct cio__http_url *u, const char *set_cookie,
                        int64_t now)
{
    if (!jar || !u || !u->host || !u->target || !set_cookie) return -EINVAL;
    size_t len = strlen(set_cookie);
    const char *end = set_cookie + len;
    const char *semi = memchr(set_cookie, ';', len);
    const char *nv_end = semi ? semi : end;
    const char *eq = memchr(set_cookie, '=', (size_t)(nv_end - set_cookie));
    if (!eq) return -EINVAL; /* §5.2 step 2 */
    const char *ne, *ve;
    const char *name = trim(set_cookie, eq, &ne);
    const char *value = trim(eq + 1, nv_end, &ve);
    size_t name_n = (size_t)(ne - name), value_n = (size_t)(ve - value);
    if (name_n == 0 || name_n + value_n > MAX_NAME_VALUE || has_ctl(name, name_n) ||
        has_ctl(value, value_n))
        return -EINVAL;

    /* §5.2 steps: the attributes; the last one of a name wins. */
    bool has_max_age = false, has_expires = false, secure = false, http_only = false;
    int64_t max_age_expiry = 0, expires = 0;
    const char *dom = NULL, *path = NULL;
    size_t dom_n = 0, path_n = 0;
    enum same_site ss = SS_DEFAULT;
    const char *p = semi;
    while (p && p < end) {
        const char *a = p + 1;
        const char *next = memchr(a, ';', (size_t)(end - a));
        const char *ae = next ? next : end;
        const char *aeq = memchr(a, '=', (size_t)(ae - a));
        const char *an_end, *av_end = ae;
        const char *an = trim(a, aeq ? aeq : ae, &an_end);
        const char *av = aeq ? trim(aeq + 1, ae, &av_end) : ae;
        size_t ann = (size_t)(an_end - an), avn = (size_t)(av_end - av);
        p = next;
        if (avn > MAX_ATTR_VALUE) continue;
        if (cio__http_ieq(an, ann, "expires", 7)) {
            char buf[MAX_ATTR_VALUE + 1];
            memcpy(buf, av, avn);
            buf[avn] = '\0';
            int64_t t;
            if (cio__http_parse_date(buf, &t) == 0 || cookie_date(av, avn, &t) == 0) {
                has_expires = true;
                expires = t;
            }
        } else if (cio__http_ieq(an, ann, "max-age", 7)) {
            /* §5.2.2: a DIGIT or '-' then DIGITs, else ignored */
            bool neg = avn > 0 && av[0] == '-';
            size_t i = neg ? 1 : 0;
            if (i == avn) continue;
            int64_t delta = 0;
            bool ok = true;
            for (; i < avn && ok; i++) {
                if (!dig((unsigned char)av[i])) ok = false;
                else if (delta < INT64_MAX / 20) delta = delta * 10 + (av[i] - '0');
            }
            if (!ok) continue;
            has_max_age = true;
            if (neg || delta == 0)
                max_age_expiry = INT64_MIN;
            else
                max_age_expiry = now > INT64_MAX - delta ? INT64_MAX - 1 : now + delta;
        } else if (cio__http_ieq(an, ann, "domain", 6)) {
            if (avn == 0) continue; /* §5.2.3: an empty Domain is ignored */
            if (av[0] == '.') {
                av++;
                avn--;
            }
            dom = av;
            dom_n = avn;
        } else if (cio__http_ieq(an, ann, "path", 4)) {
            if (avn == 0 || av[0] != '/') {
                path = NULL; /* §5.2.4: the default path */
            } else {
                path = av;
                path_n = avn;
            }
        } else if (cio__http_ieq(an, ann, "secure", 6)) {
            secure = true;
        } else if (cio__http_ieq(an, ann, "httponly", 8)) {
            http_only = true;
        } else if (cio__http_ieq(an, ann, "samesite", 8)) {
            ss = cio__http_ieq(av, avn, "strict", 6) ? SS_STRICT
                 : cio__http_ieq(av, avn, "lax", 3) ? SS_LAX
                 : cio__http_ieq(av, avn, "none", 4) ? SS_NONE
                                                     : SS_DEFAULT;
        }
    }
    if (path && has_ctl(path, path_n)) return -EINVAL;

    /* §5.3 step 6: the domain. Without a public suffix list, a Domain
     * with no inner dot ("com", "localhost") counts as a public suffix:
     * accepted only when it is the host itself, then as host-only. */
    char domain[256];
    bool host_only = true;
    const char *host = u->host;
    if (dom) {
        if (dom_n >= sizeof domain || dom_n == 0) return -EINVAL;
        for (size_t i = 0; i < dom_n; i++)
            domain[i] = (dom[i] >= 'A' && dom[i] <= 'Z') ? (char)(dom[i] + 32) : dom[i];
        domain[dom_n] = '\0';
        const char *dot = memchr(domain, '.', dom_n);
        bool suffix = !dot || dot == domain + dom_n - 1;
        if (!domain_match(host, domain)) return -EINVAL;
        if (suffix && strcmp(domain, host) != 0) return -EINVAL;
        host_only = suffix || is_ip(host);
    }
    if (host_only) {
        size_t hn = strlen(host);
        if (hn >= sizeof domain) return -EINVAL;
        memcpy(domain, host, hn + 1);
    }
    /* §5.3 step 7: the default path (§5.1.4): the request path up to its
     * last '/', or "/" */
    if (!path) {
        path = u->target;
        path_n = uri_path(u);
        const char *last = NULL;
        for (size_t i = 0; i < path_n; i++)
            if (path[i] == '/') last = path + i;
        path_n = last && last != path ? (size_t)(last - path) : 1;
        if (path[0] != '/') path = "/";
    }
    /* RFC 6265bis: a Secure cookie only from a secure origin, and the
     * name prefixes' promises. */
    if (secure && !secure_scheme(u)) return -EINVAL;
    if (name_n >= 9 && memcmp(name, "__Secure-", 9) == 0 && !secure) return -EINVAL;
    if (name_n >= 7 && memcmp(name, "__Host-", 7) == 0 &&
        (!secure || dom || path_n != 1 || path[0] != '/'))
        return -EINVAL;

    int64_t expiry = has_max_age ? max_age_expiry : has_expires ? expires : INT64_MAX;
    if (expiry == INT64_MAX && (has_max_age || has_expires)) expiry = INT64_MAX - 1;

    /* §5.3 step 11: replace a cookie of the same name, domain and path
     * (keeping its creation time); an expired cookie only removes it.
     * A non-secure origin may not replace a Secure cookie (6265bis). */
    for (size_t i = 0; i < jar->n; i++) {
        struct cookie *o = jar->c[i];
        if (o->name_n == name_n && memcmp(o->name, name, name_n) == 0 &&
            strcmp(o->domain, domain) == 0 && o->path_n == path_n &&
            memcmp(o->path, path, path_n) == 0) {
            if (o->secure && !secure_scheme(u)) return -EINVAL;
            if (expiry <= now) {
                drop_at(jar, i);
                return 0;
            }
            struct cookie *k = make(name, name_n, value, value_n, domain, path, path_n);
            if (!k) return -ENOMEM;
            k->created = o->created;
            k->seq = o->seq;
            k->expiry = expiry;
            k->host_only = host_only;
            k->secure = secure;
            k->http_only = http_only;
            k->same_site = ss;
            k->accessed = ++jar->clock;
            free(o);
            jar->c[i] = k; /* same path, same creation: same place */
            return 0;
        }
    }
    if (expiry <= now) return 0; /* a deletion of nothing */

    struct cookie *k = make(name, name_n, value, value_n, domain, path, path_n);
    if (!k) return -ENOMEM;
    k->expiry = expiry;
    k->created = now;
    k->seq = ++jar->seq;
    k->accessed = ++jar->clock;
    k->host_only = host_only;
    k->secure = secure;
    k->http_only = http_only;
    k->same_site = ss;
    drop_expired(jar, now);
    int rc = insert(jar, k);
    if (rc < 0) {
        free(k);
        return rc;
    }
    evict(jar, domain);
    return 0;
}

/* ---- Sending (RFC 6265 §5.4) ---------------------------------------------- */

ssize_t cio__http_jar_cookies(cio_http_jar *jar, const struct cio__http_url *u, int64_t now,
                              char *buf, size_t len)
{
    if (!jar || !u || !u->host || !u->target || (!buf && len)) return -EINVAL;
    drop_expired(jar, now);
    size_t rn = uri_path(u), o = 0;
    bool secure = secure_scheme(u), fits = true;
    for (size_t i = 0; i < jar->n; i++) {
        struct cookie *k = jar->c[i];
        if (k->host_only ? strcmp(u->host, k->domain) != 0 : !domain_match(u->host, k->domain))
            continue;
        if (!path_match(u->target, rn, k->path, k->path_n)) continue;
        if (k->secure && !secure) continue;
        k->accessed = ++jar->clock;
        size_t need = (o ? 2 : 0) + k->name_n + 1 + k->value_n;
        if (!fits || o + need >= len) {
            fits = false;
            o += need;
            continue;
        }
        if (o) {
            memcpy(buf + o, "; ", 2);
            o += 2;
        }
        memcpy(buf + o, k->name, k->name_n);
        o += k->name_n;
        buf[o++] = '=';
        memcpy(buf + o, k->value, k->value_n);
        o += k->value_n;
    }
    if (!fits) return -ENOSPC;
    if (len) buf[o] = '\0';
    return (ssize_t)o;
}

/* ---- The public functions --------------------------------------------------- */

int cio_http_jar_set(cio_http_jar *jar, const char *url, const char *set_cookie)
{
    if (!jar || !url || !set_cookie) return -EINVAL;
    struct cio__http_url u;
    int rc = cio__http_url_parse(url, &u);
    if (rc < 0) return rc;
    rc = cio__http_jar_store(jar, &u, set_cookie, (int64_t)time(NULL));
    cio__http_url_free(&u);
    return rc;
}

ssize_t cio_http_jar_header(cio_http_jar *jar, const char *url, char *buf, size_t len)
{
    if (!jar || !url || !buf) return -EINVAL;
    struct cio__http_url u;
    int rc = cio__http_url_parse(url, &u);
    if (rc < 0) return rc;
    ssize_t n = cio__http_jar_cookies(jar, &u, (int64_t)time(NULL), buf, len);
    cio__http_url_free(&u);
    return n;
}

size_t cio_http_jar_count(cio_http_jar *jar)
{
    if (!jar) return 0;
    drop_expired(jar, (int64_t)time(NULL));
    return jar->n;
}
