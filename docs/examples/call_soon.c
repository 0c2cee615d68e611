/* call_soon.c: the callback queue. Callbacks run in the order they were
 * scheduled (FIFO); one scheduled while the queue runs waits for the next
 * iteration. Callback style. */
#include <stdio.h>

#include <cio.h>

static cio_loop *loop;

static void say(void *arg) { printf("%s\n", (const char *)arg); }

static void last(void *arg)
{
    say(arg);
    cio_loop_stop(loop); /* stops after this iteration */
}

static void first(void *arg)
{
    say(arg);
    cio_call_soon(loop, last, "D: scheduled by A, so it runs on the next iteration");
}

int main(void)
{
    if (cio_loop_new(NULL, &loop) != 0)
        return 1;
    cio_call_soon(loop, first, "A: first in");
    cio_call_soon(loop, say, "B: second in");
    cio_call_soon(loop, say, "C: third in");
    printf("main: three callbacks queued, none run yet\n");
    cio_loop_run_forever(loop);
    return cio_loop_free(loop) == 0 ? 0 : 1;
}
