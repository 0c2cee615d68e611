/* parallel.c: cio_run_parallel runs main as the main task of its own loop
 * in each of four threads. Every worker knows its index and the number of
 * workers; the last one to start stops them all (a stop cancels every
 * worker's main, and a main ended by a stop counts as success). Then a
 * run whose worker 1 fails: the others are stopped and the run returns
 * that worker's error. Reference: docs/api/parallel.md. */
#include <stdatomic.h>
#include <stdio.h>

#include <cio.h>

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
            return 1;                                                          \
        }                                                                      \
    } while (0)

static atomic_int started;
static atomic_int index_sum;

/* A server would serve here until stopped; this one just waits. */
static int worker(void *arg, void **result)
{
    (void)arg, (void)result;
    atomic_fetch_add(&index_sum, cio_parallel_index());
    if (atomic_fetch_add(&started, 1) + 1 == (int)cio_parallel_count())
        cio_parallel_stop(); /* the last to start: stop everyone */
    return cio_sleep(3600);  /* -ECANCELED once the stop reaches this loop */
}

static int failing(void *arg, void **result)
{
    (void)arg, (void)result;
    if (cio_parallel_index() == 1)
        return -EIO; /* stops the others */
    return cio_sleep(3600);
}

int main(void)
{
    int rc = cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = 4), worker, NULL);
    CHECK(rc == 0);
    CHECK(atomic_load(&started) == 4);
    CHECK(atomic_load(&index_sum) == 0 + 1 + 2 + 3);
    printf("4 workers ran and were stopped\n");

    rc = cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = 3), failing, NULL);
    CHECK(rc == -EIO);
    printf("worker 1 failed: %s\n", cio_err_name(rc));

    /* Outside any worker. */
    CHECK(cio_parallel_index() == -1 && cio_parallel_count() == 0);
    CHECK(cio_parallel_stop() == -EPERM);
    return 0;
}
