/* timers_10m, libevent: libuv's million_timers workload at 10M timers
 * (timer i due after 1 + i/1000 ms), with evtimer_assign into one array. */
#include <event2/event.h>
#include <event2/event_struct.h>

#include "../../common.h"

static long fired, total;

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    fired++;
}

int main(int argc, char **argv)
{
    total = bench_arg(argc, argv, 1, 10000000);
    struct event_base *base = event_base_new();
    BENCH_CHECK(base == NULL);
    struct event *evs = calloc(total, sizeof *evs);
    BENCH_CHECK(evs == NULL);

    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < total; i++) {
        unsigned ms = bench_million_timeout_ms(i);
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        BENCH_CHECK(evtimer_assign(&evs[i], base, on_timer, NULL));
        BENCH_CHECK(evtimer_add(&evs[i], &tv));
    }
    uint64_t t1 = bench_now_ns();

    BENCH_CHECK(event_base_dispatch(base) < 0);
    double cpu = bench_cpu_s();
    BENCH_CHECK(fired != total);
    event_base_free(base);
    free(evs);

    bench_emit("timers_10m", "libevent", "init", "ms", (double)(t1 - t0) / 1e6, "lower");
    bench_emit("timers_10m", "libevent", "cpu", "s", cpu, "lower");
    return 0;
}
