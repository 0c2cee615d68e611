/* cio: asynchronous name resolution (c-ares), driven by the loop.
 *
 * A resolver belongs to the loop it was made on and does its work on that
 * loop's thread: c-ares' sockets are watched by the loop and its timeouts
 * are loop timers, so no thread is used per lookup and any number of
 * lookups run at once. Every loop has a default resolver (made at its
 * first use from /etc/resolv.conf, freed with the loop); pass NULL for it.
 *
 * Lookups honour /etc/hosts first (as glibc's "files dns" order), then the
 * DNS servers, with resolv.conf's search list and ndots. A numeric host
 * ("127.0.0.1", "::1") resolves to itself without a query; "localhost" and
 * the names under it are the loopback addresses when /etc/hosts does not
 * name them (RFC 6761), never sent to a server. /etc/hosts is kept in
 * memory and read again when it changes (looked at once a second at most).
 * A resolver's sockets and timer count as the loop's live work only while
 * a lookup is awaited: an idle resolver never keeps a loop running.
 *
 * Errors (negative errno, as everywhere in cio):
 *   -ENOENT        the name does not exist (NXDOMAIN, or not in any search
 *                  domain)
 *   -ENODATA       the name exists but has no address of the family asked
 *   -ETIMEDOUT     no server answered within the resolver's tries, or the
 *                  task's deadline passed
 *   -EAGAIN        a temporary failure (SERVFAIL): try again later
 *   -ECONNREFUSED  the servers refused the query, or none listens (with
 *                  several servers, c-ares 1.18 tries the next one on a
 *                  SERVFAIL too, and reports the failure of all as this)
 *   -EPROTO        a malformed answer
 *   -EINVAL        a bad argument or a malformed name
 *   -ECANCELED, -ENOMEM */
#ifndef CIO_DNS_H
#define CIO_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "loop.h"
#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* typedef struct cio_resolver cio_resolver; is in net.h (connect options). */

typedef struct cio_resolver_options {
    size_t size;         /* sizeof(cio_resolver_options) as compiled: the macros */
    const char *servers; /* "127.0.0.1:5353,[::1]:53" (port 53 when none);
                            NULL: /etc/resolv.conf's nameservers */
    double timeout;      /* seconds before a query is retried; 0: resolv.conf's
                            (or 5 s); at least 1 ms, at most a day */
    int tries;           /* attempts per server; 0: resolv.conf's (or 4) */
    const char *search;  /* search domains, comma-separated; NULL:
                            resolv.conf's; "" none */
    int ndots;           /* dots a name needs to be tried as given first;
                            0: resolv.conf's (or 1) */
    bool no_hosts;       /* skip /etc/hosts */
    bool rotate;         /* spread queries over the servers */
} cio_resolver_options;

#define CIO_RESOLVER_OPTIONS_INIT {.size = sizeof(cio_resolver_options)}
#define CIO_RESOLVER_OPTIONS(...) \
    ((cio_resolver_options){.size = sizeof(cio_resolver_options), __VA_ARGS__})

/* Makes a resolver on the current loop. Returns 0, -EINVAL (NULL out, a
 * servers list outside its grammar, a negative, NaN or infinite timeout or
 * one over a day, a negative tries or ndots, an empty search domain),
 * -E2BIG,
 * -EPERM with no current loop, -ENOMEM, -EIO (c-ares could not read
 * resolv.conf). Never suspends. */
CIO_API int cio_resolver_new(const cio_resolver_options *opts, cio_resolver **out);

/* Frees a resolver: lookups still in flight end with -ECANCELED (a task's
 * lookup returns it; a callback lookup's callback is called with it from
 * the loop). NULL is a no-op; the loop's default is freed with the loop
 * and not here. Call it on the resolver's loop's thread. A resolver may
 * outlive its loop: the loop's end ends its lookups (-ECANCELED, callbacks
 * called from the loop's end), and cio_resolver_free then only frees it.
 * Never suspends. */
CIO_API void cio_resolver_free(cio_resolver *r);

/* Resolves host (a name, or a numeric IPv4/IPv6 address) for port into at
 * most max addresses (max >= 1), in the order to try them (RFC 6724's
 * sorting); family is AF_UNSPEC (both), AF_INET or AF_INET6. r NULL: the
 * current loop's default. Returns the number of addresses stored in out
 * (>= 1; more than max are dropped), or the errors above, -EPERM outside a
 * task. On -ECANCELED/-ETIMEDOUT the query is abandoned (its late answer
 * is ignored). May suspend. */
CIO_API int cio_dns_resolve(cio_resolver *r, const char *host, uint16_t port, int family,
                            cio_addr *out, size_t max);

/* A lookup in flight (callback form). */
typedef struct cio_dns_query cio_dns_query;

/* The callback form's result: status is the count of addrs (>= 1) or an
 * error above; addrs are valid during the call only. Called once, from the
 * loop (never from inside cio_dns_resolve_cb). */
typedef void (*cio_dns_cb)(int status, const cio_addr *addrs, size_t n, void *arg);

/* Starts resolving host for port on r's loop (r NULL: the current loop's
 * default) and calls cb with the answer. *out (may be NULL) receives the
 * query, valid until cb is called or cio_dns_cancel. Returns 0 (started;
 * cb will be called), -EINVAL, -EPERM (r NULL and no loop running),
 * -ENOMEM. Call it on the loop's thread (r's loop need not be running).
 * Never suspends. */
CIO_API int cio_dns_resolve_cb(cio_resolver *r, const char *host, uint16_t port, int family,
                               cio_dns_cb cb, void *arg, cio_dns_query **out);

/* Cancels a query whose callback has not run: the callback is not called.
 * Returns 0, -EINVAL (NULL). Never suspends. */
CIO_API int cio_dns_cancel(cio_dns_query *q);

/* Reverse lookup: the host name of addr's IP address (/etc/hosts first,
 * then a PTR query) into host (len bytes, NUL-terminated). Returns 0,
 * -ENOENT (no name), -ENAMETOOLONG (len too small), -EINVAL (NULL, a Unix
 * address), the errors above. May suspend. */
CIO_API int cio_dns_reverse(cio_resolver *r, const cio_addr *addr, char *host, size_t len);

#ifdef __cplusplus
}
#endif

#endif
