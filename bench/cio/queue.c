/* queue, cio: a producer task puts N items (default 10M) into a bounded
 * FIFO cio_queue (maxsize 1,024), the main task gets them and checks their
 * order. Items per second, from the producer's spawn to the last get.
 *
 * usage: cio_queue [N] */
#include <cio.h>

#include "../common.h"

static cio_queue *q;
static long total;

static int producer(void *arg, void **result)
{
    (void)arg;
    (void)result;
    for (long i = 1; i <= total; i++) {
        int rc = cio_queue_put(q, (void *)(intptr_t)i);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int bench_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    BENCH_CHECK(cio_queue_new(CIO_QUEUE_FIFO, 1024, NULL, &q));
    cio_task *prod;
    uint64_t t0 = bench_now_ns();
    BENCH_CHECK(cio_spawn(producer, NULL, &prod));
    for (long i = 1; i <= total; i++) {
        void *item;
        BENCH_CHECK(cio_queue_get(q, &item));
        if ((intptr_t)item != i) {
            fprintf(stderr, "queue: got %ld, expected %ld\n", (long)(intptr_t)item, i);
            exit(1);
        }
    }
    uint64_t t1 = bench_now_ns();
    BENCH_CHECK(cio_await(prod, NULL));
    cio_future_unref(prod);
    BENCH_CHECK(cio_queue_free(q));
    bench_emit("queue", "cio", "items_per_s", "1/s", total / ((t1 - t0) / 1e9), "higher");
    return 0;
}

int main(int argc, char **argv)
{
    total = bench_arg(argc, argv, 1, 10000000);
    BENCH_CHECK(cio_run(bench_main, NULL, NULL));
    return 0;
}
