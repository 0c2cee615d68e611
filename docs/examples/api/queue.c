/* queue.c: asyncio.Queue, LifoQueue and PriorityQueue (docs/api/sync.md).
 * A producer and two consumers on a bounded FIFO queue with join and
 * task_done, then shutdown; the other kinds without waiting. Exits 0 on
 * success. */
#include <stdio.h>

#include <cio.h>

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "queue.c:%d: check failed: %s\n", __LINE__, #cond); \
            return -EINVAL;                                                  \
        }                                                                    \
    } while (0)

static int consumed; /* the sum of the items taken */

static int consumer(void *arg, void **result)
{
    (void)result;
    cio_queue *q = arg;
    for (;;) {
        void *item;
        int err = cio_queue_get(q, &item); /* waits while empty */
        if (err == -ESHUTDOWN)
            return 0; /* shut down and drained: the normal end */
        if (err)
            return err;
        consumed += (int)(intptr_t)item;
        if ((err = cio_queue_task_done(q)) != 0)
            return err;
    }
}

static int cmp_int(const void *a, const void *b)
{
    intptr_t x = (intptr_t)a, y = (intptr_t)b;
    return (x > y) - (x < y);
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_queue *q;
    int err = cio_queue_new(CIO_QUEUE_FIFO, 2, NULL, &q);
    if (err)
        return err;
    cio_task *c[2];
    size_t n = 0;
    while (n < 2 && (err = cio_spawn(consumer, q, &c[n])) == 0)
        n++;
    for (intptr_t i = 1; i <= 10 && err == 0; i++)
        err = cio_queue_put(q, (void *)i); /* waits while two are queued */
    if (err == 0)
        err = cio_queue_join(q); /* every item taken and marked done */
    int joined = consumed;
    cio_queue_shutdown(q, false); /* the consumers' gets now fail */
    int gerr = cio_gather(c, n, 0, NULL);
    for (size_t i = 0; i < n; i++)
        cio_future_unref(c[i]);
    int put_after = cio_queue_put_nowait(q, (void *)1);
    int ferr = cio_queue_free(q);
    if (err || gerr || ferr)
        return err ? err : gerr ? gerr : ferr;
    CHECK(joined == 55 && put_after == -ESHUTDOWN);

    /* LIFO: the newest first. Without waiting: -EAGAIN when full or empty. */
    if ((err = cio_queue_new(CIO_QUEUE_LIFO, 2, NULL, &q)) != 0)
        return err;
    int a = cio_queue_put_nowait(q, (void *)1);
    int b = cio_queue_put_nowait(q, (void *)2);
    int full = cio_queue_put_nowait(q, (void *)3);
    bool is_full = cio_queue_is_full(q);
    size_t size = cio_queue_size(q), max = cio_queue_maxsize(q);
    void *x = NULL, *y = NULL, *z = NULL;
    int g1 = cio_queue_get_nowait(q, &x);
    int g2 = cio_queue_get_nowait(q, &y);
    int empty = cio_queue_get_nowait(q, &z);
    bool is_empty = cio_queue_is_empty(q);
    if ((err = cio_queue_free(q)) != 0)
        return err;
    CHECK(!a && !b && full == -EAGAIN && is_full && size == 2 && max == 2);
    CHECK(!g1 && !g2 && (intptr_t)x == 2 && (intptr_t)y == 1 && empty == -EAGAIN && is_empty);

    /* Priority: the smallest by cmp first, equal items in put order. An
     * immediate shutdown empties the queue (the items are not freed). */
    if ((err = cio_queue_new(CIO_QUEUE_PRIORITY, 0, cmp_int, &q)) != 0)
        return err;
    intptr_t in[4] = {5, 1, 4, 1}, out[3];
    for (int i = 0; i < 4 && err == 0; i++)
        err = cio_queue_put(q, (void *)in[i]); /* unbounded: never waits */
    for (int i = 0; i < 3 && err == 0; i++) {
        void *item;
        err = cio_queue_get(q, &item); /* items queued: never waits */
        out[i] = (intptr_t)item;
    }
    cio_queue_shutdown(q, true); /* drops the 5 */
    int after = cio_queue_get_nowait(q, &z);
    if ((ferr = cio_queue_free(q)) != 0 || err)
        return err ? err : ferr;
    CHECK(out[0] == 1 && out[1] == 1 && out[2] == 4 && after == -ESHUTDOWN);
    printf("queue: consumed %d\n", joined);
    return 0;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
