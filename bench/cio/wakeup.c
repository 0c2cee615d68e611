/* wakeup: a producer thread (on BENCH_CPU_PEER) sends N messages to the
 * loop (on BENCH_CPU_LOOP) as fast as it can, each a callback that must run
 * on the loop's thread (cio_call_soon_threadsafe). Reports messages per
 * second, from the first send to the last callback, and the CPU time per
 * message over the same run: the loop thread's (loop_cpu_per_op) and the
 * whole process's (cpu_per_op, the producer included). */
#include <semaphore.h>

#include <cio/loop.h>

#include "../common.h"

static long count, total;
static cio_loop *loop;
static sem_t start;
static uint64_t t0, t1;
static bench_cpu_mark cpu0, cpu1;

static void on_message(void *arg)
{
    /* Messages arrive in the order sent: check it, it costs nothing. */
    if ((long)(intptr_t)arg != ++count) {
        fprintf(stderr, "message %ld arrived as number %ld\n", (long)(intptr_t)arg, count);
        exit(1);
    }
    if (count == total) {
        t1 = bench_now_ns();
        cpu1 = bench_cpu_now();
        cio_loop_stop(loop);
    }
}

static void *producer(void *arg)
{
    (void)arg;
    bench_pin_self(BENCH_CPU_PEER());
    while (sem_wait(&start) != 0)
        ;
    t0 = bench_now_ns();
    for (long i = 1; i <= total; i++)
        BENCH_CHECK(cio_call_soon_threadsafe(loop, on_message, (void *)(intptr_t)i));
    return NULL;
}

int main(int argc, char **argv)
{
    total = bench_arg(argc, argv, 1, 2000000);
    bench_pin_self(BENCH_CPU_LOOP());
    BENCH_CHECK(cio_loop_new(NULL, &loop));
    sem_init(&start, 0, 0);
    pthread_t th;
    BENCH_CHECK(pthread_create(&th, NULL, producer, NULL));

    cpu0 = bench_cpu_now();
    sem_post(&start);
    BENCH_CHECK(cio_loop_run_forever(loop));
    BENCH_CHECK(pthread_join(th, NULL));
    BENCH_CHECK(count != total);
    BENCH_CHECK(cio_loop_free(loop));

    bench_emit("wakeup", "cio", "messages_per_s", "1/s", total / ((t1 - t0) / 1e9), "higher");
    bench_emit_cpu("wakeup", "cio", cpu0, cpu1, total);
    return 0;
}
