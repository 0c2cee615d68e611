/* timers.c: one-shot, absolute and repeating timers, and their handles:
 * cancel, is it active, how long until it fires. Correctness never depends
 * on how fast the machine is: only on the order timers fire in.
 * Reference: docs/api/loop.md. */
#include <math.h>
#include <stdio.h>

#include <cio.h>

/* Prints what failed and how; main returns its value. */
static int fail(const char *what, int err)
{
    fprintf(stderr, "%s: %s (%s)\n", what, cio_err_name(err), cio_strerror(err));
    return 1;
}
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
            return 1;                                                          \
        }                                                                      \
    } while (0)

struct state {
    cio_loop *loop;
    cio_handle every;
    int ticks;       /* the repeating timer's calls */
    int cancel_rc;   /* what cancelling it from its own callback returned */
    int order[2];    /* which one-shot timer fired first, second */
    int nfired;
    int never_fired;
};

/* A repeating timer may cancel itself from its own callback. */
static void tick(void *arg)
{
    struct state *st = arg;
    if (++st->ticks == 3)
        st->cancel_rc = cio_timer_cancel(st->loop, st->every);
}

static void first(void *arg)
{
    struct state *st = arg;
    if (st->nfired < 2)
        st->order[st->nfired] = 1;
    st->nfired++;
}

static void second(void *arg)
{
    struct state *st = arg;
    if (st->nfired < 2)
        st->order[st->nfired] = 2;
    st->nfired++;
}

static void never(void *arg)
{
    struct state *st = arg;
    st->never_fired = 1;
}

int main(void)
{
    struct state st = {0};
    int rc;
    if ((rc = cio_loop_new(NULL, &st.loop)) != 0)
        return fail("cio_loop_new", rc);
    cio_loop *loop = st.loop;

    /* Every millisecond, starting at once, until tick cancels it. */
    if ((rc = cio_call_every(loop, 0, 0.001, tick, &st, &st.every)) != 0)
        return fail("cio_call_every", rc);

    /* An absolute deadline 2 ms from now fires before a 5 ms delay. */
    if ((rc = cio_call_later(loop, 0.005, second, &st, NULL)) != 0)
        return fail("cio_call_later", rc);
    if ((rc = cio_call_at(loop, cio_loop_time(loop) + 0.002, first, &st, NULL)) != 0)
        return fail("cio_call_at", rc);

    /* A timer an hour away, cancelled before it fires. */
    cio_handle h;
    if ((rc = cio_call_later(loop, 3600, never, &st, &h)) != 0)
        return fail("cio_call_later", rc);
    CHECK(cio_timer_is_active(loop, h));
    double left = cio_timer_remaining(loop, h);
    CHECK(left > 3500 && left <= 3600);
    if ((rc = cio_timer_cancel(loop, h)) != 0)
        return fail("cio_timer_cancel", rc);
    CHECK(!cio_timer_is_active(loop, h));
    CHECK(isnan(cio_timer_remaining(loop, h)));
    /* A handle stays safe to use: cancelling again is -ENOENT. */
    CHECK(cio_timer_cancel(loop, h) == -ENOENT);

    /* Bad arguments are refused, and nothing is scheduled. */
    CHECK(cio_call_later(loop, -1, never, &st, NULL) == -EINVAL);
    CHECK(cio_call_every(loop, 0, 0, never, &st, NULL) == -EINVAL);

    /* Iterate until nothing is left: run_once returns 1 while a timer is
     * pending and 0 once the last one has fired or been cancelled. */
    while ((rc = cio_loop_run_once(loop, 0)) == 1)
        ;
    if (rc < 0)
        return fail("cio_loop_run_once", rc);
    CHECK(st.ticks == 3 && st.cancel_rc == 0);
    CHECK(st.nfired == 2 && st.order[0] == 1 && st.order[1] == 2);
    CHECK(!st.never_fired);
    printf("repeating timer: %d ticks; one-shot timers fired in order\n", st.ticks);

    if ((rc = cio_loop_free(loop)) != 0)
        return fail("cio_loop_free", rc);
    return 0;
}
