/* The combinators with 100,000 children: each is O(n) in all, not O(n^2).
 *
 * White-box: this program compiles src/future/combinators.c itself with
 * CIO__SCAN_STEP counting every step of every walk over the children, so
 * the cost is counted, not timed. Each completion used to scan the list for
 * the child that finished: n^2/2 steps, 5e9 for 100,000 children (a few
 * seconds, not enough to trip a time bound, hence the count). Children
 * finish in reverse input order, the worst case for such a scan. */
#include <stdint.h>
#include <stdlib.h>

#include "test.h"

static unsigned long long scan_steps;
#define CIO__SCAN_STEP() (scan_steps++)
#include "future/combinators.c"

#define MANY 100000
/* A handful of whole walks per combinator (check, set up, listen, complete,
 * detach, free); n^2/2 would be 50,000 times more. */
#define EXPECT_LINEAR()                                                                           \
    do {                                                                                          \
        if (scan_steps > 16ull * MANY)                                                            \
            FAIL("%llu steps over the children for %d of them", scan_steps, MANY);              \
    } while (0)

static char reports[16][1024];
static int nreports;
static void capture(cio_loop *loop, const char *msg, void *arg)
{
    (void)loop;
    (void)arg;
    if (nreports < 16)
        snprintf(reports[nreports], sizeof reports[0], "%s", msg);
    nreports++;
}

static cio_loop *loop_new(void)
{
    cio_loop *loop = test_loop_new();
    cio_loop_set_report_handler(loop, capture, NULL);
    scan_steps = 0;
    return loop;
}

static void spin(cio_loop *loop)
{
    for (int i = 0; i < 8; i++)
        EXPECT_TRUE(cio_loop_run_once(loop, CIO_RUN_NOWAIT) >= 0);
}

static void run_until_done(cio_loop *loop, cio_future *f)
{
    for (int i = 0; i < 1000 && !cio_future_is_done(f); i++)
        EXPECT_TRUE(cio_loop_run_once(loop, 0) >= 0);
    EXPECT_TRUE(cio_future_is_done(f));
}

static void finish(cio_loop *loop)
{
    for (int i = 0; i < 100; i++) {
        int rc = cio_loop_run_once(loop, CIO_RUN_NOWAIT);
        EXPECT_TRUE(rc >= 0);
        if (rc == 0)
            break;
    }
    if (nreports) {
        for (int i = 0; i < nreports && i < 16; i++)
            fprintf(stderr, "  report: %s\n", reports[i]);
        FAIL("%d unexpected report(s)", nreports);
    }
    CLOSE_LOOP(loop);
}

static void unref_all(cio_future **f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cio_future_unref(f[i]);
}

#define V(i) ((void *)(uintptr_t)(0x100 + (i)))

static cio_future **mk_many(cio_loop *loop)
{
    cio_future **f = malloc(MANY * sizeof *f);
    EXPECT_TRUE(f != NULL);
    for (size_t i = 0; i < MANY; i++)
        EXPECT_OK(cio_future_new(loop, &f[i]));
    return f;
}

static void free_many(cio_future **f)
{
    unref_all(f, MANY);
    free(f);
}

static void finish_many_in_reverse(cio_future **f)
{
    for (size_t i = MANY; i-- > 0;)
        EXPECT_OK(cio_future_set_result(f[i], V(i), NULL));
}

TEST(gather_of_100000_children)
{
    cio_loop *loop = loop_new();
    cio_future **f = mk_many(loop), *g;
    EXPECT_OK(cio_gather_future(loop, f, MANY, 0, &g));
    finish_many_in_reverse(f);
    run_until_done(loop, g);
    void **res = NULL;
    EXPECT_OK(cio_future_result(g, (void **)&res));
    for (size_t i = 0; i < MANY; i++)
        if (res[i] != V(i))
            FAIL("result %zu is %p", i, res[i]);
    cio_future_unref(g);
    free_many(f);
    finish(loop);
    EXPECT_LINEAR();
}

TEST(gather_cancel_of_100000_children)
{
    cio_loop *loop = loop_new();
    cio_future **f = mk_many(loop), *g;
    EXPECT_OK(cio_gather_future(loop, f, MANY, 0, &g));
    EXPECT_OK(cio_future_cancel(g));
    run_until_done(loop, g);
    EXPECT_TRUE(cio_future_is_cancelled(g));
    EXPECT_TRUE(cio_future_is_cancelled(f[MANY - 1]));
    cio_future_unref(g);
    free_many(f);
    finish(loop);
    EXPECT_LINEAR();
}

TEST(wait_of_100000_children)
{
    cio_loop *loop = loop_new();
    cio_future **f = mk_many(loop), *all, *first;
    EXPECT_OK(cio_wait_future(loop, f, MANY, CIO_WAIT_ALL_COMPLETED, CIO_NO_TIMEOUT, &all));
    EXPECT_OK(cio_wait_future(loop, f, MANY, CIO_WAIT_FIRST_COMPLETED, CIO_NO_TIMEOUT, &first));
    /* the first completion detaches FIRST_COMPLETED from the other 99,999 */
    EXPECT_OK(cio_future_set_result(f[MANY - 1], V(0), NULL));
    run_until_done(loop, first);
    const cio_wait_sets *sets = test_peek_result(first);
    EXPECT_EQ(1, sets->n_done);
    EXPECT_PTR_EQ(f[MANY - 1], sets->done[0]);
    EXPECT_EQ(MANY - 1, sets->n_pending);
    EXPECT_PTR_EQ(f[0], sets->pending[0]);
    for (size_t i = MANY - 1; i-- > 0;)
        EXPECT_OK(cio_future_set_result(f[i], V(i), NULL));
    run_until_done(loop, all);
    sets = test_peek_result(all);
    EXPECT_EQ(MANY, sets->n_done);
    EXPECT_EQ(0, sets->n_pending);
    EXPECT_PTR_EQ(f[MANY - 1], sets->done[MANY - 1]);
    cio_future_unref(all);
    cio_future_unref(first);
    free_many(f);
    finish(loop);
    EXPECT_LINEAR();
}

TEST(as_completed_of_100000_children)
{
    cio_loop *loop = loop_new();
    cio_future **f = mk_many(loop);
    cio_as_completed *it;
    EXPECT_OK(cio_as_completed_new(loop, f, MANY, CIO_NO_TIMEOUT, &it));
    /* half the next() futures wait before their child completes, half are
     * asked for afterwards */
    cio_future **n = malloc(MANY * sizeof *n);
    EXPECT_TRUE(n != NULL);
    for (size_t k = 0; k < MANY / 2; k++)
        EXPECT_OK(cio_as_completed_next_future(it, &n[k]));
    finish_many_in_reverse(f);
    for (int i = 0; i < 4; i++)
        spin(loop);
    for (size_t k = MANY / 2; k < MANY; k++)
        EXPECT_OK(cio_as_completed_next_future(it, &n[k]));
    spin(loop);
    for (size_t k = 0; k < MANY; k++) {
        if (test_peek_result(n[k]) != f[MANY - 1 - k])
            FAIL("next %zu is not child %zu", k, MANY - 1 - k);
    }
    unref_all(n, MANY);
    free(n);
    EXPECT_OK(cio_as_completed_free(it));
    free_many(f);
    finish(loop);
    EXPECT_LINEAR();
}

TEST(as_completed_free_with_100000_pending_children)
{
    cio_loop *loop = loop_new();
    cio_future **f = mk_many(loop);
    cio_as_completed *it;
    EXPECT_OK(cio_as_completed_new(loop, f, MANY, CIO_NO_TIMEOUT, &it));
    EXPECT_OK(cio_as_completed_free(it));
    finish_many_in_reverse(f);
    free_many(f);
    finish(loop);
    EXPECT_LINEAR();
}

int main(int argc, char **argv) { return test_main(argc, argv); }
