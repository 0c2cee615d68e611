/* The names of dns_lookup, shared by the lookup programs (cio's and
 * libevent's) and, by the same formula, bench/run's hosts file for dnsmasq.
 *
 * usage: PROGRAM PORT [COUNT [INFLIGHT [NAMES]]]
 *   Resolves COUNT (default 10,000) names, INFLIGHT (default 100) at a time,
 *   against the DNS server on 127.0.0.1:PORT only (no resolv.conf, no
 *   /etc/hosts, no search list), IPv4 addresses only (AF_INET: one A query
 *   per lookup on every side). Lookup k asks for name k % NAMES (default
 *   1,000): "h<i>.bench.test", whose address is 10.77.<i / 256>.<i % 256>;
 *   every answer is checked. One untimed round of INFLIGHT lookups first.
 *   Prints lookups_per_s, lookups, and cpu_per_op: the process's CPU time
 *   (user + system, getrusage) per lookup, in ns. */
#ifndef BENCH_DNS_NAMES_H
#define BENCH_DNS_NAMES_H

#include "../common.h"

#include <arpa/inet.h>
#include <netinet/in.h>

typedef struct {
    int port;
    long count, inflight, names;
} bench_dns_args;

static inline bench_dns_args bench_dns_parse(int argc, char **argv)
{
    bench_dns_args a;
    char *end = NULL;
    long port = argc > 1 ? strtol(argv[1], &end, 10) : -1;
    if (argc < 2 || argc > 5 || *end != '\0' || port < 1 || port > 65535) {
        fprintf(stderr, "usage: %s PORT [COUNT [INFLIGHT [NAMES]]]\n", argv[0]);
        exit(2);
    }
    a.port = (int)port;
    a.count = bench_arg(argc, argv, 2, 10000);
    a.inflight = bench_arg(argc, argv, 3, 100);
    a.names = bench_arg(argc, argv, 4, 1000);
    if (a.names > 65536) {
        fprintf(stderr, "at most 65,536 names\n");
        exit(2);
    }
    return a;
}

static inline void bench_dns_name(long i, char *buf, size_t len)
{
    snprintf(buf, len, "h%ld.bench.test", i);
}

/* The address of name i, in network byte order. */
static inline uint32_t bench_dns_addr(long i)
{
    return htonl((10u << 24) | (77u << 16) | ((uint32_t)i & 0xffff));
}

#endif
