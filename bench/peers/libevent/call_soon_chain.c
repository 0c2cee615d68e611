/* call_soon_chain, libevent, two ways:
 *   impl "libevent": the callback re-activates its own event with
 *     event_active. libevent runs events activated during the active queue's
 *     processing in the same iteration, so this measures callback dispatch,
 *     not loop iterations.
 *   impl "libevent_iter" (second argument "iter"): one activation per loop
 *     iteration: activate, then event_base_loop(EVLOOP_ONCE |
 *     EVLOOP_NONBLOCK), which is what "one callback per iteration" costs. */
#include <event2/event.h>

#include "../../common.h"

static long count, total;
static struct event *ev;

static void step(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    if (++count < total)
        event_active(ev, 0, 0);
}

static void step_iter(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    count++;
}

int main(int argc, char **argv)
{
    total = bench_arg(argc, argv, 1, 20000000);
    int iter = argc > 2 && strcmp(argv[2], "iter") == 0;
    struct event_base *base = event_base_new();
    BENCH_CHECK(base == NULL);
    ev = event_new(base, -1, 0, iter ? step_iter : step, NULL);
    BENCH_CHECK(ev == NULL);

    uint64_t t0 = bench_now_ns();
    if (iter) {
        for (long i = 0; i < total; i++) {
            event_active(ev, 0, 0);
            BENCH_CHECK(event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK) < 0);
        }
    } else {
        event_active(ev, 0, 0);
        BENCH_CHECK(event_base_dispatch(base) < 0);
    }
    uint64_t t1 = bench_now_ns();
    BENCH_CHECK(count != total);
    event_free(ev);
    event_base_free(base);

    bench_emit("call_soon_chain", iter ? "libevent_iter" : "libevent", "callbacks_per_s", "1/s",
               total / ((t1 - t0) / 1e9), "higher");
    return 0;
}
