/* cio-test: threaded
 *
 * cio_loop_close against cio_call_soon_threadsafe: a call that returned 0
 * runs, or close fails with -EBUSY and the loop stays usable; a call made
 * after close returned is refused; producers racing close over many rounds
 * never lose an accepted call. Each case also runs with membarrier(2)
 * refused (the fallback every producer fences in). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "test.h"
#include "loop/internal.h"

static long ran_count;
static void count(void *arg)
{
    (void)arg;
    ran_count++;
}

/* ---- deterministic: a pending call fails the close, the loop stays usable */

static void pending_call_fails_close(void)
{
    cio_loop *loop = test_strict_loop_new();
    ran_count = 0;
    EXPECT_OK(cio_call_soon_threadsafe(loop, count, NULL));
    EXPECT_ERR(-EBUSY, cio_loop_close(loop));
    EXPECT_FALSE(cio_loop_is_closed(loop));
    /* the failed close refuses nothing afterwards */
    EXPECT_OK(cio_call_soon_threadsafe(loop, count, NULL));
    EXPECT_OK(cio_call_soon_threadsafe_try(loop, count, NULL));
    while (cio_loop_run_once(loop, CIO_RUN_NOWAIT) > 0) {
    }
    EXPECT_EQ(3, ran_count);
    EXPECT_OK(cio_loop_close(loop));
    EXPECT_ERR(-EINVAL, cio_call_soon_threadsafe(loop, count, NULL));
    EXPECT_ERR(-EINVAL, cio_call_soon_threadsafe_try(loop, count, NULL));
    EXPECT_EQ(3, ran_count);
    EXPECT_OK(cio_loop_free(loop));
}

TEST(pending_threadsafe_call_fails_close_and_loop_stays_usable)
{
    pending_call_fails_close();
}

TEST(pending_threadsafe_call_fails_close_no_membarrier)
{
    cio__ts_no_membarrier = true;
    pending_call_fails_close();
    EXPECT_FALSE(cio__ts_asym_barrier());
}

/* ---- producers racing close ---------------------------------------------- */

#define PRODUCERS 8
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define ROUNDS 10
#define MAX_CALLS 2000
#else
#define ROUNDS 40
#define MAX_CALLS 5000
#endif

struct producer {
    cio_loop *loop;
    long accepted; /* written by the producer */
    long ran;      /* written by the loop's thread */
    bool refused;
};
static _Atomic int close_returned;

static void ran(void *arg)
{
    struct producer *p = arg;
    p->ran++;
}

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (long i = 0; i < MAX_CALLS; i++) {
        int after_close = atomic_load(&close_returned);
        int rc = (i & 1) ? cio_call_soon_threadsafe(p->loop, ran, p)
                         : cio_call_soon_threadsafe_try(p->loop, ran, p);
        if (rc == -EINVAL) {
            p->refused = true;
            break;
        }
        if (rc == -EAGAIN)
            continue;
        if (rc != 0)
            FAIL("call_soon_threadsafe: %s", cio_err_name(rc));
        if (after_close)
            FAIL("a call made after cio_loop_close returned 0 was accepted");
        p->accepted++;
        /* Paced, so that the loop is sometimes idle when close looks. */
        for (volatile int spin = 0; spin < 1000 + (int)(i % 5) * 1000; spin++) {
        }
    }
    return NULL;
}

static void producers_race_close(void)
{
    int early = 0;
    for (int round = 0; round < ROUNDS; round++) {
        cio_loop *loop = test_strict_loop_new();
        atomic_store(&close_returned, 0);
        struct producer p[PRODUCERS] = {0};
        pthread_t th[PRODUCERS];
        for (int i = 0; i < PRODUCERS; i++) {
            p[i].loop = loop;
            EXPECT_OK(pthread_create(&th[i], NULL, produce, &p[i]));
        }
        /* Let every producer get going, then close as soon as it can
         * succeed; between attempts the loop runs what was accepted, as an
         * owner would. */
        for (int i = 0; i < PRODUCERS; i++) {
            for (long spins = 0; p[i].ran < 20 && spins < 100000000; spins++)
                EXPECT_TRUE(cio_loop_run_once(loop, 0) >= 0);
        }
        long attempts = 0;
        for (;;) {
            int rc = cio_loop_close(loop);
            if (rc == 0)
                break;
            EXPECT_ERR(-EBUSY, rc);
            attempts++;
            EXPECT_TRUE(cio_loop_run_once(loop, CIO_RUN_NOWAIT) >= 0);
        }
        atomic_store(&close_returned, 1);
        EXPECT_ERR(-EINVAL, cio_call_soon_threadsafe(loop, count, NULL));
        for (int i = 0; i < PRODUCERS; i++)
            EXPECT_OK(pthread_join(th[i], NULL));
        /* Nobody calls any more: now the loop may be freed. */
        for (int i = 0; i < PRODUCERS; i++) {
            if (p[i].accepted != p[i].ran)
                FAIL("round %d, producer %d: %ld calls accepted, %ld ran (after %ld failed "
                     "closes)",
                     round, i, p[i].accepted, p[i].ran, attempts);
            early += p[i].refused;
        }
        EXPECT_OK(cio_loop_free(loop));
    }
    printf("     %d producer(s) were refused by a close that won the race\n", early);
}

TEST_T(producers_racing_close_never_lose_an_accepted_call, 240)
{
    producers_race_close();
}

TEST_T(producers_racing_close_no_membarrier, 240)
{
    cio__ts_no_membarrier = true;
    producers_race_close();
}

/* ---- a producer that starts after close is refused ------------------------ */

static void *late_call(void *arg)
{
    cio_loop *loop = arg;
    EXPECT_ERR(-EINVAL, cio_call_soon_threadsafe(loop, count, NULL));
    EXPECT_ERR(-EINVAL, cio_call_soon_threadsafe_try(loop, count, NULL));
    return NULL;
}

TEST(new_producer_after_close_is_refused)
{
    cio_loop *loop = test_strict_loop_new();
    EXPECT_OK(cio_loop_close(loop));
    pthread_t t; /* a thread with no ring yet: registration is refused */
    EXPECT_OK(pthread_create(&t, NULL, late_call, loop));
    EXPECT_OK(pthread_join(t, NULL));
    EXPECT_EQ(0, ran_count);
    EXPECT_OK(cio_loop_free(loop));
}

int main(int argc, char **argv) { return test_main(argc, argv); }
