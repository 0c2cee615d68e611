/* cio-test: threaded
 * Threads that run tasks and exit give back what cio made for them: their
 * cache of freed stacks goes to the shared pool (so the next thread reuses
 * those stacks rather than carving new ones), and their alternate signal
 * stack is unmapped. Before, 4,000 short-lived threads that each ran 64
 * tasks left +1 GiB RSS and +64 GiB of address space. */
#include <sys/mman.h>

#include "task/task_util.h"

#define THREADS 64
#define TASKS 64
#define SLOT (256u * 1024) /* the default stack's slot */

/* The distinct stack slots the tasks ran on, across all threads. */
static uintptr_t slots[THREADS * TASKS * 2];
static size_t nslots;
static pthread_mutex_t slots_mu = PTHREAD_MUTEX_INITIALIZER;

static void note_slot(uintptr_t a)
{
    uintptr_t s = a & ~(uintptr_t)(SLOT - 1);
    pthread_mutex_lock(&slots_mu);
    size_t i = 0;
    while (i < nslots && slots[i] != s)
        i++;
    if (i == nslots && nslots < sizeof slots / sizeof slots[0])
        slots[nslots++] = s;
    pthread_mutex_unlock(&slots_mu);
}

static __attribute__((noinline)) int touch_stack(void)
{
    /* 32 KiB of the stack, so a leaked stack is visible in RSS too. */
    volatile char buf[32 * 1024];
    for (size_t i = 0; i < sizeof buf; i += 1024)
        buf[i] = (char)(i >> 10);
    return buf[1024];
}

static int worker(void *arg, void **result)
{
    (void)arg;
    (void)result;
    volatile char here;
    note_slot((uintptr_t)&here);
    touch_stack();
    return cio_yield(); /* all TASKS alive at once */
}

static int thread_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    capture_reports_here();
    cio_task *ts[TASKS];
    for (int i = 0; i < TASKS; i++)
        EXPECT_OK(cio_spawn(worker, NULL, &ts[i]));
    for (int i = 0; i < TASKS; i++) {
        EXPECT_OK(cio_await(ts[i], NULL));
        cio_future_unref(ts[i]);
    }
    EXPECT_NO_REPORTS();
    return 0;
}

static void *thread_body(void *arg)
{
    EXPECT_OK(cio_run(thread_main, NULL, NULL));
    stack_t ss;
    EXPECT_OK(sigaltstack(NULL, &ss));
    if (arg)
        *(void **)arg = (ss.ss_flags & SS_DISABLE) ? NULL : ss.ss_sp;
    return NULL;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    EXPECT_TRUE(f != NULL);
    char line[256];
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &v) == 1)
            break;
    fclose(f);
    return v;
}

TEST_T(short_lived_threads_reuse_the_stacks_of_exited_ones, 300)
{
    long rss0 = -1;
    for (int i = 0; i < THREADS; i++) {
        pthread_t th;
        EXPECT_OK(pthread_create(&th, NULL, thread_body, NULL));
        EXPECT_OK(pthread_join(th, NULL));
        if (i == 0)
            rss0 = rss_kib();
    }
    long rss1 = rss_kib();
    /* One thread's worth of stacks (TASKS + its main task) is what the
     * threads need, one after another; each leaked cache would add TASKS
     * more slots. Generous bounds: four threads' worth. */
    if (nslots > 4 * (TASKS + 1))
        FAIL("%d threads of %d tasks ran on %zu distinct stacks: exited threads' stacks "
             "are not reused",
             THREADS, TASKS, nslots);
    /* Each leaked cache holds TASKS stacks of 32+ KiB touched: ~2 MiB. */
    if (rss1 - rss0 > 32 * 1024)
        FAIL("RSS grew by %ld KiB over %d threads", rss1 - rss0, THREADS - 1);
}

TEST(an_exited_thread_alternate_signal_stack_is_unmapped)
{
    void *alt = NULL;
    pthread_t th;
    EXPECT_OK(pthread_create(&th, NULL, thread_body, &alt));
    EXPECT_OK(pthread_join(th, NULL));
    EXPECT_TRUE(alt != NULL); /* cio made one for the thread */
    unsigned char vec[1];
    /* mincore fails with ENOMEM on an address that is not mapped. */
    int rc = mincore(alt, 4096, vec);
    if (rc == 0)
        FAIL("the exited thread's alternate signal stack %p is still mapped", alt);
    EXPECT_EQ(ENOMEM, errno);
}

TEST(a_thread_with_its_own_alternate_signal_stack_keeps_it)
{
    /* cio never frees an alternate stack it did not make. */
    static char mine[64 * 1024];
    stack_t ss = {.ss_sp = mine, .ss_size = sizeof mine, .ss_flags = 0};
    EXPECT_OK(sigaltstack(&ss, NULL));
    pthread_t th;
    void *alt = NULL;
    EXPECT_OK(pthread_create(&th, NULL, thread_body, &alt));
    EXPECT_OK(pthread_join(th, NULL));
    /* This thread's own is untouched by the other thread's exit. */
    stack_t cur;
    EXPECT_OK(sigaltstack(NULL, &cur));
    EXPECT_PTR_EQ(mine, cur.ss_sp);
    EXPECT_OK(cio_run(thread_main, NULL, NULL));
    EXPECT_OK(sigaltstack(NULL, &cur));
    EXPECT_PTR_EQ(mine, cur.ss_sp);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
