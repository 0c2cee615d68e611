/* wakeup, libuv: a producer thread (BENCH_CPU_PEER) sends N messages to the
 * loop (BENCH_CPU_LOOP) with libuv's documented pattern: append to a
 * mutex-guarded queue, then uv_async_send; the async callback drains the
 * queue and runs each message's callback. The message nodes are reused
 * (msgqueue.h). Messages per second, and CPU time per message (loop thread,
 * whole process). */
#include <semaphore.h>
#include <uv.h>

#include "../../common.h"
#include "../msgqueue.h"

static long count, total;
static uv_async_t async;
static msgqueue queue;
static bench_cpu_mark cpu0, cpu1;
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
        cpu1 = bench_cpu_now();
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
        msg *m = msgqueue_node(&queue);
        BENCH_CHECK(m == NULL);
        m->cb = on_message;
        m->arg = (void *)(intptr_t)(i + 1);
        msgqueue_push(&queue, m);
        BENCH_CHECK(uv_async_send(&async));
    }
    return NULL;
}

int main(int argc, char **argv)
{
    total = bench_arg(argc, argv, 1, 2000000);
    bench_pin_self(BENCH_CPU_LOOP());
    msgqueue_init(&queue);
    sem_init(&start, 0, 0);
    uv_loop_t loop;
    BENCH_CHECK(uv_loop_init(&loop));
    BENCH_CHECK(uv_async_init(&loop, &async, on_async));
    pthread_t th;
    BENCH_CHECK(pthread_create(&th, NULL, producer, NULL));

    cpu0 = bench_cpu_now();
    sem_post(&start);
    BENCH_CHECK(uv_run(&loop, UV_RUN_DEFAULT));
    BENCH_CHECK(pthread_join(th, NULL));
    BENCH_CHECK(count != total);
    BENCH_CHECK(uv_loop_close(&loop));
    msgqueue_free(&queue);

    bench_emit("wakeup", "libuv", "messages_per_s", "1/s", total / ((t1 - t0) / 1e9), "higher");
    bench_emit_cpu("wakeup", "libuv", cpu0, cpu1, total);
    return 0;
}
