/* leak.c: what is still alive when a loop cannot close. In debug mode a
 * refused cio_loop_free (or cio_loop_close) reports every live object by
 * name: futures and tasks with their state and where they were created,
 * timers and signal handlers by their callback. Here a future and a
 * timer were forgotten. Callback style. */
#include <stdio.h>

#include <cio.h>

static void tick(void *arg) { (void)arg; }

int main(void)
{
    cio_loop *loop;
    cio_future *fut;
    cio_handle timer;
    if (cio_loop_new(&CIO_LOOP_OPTIONS(.debug = 1), &loop) != 0)
        return 1;
    if (cio_future_new(loop, &fut) != 0)
        return 1;
    if (cio_call_later(loop, 3600, tick, NULL, &timer) != 0)
        return 1;

    int err = cio_loop_free(loop); /* refused: the list goes to stderr */
    printf("loop_free: %s\n", cio_err_name(err));

    cio_future_unref(fut);
    cio_timer_cancel(loop, timer);
    err = cio_loop_free(loop);
    printf("loop_free after cleaning up: %d\n", err);
    return err == 0 ? 0 : 1;
}
