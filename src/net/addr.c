/* Addresses: IPv4, IPv6 (with a scope), Unix paths and Linux abstract
 * names, parsed and formatted by one grammar:
 *
 *   address  = ipv4 ":" port | "[" ipv6 [ "%" scope ] "]" ":" port
 *            | "unix:" upath | path | "@" name
 *   upath    = path | "@" name | any other non-empty text (a relative path)
 *   path     = ("/" | ".") text      (at most 107 bytes: sun_path with its NUL)
 *   name     = text, non-empty       (at most 107 bytes after the '@')
 *   port     = 1*5 DIGIT, 0..65535   (no sign, no space)
 *   ipv4     = dotted quad as inet_pton reads it ("1.2.3.4")
 *   ipv6     = as inet_pton reads it; scope = an interface name or number
 *
 * Everything else is -EINVAL, and *out is left untouched on any error. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define SUN_OFF offsetof(struct sockaddr_un, sun_path)
#define SUN_MAX (sizeof(((struct sockaddr_un *)0)->sun_path))

/* A port: 1 to 5 digits, at most 65535. */
static int parse_port(const char *s, uint16_t *port)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5)
        return -EINVAL;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return -EINVAL;
    *port = (uint16_t)v;
    return 0;
}

/* A scope: an interface number, or a name if_nametoindex knows. */
static int parse_scope(const char *s, uint32_t *scope)
{
    if (!*s)
        return -EINVAL;
    if (s[0] >= '0' && s[0] <= '9') {
        unsigned long v = 0;
        for (const char *p = s; *p; p++) {
            if (*p < '0' || *p > '9')
                return -EINVAL;
            v = v * 10 + (unsigned long)(*p - '0');
            if (v > UINT32_MAX)
                return -EINVAL;
        }
        *scope = (uint32_t)v;
        return 0;
    }
    if (strlen(s) >= IF_NAMESIZE)
        return -EINVAL;
    unsigned idx = if_nametoindex(s);
    if (idx == 0)
        return -EINVAL;
    *scope = idx;
    return 0;
}

/* A numeric host (no brackets) into a, with the port. */
static int ip_host(const char *host, uint16_t port, cio_addr *a)
{
    memset(a, 0, sizeof *a);
    if (inet_pton(AF_INET, host, &a->u.in4.sin_addr) == 1) {
        a->u.in4.sin_family = AF_INET;
        a->u.in4.sin_port = htons(port);
        a->len = sizeof a->u.in4;
        return 0;
    }
    char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    size_t n = strlen(host);
    if (n >= sizeof buf)
        return -EINVAL;
    memcpy(buf, host, n + 1);
    uint32_t scope = 0;
    char *pct = strchr(buf, '%');
    if (pct) {
        *pct = 0;
        if (parse_scope(pct + 1, &scope))
            return -EINVAL;
    }
    if (inet_pton(AF_INET6, buf, &a->u.in6.sin6_addr) != 1)
        return -EINVAL;
    a->u.in6.sin6_family = AF_INET6;
    a->u.in6.sin6_port = htons(port);
    a->u.in6.sin6_scope_id = scope;
    a->len = sizeof a->u.in6;
    return 0;
}

/* A Unix address from a path, or "@name" for an abstract one. */
static int unix_addr(const char *path, cio_addr *a)
{
    size_t n = strlen(path);
    if (n == 0)
        return -EINVAL;
    memset(a, 0, sizeof *a);
    a->u.un.sun_family = AF_UNIX;
    if (path[0] == '@') {
        if (n == 1)
            return -EINVAL; /* an empty abstract name is autobind's, not an address */
        if (n - 1 > SUN_MAX - 1)
            return -ENAMETOOLONG;
        memcpy(a->u.un.sun_path + 1, path + 1, n - 1); /* sun_path[0] = 0 */
        a->len = (socklen_t)(SUN_OFF + n);                /* 1 + (n - 1) */
        return 0;
    }
    if (n > SUN_MAX - 1)
        return -ENAMETOOLONG;
    memcpy(a->u.un.sun_path, path, n + 1);
    a->len = (socklen_t)(SUN_OFF + n + 1);
    return 0;
}

int cio_addr_parse(const char *text, cio_addr *out)
{
    if (!text || !out)
        return -EINVAL;
    cio_addr a;
    int rc;
    if (strncmp(text, "unix:", 5) == 0) {
        rc = unix_addr(text + 5, &a);
    } else if (text[0] == '/' || text[0] == '.' || text[0] == '@') {
        rc = unix_addr(text, &a);
    } else if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close == text + 1 || close[1] != ':')
            return -EINVAL;
        char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
        size_t n = (size_t)(close - text - 1);
        if (n >= sizeof host)
            return -EINVAL;
        memcpy(host, text + 1, n);
        host[n] = 0;
        if (!strchr(host, ':'))
            return -EINVAL; /* brackets are for IPv6 only */
        uint16_t port;
        if (parse_port(close + 2, &port))
            return -EINVAL;
        rc = ip_host(host, port, &a);
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || colon == text)
            return -EINVAL;
        char host[INET_ADDRSTRLEN];
        size_t n = (size_t)(colon - text);
        if (n >= sizeof host)
            return -EINVAL;
        memcpy(host, text, n);
        host[n] = 0;
        uint16_t port;
        if (parse_port(colon + 1, &port))
            return -EINVAL;
        memset(&a, 0, sizeof a);
        if (inet_pton(AF_INET, host, &a.u.in4.sin_addr) != 1)
            return -EINVAL; /* IPv6 needs brackets */
        a.u.in4.sin_family = AF_INET;
        a.u.in4.sin_port = htons(port);
        a.len = sizeof a.u.in4;
        rc = 0;
    }
    if (rc == 0)
        *out = a;
    return rc;
}

int cio_addr_ip(const char *host, uint16_t port, cio_addr *out)
{
    if (!host || !out)
        return -EINVAL;
    cio_addr a;
    int rc = ip_host(host, port, &a);
    if (rc == 0)
        *out = a;
    return rc;
}

int cio_addr_unix(const char *path, cio_addr *out)
{
    if (!path || !out)
        return -EINVAL;
    cio_addr a;
    int rc = unix_addr(path, &a);
    if (rc == 0)
        *out = a;
    return rc;
}

int cio_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, cio_addr *out)
{
    if (!sa || !out || len < sizeof(sa_family_t))
        return -EINVAL;
    cio_addr a;
    memset(&a, 0, sizeof a);
    switch (sa->sa_family) {
    case AF_INET:
        if (len < sizeof a.u.in4 || len > sizeof a.u.storage)
            return -EINVAL;
        memcpy(&a.u.in4, sa, sizeof a.u.in4);
        a.len = sizeof a.u.in4;
        break;
    case AF_INET6:
        if (len < sizeof a.u.in6 || len > sizeof a.u.storage)
            return -EINVAL;
        memcpy(&a.u.in6, sa, sizeof a.u.in6);
        a.len = sizeof a.u.in6;
        break;
    case AF_UNIX:
        if (len > sizeof a.u.un)
            return -EINVAL;
        memcpy(&a.u.un, sa, len);
        a.len = len;
        /* A path: the length the kernel gives may count its NUL or not;
         * keep one form (with the NUL), so equal addresses compare equal. */
        if (len > SUN_OFF && a.u.un.sun_path[0] != 0) {
            size_t n = strnlen(a.u.un.sun_path, len - SUN_OFF);
            if (n == SUN_MAX)
                return -EINVAL; /* no room for the NUL in a cio_addr */
            a.len = (socklen_t)(SUN_OFF + n + 1);
        }
        break;
    default:
        return -EINVAL;
    }
    *out = a;
    return 0;
}

sa_family_t cio_addr_family(const cio_addr *a)
{
    if (!a || a->len == 0)
        return AF_UNSPEC;
    return a->u.sa.sa_family;
}

uint16_t cio_addr_port(const cio_addr *a)
{
    switch (cio_addr_family(a)) {
    case AF_INET:
        return ntohs(a->u.in4.sin_port);
    case AF_INET6:
        return ntohs(a->u.in6.sin6_port);
    default:
        return 0;
    }
}

/* Whether a is one cio_addr_* could have made. */
static bool valid(const cio_addr *a)
{
    switch (cio_addr_family(a)) {
    case AF_INET:
        return a->len == sizeof a->u.in4;
    case AF_INET6:
        return a->len == sizeof a->u.in6;
    case AF_UNIX:
        return a->len >= SUN_OFF && a->len <= sizeof a->u.un;
    default:
        return false;
    }
}

int cio_addr_format(const cio_addr *a, char *buf, size_t len)
{
    if (!buf && len)
        return -EINVAL;
    if (!valid(a)) {
        if (len)
            buf[0] = 0;
        return -EINVAL;
    }
    char tmp[CIO_ADDR_STRLEN];
    char host[INET6_ADDRSTRLEN];
    size_t n;
    switch (a->u.sa.sa_family) {
    case AF_INET:
        inet_ntop(AF_INET, &a->u.in4.sin_addr, host, sizeof host);
        n = (size_t)snprintf(tmp, sizeof tmp, "%s:%u", host, ntohs(a->u.in4.sin_port));
        break;
    case AF_INET6: {
        inet_ntop(AF_INET6, &a->u.in6.sin6_addr, host, sizeof host);
        char scope[IF_NAMESIZE + 12] = "";
        uint32_t id = a->u.in6.sin6_scope_id;
        if (id) {
            char name[IF_NAMESIZE];
            if (if_indextoname(id, name))
                snprintf(scope, sizeof scope, "%%%s", name);
            else
                snprintf(scope, sizeof scope, "%%%u", id);
        }
        n = (size_t)snprintf(tmp, sizeof tmp, "[%s%s]:%u", host, scope,
                             ntohs(a->u.in6.sin6_port));
        break;
    }
    default: { /* AF_UNIX */
        size_t plen = a->len - SUN_OFF;
        const char *p = a->u.un.sun_path;
        if (plen == 0) {
            n = (size_t)snprintf(tmp, sizeof tmp, "unix:");
        } else if (p[0] == 0) {
            /* Abstract: the name's bytes as they are, after '@'. */
            memcpy(tmp, "unix:@", 6);
            memcpy(tmp + 6, p + 1, plen - 1);
            n = 6 + plen - 1;
            tmp[n] = 0;
        } else {
            n = (size_t)snprintf(tmp, sizeof tmp, "unix:%.*s", (int)strnlen(p, plen), p);
        }
        break;
    }
    }
    if (n + 1 > len) {
        if (len)
            buf[0] = 0;
        return -ENOSPC;
    }
    memcpy(buf, tmp, n + 1);
    return 0;
}

bool cio_addr_is_equal(const cio_addr *a, const cio_addr *b)
{
    sa_family_t fa = cio_addr_family(a), fb = cio_addr_family(b);
    if (fa != fb)
        return false;
    switch (fa) {
    case AF_UNSPEC:
        return true;
    case AF_INET:
        return a->u.in4.sin_port == b->u.in4.sin_port &&
               a->u.in4.sin_addr.s_addr == b->u.in4.sin_addr.s_addr;
    case AF_INET6:
        return a->u.in6.sin6_port == b->u.in6.sin6_port &&
               a->u.in6.sin6_scope_id == b->u.in6.sin6_scope_id &&
               memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, sizeof a->u.in6.sin6_addr) == 0;
    case AF_UNIX:
        return a->len == b->len &&
               (a->len <= SUN_OFF ||
                memcmp(a->u.un.sun_path, b->u.un.sun_path, a->len - SUN_OFF) == 0);
    default:
        return a->len == b->len && memcmp(&a->u, &b->u, a->len) == 0;
    }
}
