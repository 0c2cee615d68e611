/* A walk through cio's seed concepts, printed as it goes:
 *   1. a callback: a function handed over to be called later;
 *   2. the event loop and its callback queue: call_soon runs callbacks in
 *      order, on the next iteration; call_later runs them after a delay;
 *   3. a future: a result that is not there yet, with done-callbacks;
 *   4. blocking work on the thread pool, delivered back to the loop;
 *   5. combinators: gather several futures, wait_for with a timeout.
 * The coroutine style (tasks) builds on the same loop and futures. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <cio.h>

static cio_loop *loop;

/* 1 + 2: callbacks through the queue ------------------------------------- */

static void say(void *arg) { printf("  callback: %s\n", (const char *)arg); }

static void later(void *arg)
{
    printf("  call_later(0.05) fired: %s\n", (const char *)arg);
}

/* 3: a future completed by a timer ----------------------------------------- */

static void complete_it(void *arg)
{
    cio_future *f = arg;
    static int answer = 42;
    cio_future_set_result(f, &answer, NULL);
    printf("  timer: set the future's result (its callbacks run next iteration)\n");
}

static void on_done(cio_future *f, void *arg)
{
    (void)arg;
    int *v;
    if (cio_future_result(f, (void **)&v) == 0)
        printf("  done-callback: the future's result is %d\n", *v);
}

/* 4: blocking work on the pool ------------------------------------------- */

static int slow_square(void *arg, void **result)
{
    intptr_t x = (intptr_t)arg;
    /* Pretend to block: a file read, a DNS lookup... */
    nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
    *result = (void *)(x * x);
    return 0;
}

int main(void)
{
    if (cio_loop_new(NULL, &loop) != 0)
        return 1;
    printf("cio tour (backend: %s)\n\n", cio_loop_backend(loop));

    printf("1. callbacks and the callback queue (FIFO, next iteration):\n");
    cio_call_soon(loop, say, "first");
    cio_call_soon(loop, say, "second");
    cio_call_later(loop, 0.05, later, "a timer", NULL);
    cio_loop_run_once(loop, 0);
    while (cio_loop_run_once(loop, 0) > 0)
        ;

    printf("\n2. a future, completed by a timer, observed by a done-callback:\n");
    cio_future *fut;
    cio_future_new(loop, &fut);
    cio_future_add_done_callback(fut, on_done, NULL);
    cio_call_later(loop, 0.01, complete_it, fut, NULL);
    cio_loop_run_until_complete(loop, fut);
    while (cio_loop_run_once(loop, CIO_RUN_NOWAIT) > 0)
        ;
    cio_future_unref(fut);

    printf("\n3. blocking work on the thread pool, gathered:\n");
    cio_future *jobs[3], *all;
    for (intptr_t i = 0; i < 3; i++)
        cio_to_thread_future(loop, NULL, slow_square, (void *)(i + 2), &jobs[i]);
    cio_gather_future(loop, jobs, 3, 0, &all);
    if (cio_loop_run_until_complete(loop, all) == 0) {
        void **r = NULL;
        cio_future_result(all, (void **)&r);
        printf("  gather: %ld %ld %ld\n", (long)(intptr_t)r[0], (long)(intptr_t)r[1],
               (long)(intptr_t)r[2]);
    }
    cio_future_unref(all);
    for (int i = 0; i < 3; i++)
        cio_future_unref(jobs[i]);

    printf("\n4. wait_for: a future that never completes, with a 30 ms timeout:\n");
    cio_future *never, *bounded;
    cio_future_new(loop, &never);
    cio_wait_for_future(loop, never, 0.03, &bounded);
    int err = cio_loop_run_until_complete(loop, bounded);
    printf("  wait_for: %s (the inner future was %s)\n", cio_err_name(err),
           cio_future_is_cancelled(never) ? "cancelled" : "left alone");
    cio_future_unref(bounded);
    cio_future_unref(never);
    while (cio_loop_run_once(loop, CIO_RUN_NOWAIT) > 0)
        ;

    int rc = cio_loop_free(loop);
    printf("\nloop closed: %s\n", rc == 0 ? "cleanly" : cio_strerror(rc));
    return rc == 0 ? 0 : 1;
}
