/* The seed's coroutine example, asyncio's classic:
 *
 *     async def say_after(delay, what):
 *         await asyncio.sleep(delay)
 *         print(what)
 *
 *     async def main():
 *         task1 = asyncio.create_task(say_after(1, 'hello'))
 *         task2 = asyncio.create_task(say_after(2, 'world'))
 *         print(f"started at {time.strftime('%X')}")
 *         await task1
 *         await task2
 *         print(f"finished at {time.strftime('%X')}")
 *
 *     asyncio.run(main())
 *
 * with delays of 0.1 s and 0.2 s. The two tasks sleep at the same time, so
 * the whole program takes 0.2 s, not 0.3 s: on an idle machine it prints
 * "finished at 0.2 s" (a loaded one runs timers late, never early). It
 * exits 0, or 1 if the tasks did not sleep at the same time, which it
 * checks by counting sleepers rather than by the clock, so that a slow
 * machine is not taken for a broken program. */
#include <stdio.h>

#include <cio.h>

struct say {
    double delay;
    const char *what;
};

static int sleeping, most_sleeping; /* tasks inside cio_sleep, now and at most */

/* A task's body: runs on its own stack and may suspend (cio_sleep) without
 * blocking the loop. Returns 0, or a negative errno that fails the task. */
static int say_after(void *arg, void **result)
{
    (void)result;
    const struct say *s = arg;
    if (++sleeping > most_sleeping)
        most_sleeping = sleeping;
    int err = cio_sleep(s->delay);
    sleeping--;
    if (err)
        return err; /* -ECANCELED if someone cancelled us */
    printf("%s\n", s->what);
    return 0;
}

static double now(void) { return cio_loop_time(cio_current_loop()); }

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    static struct say hello = {0.1, "hello"}, world = {0.2, "world"};
    cio_task *task1, *task2;

    cio_loop_update_time(cio_current_loop());
    double start = now();
    int err = cio_spawn(say_after, &hello, &task1);
    if (err)
        return err;
    err = cio_spawn(say_after, &world, &task2);
    if (err) {
        cio_future_unref(task1); /* cio_run cancels and reaps it */
        return err;
    }
    printf("started at %.1f s\n", now() - start);

    int err1 = cio_await(task1, NULL);
    int err2 = cio_await(task2, NULL);
    /* cio_spawn handed us one reference to each task: give it back. */
    cio_future_unref(task1);
    cio_future_unref(task2);
    if (err1 || err2)
        return err1 ? err1 : err2;

    cio_loop_update_time(cio_current_loop());
    printf("finished at %.1f s\n", now() - start);
    if (most_sleeping != 2) {
        fprintf(stderr, "tasks: the two sleeps did not overlap\n");
        return -EINVAL;
    }
    return 0;
}

int main(void)
{
    int err = cio_run(main_task, NULL, NULL); /* asyncio.run(main()) */
    if (err) {
        fprintf(stderr, "tasks: %s\n", cio_strerror(err));
        return 1;
    }
    return 0;
}
