/* Prints the addresses of a name, or the name of an address:
 *
 *   resolve [-4|-6] [--server ADDR:PORT] [--no-hosts] NAME [PORT]
 *   resolve [--server ADDR:PORT] [--no-hosts] --reverse ADDR
 *
 * The forward form prints one address a line, in the order to try them
 * ("127.0.0.1:80", "[::1]:80"), PORT being 0 unless given; -4 or -6 asks
 * for one family only. The reverse form prints the name. --server asks
 * that DNS server (a list: "127.0.0.1:5353,[::1]:53") instead of
 * /etc/resolv.conf's, with no search domains. Exits 0, or 1 with the
 * error on stderr ("resolve: NAME: No such file or directory" for a name
 * that does not exist: cio's errors are negative errno values, see
 * cio/dns.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cio.h>
#include <cio/dns.h>
#include <cio/net.h>

struct args {
    const char *name;
    const char *server;
    int family;
    int port;
    bool reverse;
    bool no_hosts;
};

static int usage(void)
{
    fprintf(stderr, "usage: resolve [-4|-6] [--server ADDR:PORT] [--no-hosts] NAME [PORT]\n"
                    "       resolve [--server ADDR:PORT] [--no-hosts] --reverse ADDR\n");
    return 2;
}

static int resolve_main(void *arg, void **result)
{
    (void)result;
    struct args *a = arg;
    cio_resolver *r = NULL; /* NULL: the loop's default, from /etc/resolv.conf */
    int rc = 0;
    if (a->server || a->no_hosts) {
        cio_resolver_options o = CIO_RESOLVER_OPTIONS_INIT;
        o.servers = a->server;
        o.search = a->server ? "" : NULL;
        o.no_hosts = a->no_hosts;
        rc = cio_resolver_new(&o, &r);
        if (rc) {
            fprintf(stderr, "resolve: %s: %s\n", a->server ? a->server : "resolver",
                    cio_strerror(rc));
            return rc;
        }
    }
    if (a->reverse) {
        cio_addr addr;
        char host[1025];
        rc = cio_addr_ip(a->name, 0, &addr);
        if (rc == 0)
            rc = cio_dns_reverse(r, &addr, host, sizeof host);
        if (rc == 0)
            printf("%s\n", host);
    } else {
        cio_addr addrs[64];
        int n = cio_dns_resolve(r, a->name, (uint16_t)a->port, a->family, addrs, 64);
        for (int i = 0; i < n; i++) {
            char text[CIO_ADDR_STRLEN];
            if (cio_addr_format(&addrs[i], text, sizeof text) == 0)
                printf("%s\n", text);
        }
        rc = n < 0 ? n : 0;
    }
    if (rc)
        fprintf(stderr, "resolve: %s: %s\n", a->name, cio_strerror(rc));
    cio_resolver_free(r);
    return rc;
}

int main(int argc, char **argv)
{
    struct args a = {.family = AF_UNSPEC};
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (strcmp(argv[i], "-4") == 0)
            a.family = AF_INET;
        else if (strcmp(argv[i], "-6") == 0)
            a.family = AF_INET6;
        else if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
            a.server = argv[++i];
        else if (strcmp(argv[i], "--no-hosts") == 0)
            a.no_hosts = true;
        else if (strcmp(argv[i], "--reverse") == 0)
            a.reverse = true;
        else
            return usage();
    }
    if (i >= argc || argc - i > (a.reverse ? 1 : 2))
        return usage();
    a.name = argv[i];
    if (i + 1 < argc) {
        char *end;
        long p = strtol(argv[i + 1], &end, 10);
        if (*end || p < 0 || p > 65535)
            return usage();
        a.port = (int)p;
    }
    return cio_run(resolve_main, &a, NULL) == 0 ? 0 : 1;
}
