/* dns_lookup, libevent: evdns lookups against the local dnsmasq bench/run
 * starts. See bench/client/dns_names.h for the command line and the names.
 *
 * evdns_base_new(base, 0): no resolv.conf, no /etc/hosts, no search list;
 * evdns_base_nameserver_ip_add("127.0.0.1:PORT") the one server. Options
 * set for like-for-like work with cio's c-ares (1.18): "max-inflight:" at
 * the number of lookups in flight (evdns's default, 64, would queue the
 * rest inside evdns) and "randomize-case:" 0 (evdns mixes the case of every
 * name it sends by default, the 0x20 hardening; c-ares 1.18 does not).
 * Each lookup is evdns_getaddrinfo with AF_INET, SOCK_STREAM hints and a
 * port (as cio_dns_resolve returns addresses with a port): one A query;
 * the callback checks the answer, frees it (evutil_freeaddrinfo) and starts
 * the next lookup. */
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netdb.h>

#include "../../client/dns_names.h"

static struct evdns_base *dns;
static struct event_base *base;
static long next, finished, target;

static void start(long k);

static void on_answer(int result, struct evutil_addrinfo *res, void *arg)
{
    long i = (long)(intptr_t)arg;
    if (result != 0 || !res || res->ai_family != AF_INET ||
        ((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr != bench_dns_addr(i) ||
        ((struct sockaddr_in *)res->ai_addr)->sin_port != htons(80)) {
        fprintf(stderr, "libevent dns_lookup: lookup of name %ld failed: %s\n", i,
                evutil_gai_strerror(result));
        exit(1);
    }
    evutil_freeaddrinfo(res);
    finished++;
    if (next < target)
        start(next++);
    else if (finished == target)
        event_base_loopbreak(base);
}

static long nnames;

static void start(long k)
{
    char name[64];
    long i = k % nnames;
    bench_dns_name(i, name, sizeof name);
    struct evutil_addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    evdns_getaddrinfo(dns, name, "80", &hints, on_answer, (void *)(intptr_t)i);
}

/* Runs lookups [from, to) with `inflight` at a time, to completion. */
static void run(long from, long to, long inflight)
{
    next = from;
    finished = from;
    target = to;
    while (next < to && next - from < inflight)
        start(next++);
    if (finished < to)
        BENCH_CHECK(event_base_dispatch(base) < 0);
    if (finished != to) {
        fprintf(stderr, "libevent dns_lookup: the loop ended early\n");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    bench_dns_args a = bench_dns_parse(argc, argv);
    nnames = a.names;
    base = event_base_new();
    BENCH_CHECK(base == NULL);
    dns = evdns_base_new(base, 0);
    BENCH_CHECK(dns == NULL);
    char server[32], inflight[24];
    snprintf(server, sizeof server, "127.0.0.1:%d", a.port);
    snprintf(inflight, sizeof inflight, "%ld", a.inflight);
    BENCH_CHECK(evdns_base_nameserver_ip_add(dns, server));
    BENCH_CHECK(evdns_base_set_option(dns, "max-inflight:", inflight));
    BENCH_CHECK(evdns_base_set_option(dns, "randomize-case:", "0"));

    run(0, a.inflight, a.inflight); /* warm-up, not timed */
    uint64_t t0 = bench_now_ns();
    double c0 = bench_cpu_s();
    run(0, a.count, a.inflight);
    double cpu = bench_cpu_s() - c0;
    double dt = (bench_now_ns() - t0) / 1e9;
    bench_emit("dns_lookup", "libevent", "lookups_per_s", "1/s", a.count / dt, "higher");
    bench_emit("dns_lookup", "libevent", "lookups", "", (double)a.count, "higher");
    bench_emit("dns_lookup", "libevent", "cpu_per_op", "ns", cpu * 1e9 / a.count, "lower");
    evdns_base_free(dns, 0);
    event_base_free(base);
    return 0;
}
