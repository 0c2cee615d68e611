/* Review: adversarial cases of cio_stream and cio_transport (lifetime when
 * one task closes or aborts a stream others are inside, data and end in
 * one edge, separators split across reads, hand-offs from inside
 * callbacks), each on both backends. */
#include <fcntl.h>
#include <termios.h>

#include "net/conn.h"
#include "net/test_stream_util.h"

static const char *backend = "epoll";

/* Runs fn on each backend, with no descriptor left behind. */
static void run_both(cio_task_fn fn, void *arg)
{
    static const char *const names[] = {"epoll", "poll"};
    EXPECT_OK(cio_run(st_nothing, NULL, NULL));
    for (int i = 0; i < 2; i++) {
        backend = names[i];
        int before = st_fd_count();
        cio_loop_options o = CIO_LOOP_OPTIONS_INIT;
        o.backend = names[i];
        EXPECT_OK(cio_run_with(&o, fn, arg, NULL));
        EXPECT_EQ(before, st_fd_count());
    }
}

/* Yields until cond holds (bounded). */
#define WAIT_UNTIL(cond)                                                                           \
    do {                                                                                           \
        int n_ = 0;                                                                                \
        while (!(cond)) {                                                                          \
            if (++n_ > 100000)                                                                     \
                FAIL("timed out waiting for " #cond);                                              \
            EXPECT_OK(cio_yield());                                                                \
        }                                                                                          \
    } while (0)

/* ---- one task aborts/closes a stream others are inside --------------------- */

struct inside {
    cio_stream *s;
    int rc;
    bool started, done;
};

static int in_read(void *arg, void **res)
{
    (void)res;
    struct inside *x = arg;
    char b[16];
    x->started = true;
    x->rc = (int)cio_stream_read_until(x->s, "\r\n", 2, b, sizeof b);
    x->done = true;
    return 0;
}

static int in_write(void *arg, void **res)
{
    (void)res;
    struct inside *x = arg;
    static char big[32768];
    x->started = true;
    x->rc = cio_stream_write(x->s, big, sizeof big);
    x->done = true;
    return 0;
}

static int in_drain(void *arg, void **res)
{
    (void)res;
    struct inside *x = arg;
    x->started = true;
    x->rc = cio_stream_drain(x->s);
    x->done = true;
    return 0;
}

static int in_flush(void *arg, void **res)
{
    (void)res;
    struct inside *x = arg;
    x->started = true;
    x->rc = cio_stream_flush(x->s);
    x->done = true;
    return 0;
}

static void closing_under_tasks(bool do_abort)
{
    cio_stream *a, *b;
    cio_stream_options o = CIO_STREAM_OPTIONS(.high_water = 8192, .low_water = 1024);
    st_pair(&a, &b, &o);
    /* Fill the socket so that writers stay suspended. */
    static char fill[1 << 20];
    size_t n = 0;
    while (cio_stream_buffered(a) == 0 && n < sizeof fill) {
        EXPECT_OK(cio_stream_write(a, fill, 4096));
        n += 4096;
    }
    struct inside x[5] = {{.s = a}, {.s = a}, {.s = a}, {.s = a}, {.s = a}};
    cio_task_fn fns[5] = {in_read, in_write, in_write, in_drain, in_flush};
    cio_task *t[5];
    for (int i = 0; i < 5; i++)
        EXPECT_OK(cio_spawn(fns[i], &x[i], &t[i]));
    WAIT_UNTIL(x[0].started && x[1].started && x[2].started && x[3].started && x[4].started);
    for (int i = 0; i < 5; i++)
        EXPECT_FALSE(x[i].done);
    int want;
    if (do_abort) {
        EXPECT_OK(cio_stream_abort(a));
        want = -ECONNABORTED;
    } else {
        cio_scope sc;
        EXPECT_OK(cio_timeout_begin(&sc, 0.01));
        EXPECT_EQ(-ETIMEDOUT, cio_stream_close(a));
        cio_scope_end(&sc);
        want = -EBADF;
    }
    for (int i = 0; i < 5; i++) {
        EXPECT_OK(cio_await(t[i], NULL));
        cio_future_unref(t[i]);
        EXPECT_TRUE(x[i].done);
        EXPECT_EQ(want, x[i].rc);
    }
    EXPECT_OK(cio_stream_close(b));
}

static int abort_under_tasks_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    closing_under_tasks(true);
    closing_under_tasks(false);
    return 0;
}

TEST(abort_and_close_while_tasks_inside)
{
    run_both(abort_under_tasks_main, NULL);
}

/* ---- data and the end in one edge ---------------------------------------- */

static int data_and_fin_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    for (int k = 0; k < 2; k++) {
        cio_stream *a, *b;
        if (k == 0)
            st_pair(&a, &b, NULL);
        else
            st_tcp_pair(&a, &b, NULL);
        EXPECT_OK(cio_stream_write(b, "hello\nworld", 11));
        EXPECT_OK(cio_stream_shutdown(b));
        /* Let the loop see the edge (data and FIN together) first. */
        for (int i = 0; i < 20; i++)
            EXPECT_OK(cio_yield());
        char buf[64];
        EXPECT_EQ(6, cio_stream_read_line(a, buf, sizeof buf));
        EXPECT_EQ(-ENODATA, cio_stream_read_line(a, buf, sizeof buf));
        EXPECT_EQ(2, cio_stream_read(a, buf, 2));
        EXPECT_EQ(3, cio_stream_read(a, buf, 8));
        EXPECT_EQ(0, cio_stream_read(a, buf, 8));
        EXPECT_TRUE(cio_stream_is_eof(a));
        EXPECT_OK(cio_stream_close(a));
        EXPECT_OK(cio_stream_close(b));
    }
    return 0;
}

TEST(data_and_fin_in_one_edge)
{
    run_both(data_and_fin_main, NULL);
}

/* ---- separators split across reads --------------------------------------- */

struct until {
    cio_stream *s;
    const char *sep;
    ssize_t rc;
    char buf[64];
};

static int until_task(void *arg, void **res)
{
    (void)res;
    struct until *u = arg;
    u->rc = cio_stream_read_until(u->s, u->sep, strlen(u->sep), u->buf, sizeof u->buf);
    return 0;
}

static int split_sep_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    static const char *const seps[] = {"\r\n", "XYZW", "\n"};
    for (int k = 0; k < 3; k++) {
        const char *sep = seps[k];
        size_t sl = strlen(sep);
        for (size_t cut = 1; cut <= sl; cut++) {
            cio_stream *a, *b;
            st_pair(&a, &b, NULL);
            struct until u = {.s = a, .sep = sep};
            cio_task *t;
            EXPECT_OK(cio_spawn(until_task, &u, &t));
            char msg[64];
            int ml = snprintf(msg, sizeof msg, "abc%sdef", sep);
            /* first piece: "abc" and the first cut-1 bytes of sep */
            size_t first = 3 + cut - 1;
            EXPECT_OK(cio_stream_write(b, msg, first));
            WAIT_UNTIL(cio_stream_readable(a) == first);
            EXPECT_OK(cio_stream_write(b, msg + first, (size_t)ml - first));
            EXPECT_OK(cio_await(t, NULL));
            cio_future_unref(t);
            EXPECT_EQ((ssize_t)(3 + sl), u.rc);
            EXPECT_TRUE(memcmp(u.buf, msg, 3 + sl) == 0);
            char rest[8];
            EXPECT_EQ(3, cio_stream_read_exactly(a, rest, 3));
            EXPECT_TRUE(memcmp(rest, "def", 3) == 0);
            EXPECT_OK(cio_stream_close(a));
            EXPECT_OK(cio_stream_close(b));
        }
    }
    return 0;
}

TEST(separator_split_across_reads)
{
    run_both(split_sep_main, NULL);
}

/* ---- hand-offs from inside callbacks ---------------------------------------- */

struct hand {
    int made, data, eof, lost;
    size_t got;
    int lost_err;
    cio_stream *s;   /* what to_stream gave */
    char when;       /* 'M' made, 'D' data, 'E' eof: hand off to a stream there */
    bool keep;       /* eof_received's answer */
    char act;        /* 'a' abort / 'c' close in `when` instead of handing off */
};

static void hand_do(cio_transport *t, struct hand *h)
{
    if (h->act == 'a')
        EXPECT_OK(cio_transport_abort(t));
    else if (h->act == 'c')
        EXPECT_OK(cio_transport_close(t));
    else
        EXPECT_OK(cio_transport_to_stream(t, &h->s));
}

static int hand_made(cio_transport *t, void *arg, void **ctx)
{
    (void)ctx;
    struct hand *h = arg;
    h->made++;
    if (h->when == 'M')
        hand_do(t, h);
    return 0;
}

static void hand_data(cio_transport *t, const void *d, size_t len, void *ctx)
{
    (void)d;
    struct hand *h = ctx;
    EXPECT_TRUE(h->lost == 0);
    h->data++;
    h->got += len;
    if (h->when == 'D' && h->data == 1)
        hand_do(t, h);
}

static bool hand_eof(cio_transport *t, void *ctx)
{
    struct hand *h = ctx;
    EXPECT_TRUE(h->lost == 0);
    h->eof++;
    if (h->when == 'E')
        hand_do(t, h);
    return h->keep;
}

static void hand_lost(cio_transport *t, int err, void *ctx)
{
    (void)t;
    struct hand *h = ctx;
    h->lost++;
    h->lost_err = err;
}

static const cio_protocol hand_proto = {
    .connection_made = hand_made,
    .data_received = hand_data,
    .eof_received = hand_eof,
    .connection_lost = hand_lost,
};

static int handoff_cb_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    static char big[200000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7);
    static const char whens[] = {'M', 'D', 'E'};
    static const char acts[] = {0, 'a', 'c'};
    for (int w = 0; w < 3; w++) {
        for (int k = 0; k < 3; k++) {
            int fds[2];
            EXPECT_OK(cio_socket_pair(SOCK_STREAM, fds));
            cio_stream *peer;
            EXPECT_OK(cio_stream_new(fds[1], NULL, &peer));
            struct hand h = {.when = whens[w], .act = acts[k]};
            cio_transport *t;
            /* Bytes and the end are there before the transport starts. */
            EXPECT_OK(cio_stream_write(peer, big, w == 2 ? 100 : sizeof big / 2));
            if (w == 2)
                EXPECT_OK(cio_stream_shutdown(peer));
            EXPECT_OK(cio_transport_new(cio_current_loop(), fds[0], NULL, &hand_proto, &h, &t));
            if (w != 2) {
                /* the rest, and the end, while the transport runs */
                EXPECT_OK(cio_stream_write(peer, big + sizeof big / 2, sizeof big / 2));
                EXPECT_OK(cio_stream_flush(peer));
                EXPECT_OK(cio_stream_shutdown(peer));
            }
            size_t total = w == 2 ? 100 : sizeof big;
            WAIT_UNTIL(h.s || h.lost);
            if (acts[k] == 0) {
                /* The stream reads what the protocol did not get. */
                void *rest;
                size_t rl;
                EXPECT_OK(cio_stream_read_all(h.s, sizeof big, &rest, &rl));
                EXPECT_EQ(total, h.got + rl);
                EXPECT_TRUE(memcmp(rest, big + h.got, rl) == 0);
                free(rest);
                for (int i = 0; i < 10; i++)
                    EXPECT_OK(cio_yield());
                EXPECT_EQ(0, h.lost);
                EXPECT_OK(cio_stream_close(h.s));
            } else {
                for (int i = 0; i < 10; i++)
                    EXPECT_OK(cio_yield());
                EXPECT_EQ(1, h.lost);
                EXPECT_EQ(acts[k] == 'a' ? -ECONNABORTED : 0, h.lost_err);
            }
            EXPECT_EQ(1, h.made);
            EXPECT_TRUE(h.eof <= 1);
            EXPECT_OK(cio_stream_close(peer));
        }
    }
    return 0;
}

TEST(handoff_close_abort_inside_callbacks)
{
    run_both(handoff_cb_main, NULL);
}

/* A transport that heard the end, handed to a stream and back, tells the
 * new protocol about the end too. */
static int eof_twice_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    int fds[2];
    EXPECT_OK(cio_socket_pair(SOCK_STREAM, fds));
    cio_stream *peer;
    EXPECT_OK(cio_stream_new(fds[1], NULL, &peer));
    EXPECT_OK(cio_stream_write(peer, "x", 1));
    EXPECT_OK(cio_stream_shutdown(peer));
    struct hand h1 = {.when = 'E'};
    cio_transport *t;
    EXPECT_OK(cio_transport_new(cio_current_loop(), fds[0], NULL, &hand_proto, &h1, &t));
    WAIT_UNTIL(h1.s);
    EXPECT_EQ(1, h1.eof);
    EXPECT_TRUE(cio_stream_is_eof(h1.s));
    struct hand h2 = {0};
    EXPECT_OK(cio_stream_to_transport(h1.s, &hand_proto, &h2, &t));
    WAIT_UNTIL(h2.lost);
    EXPECT_EQ(1, h2.made);
    EXPECT_EQ(1, h2.eof);
    EXPECT_EQ(0, h2.lost_err);
    EXPECT_OK(cio_stream_close(peer));
    return 0;
}

TEST(eof_told_again_after_handoffs)
{
    run_both(eof_twice_main, NULL);
}

/* ---- cancelling cio_transport_connect's future ------------------------------ */

/* A Unix connect completes inside cio_transport_connect, so connection_made
 * is already queued when the caller cancels: it must not be called. */
static int cancel_connect_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    char name[64];
    snprintf(name, sizeof name, "@cio-review-%d", (int)getpid());
    cio_addr a;
    EXPECT_OK(cio_addr_unix(name, &a));
    int lfd;
    EXPECT_OK(cio_socket_listen(&a, NULL, &lfd));
    for (int k = 0; k < 2; k++) {
        if (k == 1) {
            close(lfd);
            lfd = st_listen_tcp(&a);
        }
        struct hand h = {0};
        cio_future *f;
        EXPECT_OK(cio_transport_connect(cio_current_loop(), &a, NULL, NULL, &hand_proto, &h, &f));
        EXPECT_OK(cio_future_cancel(f));
        EXPECT_EQ(-ECANCELED, cio_await(f, NULL));
        cio_future_unref(f);
        for (int i = 0; i < 20; i++)
            EXPECT_OK(cio_yield());
        EXPECT_EQ(0, h.made);
        EXPECT_EQ(0, h.lost);
        /* what the listener got is closed, and nothing else is open */
        int fd;
        cio_scope sc;
        EXPECT_OK(cio_timeout_begin(&sc, 0.2));
        int rc = cio_socket_accept(lfd, &fd, NULL);
        cio_scope_end(&sc);
        if (rc == 0) {
            char b[1];
            ssize_t r = recv(fd, b, 1, 0);
            EXPECT_TRUE(r == 0 || (r < 0 && errno == ECONNRESET));
            close(fd);
        } else {
            EXPECT_EQ(-ETIMEDOUT, rc);
        }
    }
    cio_fd_close(lfd);
    return 0;
}

TEST(cancelled_connect_calls_nothing)
{
    run_both(cancel_connect_main, NULL);
}

/* ---- a terminal: a short read does not mean drained ------------------------- */

/* A terminal in canonical mode returns one line per read(2) even with more
 * lines waiting: the stream must not take a short read for "drained" and
 * then wait for an edge that does not come. */
static int tty_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) {
        fprintf(stderr, "no pty (%s): skipped\n", strerror(errno));
        return 0;
    }
    EXPECT_OK(grantpt(m));
    EXPECT_OK(unlockpt(m));
    char name[128];
    EXPECT_OK(ptsname_r(m, name, sizeof name));
    int sl = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    EXPECT_TRUE(sl >= 0);
    struct termios tio;
    EXPECT_OK(tcgetattr(sl, &tio));
    tio.c_lflag |= ICANON;
    tio.c_lflag &= (tcflag_t)~(ECHO | ECHONL);
    EXPECT_OK(tcsetattr(sl, TCSANOW, &tio));
    cio_stream *s;
    EXPECT_OK(cio_stream_new(sl, NULL, &s));
    EXPECT_EQ(12, write(m, "one\ntwo\nsix\n", 12));
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 10));
    char b[16];
    EXPECT_EQ(4, cio_stream_read_line(s, b, sizeof b));
    EXPECT_EQ(4, cio_stream_read_line(s, b, sizeof b));
    EXPECT_TRUE(memcmp(b, "two\n", 4) == 0);
    EXPECT_EQ(4, cio_stream_read(s, b, sizeof b));
    EXPECT_TRUE(memcmp(b, "six\n", 4) == 0);
    cio_scope_end(&sc);
    EXPECT_OK(cio_stream_close(s));
    close(m);
    return 0;
}

TEST(terminal_lines_in_one_edge)
{
    run_both(tty_main, NULL);
}

/* A SOCK_SEQPACKET socket returns one record per read: several records
 * in one edge must all be read. */
static int seqpacket_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    int fds[2];
    EXPECT_OK(cio_socket_pair(SOCK_SEQPACKET, fds));
    cio_stream *s;
    EXPECT_OK(cio_stream_new(fds[0], NULL, &s));
    EXPECT_EQ(4, send(fds[1], "one\n", 4, 0));
    EXPECT_EQ(4, send(fds[1], "two\n", 4, 0));
    EXPECT_EQ(4, send(fds[1], "six\n", 4, 0));
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 10));
    char b[16];
    EXPECT_EQ(4, cio_stream_read_line(s, b, sizeof b));
    EXPECT_EQ(4, cio_stream_read_line(s, b, sizeof b));
    EXPECT_TRUE(memcmp(b, "two\n", 4) == 0);
    EXPECT_EQ(4, cio_stream_read(s, b, sizeof b));
    EXPECT_TRUE(memcmp(b, "six\n", 4) == 0);
    cio_scope_end(&sc);
    EXPECT_OK(cio_stream_close(s));
    close(fds[1]);
    return 0;
}

TEST(seqpacket_records_in_one_edge)
{
    run_both(seqpacket_main, NULL);
}

/* ---- lines across the read buffer's end ------------------------------------ */

static int writer_task(void *arg, void **res)
{
    (void)res;
    void **a = arg;
    cio_stream *s = a[0];
    const char *data = a[1];
    size_t len = (size_t)(uintptr_t)a[2];
    /* in odd pieces, so the reader sees many partial fills */
    for (size_t off = 0; off < len;) {
        size_t n = len - off < 7777 ? len - off : 7777;
        EXPECT_OK(cio_stream_write(s, data + off, n));
        off += n;
        EXPECT_OK(cio_yield());
    }
    EXPECT_OK(cio_stream_shutdown(s));
    return 0;
}

static int lines_across_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    /* lines of growing lengths, separators "\r\n", up to just under the
     * limit, so that lines straddle the 64 KiB buffer's end and its
     * compaction at every offset the sizes give */
    static char data[1 << 20], line[70000];
    size_t len = 0, nlines = 0;
    size_t sizes[] = {1, 2, 60000, 5534, 5535, 5536, 65534, 3, 65000, 65533, 1000, 2};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (size_t k = 0; k < sizes[i]; k++)
            data[len++] = (char)('a' + (k + i) % 26);
        data[len++] = '\r';
        data[len++] = '\n';
        nlines++;
    }
    cio_stream *a, *b;
    cio_stream_options o = CIO_STREAM_OPTIONS(.limit = 65536);
    st_pair(&a, &b, &o);
    void *args[3] = {b, data, (void *)(uintptr_t)len};
    cio_task *t;
    EXPECT_OK(cio_spawn(writer_task, args, &t));
    size_t off = 0;
    for (size_t i = 0; i < nlines; i++) {
        ssize_t n = cio_stream_read_until(a, "\r\n", 2, line, sizeof line);
        EXPECT_EQ((ssize_t)(sizes[i] + 2), n);
        EXPECT_TRUE(memcmp(line, data + off, (size_t)n) == 0);
        off += (size_t)n;
    }
    EXPECT_EQ(0, cio_stream_read_until(a, "\r\n", 2, line, sizeof line));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_OK(cio_stream_close(a));
    EXPECT_OK(cio_stream_close(b));
    return 0;
}

TEST(lines_across_the_buffer_end)
{
    run_both(lines_across_main, NULL);
}

/* ---- shutdown while another task's sendfile runs ----------------------------- */

struct sf {
    cio_stream *s;
    int fd;
    size_t len;
    ssize_t rc;
    bool started;
};

static int sendfile_task(void *arg, void **res)
{
    (void)res;
    struct sf *x = arg;
    x->started = true;
    x->rc = cio_stream_sendfile(x->s, x->fd, 0, x->len);
    return 0;
}

static int drain_all(void *arg, void **res)
{
    (void)res;
    struct sf *x = arg;
    void *data;
    size_t len;
    EXPECT_OK(cio_stream_read_all(x->s, 64 << 20, &data, &len));
    x->len = len;
    free(data);
    return 0;
}

static int shutdown_during_sendfile_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    char path[] = "/tmp/cio-review-sf-XXXXXX";
    int fd = mkstemp(path);
    EXPECT_TRUE(fd >= 0);
    unlink(path);
    static char chunk[1 << 16];
    size_t total = 0;
    for (int i = 0; i < 64; i++) {
        memset(chunk, 'a' + i % 26, sizeof chunk);
        EXPECT_EQ((ssize_t)sizeof chunk, write(fd, chunk, sizeof chunk));
        total += sizeof chunk;
    }
    cio_stream *a, *b;
    st_pair(&a, &b, NULL);
    struct sf x = {.s = a, .fd = fd, .len = total};
    cio_task *t;
    EXPECT_OK(cio_spawn(sendfile_task, &x, &t));
    WAIT_UNTIL(x.started);
    EXPECT_OK(cio_yield());
    /* the file does not fit the socket: the sendfile waits for the peer */
    struct sf rd = {.s = b};
    cio_task *r;
    EXPECT_OK(cio_spawn(drain_all, &rd, &r));
    /* must wait for the file, then shut down, without spinning */
    EXPECT_OK(cio_stream_shutdown(a));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_EQ((ssize_t)total, x.rc);
    EXPECT_OK(cio_await(r, NULL));
    cio_future_unref(r);
    EXPECT_EQ(total, rd.len);
    EXPECT_OK(cio_stream_close(a));
    EXPECT_OK(cio_stream_close(b));
    close(fd);
    return 0;
}

TEST_T(shutdown_during_sendfile, 30)
{
    run_both(shutdown_during_sendfile_main, NULL);
}

/* ---- two hand-offs inside one data_received ---------------------------------- */

struct seq {
    char log[32];
    const cio_protocol *next; /* data_received hands the connection on to it */
    struct seq *next_ctx;
};

static void seq_log(struct seq *q, char c)
{
    size_t n = strlen(q->log);
    if (n + 1 < sizeof q->log)
        q->log[n] = c;
}

static int seq_made(cio_transport *t, void *arg, void **ctx)
{
    (void)t;
    (void)ctx;
    seq_log(arg, 'M');
    return 0;
}

static void seq_data(cio_transport *t, const void *d, size_t len, void *ctx)
{
    (void)d;
    (void)len;
    struct seq *q = ctx;
    seq_log(q, 'D');
    if (q->next) {
        cio_stream *s;
        cio_transport *t2;
        EXPECT_OK(cio_transport_to_stream(t, &s));
        EXPECT_OK(cio_stream_to_transport(s, q->next, q->next_ctx, &t2));
        q->next = NULL;
    }
}

static bool seq_eof(cio_transport *t, void *ctx)
{
    (void)t;
    seq_log(ctx, 'E');
    return false;
}

static void seq_lost(cio_transport *t, int err, void *ctx)
{
    (void)t;
    (void)err;
    seq_log(ctx, 'L');
}

static const cio_protocol seq_proto = {seq_made, seq_data, seq_eof, seq_lost, NULL, NULL};

static int double_handoff_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_stream *a, *b;
    st_pair(&a, &b, NULL);
    /* More than the read buffer: a peek fills it (the ready bit stays set,
     * the rest waits in the kernel). */
    static char big[70000];
    memset(big, 'x', sizeof big);
    EXPECT_OK(cio_stream_write(b, big, sizeof big));
    EXPECT_OK(cio_stream_flush(b));
    EXPECT_OK(cio_stream_shutdown(b));
    const void *p;
    size_t n;
    EXPECT_OK(cio_stream_peek(a, &p, &n));
    EXPECT_TRUE(n > 0 && n < sizeof big);
    struct seq q2 = {.log = ""}, q1 = {.next = &seq_proto, .next_ctx = &q2};
    cio_transport *t;
    EXPECT_OK(cio_stream_to_transport(a, &seq_proto, &q1, &t));
    WAIT_UNTIL(strchr(q2.log, 'L'));
    EXPECT_STR_EQ("MD", q1.log);
    EXPECT_TRUE(strncmp(q2.log, "MD", 2) == 0);
    EXPECT_TRUE(strchr(q2.log, 'E') && q2.log[strlen(q2.log) - 1] == 'L');
    EXPECT_OK(cio_stream_close(b));
    return 0;
}

TEST(two_handoffs_inside_data_received)
{
    run_both(double_handoff_main, NULL);
}

/* ---- close / abort / hand-off inside pause_writing and resume_writing -------- */

struct fl {
    char when;  /* 'P' pause_writing, 'R' resume_writing */
    char act;   /* 'c' close, 'a' abort, 's' to_stream */
    int pauses, resumes, lost, lost_err;
    cio_stream *s;
};

static int fl_made(cio_transport *t, void *arg, void **ctx)
{
    (void)ctx;
    (void)arg;
    static char big[1 << 20];
    EXPECT_OK(cio_transport_set_water(t, 4096, 1024));
    EXPECT_OK(cio_transport_write(t, big, sizeof big)); /* over the mark */
    return 0;
}

static void fl_data(cio_transport *t, const void *d, size_t len, void *ctx)
{
    (void)t;
    (void)d;
    (void)len;
    (void)ctx;
}

static void fl_act(cio_transport *t, struct fl *f)
{
    if (f->act == 'c')
        EXPECT_OK(cio_transport_close(t));
    else if (f->act == 'a')
        EXPECT_OK(cio_transport_abort(t));
    else
        EXPECT_OK(cio_transport_to_stream(t, &f->s));
}

static void fl_pause(cio_transport *t, void *ctx)
{
    struct fl *f = ctx;
    EXPECT_EQ(0, f->lost);
    f->pauses++;
    if (f->when == 'P')
        fl_act(t, f);
}

static void fl_resume(cio_transport *t, void *ctx)
{
    struct fl *f = ctx;
    EXPECT_EQ(0, f->lost);
    f->resumes++;
    if (f->when == 'R')
        fl_act(t, f);
}

static void fl_lost(cio_transport *t, int err, void *ctx)
{
    (void)t;
    struct fl *f = ctx;
    f->lost++;
    f->lost_err = err;
}

static const cio_protocol fl_proto = {fl_made, fl_data, NULL, fl_lost, fl_pause, fl_resume};

static int flow_cb_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    static const char whens[] = {'P', 'R'}, acts[] = {'c', 'a', 's'};
    for (int w = 0; w < 2; w++) {
        for (int k = 0; k < 3; k++) {
            int fds[2];
            EXPECT_OK(cio_socket_pair(SOCK_STREAM, fds));
            cio_stream *peer;
            EXPECT_OK(cio_stream_new(fds[1], NULL, &peer));
            struct fl f = {.when = whens[w], .act = acts[k]};
            cio_transport *t;
            EXPECT_OK(cio_transport_new(cio_current_loop(), fds[0], NULL, &fl_proto, &f, &t));
            WAIT_UNTIL(f.pauses == 1);
            /* the peer reads everything there is */
            char buf[65536];
            size_t got = 0;
            for (;;) {
                if (f.s && cio_stream_buffered(f.s) == 0 && cio_stream_readable(peer) == 0 &&
                    got == (1u << 20))
                    break;
                if (f.lost && got && cio_stream_readable(peer) == 0 && acts[k] != 's') {
                    /* closed: read to the end */
                    ssize_t r;
                    while ((r = cio_stream_read(peer, buf, sizeof buf)) > 0)
                        got += (size_t)r;
                    break;
                }
                ssize_t r = cio_stream_read(peer, buf, sizeof buf);
                if (r <= 0)
                    break;
                got += (size_t)r;
            }
            for (int i = 0; i < 10; i++)
                EXPECT_OK(cio_yield());
            if (acts[k] == 's') {
                EXPECT_EQ(0, f.lost);
                EXPECT_TRUE(f.s != NULL);
                EXPECT_OK(cio_stream_close(f.s));
            } else {
                EXPECT_EQ(1, f.lost);
                EXPECT_EQ(acts[k] == 'a' ? -ECONNABORTED : 0, f.lost_err);
            }
            EXPECT_EQ(1, f.pauses);
            EXPECT_EQ(whens[w] == 'R' ? 1 : 0, f.resumes);
            if (acts[k] == 'c' || acts[k] == 's')
                EXPECT_EQ((size_t)1 << 20, got);
            EXPECT_OK(cio_stream_close(peer));
        }
    }
    return 0;
}

TEST(close_abort_handoff_in_flow_callbacks)
{
    run_both(flow_cb_main, NULL);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv);
}
