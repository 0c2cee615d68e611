/* dns_resolve.c: names resolved by a resolver of its own (docs/api/dns.md):
 * cio_resolver_new, cio_dns_resolve, cio_dns_reverse, cio_resolver_free.
 * The DNS server is a task of this program on 127.0.0.1 (no network is
 * used): it answers every A query with 192.0.2.10, every AAAA query with
 * no address, and every PTR query with "www.example.test". Exits 0 on
 * success. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cio.h>
#include <cio/dns.h>
#include <cio/net.h>

/* Answers one query in buf (n bytes) in place; returns the answer's
 * length, or 0 to drop it. */
static size_t answer(unsigned char *buf, size_t n, size_t room)
{
    size_t q = 12; /* the question's name follows the header */
    while (q < n && buf[q] != 0)
        q += 1 + (size_t)buf[q];
    if (q + 5 > n)
        return 0;
    unsigned type = (unsigned)(buf[q + 1] << 8 | buf[q + 2]);
    size_t end = q + 5; /* name, type, class */
    buf[2] = (unsigned char)(0x80 | (buf[2] & 0x01)); /* an answer; RD as asked */
    buf[3] = 0x80;                                    /* recursion available, NOERROR */
    buf[6] = buf[7] = buf[8] = buf[9] = buf[10] = buf[11] = 0;
    static const unsigned char a[] = {192, 0, 2, 10};
    static const unsigned char ptr[] = {3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l',
                                        'e', 4,   't', 'e', 's', 't', 0};
    const unsigned char *data = type == 1 ? a : type == 12 ? ptr : NULL;
    size_t len = type == 1 ? sizeof a : sizeof ptr;
    if (!data)
        return end; /* no record of that type: an empty answer */
    if (end + 12 + len > room)
        return 0;
    unsigned char *p = buf + end;
    *p++ = 0xc0, *p++ = 12;                     /* the question's name */
    *p++ = 0, *p++ = (unsigned char)type;       /* type */
    *p++ = 0, *p++ = 1;                         /* class IN */
    *p++ = 0, *p++ = 0, *p++ = 0, *p++ = 60;    /* TTL */
    *p++ = 0, *p++ = (unsigned char)len;        /* data length */
    memcpy(p, data, len);
    buf[7] = 1; /* one answer */
    return end + 12 + len;
}

static int dns_server(void *arg, void **result)
{
    (void)result;
    cio_udp *u = arg;
    for (;;) {
        unsigned char buf[512];
        cio_addr from;
        ssize_t n = cio_udp_recv(u, buf, sizeof buf, &from);
        if (n < 0)
            return (int)n; /* -ECANCELED: stopped by main_task */
        size_t len = n >= 12 && n <= (ssize_t)sizeof buf ? answer(buf, (size_t)n, sizeof buf) : 0;
        if (len)
            cio_udp_send(u, buf, len, &from);
    }
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    /* The server: a UDP socket on 127.0.0.1, a port the system picks. */
    cio_addr any, srv_addr;
    cio_udp *u = NULL;
    int err = cio_addr_ip("127.0.0.1", 0, &any);
    if (!err)
        err = cio_udp_new(&any, NULL, &u);
    if (!err)
        err = cio_udp_local(u, &srv_addr);
    char servers[CIO_ADDR_STRLEN];
    if (!err)
        err = cio_addr_format(&srv_addr, servers, sizeof servers); /* "127.0.0.1:PORT" */
    cio_task *server = NULL;
    if (!err)
        err = cio_spawn(dns_server, u, &server);

    /* A resolver asking that server only: no search domains, no
     * /etc/hosts, a short timeout. */
    cio_resolver *r = NULL;
    if (!err)
        err = cio_resolver_new(&CIO_RESOLVER_OPTIONS(.servers = servers, .search = "",
                                                     .no_hosts = true, .timeout = 2),
                               &r);
    cio_addr addrs[4];
    int n = 0;
    if (!err) {
        n = cio_dns_resolve(r, "www.example.test", 443, AF_UNSPEC, addrs, 4); /* suspends */
        if (n < 0)
            err = n;
    }
    for (int i = 0; i < n; i++) {
        char text[CIO_ADDR_STRLEN];
        cio_addr_format(&addrs[i], text, sizeof text);
        printf("www.example.test: %s\n", text); /* 192.0.2.10:443 */
    }
    /* Only IPv6 asked: the name has none. */
    if (!err && cio_dns_resolve(r, "www.example.test", 443, AF_INET6, addrs, 4) != -ENODATA)
        err = -EPROTO;
    /* A numeric host needs no query. */
    if (!err && cio_dns_resolve(r, "::1", 80, AF_UNSPEC, addrs, 4) != 1)
        err = -EPROTO;
    /* The reverse: the name of 192.0.2.10 (a PTR query). */
    char name[256];
    if (!err) {
        cio_addr ip;
        err = cio_addr_ip("192.0.2.10", 0, &ip);
        if (!err)
            err = cio_dns_reverse(r, &ip, name, sizeof name);
        if (!err)
            printf("192.0.2.10 is %s\n", name); /* www.example.test */
    }
    cio_resolver_free(r);
    if (server) {
        cio_future_cancel(server);
        cio_await(server, NULL); /* -ECANCELED */
        cio_future_unref(server);
    }
    if (u)
        cio_udp_close(u);
    return err;
}

int main(void)
{
    int err = cio_run(main_task, NULL, NULL);
    if (err) {
        fprintf(stderr, "dns_resolve: %s\n", cio_strerror(err));
        return 1;
    }
    return 0;
}
