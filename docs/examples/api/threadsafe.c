/* threadsafe.c: another thread hands callbacks to a running loop, with the
 * three threadsafe calls: unbounded, try (refused when this thread's ring
 * is full) and wait (blocks the producer thread until there is room).
 * Reference: docs/api/loop.md. */
#define _POSIX_C_SOURCE 200809L /* pthreads */
#include <pthread.h>
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

#define N 1000

struct state {
    cio_loop *loop;
    long sum;          /* touched only on the loop's thread */
    int producer_err;  /* the producer's first failure */
    int deadlk_rc;     /* _wait called on the loop's own thread */
};

static void add(void *arg)
{
    struct state *st = arg;
    st->sum++;
}

static void stop(void *arg)
{
    struct state *st = arg;
    cio_loop_stop(st->loop);
}

/* On the loop's thread only the loop can make room: waiting there would
 * never end, so _wait refuses. */
static void try_wait_on_loop_thread(void *arg)
{
    struct state *st = arg;
    st->deadlk_rc = cio_call_soon_threadsafe_wait(st->loop, add, st, -1);
}

static void *producer(void *arg)
{
    struct state *st = arg;
    int rc = 0;
    for (int i = 0; i < N && !rc; i++) {
        switch (i % 3) {
        case 0:
            rc = cio_call_soon_threadsafe(st->loop, add, st);
            break;
        case 1:
            /* Bounded: -EAGAIN means the loop is behind; this producer
             * chooses to wait for room instead of dropping the call. */
            rc = cio_call_soon_threadsafe_try(st->loop, add, st);
            if (rc == -EAGAIN)
                rc = cio_call_soon_threadsafe_wait(st->loop, add, st, -1);
            break;
        default:
            rc = cio_call_soon_threadsafe_wait(st->loop, add, st, -1);
            break;
        }
    }
    /* Calls from one thread run in the order made: stop runs last. */
    if (!rc)
        rc = cio_call_soon_threadsafe(st->loop, stop, st);
    st->producer_err = rc;
    return NULL;
}

int main(void)
{
    struct state st = {0};
    int rc;
    if ((rc = cio_loop_new(NULL, &st.loop)) != 0)
        return fail("cio_loop_new", rc);
    if ((rc = cio_call_soon(st.loop, try_wait_on_loop_thread, &st)) != 0)
        return fail("cio_call_soon", rc);
    pthread_t t;
    if ((rc = pthread_create(&t, NULL, producer, &st)) != 0)
        return fail("pthread_create", -rc);
    /* Runs until the producer's last call stops it. */
    rc = cio_loop_run_forever(st.loop);
    pthread_join(t, NULL);
    if (rc)
        return fail("cio_loop_run_forever", rc);
    if (st.producer_err)
        return fail("the producer", st.producer_err);
    CHECK(st.deadlk_rc == -EDEADLK);
    CHECK(st.sum == N);
    printf("%ld callbacks from another thread\n", st.sum);
    /* The producer has stopped and been joined: the loop may be freed. */
    if ((rc = cio_loop_free(st.loop)) != 0)
        return fail("cio_loop_free", rc);
    return 0;
}
