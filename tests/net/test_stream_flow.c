/* cio_stream's one flow-control contract: a write over the high-water mark
 * suspends its task until the buffer is at or below the low-water mark;
 * any number of writers and drainers at once (cpython issue 74116); the
 * write error is sticky. */
#include "net/conn.h"
#include "net/test_stream_util.h"

#define HIGH 65536
#define LOW 16384

/* ---- a slow reader blocks the writer, which resumes after the drain ---- */

struct slow {
    cio_stream *w, *r;
    int in_write;        /* the writer is inside its big write */
    size_t seen_waiting; /* buffered() the observer saw while it waited */
    size_t at_resume;    /* buffered() when the write returned */
    int reader_started;
    size_t total;
};

static int slow_writer(void *arg, void **res)
{
    (void)res;
    struct slow *s = arg;
    static char chunk[HIGH * 64];
    memset(chunk, 'w', sizeof chunk);
    s->in_write = 1;
    EXPECT_OK(cio_stream_write(s->w, chunk, sizeof chunk));
    s->in_write = 0;
    s->at_resume = cio_stream_buffered(s->w);
    /* it resumed only because the reader drained it */
    EXPECT_TRUE(s->reader_started);
    EXPECT_TRUE(s->at_resume <= LOW);
    EXPECT_OK(cio_stream_shutdown(s->w));
    return 0;
}

static int slow_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_stream_options o = CIO_STREAM_OPTIONS(.high_water = HIGH, .low_water = LOW);
    struct slow s = {0};
    /* a Unix socketpair: its kernel buffer is fixed (TCP's grows), far
     * below the 4 MiB written */
    st_pair(&s.w, &s.r, &o);
    cio_task *wt;
    EXPECT_OK(cio_spawn(slow_writer, &s, &wt));
    /* the observer: the writer is suspended inside its write, over the mark */
    for (int i = 0; i < 1000 && !(s.in_write && cio_stream_buffered(s.w) > HIGH); i++)
        EXPECT_OK(cio_yield());
    EXPECT_TRUE(s.in_write);
    s.seen_waiting = cio_stream_buffered(s.w);
    EXPECT_TRUE(s.seen_waiting > HIGH);
    /* it stays suspended while nobody reads */
    for (int i = 0; i < 20; i++)
        EXPECT_OK(cio_yield());
    EXPECT_TRUE(s.in_write);
    s.reader_started = 1;
    char buf[8192];
    ssize_t n;
    while ((n = cio_stream_read(s.r, buf, sizeof buf)) > 0)
        s.total += (size_t)n;
    EXPECT_EQ(0, n);
    EXPECT_EQ(HIGH * 64, s.total);
    EXPECT_OK(cio_await(wt, NULL));
    cio_future_unref(wt);
    EXPECT_FALSE(s.in_write);
    EXPECT_OK(cio_stream_close(s.w));
    EXPECT_OK(cio_stream_close(s.r));
    return 0;
}

TEST(slow_reader_blocks_writer)
{
    st_run(slow_main, NULL);
}

/* ---- two writers and two drainers at once ------------------------------ */

#define REC 1000
#define RECS 300

struct multi {
    cio_stream *w, *r;
    int drains;
};

struct writer_arg {
    struct multi *m;
    char tag;
};

static int multi_writer(void *arg, void **res)
{
    (void)res;
    struct writer_arg *a = arg;
    char rec[REC];
    for (int i = 0; i < RECS; i++) {
        memset(rec, a->tag, sizeof rec);
        memcpy(rec, &i, sizeof i);
        EXPECT_OK(cio_stream_write(a->m->w, rec, sizeof rec));
        if (i % 7 == 0)
            EXPECT_OK(cio_stream_drain(a->m->w));
    }
    EXPECT_OK(cio_stream_drain(a->m->w));
    return 0;
}

static int multi_drainer(void *arg, void **res)
{
    (void)res;
    struct multi *m = arg;
    for (int i = 0; i < 200; i++) {
        /* the writers may add more before this task runs again: only
         * the return is the drainer's */
        EXPECT_OK(cio_stream_drain(m->w));
        m->drains++;
        EXPECT_OK(cio_yield());
    }
    return 0;
}

static int multi_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_stream_options o = CIO_STREAM_OPTIONS(.high_water = HIGH, .low_water = LOW);
    struct multi m = {0};
    st_pair(&m.w, &m.r, &o);
    struct writer_arg wa = {&m, 'A'}, wb = {&m, 'B'};
    cio_task *t[4];
    EXPECT_OK(cio_spawn(multi_writer, &wa, &t[0]));
    EXPECT_OK(cio_spawn(multi_writer, &wb, &t[1]));
    EXPECT_OK(cio_spawn(multi_drainer, &m, &t[2]));
    EXPECT_OK(cio_spawn(multi_drainer, &m, &t[3]));
    /* let them pile up before reading */
    for (int i = 0; i < 10; i++)
        EXPECT_OK(cio_yield());
    int next[2] = {0, 0};
    char rec[REC];
    for (int n = 0; n < 2 * RECS; n++) {
        EXPECT_EQ(REC, cio_stream_read_exactly(m.r, rec, sizeof rec));
        int which = rec[REC - 1] == 'A' ? 0 : 1;
        EXPECT_TRUE(rec[REC - 1] == 'A' || rec[REC - 1] == 'B');
        int i;
        memcpy(&i, rec, sizeof i);
        EXPECT_EQ(next[which], i); /* each writer's records whole and in order */
        for (int k = (int)sizeof i; k < REC; k++)
            if (rec[k] != rec[REC - 1])
                FAIL("record %d of %c is not contiguous", i, rec[REC - 1]);
        next[which]++;
    }
    for (int i = 0; i < 4; i++) {
        EXPECT_OK(cio_await(t[i], NULL));
        cio_future_unref(t[i]);
    }
    EXPECT_EQ(400, m.drains);
    EXPECT_OK(cio_stream_close(m.w));
    EXPECT_OK(cio_stream_close(m.r));
    return 0;
}

TEST(two_writers_two_drainers)
{
    st_run(multi_main, NULL);
}

/* ---- drain and flush ------------------------------------------------------ */

static int drain_task(void *arg, void **res)
{
    (void)res;
    return cio_stream_drain(arg);
}

static int drain_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_stream *a, *b;
    st_pair(&a, &b, NULL);
    EXPECT_OK(cio_stream_drain(a)); /* nothing buffered: at once */
    EXPECT_OK(cio_stream_flush(a));
    EXPECT_OK(cio_stream_set_water(a, 8 << 20, 0));
    static char data[1 << 20];
    EXPECT_OK(cio_stream_write(a, data, sizeof data));
    size_t buffered = cio_stream_buffered(a);
    EXPECT_TRUE(buffered > 0);
    /* a drain under a deadline gives up; the bytes stay and go out later */
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 0.02));
    EXPECT_ERR(-ETIMEDOUT, cio_stream_drain(a));
    EXPECT_ERR(-ETIMEDOUT, cio_stream_flush(a));
    cio_scope_end(&sc);
    EXPECT_EQ(buffered, cio_stream_buffered(a));
    /* raising the low mark over what is buffered wakes a drainer */
    cio_task *t;
    EXPECT_OK(cio_spawn(drain_task, a, &t));
    EXPECT_OK(cio_yield());
    EXPECT_FALSE(cio_future_is_done(t));
    EXPECT_OK(cio_stream_set_water(a, 8 << 20, 2 << 20));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_ERR(-EINVAL, cio_stream_set_water(a, 10, 20));
    EXPECT_OK(cio_stream_set_water(a, 0, 0));
    EXPECT_OK(cio_stream_abort(a));
    EXPECT_OK(cio_stream_close(b));
    return 0;
}

TEST(drain_flush_deadline)
{
    st_run(drain_main, NULL);
}

/* ---- the write error is sticky, for every writer and drainer ------------- */

static int sticky_drainer(void *arg, void **res)
{
    (void)res;
    int rc = cio_stream_drain(arg);
    EXPECT_TRUE(rc == -EPIPE || rc == -ECONNRESET);
    return 0;
}

static int sticky_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_stream *a, *b;
    st_pair(&a, &b, NULL);
    EXPECT_OK(cio_stream_set_water(a, 8 << 20, 4 << 20));
    static char data[6 << 20];
    EXPECT_OK(cio_stream_write(a, data, sizeof data)); /* under high: returns */
    cio_task *t[2];
    EXPECT_OK(cio_spawn(sticky_drainer, a, &t[0]));
    EXPECT_OK(cio_spawn(sticky_drainer, a, &t[1]));
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_stream_close(b)); /* unread bytes: the peer is gone */
    for (int i = 0; i < 2; i++) {
        EXPECT_OK(cio_await(t[i], NULL));
        cio_future_unref(t[i]);
    }
    int rc = cio_stream_write(a, "x", 1);
    EXPECT_TRUE(rc == -EPIPE || rc == -ECONNRESET);
    EXPECT_ERR(rc, cio_stream_drain(a));
    EXPECT_ERR(rc, cio_stream_write(a, "y", 1));
    EXPECT_EQ(0, cio_stream_buffered(a));
    EXPECT_ERR(rc, cio_stream_close(a));
    return 0;
}

TEST(write_error_is_sticky)
{
    st_run(sticky_main, NULL);
}

/* ---- a write cancelled while suspended keeps its bytes ----------------- */

static int cancel_writer(void *arg, void **res)
{
    (void)res;
    static char big[HIGH * 32];
    int rc = cio_stream_write(arg, big, sizeof big);
    EXPECT_ERR(-ECANCELED, rc);
    return rc;
}

static int cancel_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_stream_options o = CIO_STREAM_OPTIONS(.high_water = HIGH, .low_water = LOW);
    cio_stream *a, *b;
    st_pair(&a, &b, &o);
    cio_task *t;
    EXPECT_OK(cio_spawn(cancel_writer, a, &t));
    for (int i = 0; i < 100 && cio_stream_buffered(a) <= HIGH; i++)
        EXPECT_OK(cio_yield());
    EXPECT_TRUE(cio_stream_buffered(a) > HIGH);
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    cio_future_unref(t);
    /* every byte still arrives */
    static char in[HIGH * 32];
    EXPECT_EQ((ssize_t)sizeof in, cio_stream_read_exactly(b, in, sizeof in));
    EXPECT_OK(cio_stream_close(a));
    EXPECT_OK(cio_stream_close(b));
    return 0;
}

TEST(cancelled_write_keeps_bytes)
{
    st_run(cancel_main, NULL);
}

/* The same scenarios on the level-triggered poll backend. */
TEST(poll_backend)
{
    setenv("CIO_BACKEND", "poll", 1);
    st_run(slow_main, NULL);
    st_run(multi_main, NULL);
    st_run(sticky_main, NULL);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv);
}
