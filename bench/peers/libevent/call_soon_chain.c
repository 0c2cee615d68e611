/* call_soon_chain, libevent: every callback re-activates its own event with
 * event_active. The base watches one descriptor that never becomes ready
 * (the read end of a pipe nobody writes), like every implementation. Two
 * figures, N callbacks each:
 *
 * callbacks_per_s: the base is made with
 *   event_config_set_max_dispatch_interval(cfg, &1 ms, 64, 0), which is what
 *   libevent's documentation (the libevent book, "Manually activating an
 *   event") recommends for an event that re-activates itself from its own
 *   callback: without a bound, libevent runs the events activated while its
 *   active queue runs in that same pass, and never looks at I/O again while
 *   the chain lasts. The bounds are cio's (loop.h): a poll at least every
 *   CIO_POLL_INTERVAL (64) callbacks and every CIO_POLL_INTERVAL_MS (1 ms),
 *   so both loops poll (epoll_wait, zero timeout) equally often, and both
 *   read the clock once per callback to keep the time bound: like for like.
 * callbacks_per_s_polled: one callback per loop iteration: activate, then
 *   event_base_loop(EVLOOP_ONCE | EVLOOP_NONBLOCK), which polls once, runs
 *   the callback and returns; asyncio's iteration does the same.
 *
 * usage: libevent_call_soon_chain [N]   (default 20M) */
#include <event2/event.h>
#include <unistd.h>

#include "../../common.h"

#define MAX_CALLBACKS 64 /* cio's CIO_POLL_INTERVAL */
#define MAX_INTERVAL_US 1000 /* cio's CIO_POLL_INTERVAL_MS */

static long count, total;
static struct event *ev;
static struct event_base *base;

static void step(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    if (++count < total)
        event_active(ev, 0, 0);
    else
        event_base_loopbreak(base); /* the idle pipe would keep it running */
}

static void step_once(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    count++;
}

static void never(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    fprintf(stderr, "call_soon_chain: the idle descriptor became ready\n");
    exit(1);
}

int main(int argc, char **argv)
{
    total = bench_arg(argc, argv, 1, 20000000);
    struct event_config *cfg = event_config_new();
    BENCH_CHECK(cfg == NULL);
    struct timeval max_interval = {0, MAX_INTERVAL_US};
    BENCH_CHECK(event_config_set_max_dispatch_interval(cfg, &max_interval, MAX_CALLBACKS, 0));
    base = event_base_new_with_config(cfg);
    BENCH_CHECK(base == NULL);
    event_config_free(cfg);
    int fds[2];
    BENCH_CHECK(pipe(fds));
    struct event *idle = event_new(base, fds[0], EV_READ | EV_PERSIST, never, NULL);
    BENCH_CHECK(idle == NULL);
    BENCH_CHECK(event_add(idle, NULL));

    ev = event_new(base, -1, 0, step, NULL);
    BENCH_CHECK(ev == NULL);
    count = 0;
    uint64_t t0 = bench_now_ns();
    event_active(ev, 0, 0);
    BENCH_CHECK(event_base_dispatch(base) < 0);
    uint64_t t1 = bench_now_ns();
    BENCH_CHECK(count != total);
    double bounded = total / ((t1 - t0) / 1e9);
    event_free(ev);

    ev = event_new(base, -1, 0, step_once, NULL);
    BENCH_CHECK(ev == NULL);
    count = 0;
    t0 = bench_now_ns();
    for (long i = 0; i < total; i++) {
        event_active(ev, 0, 0);
        BENCH_CHECK(event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK) < 0);
    }
    t1 = bench_now_ns();
    BENCH_CHECK(count != total);
    double polled = total / ((t1 - t0) / 1e9);
    event_free(ev);

    event_free(idle);
    close(fds[0]);
    close(fds[1]);
    event_base_free(base);

    bench_emit("call_soon_chain", "libevent", "callbacks_per_s", "1/s", bounded, "higher");
    bench_emit("call_soon_chain", "libevent", "callbacks_per_s_polled", "1/s", polled, "higher");
    return 0;
}
