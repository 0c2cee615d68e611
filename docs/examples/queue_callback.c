/* queue_callback.c: a queue between callback code and a task. A repeating
 * timer (a sensor, a socket's callback...) hands readings over with
 * cio_queue_put_nowait, which never waits, so any callback may call it; a
 * task takes them with cio_queue_get. When the source is done, shutting
 * the queue down lets the task drain what is left, then stop. */
#include <stdint.h>
#include <stdio.h>

#include <cio.h>

struct sensor {
    cio_queue *q;
    cio_handle timer;
    int next; /* the next reading */
    int dropped;
};

static void sample(void *arg) /* the loop's thread, every 10 ms */
{
    struct sensor *s = arg;
    int err = cio_queue_put_nowait(s->q, (void *)(intptr_t)s->next);
    if (err == -EAGAIN)
        s->dropped++; /* full: the task is behind; this reading is lost */
    if (++s->next > 5) {
        cio_timer_cancel(cio_current_loop(), s->timer);
        cio_queue_shutdown(s->q, false); /* the task drains the rest, then stops */
    }
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    struct sensor s = {.next = 1};
    int err = cio_queue_new(CIO_QUEUE_FIFO, 16, NULL, &s.q);
    if (err)
        return err;
    err = cio_call_every(cio_current_loop(), 0.01, 0.01, sample, &s, &s.timer);
    while (err == 0) {
        void *reading;
        err = cio_queue_get(s.q, &reading);
        if (err == 0)
            printf("task: reading %d\n", (int)(intptr_t)reading);
    }
    if (err == -ESHUTDOWN) {
        printf("task: the sensor is done, %d reading(s) dropped\n", s.dropped);
        err = 0;
    }
    cio_timer_cancel(cio_current_loop(), s.timer); /* on an error: -ENOENT otherwise */
    int ferr = cio_queue_free(s.q);
    return err ? err : ferr;
}

int main(void)
{
    int err = cio_run(main_task, NULL, NULL);
    if (err)
        fprintf(stderr, "main_task: %s\n", cio_strerror(err));
    return err ? 1 : 0;
}
