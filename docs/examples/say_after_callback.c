/* say_after_callback.c: "hello" after 0.1 s and "world" after 0.2 s with
 * two timers. The waiting overlaps, so it all takes 0.2 s; the state that
 * a coroutine would keep in local variables (how many are left, when we
 * started) lives in globals or in a struct passed as arg. Callback style. */
#include <stdio.h>

#include <cio.h>

static cio_loop *loop;
static double start;
static int remaining = 2;

static void say(void *arg)
{
    printf("%s\n", (const char *)arg);
    if (--remaining == 0)
        cio_loop_stop(loop);
}

int main(void)
{
    if (cio_loop_new(NULL, &loop) != 0)
        return 1;
    start = cio_loop_time(loop);
    if (cio_call_later(loop, 0.1, say, "hello", NULL) != 0 ||
        cio_call_later(loop, 0.2, say, "world", NULL) != 0)
        return 1;
    printf("started at %.1f s\n", cio_loop_time(loop) - start);
    cio_loop_run_forever(loop);
    printf("finished at %.1f s\n", cio_loop_time(loop) - start);
    return cio_loop_free(loop) == 0 ? 0 : 1;
}
