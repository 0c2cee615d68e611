/* HTTP proxies for the client: which proxy a URL goes through (the
 * client's option, or http_proxy / https_proxy / no_proxy as curl and Go
 * read them), and the CONNECT tunnel through one (RFC 9110 9.3.6). */
#include <arpa/inet.h>
#include <errno.h>
#include <llhttp.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_parts.h"

/* ---- Choosing a proxy ------------------------------------------------------- */

/* A non-empty environment variable, the lower-case name first. */
static const char *env2(const char *lower, const char *upper)
{
    const char *v = getenv(lower);
    if (v && *v) return v;
    v = upper ? getenv(upper) : NULL;
    return v && *v ? v : NULL;
}

/* Normalizes a proxy value into "http://[userinfo@]host:port". */
static int proxy_url(const char *value, char **out)
{
    const char *text = value;
    char *tmp = NULL;
    if (!strstr(value, "://")) { /* "host:port", taken as http:// as curl does */
        size_t n = strlen(value);
        tmp = malloc(n + 8);
        if (!tmp) return -ENOMEM;
        memcpy(tmp, "http://", 7);
        memcpy(tmp + 7, value, n + 1);
        text = tmp;
    }
    struct cio__http_url u;
    int rc = cio__http_url_parse(text, &u);
    free(tmp);
    if (rc < 0) return rc;
    if (strcmp(u.scheme, "http") != 0) {
        cio__http_url_free(&u);
        return -EINVAL;
    }
    size_t n = strlen(u.host) + (u.userinfo ? strlen(u.userinfo) : 0) + 32;
    char *s = malloc(n);
    if (!s) {
        cio__http_url_free(&u);
        return -ENOMEM;
    }
    snprintf(s, n, "http://%s%s%s%s%s:%u", u.userinfo ? u.userinfo : "", u.userinfo ? "@" : "",
             u.ipv6 ? "[" : "", u.host, u.ipv6 ? "]" : "", (unsigned)u.port);
    cio__http_url_free(&u);
    *out = s;
    return 0;
}

/* host (an address's text) in the block net/bits of the same family. */
static bool in_cidr(const char *host, const char *net, size_t net_n, int bits)
{
    char buf[INET6_ADDRSTRLEN];
    unsigned char h[16], n[16];
    if (net_n >= sizeof buf) return false;
    memcpy(buf, net, net_n);
    buf[net_n] = '\0';
    int fam = strchr(buf, ':') ? AF_INET6 : AF_INET;
    int len = fam == AF_INET6 ? 16 : 4;
    if (inet_pton(fam, buf, n) != 1 || inet_pton(fam, host, h) != 1) return false;
    if (bits < 0) bits = len * 8;
    if (bits > len * 8) return false;
    for (int i = 0; i < len && bits > 0; i++, bits -= 8) {
        unsigned char mask = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
        if ((h[i] & mask) != (n[i] & mask)) return false;
    }
    return true;
}

/* Whether one no_proxy entry e[0..n) covers u. */
static bool no_proxy_entry(const char *e, size_t n, const struct cio__http_url *u)
{
    if (n == 1 && e[0] == '*') return true;
    int port = -1;
    const char *host = e;
    size_t hn = n;
    /* "[v6]", "[v6]:port", "v6", "v6/bits", "host:port", "host" */
    if (e[0] == '[') {
        const char *close = memchr(e, ']', n);
        if (!close) return false;
        host = e + 1;
        hn = (size_t)(close - e) - 1;
        if (close + 1 < e + n) {
            if (close[1] != ':') return false;
            port = atoi(close + 2);
        }
    } else {
        const char *colon = memchr(e, ':', n);
        if (colon && !memchr(colon + 1, ':', (size_t)(e + n - colon - 1))) {
            hn = (size_t)(colon - e);
            port = 0;
            for (const char *p = colon + 1; p < e + n; p++) {
                if (*p < '0' || *p > '9' || port > 65535) return false;
                port = port * 10 + (*p - '0');
            }
        }
    }
    if (port >= 0 && port != u->port) return false;
    const char *slash = memchr(host, '/', hn);
    if (slash) {
        int bits = 0;
        const char *p = slash + 1;
        if (p == host + hn) return false;
        for (; p < host + hn; p++) {
            if (*p < '0' || *p > '9' || bits > 128) return false;
            bits = bits * 10 + (*p - '0');
        }
        return in_cidr(u->host, host, (size_t)(slash - host), bits);
    }
    if (in_cidr(u->host, host, hn, -1)) return true;
    /* a name: itself or its subdomains, ".domain" and "*.domain" alike */
    if (hn && host[0] == '.') {
        host++;
        hn--;
    } else if (hn > 1 && host[0] == '*' && host[1] == '.') {
        host += 2;
        hn -= 2;
    }
    if (hn && host[hn - 1] == '.') hn--;
    size_t un = strlen(u->host);
    if (un && u->host[un - 1] == '.') un--;
    if (hn == 0 || un < hn || !cio__http_ieq(u->host + un - hn, hn, host, hn)) return false;
    return un == hn || u->host[un - hn - 1] == '.';
}

static bool no_proxy_match(const char *list, const struct cio__http_url *u)
{
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        const char *b = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t') p++;
        if (p > b && no_proxy_entry(b, (size_t)(p - b), u)) return true;
    }
    return false;
}

int cio__http_proxy_for(const char *explicit_proxy, bool from_env, const struct cio__http_url *u,
                        char **out)
{
    if (!out) return -EINVAL;
    *out = NULL;
    if (!u || !u->host) return -EINVAL;
    if (explicit_proxy) return proxy_url(explicit_proxy, out);
    if (!from_env) return 0;
    const char *v;
    if (u->tls) {
        v = env2("https_proxy", "HTTPS_PROXY");
    } else {
        /* httpoxy: a CGI program's HTTP_PROXY may come from a request's
         * "Proxy:" header, so it is not read there (as curl and Go do) */
        v = env2("http_proxy", getenv("REQUEST_METHOD") ? NULL : "HTTP_PROXY");
    }
    if (!v) return 0;
    const char *np = env2("no_proxy", "NO_PROXY");
    if (np && no_proxy_match(np, u)) return 0;
    return proxy_url(v, out);
}

/* ---- CONNECT ------------------------------------------------------------------ */

struct answer {
    int status;
    bool final;
};

static int on_headers_complete(llhttp_t *p)
{
    struct answer *a = p->data;
    a->status = p->status_code;
    /* An interim answer (1xx but 101) is skipped; the final one ends the
     * parse right after its header section, whatever its framing says:
     * after a 2xx the bytes are the tunnel's (returning 2 makes llhttp
     * stop there with HPE_PAUSED_UPGRADE), after another status the
     * connection is given up. */
    if (a->status >= 100 && a->status < 200 && a->status != 101) return 1;
    a->final = true;
    return 2;
}

/* Proxy-Authorization's credentials: base64 of the percent-decoded
 * "user:pass" (RFC 7617; "user" alone means an empty password). */
static int basic_credentials(const char *userinfo, char **out)
{
    size_t n = strlen(userinfo);
    char *plain = malloc(n + 2);
    if (!plain) return -ENOMEM;
    ssize_t m = cio__http_pct_decode(plain, userinfo, n, false);
    if (m < 0) {
        free(plain);
        return -EINVAL;
    }
    if (!memchr(plain, ':', (size_t)m)) plain[m++] = ':';
    char *b64 = malloc(4 * (((size_t)m + 2) / 3) + 1);
    if (!b64) {
        free(plain);
        return -ENOMEM;
    }
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)plain, (int)m);
    free(plain);
    *out = b64;
    return 0;
}

int cio__http_proxy_connect(cio_stream *s, const struct cio__http_url *target,
                            const char *proxy_userinfo, int *status)
{
    if (status) *status = 0;
    if (!s || !target || !target->host) return -EINVAL;
    char *cred = NULL;
    if (proxy_userinfo) {
        int rc = basic_credentials(proxy_userinfo, &cred);
        if (rc < 0) return rc;
    }
    char authority[INET6_ADDRSTRLEN + 300];
    int an = snprintf(authority, sizeof authority, "%s%s%s:%u", target->ipv6 ? "[" : "",
                      target->host, target->ipv6 ? "]" : "", (unsigned)target->port);
    if (an < 0 || (size_t)an >= sizeof authority) {
        free(cred);
        return -EINVAL;
    }
    size_t cap = 2 * (size_t)an + (cred ? strlen(cred) : 0) + 96;
    char *req = malloc(cap);
    if (!req) {
        free(cred);
        return -ENOMEM;
    }
    int rn = snprintf(req, cap, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s%s%s\r\n", authority,
                      authority, cred ? "Proxy-Authorization: Basic " : "", cred ? cred : "",
                      cred ? "\r\n" : "");
    free(cred);
    int rc = cio_stream_write(s, req, (size_t)rn);
    free(req);
    if (rc < 0) return rc;

    llhttp_settings_t settings;
    llhttp_settings_init(&settings);
    settings.on_headers_complete = on_headers_complete;
    llhttp_t p;
    llhttp_init(&p, HTTP_RESPONSE, &settings);
    struct answer a = {0};
    p.data = &a;
    size_t fed = 0;
    for (;;) {
        const void *data;
        size_t len;
        rc = cio_stream_peek(s, &data, &len);
        if (rc == -ENODATA || (rc == 0 && len == 0)) return fed ? -EPROTO : -ECONNRESET;
        if (rc < 0) return rc;
        const char *d = data;
        llhttp_errno_t e = llhttp_execute(&p, d + fed, len - fed);
        if (e == HPE_PAUSED_UPGRADE && a.final) {
            size_t end = (size_t)(llhttp_get_error_pos(&p) - d);
            if (status) *status = a.status;
            if (a.status < 200 || a.status > 299) return -ECONNREFUSED;
            return cio_stream_consume(s, end);
        }
        if (e != HPE_OK) return -EPROTO;
        fed = len;
    }
}
