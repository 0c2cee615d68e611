/* dns_callback.c: lookups in the callback form on the loop's default
 * resolver (docs/api/dns.md): cio_dns_resolve_cb, cio_dns_cancel. The
 * hosts are a numeric address and "localhost" (the loopback addresses,
 * from /etc/hosts or RFC 6761's rule), so no server is asked and no
 * network is used. Exits 0 on success. */
#include <stdio.h>
#include <string.h>

#include <cio.h>
#include <cio/dns.h>
#include <cio/net.h>

static int answered;

/* Called from the loop, once per lookup, never from inside
 * cio_dns_resolve_cb; addrs are valid during the call only. */
static void on_addrs(int status, const cio_addr *addrs, size_t n, void *arg)
{
    const char *host = arg;
    if (status < 0) {
        printf("%s: %s\n", host, cio_strerror(status));
    } else {
        for (size_t i = 0; i < n; i++) {
            char text[CIO_ADDR_STRLEN];
            cio_addr_format(&addrs[i], text, sizeof text);
            printf("%s: %s\n", host, text);
        }
    }
    answered++;
}

static void never(int status, const cio_addr *addrs, size_t n, void *arg)
{
    (void)status, (void)addrs, (void)n, (void)arg;
    printf("a cancelled lookup's callback ran\n");
    answered = -1000;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    /* NULL: the current loop's default resolver. */
    int err = cio_dns_resolve_cb(NULL, "192.0.2.1", 80, AF_UNSPEC, on_addrs, "192.0.2.1", NULL);
    if (!err)
        err = cio_dns_resolve_cb(NULL, "localhost", 8080, AF_INET, on_addrs, "localhost", NULL);
    /* A lookup cancelled before its answer is delivered: no callback. */
    cio_dns_query *q = NULL;
    if (!err)
        err = cio_dns_resolve_cb(NULL, "::1", 80, AF_UNSPEC, never, NULL, &q);
    if (!err)
        err = cio_dns_cancel(q);
    /* The answers come from the loop: let it run. */
    for (int i = 0; !err && i < 1000 && answered < 2; i++)
        err = cio_sleep(0.001);
    if (!err && answered != 2)
        err = -EPROTO;
    return err;
}

int main(void)
{
    int err = cio_run(main_task, NULL, NULL);
    if (err) {
        fprintf(stderr, "dns_callback: %s\n", cio_strerror(err));
        return 1;
    }
    return 0;
}
