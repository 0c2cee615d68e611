/* Cancellation with a message (asyncio's cancel(msg)) on plain futures and
 * through the callback combinators: the message is copied, only the call
 * that requests the cancellation sets it, gather and wait_for pass it to
 * their children and take a cancelled child's, shield passes nothing. */
#include <string.h>

#include "test.h"

static cio_future *fnew(cio_loop *loop)
{
    cio_future *f = NULL;
    EXPECT_OK(cio_future_new(loop, &f));
    return f;
}

static void spin(cio_loop *loop)
{
    for (int i = 0; i < 8; i++)
        EXPECT_TRUE(cio_loop_run_once(loop, CIO_RUN_NOWAIT) >= 0);
}

TEST(cancel_with_message_copies_the_message)
{
    cio_loop *loop = test_strict_loop_new();
    cio_future *f = fnew(loop);
    EXPECT_PTR_EQ(NULL, cio_future_cancel_message(f)); /* pending: none */
    char buf[16];
    strcpy(buf, "shutdown");
    EXPECT_OK(cio_future_cancel_with_message(f, buf));
    strcpy(buf, "changed");
    EXPECT_TRUE(cio_future_is_cancelled(f));
    EXPECT_ERR(-ECANCELED, cio_future_error(f));
    EXPECT_STR_EQ("shutdown", cio_future_cancel_message(f));
    /* done: refused like cio_future_cancel, the message stays */
    EXPECT_ERR(-EINVAL, cio_future_cancel_with_message(f, "again"));
    EXPECT_ERR(-EINVAL, cio_future_cancel(f));
    EXPECT_STR_EQ("shutdown", cio_future_cancel_message(f));
    cio_future_unref(f);
    CLOSE_LOOP(loop);
}

TEST(cancel_without_message_has_none)
{
    cio_loop *loop = test_strict_loop_new();
    cio_future *a = fnew(loop), *b = fnew(loop), *c = fnew(loop);
    EXPECT_OK(cio_future_cancel_with_message(a, NULL));
    EXPECT_TRUE(cio_future_is_cancelled(a));
    EXPECT_PTR_EQ(NULL, cio_future_cancel_message(a));
    EXPECT_OK(cio_future_cancel(b));
    EXPECT_PTR_EQ(NULL, cio_future_cancel_message(b));
    /* a result, or -ECANCELED set as an error: no message either */
    EXPECT_OK(cio_future_set_error(c, -ECANCELED));
    EXPECT_PTR_EQ(NULL, cio_future_cancel_message(c));
    EXPECT_ERR(-EINVAL, cio_future_cancel_with_message(c, "late"));
    EXPECT_PTR_EQ(NULL, cio_future_cancel_message(c));
    cio_future_unref(a);
    cio_future_unref(b);
    cio_future_unref(c);
    CLOSE_LOOP(loop);
}

TEST(cancel_with_message_argument_checks)
{
    EXPECT_ERR(-EINVAL, cio_future_cancel_with_message(NULL, "x"));
    EXPECT_ERR(-EINVAL, cio_future_cancel_with_message(NULL, NULL));
    EXPECT_PTR_EQ(NULL, cio_future_cancel_message(NULL));
    cio_loop *loop = test_strict_loop_new();
    cio_future *f = fnew(loop);
    EXPECT_OK(cio_future_set_result(f, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_future_cancel_with_message(f, "done already"));
    EXPECT_PTR_EQ(NULL, cio_future_cancel_message(f));
    cio_future_unref(f);
    CLOSE_LOOP(loop);
}

/* A gather stays pending while its children unwind: the first cancel's
 * message is the one, a second cancel changes nothing (asyncio). The
 * children receive the message (_GatheringFuture.cancel(msg)). */
TEST(gather_passes_the_message_to_its_children)
{
    cio_loop *loop = test_strict_loop_new();
    cio_future *f[2] = {fnew(loop), fnew(loop)}, *g;
    EXPECT_OK(cio_gather_future(loop, f, 2, 0, &g));
    EXPECT_OK(cio_future_cancel_with_message(g, "first"));
    EXPECT_OK(cio_future_cancel_with_message(g, "second")); /* already requested */
    EXPECT_STR_EQ("first", cio_future_cancel_message(f[0]));
    EXPECT_STR_EQ("first", cio_future_cancel_message(f[1]));
    spin(loop);
    EXPECT_TRUE(cio_future_is_cancelled(g));
    EXPECT_STR_EQ("first", cio_future_cancel_message(g));
    cio_future_unref(g);
    cio_future_unref(f[0]);
    cio_future_unref(f[1]);
    CLOSE_LOOP(loop);
}

TEST(gather_takes_a_cancelled_childs_message)
{
    cio_loop *loop = test_strict_loop_new();
    cio_future *f[2] = {fnew(loop), fnew(loop)}, *g;
    EXPECT_OK(cio_gather_future(loop, f, 2, 0, &g));
    EXPECT_OK(cio_future_cancel_with_message(f[1], "child's reason"));
    spin(loop);
    EXPECT_TRUE(cio_future_is_cancelled(g));
    EXPECT_STR_EQ("child's reason", cio_future_cancel_message(g));
    EXPECT_FALSE(cio_future_is_done(f[0])); /* the other child runs on */
    EXPECT_OK(cio_future_set_result(f[0], NULL, NULL));
    spin(loop); /* its callback to the gather */
    cio_future_unref(g);
    cio_future_unref(f[0]);
    cio_future_unref(f[1]);
    CLOSE_LOOP(loop);
}

TEST(wait_for_passes_the_message_both_ways)
{
    cio_loop *loop = test_strict_loop_new();
    cio_future *in = fnew(loop), *w;
    EXPECT_OK(cio_wait_for_future(loop, in, CIO_NO_TIMEOUT, &w));
    EXPECT_OK(cio_future_cancel_with_message(w, "outer"));
    EXPECT_STR_EQ("outer", cio_future_cancel_message(in));
    spin(loop);
    EXPECT_TRUE(cio_future_is_cancelled(w));
    EXPECT_STR_EQ("outer", cio_future_cancel_message(w));
    cio_future_unref(w);
    cio_future_unref(in);

    /* the inner future cancelled by someone else: the wrapper takes it */
    in = fnew(loop);
    EXPECT_OK(cio_wait_for_future(loop, in, CIO_NO_TIMEOUT, &w));
    EXPECT_OK(cio_future_cancel_with_message(in, "inner"));
    spin(loop);
    EXPECT_TRUE(cio_future_is_cancelled(w));
    EXPECT_STR_EQ("inner", cio_future_cancel_message(w));
    cio_future_unref(w);
    cio_future_unref(in);
    CLOSE_LOOP(loop);
}

TEST(wait_for_timeout_cancels_without_a_message)
{
    cio_loop *loop = test_strict_loop_new();
    cio_future *in = fnew(loop), *w;
    EXPECT_OK(cio_wait_for_future(loop, in, 0, &w));
    for (int i = 0; i < 1000 && !cio_future_is_done(w); i++)
        EXPECT_TRUE(cio_loop_run_once(loop, 0) >= 0);
    EXPECT_ERR(-ETIMEDOUT, cio_future_error(w));
    EXPECT_TRUE(cio_future_is_cancelled(in));
    EXPECT_PTR_EQ(NULL, cio_future_cancel_message(in));
    EXPECT_PTR_EQ(NULL, cio_future_cancel_message(w));
    cio_future_unref(w);
    cio_future_unref(in);
    CLOSE_LOOP(loop);
}

TEST(shield_passes_no_message)
{
    cio_loop *loop = test_strict_loop_new();
    cio_future *in = fnew(loop), *s;
    EXPECT_OK(cio_shield_future(loop, in, &s));
    EXPECT_OK(cio_future_cancel_with_message(s, "outer"));
    EXPECT_STR_EQ("outer", cio_future_cancel_message(s));
    EXPECT_FALSE(cio_future_is_done(in));
    EXPECT_PTR_EQ(NULL, cio_future_cancel_message(in));
    EXPECT_OK(cio_future_set_result(in, NULL, NULL));
    spin(loop);
    cio_future_unref(s);
    cio_future_unref(in);

    /* asyncio's shield: a cancelled inner cancels the outer with no message */
    in = fnew(loop);
    EXPECT_OK(cio_shield_future(loop, in, &s));
    EXPECT_OK(cio_future_cancel_with_message(in, "inner"));
    spin(loop);
    EXPECT_TRUE(cio_future_is_cancelled(s));
    EXPECT_PTR_EQ(NULL, cio_future_cancel_message(s));
    cio_future_unref(s);
    cio_future_unref(in);
    CLOSE_LOOP(loop);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
