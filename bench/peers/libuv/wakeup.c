/* wakeup, libuv: a producer thread (BENCH_CPU_PEER) sends N messages to the
 * loop (BENCH_CPU_LOOP) with libuv's documented pattern: append to a
 * mutex-guarded queue, then uv_async_send; the async callback drains the
 * queue and runs each message's callback. Messages per second. */
#include <semaphore.h>
#include <uv.h>

#include "../../common.h"
#include "../msgqueue.h"

static long count, total;
static uv_async_t async;
static msgqueue queue;
static msg *msgs;
static sem_t start;
static uint64_t t0, t1;

static void on_message(void *arg)
{
    if ((long)(intptr_t)arg != ++count) {
        fprintf(stderr, "message %ld arrived as number %ld\n", (long)(intptr_t)arg, count);
        exit(1);
    }
    if (count == total) {
        t1 = bench_now_ns();
        uv_close((uv_handle_t *)&async, NULL);
    }
}

static void on_async(uv_async_t *a)
{
    (void)a;
    msgqueue_drain(&queue);
}

static void *producer(void *arg)
{
    (void)arg;
    bench_pin_self(BENCH_CPU_PEER());
    while (sem_wait(&start) != 0)
        ;
    t0 = bench_now_ns();
    for (long i = 0; i < total; i++) {
        msgs[i].cb = on_message;
        msgs[i].arg = (void *)(intptr_t)(i + 1);
        msgqueue_push(&queue, &msgs[i]);
        BENCH_CHECK(uv_async_send(&async));
    }
    return NULL;
}

int main(int argc, char **argv)
{
    total = bench_arg(argc, argv, 1, 2000000);
    bench_pin_self(BENCH_CPU_LOOP());
    msgs = calloc(total, sizeof *msgs);
    BENCH_CHECK(msgs == NULL);
    msgqueue_init(&queue);
    sem_init(&start, 0, 0);
    uv_loop_t loop;
    BENCH_CHECK(uv_loop_init(&loop));
    BENCH_CHECK(uv_async_init(&loop, &async, on_async));
    pthread_t th;
    BENCH_CHECK(pthread_create(&th, NULL, producer, NULL));

    sem_post(&start);
    BENCH_CHECK(uv_run(&loop, UV_RUN_DEFAULT));
    BENCH_CHECK(pthread_join(th, NULL));
    BENCH_CHECK(count != total);
    BENCH_CHECK(uv_loop_close(&loop));
    free(msgs);

    bench_emit("wakeup", "libuv", "messages_per_s", "1/s", total / ((t1 - t0) / 1e9), "higher");
    return 0;
}
