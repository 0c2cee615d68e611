/* Helpers shared by every benchmark program, cio's and the peers' alike, so
 * that all of them time, count and report in exactly the same way.
 *
 * A benchmark program prints one JSON line per metric to stdout:
 *   {"bench": "timers_1m", "impl": "cio", "metric": "cpu", "unit": "s",
 *    "value": 0.21, "better": "lower"}
 * and nothing else there (diagnostics go to stderr). bench/run collects the
 * lines of several runs and takes medians. A program that cannot run here
 * (a missing module, too few CPUs) exits with BENCH_SKIP. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define BENCH_SKIP 77

/* Fails the benchmark loudly: a benchmark whose setup failed must not print
 * a number. expr is evaluated once; any non-zero value is a failure. */
#define BENCH_CHECK(expr)                                                                          \
    do {                                                                                           \
        long bench_rc_ = (long)(expr);                                                             \
        if (bench_rc_ != 0) {                                                                      \
            fprintf(stderr, "%s:%d: %s failed: %ld\n", __FILE__, __LINE__, #expr, bench_rc_);     \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the whole process (every thread), user + system, in seconds. */
static inline double bench_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* CPU time of the calling thread alone, user + system, in nanoseconds: what
 * the loop's own thread spent, without a producer thread's share. */
static inline uint64_t bench_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time spent over an interval, for the "CPU time per operation"
 * figures: a mark holds the calling thread's CPU time and the whole
 * process's (every thread). */
typedef struct {
    uint64_t thread_ns;
    double process_s;
} bench_cpu_mark;

static inline bench_cpu_mark bench_cpu_now(void)
{
    bench_cpu_mark m = {bench_thread_cpu_ns(), bench_cpu_s()};
    return m;
}

static inline void bench_emit(const char *bench, const char *impl, const char *metric,
                              const char *unit, double value, const char *better)
{
    printf("{\"bench\": \"%s\", \"impl\": \"%s\", \"metric\": \"%s\", \"unit\": \"%s\", "
           "\"value\": %.6g, \"better\": \"%s\"}\n",
           bench, impl, metric, unit, value, better);
    fflush(stdout);
}

/* Emits the CPU time per operation between two marks taken on the loop's
 * thread: `loop_cpu_per_op` (that thread alone) and `cpu_per_op` (the whole
 * process: the loop, the other thread, any helper thread), in ns. */
static inline void bench_emit_cpu(const char *bench, const char *impl, bench_cpu_mark a,
                                  bench_cpu_mark b, double ops)
{
    bench_emit(bench, impl, "loop_cpu_per_op", "ns", (double)(b.thread_ns - a.thread_ns) / ops,
               "lower");
    bench_emit(bench, impl, "cpu_per_op", "ns", (b.process_s - a.process_s) * 1e9 / ops, "lower");
}

/* Positional argument i (1-based) as a count, or def when absent. Accepts
 * 1e6-style and 1000000-style numbers. */
static inline long bench_arg(int argc, char **argv, int i, long def)
{
    if (argc <= i)
        return def;
    char *end;
    double v = strtod(argv[i], &end);
    if (*end != '\0' || v < 1) {
        fprintf(stderr, "bad count argument: %s\n", argv[i]);
        exit(2);
    }
    return (long)v;
}

/* A size field of /proc/self/status ("VmRSS", "VmPTE", ...) in KiB, or -1
 * if it cannot be read. */
static inline long bench_status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    size_t len = strlen(field);
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            kib = strtol(line + len + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kib;
}

/* The process's resident set size (VmRSS), in KiB, or -1. */
static inline long bench_rss_kib(void) { return bench_status_kib("VmRSS"); }

/* The CPUs the harness hands out: the loop (program under test) runs on
 * BENCH_CPU_LOOP, any second thread of the program on BENCH_CPU_PEER. */
static inline int bench_cpu(const char *var, int def)
{
    const char *s = getenv(var);
    return s && *s ? atoi(s) : def;
}
#define BENCH_CPU_LOOP() bench_cpu("BENCH_CPU_LOOP", 0)
#define BENCH_CPU_PEER() bench_cpu("BENCH_CPU_PEER", 1)

/* Pins the calling thread to one CPU. Fails with a message rather than run
 * a two-thread measurement on an unknown placement. */
static inline void bench_pin_self(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (rc != 0) {
        fprintf(stderr, "cannot pin thread to CPU %d: %s\n", cpu, strerror(rc));
        exit(1);
    }
}

/* A small deterministic generator (xorshift64*), so every implementation
 * of a workload sees the same sequence of "random" timeouts. */
typedef struct {
    uint64_t s;
} bench_rng;

static inline uint64_t bench_rng_next(bench_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ull;
}

#define BENCH_RNG_INIT {0x9e3779b97f4a7c15ull}

/* Random timeout in [0, 1000) ms for timers_1m. */
static inline unsigned bench_rand_ms(bench_rng *r) { return (unsigned)(bench_rng_next(r) >> 33) % 1000u; }

/* timers_10m's timeout for timer i: 1 + i / 1000 ms (libuv's million_timers
 * pattern: a thousand timers share each millisecond). */
static inline unsigned bench_million_timeout_ms(long i) { return 1u + (unsigned)(i / 1000); }

#endif
