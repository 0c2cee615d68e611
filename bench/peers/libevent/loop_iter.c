/* loop_iter, libevent: N calls of event_base_loop(base, EVLOOP_NONBLOCK),
 * each one iteration, on a base watching one never-ready descriptor. The
 * descriptor matters: on a base with nothing registered, libevent returns
 * from event_base_loop before it iterates at all (it sees no events), which
 * measures nothing (about 3e8 "iterations"/s).
 *
 * There is no zero-descriptor figure for libevent: it cannot iterate
 * without polling. Its epoll backend calls epoll_wait in every iteration
 * whatever is registered, and a base with no event at all does not
 * iterate. */
#include <event2/event.h>
#include <unistd.h>

#include "../../common.h"

static void never(evutil_socket_t fd, short what, void *arg) { (void)fd, (void)what, (void)arg; }

int main(int argc, char **argv)
{
    long total = bench_arg(argc, argv, 1, 20000000);
    struct event_base *base = event_base_new();
    BENCH_CHECK(base == NULL);
    int fds[2];
    BENCH_CHECK(pipe(fds));
    struct event *ev = event_new(base, fds[0], EV_READ | EV_PERSIST, never, NULL);
    BENCH_CHECK(ev == NULL);
    BENCH_CHECK(event_add(ev, NULL));

    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < total; i++)
        BENCH_CHECK(event_base_loop(base, EVLOOP_NONBLOCK) < 0);
    uint64_t t1 = bench_now_ns();

    event_free(ev);
    close(fds[0]);
    close(fds[1]);
    event_base_free(base);

    bench_emit("loop_iter", "libevent", "iterations_per_s", "1/s", total / ((t1 - t0) / 1e9),
               "higher");
    return 0;
}
