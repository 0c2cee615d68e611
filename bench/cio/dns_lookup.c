/* dns_lookup, cio: c-ares lookups through cio's resolver against the local
 * dnsmasq bench/run starts. See bench/client/dns_names.h for the command
 * line (here with a first argument, the style) and the names.
 *
 * usage: cio_dns_lookup cb|tasks PORT [COUNT [INFLIGHT [NAMES]]]
 *
 * One resolver, cio_resolver_new with servers "127.0.0.1:PORT", no search
 * list (search ""), no /etc/hosts (no_hosts): the same settings as the
 * evdns peer. Every lookup is AF_INET with port 80 (one A query) into one
 * cio_addr, checked against the name's address.
 *   cb     (impl cio): cio_dns_resolve_cb; each callback checks its answer
 *          and starts the next lookup, INFLIGHT in flight; the main task
 *          waits on a cio_event the last callback sets.
 *   tasks  (impl cio_tasks): INFLIGHT tasks, each looping cio_dns_resolve
 *          over the next lookup number until COUNT are done. */
#include <cio.h>
#include <cio/dns.h>

#include "../client/dns_names.h"

static bench_dns_args args;
static bool tasks_mode;
static cio_resolver *resolver;
static cio_event *all_done;
static long next, finished, target;

static void check(long i, int status, const cio_addr *a)
{
    if (status != 1 || a->u.sa.sa_family != AF_INET || a->u.in4.sin_addr.s_addr != bench_dns_addr(i) ||
        cio_addr_port(a) != 80) {
        fprintf(stderr, "cio dns_lookup: lookup of name %ld failed: %d (%s)\n", i, status,
                status < 0 ? strerror(-status) : "wrong answer");
        exit(1);
    }
}

static void start(long k);

static void on_answer(int status, const cio_addr *addrs, size_t n, void *arg)
{
    (void)n;
    check((long)(intptr_t)arg, status, addrs);
    finished++;
    if (next < target)
        start(next++);
    else if (finished == target)
        cio_event_set(all_done);
}

static void start(long k)
{
    char name[64];
    long i = k % args.names;
    bench_dns_name(i, name, sizeof name);
    BENCH_CHECK(cio_dns_resolve_cb(resolver, name, 80, AF_INET, on_answer, (void *)(intptr_t)i,
                                   NULL));
}

static int worker(void *arg, void **result)
{
    (void)arg;
    (void)result;
    char name[64];
    while (next < target) {
        long i = next++ % args.names;
        bench_dns_name(i, name, sizeof name);
        cio_addr a;
        check(i, cio_dns_resolve(resolver, name, 80, AF_INET, &a, 1), &a);
        finished++;
    }
    return 0;
}

/* Runs lookups [from, to) with `inflight` at a time, to completion. */
static void run(long from, long to, long inflight)
{
    next = from;
    finished = from;
    target = to;
    if (tasks_mode) {
        cio_task **t = malloc((size_t)inflight * sizeof *t);
        BENCH_CHECK(t == NULL);
        for (long i = 0; i < inflight; i++)
            BENCH_CHECK(cio_spawn(worker, NULL, &t[i]));
        for (long i = 0; i < inflight; i++) {
            BENCH_CHECK(cio_await(t[i], NULL));
            cio_future_unref(t[i]);
        }
        free(t);
    } else {
        cio_event_clear(all_done);
        while (next < to && next - from < inflight)
            start(next++);
        BENCH_CHECK(cio_event_wait(all_done));
    }
    if (finished != to) {
        fprintf(stderr, "cio dns_lookup: %ld of %ld lookups done\n", finished - from, to - from);
        exit(1);
    }
}

static int bench_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    char servers[32];
    snprintf(servers, sizeof servers, "127.0.0.1:%d", args.port);
    BENCH_CHECK(cio_resolver_new(
        &CIO_RESOLVER_OPTIONS(.servers = servers, .search = "", .no_hosts = true), &resolver));
    BENCH_CHECK(cio_event_new(&all_done));

    const char *impl = tasks_mode ? "cio_tasks" : "cio";
    run(0, args.inflight, args.inflight); /* warm-up, not timed */
    uint64_t t0 = bench_now_ns();
    double c0 = bench_cpu_s();
    run(0, args.count, args.inflight);
    double cpu = bench_cpu_s() - c0;
    double dt = (bench_now_ns() - t0) / 1e9;
    bench_emit("dns_lookup", impl, "lookups_per_s", "1/s", args.count / dt, "higher");
    bench_emit("dns_lookup", impl, "lookups", "", (double)args.count, "higher");
    bench_emit("dns_lookup", impl, "cpu_per_op", "ns", cpu * 1e9 / args.count, "lower");
    cio_event_free(all_done);
    cio_resolver_free(resolver);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "cb") != 0 && strcmp(argv[1], "tasks") != 0)) {
        fprintf(stderr, "usage: %s cb|tasks PORT [COUNT [INFLIGHT [NAMES]]]\n", argv[0]);
        return 2;
    }
    tasks_mode = strcmp(argv[1], "tasks") == 0;
    args = bench_dns_parse(argc - 1, argv + 1);
    BENCH_CHECK(cio_run(bench_main, NULL, NULL));
    return 0;
}
