/* say_after.c: asyncio's classic, with tasks. Two tasks sleep at the same
 * time; main awaits both. It all takes 0.2 s, not 0.3. Coroutine style. */
#include <stdio.h>

#include <cio.h>

struct say {
    double delay;
    const char *what;
};

static int say_after(void *arg, void **result)
{
    (void)result;
    const struct say *s = arg;
    int err = cio_sleep(s->delay);
    if (err)
        return err;
    printf("%s\n", s->what);
    return 0;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    static struct say hello = {0.1, "hello"}, world = {0.2, "world"};
    cio_loop *loop = cio_current_loop();
    double start = cio_loop_time(loop);
    cio_task *task1, *task2;
    int err = cio_spawn(say_after, &hello, &task1);
    if (err)
        return err;
    if ((err = cio_spawn(say_after, &world, &task2)) != 0) {
        cio_future_unref(task1);
        return err;
    }
    printf("started at %.1f s\n", cio_loop_time(loop) - start);
    int err1 = cio_await(task1, NULL);
    int err2 = cio_await(task2, NULL);
    cio_future_unref(task1);
    cio_future_unref(task2);
    printf("finished at %.1f s\n", cio_loop_time(loop) - start);
    return err1 ? err1 : err2;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
