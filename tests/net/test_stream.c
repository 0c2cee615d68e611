/* cio_stream: reading, writing, lines, limits, half-close, close and abort,
 * over Unix socketpairs, TCP loopback, Unix path sockets and pipes. */
#include <sys/resource.h>
#include <sys/stat.h>

#include "net/conn.h"
#include "net/test_stream_util.h"

/* ---- echo and lines, both ways ------------------------------------------ */

static int echo_lines_server(void *arg, void **res)
{
    (void)res;
    cio_stream *s = arg;
    char line[256];
    for (;;) {
        ssize_t n = cio_stream_read_line(s, line, sizeof line);
        if (n == 0)
            break;
        EXPECT_TRUE(n > 0);
        EXPECT_OK(cio_stream_write(s, line, (size_t)n));
    }
    EXPECT_TRUE(cio_stream_is_eof(s));
    EXPECT_OK(cio_stream_close(s));
    return 0;
}

static void echo_lines(cio_stream *client, cio_stream *server)
{
    cio_task *srv;
    EXPECT_OK(cio_spawn(echo_lines_server, server, &srv));
    char line[64], back[64];
    for (int i = 0; i < 200; i++) {
        int len = snprintf(line, sizeof line, "line %d\n", i);
        EXPECT_OK(cio_stream_write(client, line, (size_t)len));
        EXPECT_EQ(len, cio_stream_read_line(client, back, sizeof back));
        EXPECT_TRUE(memcmp(line, back, (size_t)len) == 0);
    }
    EXPECT_OK(cio_stream_shutdown(client));
    EXPECT_EQ(0, cio_stream_read(client, back, sizeof back));
    EXPECT_TRUE(cio_stream_is_eof(client));
    EXPECT_OK(cio_await(srv, NULL));
    cio_future_unref(srv);
    EXPECT_OK(cio_stream_close(client));
}

static int echo_pair_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_stream *a, *b;
    st_pair(&a, &b, NULL);
    echo_lines(a, b);
    return 0;
}

TEST(echo_lines_socketpair)
{
    st_run(echo_pair_main, NULL);
}

static int echo_tcp_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_stream *a, *b;
    st_tcp_pair(&a, &b, NULL);
    echo_lines(a, b);
    /* and the other way: the accepted side is the client */
    st_tcp_pair(&a, &b, NULL);
    echo_lines(b, a);
    return 0;
}

/* The servers' fast path: an accept4(SOCK_NONBLOCK) socket made a stream
 * or a transport without fstat and fcntl. */
static void accepted_echo(cio_transport *t, const void *d, size_t len, void *ctx)
{
    (void)ctx;
    EXPECT_OK(cio_transport_write(t, d, len));
}

static const cio_protocol accepted_proto = {.data_received = accepted_echo};

static int accepted_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_addr addr;
    int lfd = st_listen_tcp(&addr);
    cio_stream *a, *b;
    EXPECT_OK(cio_stream_connect(&addr, NULL, NULL, &a));
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    EXPECT_TRUE(fd >= 0);
    EXPECT_ERR(-EINVAL, cio__stream_new_accepted(NULL, fd, NULL, &b));
    EXPECT_OK(cio__stream_new_accepted(cio_current_loop(), fd, NULL, &b));
    echo_lines(a, b);
    cio_stream *c;
    EXPECT_OK(cio_stream_connect(&addr, NULL, NULL, &c));
    fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    EXPECT_TRUE(fd >= 0);
    cio_transport *t;
    EXPECT_OK(cio__transport_new_accepted(cio_current_loop(), fd, NULL, &accepted_proto, NULL, &t));
    char back[8];
    EXPECT_OK(cio_stream_write(c, "hey\n", 4));
    EXPECT_EQ(4, cio_stream_read_line(c, back, sizeof back));
    EXPECT_OK(cio_stream_shutdown(c));
    EXPECT_EQ(0, cio_stream_read(c, back, sizeof back)); /* eof_received NULL: closed */
    EXPECT_OK(cio_stream_close(c));
    cio_fd_close(lfd);
    return 0;
}

TEST(accepted_fast_path)
{
    st_run(accepted_main, NULL);
}

TEST(echo_lines_tcp_both_ways)
{
    st_run(echo_tcp_main, NULL);
}

static int echo_unix_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    char dir[] = "/tmp/cio-stream-XXXXXX";
    EXPECT_TRUE(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/sock", dir);
    cio_addr addr;
    EXPECT_OK(cio_addr_unix(path, &addr));
    int lfd = -1;
    EXPECT_OK(cio_socket_listen(&addr, NULL, &lfd));
    cio_stream *a, *b;
    EXPECT_OK(cio_stream_connect(&addr, NULL, NULL, &a));
    int fd = -1;
    EXPECT_OK(cio_socket_accept(lfd, &fd, NULL));
    EXPECT_OK(cio_stream_new(fd, NULL, &b));
    cio_fd_close(lfd);
    unlink(path);
    rmdir(dir);
    echo_lines(a, b);
    return 0;
}

TEST(echo_lines_unix_path)
{
    st_run(echo_unix_main, NULL);
}

/* Bulk echo: 4 MiB in odd-sized writes, read back with read(). */
static int bulk_server(void *arg, void **res)
{
    (void)res;
    cio_stream *s = arg;
    char buf[10000];
    for (;;) {
        ssize_t n = cio_stream_read(s, buf, sizeof buf);
        if (n <= 0) {
            EXPECT_EQ(0, n);
            break;
        }
        EXPECT_OK(cio_stream_write(s, buf, (size_t)n));
    }
    EXPECT_OK(cio_stream_close(s));
    return 0;
}

static int bulk_writer(void *arg, void **res)
{
    (void)res;
    cio_stream *s = arg;
    static char chunk[7777];
    size_t total = 4u << 20, sent = 0;
    while (sent < total) {
        size_t n = total - sent < sizeof chunk ? total - sent : sizeof chunk;
        for (size_t i = 0; i < n; i++)
            chunk[i] = (char)((sent + i) * 31 % 251);
        EXPECT_OK(cio_stream_write(s, chunk, n));
        sent += n;
    }
    EXPECT_OK(cio_stream_shutdown(s));
    return 0;
}

static int bulk_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_stream *a, *b;
    st_tcp_pair(&a, &b, NULL);
    cio_task *srv, *wr;
    EXPECT_OK(cio_spawn(bulk_server, b, &srv));
    EXPECT_OK(cio_spawn(bulk_writer, a, &wr));
    size_t got = 0;
    static char buf[65536];
    for (;;) {
        ssize_t n = cio_stream_read(a, buf, sizeof buf);
        EXPECT_TRUE(n >= 0);
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != (char)((got + (size_t)i) * 31 % 251))
                FAIL("byte %zu differs", got + (size_t)i);
        got += (size_t)n;
    }
    EXPECT_EQ(4u << 20, got);
    EXPECT_OK(cio_await(wr, NULL));
    EXPECT_OK(cio_await(srv, NULL));
    cio_future_unref(wr);
    cio_future_unref(srv);
    EXPECT_EQ(0, cio__conn_rbufs_held);
    EXPECT_OK(cio_stream_close(a));
    return 0;
}

TEST(bulk_echo_tcp)
{
    st_run(bulk_main, NULL);
}

/* ---- read_exactly, read_until, limits, read_all, peek -------------------- */

static int exactly_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_stream *a, *b;
    st_pair(&a, &b, NULL);
    EXPECT_OK(cio_stream_write(a, "hello world", 11));
    char buf[16] = {0};
    EXPECT_EQ(5, cio_stream_read_exactly(b, buf, 5));
    EXPECT_TRUE(memcmp(buf, "hello", 5) == 0);
    EXPECT_EQ(0, cio_stream_read_exactly(b, buf, 0));
    EXPECT_OK(cio_stream_shutdown(a));
    /* 6 bytes left, 10 asked: -ENODATA and the 6 stay buffered */
    EXPECT_ERR(-ENODATA, cio_stream_read_exactly(b, buf, 10));
    EXPECT_EQ(6, cio_stream_readable(b));
    EXPECT_FALSE(cio_stream_is_eof(b));
    EXPECT_EQ(6, cio_stream_read(b, buf, sizeof buf));
    EXPECT_TRUE(memcmp(buf, " world", 6) == 0);
    EXPECT_TRUE(cio_stream_is_eof(b));
    EXPECT_EQ(0, cio_stream_read(b, buf, sizeof buf));
    EXPECT_OK(cio_stream_close(a));
    EXPECT_OK(cio_stream_close(b));
    return 0;
}

TEST(read_exactly_and_enodata)
{
    st_run(exactly_main, NULL);
}

/* A large read_exactly (direct into the caller's buffer) that times out
 * consumes nothing. */
static int exactly_timeout_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_stream *a, *b;
    st_pair(&a, &b, NULL);
    static char big[100000], in[100000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i % 253);
    EXPECT_OK(cio_stream_write(a, big, 70000));
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 0.05));
    EXPECT_ERR(-ETIMEDOUT, cio_stream_read_exactly(b, in, sizeof in));
    cio_scope_end(&sc);
    EXPECT_EQ(70000, cio_stream_readable(b));
    EXPECT_OK(cio_stream_write(a, big + 70000, 30000));
    EXPECT_EQ((ssize_t)sizeof in, cio_stream_read_exactly(b, in, sizeof in));
    EXPECT_TRUE(memcmp(big, in, sizeof in) == 0);
    EXPECT_EQ(0, cio__conn_rbufs_held);
    EXPECT_OK(cio_stream_close(a));
    EXPECT_OK(cio_stream_close(b));
    return 0;
}

TEST(read_exactly_timeout_consumes_nothing)
{
    st_run(exactly_timeout_main, NULL);
}

static int until_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_stream *a, *b;
    cio_stream_options o = CIO_STREAM_OPTIONS_INIT;
    o.limit = 32;
    st_pair(&a, &b, &o);
    char buf[128];
    EXPECT_OK(cio_stream_write(a, "key: value\r\n\r\nbody", 18));
    EXPECT_EQ(12, cio_stream_read_until(b, "\r\n", 2, buf, sizeof buf));
    EXPECT_TRUE(memcmp(buf, "key: value\r\n", 12) == 0);
    EXPECT_EQ(2, cio_stream_read_until(b, "\r\n", 2, buf, sizeof buf));
    EXPECT_EQ(4, cio_stream_read_exactly(b, buf, 4));
    /* a separator split across two arrivals */
    EXPECT_OK(cio_stream_write(a, "abc\r", 4));
    cio_yield();
    EXPECT_OK(cio_stream_write(a, "\n", 1));
    EXPECT_EQ(5, cio_stream_read_until(b, "\r\n", 2, buf, sizeof buf));
    /* over the limit: -EMSGSIZE, the bytes stay */
    char longline[40];
    memset(longline, 'x', sizeof longline);
    EXPECT_OK(cio_stream_write(a, longline, sizeof longline));
    EXPECT_ERR(-EMSGSIZE, cio_stream_read_line(b, buf, sizeof buf));
    EXPECT_TRUE(cio_stream_readable(b) >= 32);
    EXPECT_TRUE(cio_stream_readable(b) <= 40);
    /* the caller's buffer is a limit too */
    char small[4];
    EXPECT_ERR(-EMSGSIZE, cio_stream_read_line(b, small, sizeof small));
    EXPECT_EQ(40, cio_stream_read_exactly(b, buf, 40));
    EXPECT_OK(cio_stream_write(a, "ab\ncd", 5));
    EXPECT_ERR(-EMSGSIZE, cio_stream_read_line(b, buf, 2));
    EXPECT_EQ(3, cio_stream_read_line(b, buf, 3));
    /* the end without a separator: -ENODATA, the tail stays; then 0 */
    EXPECT_OK(cio_stream_shutdown(a));
    EXPECT_ERR(-ENODATA, cio_stream_read_line(b, buf, sizeof buf));
    EXPECT_EQ(2, cio_stream_readable(b));
    EXPECT_EQ(2, cio_stream_read(b, buf, sizeof buf));
    EXPECT_EQ(0, cio_stream_read_line(b, buf, sizeof buf));
    EXPECT_ERR(-EINVAL, cio_stream_read_until(b, "", 0, buf, sizeof buf));
    EXPECT_ERR(-EINVAL, cio_stream_read_until(b, "x", 1, NULL, 4));
    EXPECT_OK(cio_stream_close(a));
    EXPECT_OK(cio_stream_close(b));
    return 0;
}

TEST(read_until_and_limit)
{
    st_run(until_main, NULL);
}

/* A limit above the pool buffer's size grows the buffer up to the limit,
 * never further. */
static int big_limit_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_stream *a, *b;
    cio_stream_options o = CIO_STREAM_OPTIONS(.limit = 200000);
    st_pair(&a, &b, &o);
    static char data[300001];
    memset(data, 'y', sizeof data);
    data[150000] = '\n';
    EXPECT_OK(cio_stream_set_water(a, 1 << 20, 0)); /* no reader yet: do not wait */
    EXPECT_OK(cio_stream_write(a, data, sizeof data));
    static char line[300001];
    EXPECT_EQ(150001, cio_stream_read_line(b, line, sizeof line));
    /* 150,000 bytes left without a separator: more come, and past the
     * limit the read gives up with the bytes buffered */
    EXPECT_OK(cio_stream_write(a, data, 60000));
    EXPECT_ERR(-EMSGSIZE, cio_stream_read_line(b, line, sizeof line));
    EXPECT_TRUE(cio_stream_readable(b) >= 200000);
    EXPECT_TRUE(cio_stream_readable(b) <= 210000);
    EXPECT_EQ(210000, cio_stream_read_exactly(b, line, 210000));
    EXPECT_OK(cio_stream_close(a));
    EXPECT_OK(cio_stream_close(b));
    return 0;
}

TEST(read_line_limit_above_buffer)
{
    st_run(big_limit_main, NULL);
}

static int read_all_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_stream *a, *b;
    st_pair(&a, &b, NULL);
    static char data[200000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i % 101);
    EXPECT_OK(cio_stream_write(a, data, sizeof data));
    EXPECT_OK(cio_stream_shutdown(a));
    void *all;
    size_t len;
    EXPECT_ERR(-EMSGSIZE, cio_stream_read_all(b, 1000, &all, &len));
    EXPECT_TRUE(all == NULL);
    EXPECT_TRUE(cio_stream_readable(b) > 1000);
    EXPECT_OK(cio_stream_read_all(b, sizeof data, &all, &len));
    EXPECT_EQ(sizeof data, len);
    EXPECT_TRUE(memcmp(all, data, len) == 0);
    EXPECT_EQ(0, ((char *)all)[len]);
    free(all);
    EXPECT_OK(cio_stream_read_all(b, 10, &all, &len));
    EXPECT_EQ(0, len);
    free(all);
    EXPECT_OK(cio_stream_close(a));
    EXPECT_OK(cio_stream_close(b));
    return 0;
}

TEST(read_all_and_max)
{
    st_run(read_all_main, NULL);
}

static int peek_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_stream *a, *b;
    st_pair(&a, &b, NULL);
    const void *p;
    size_t len;
    EXPECT_OK(cio_stream_write(a, "GET /", 5));
    EXPECT_OK(cio_stream_peek(b, &p, &len));
    EXPECT_EQ(5, len);
    EXPECT_TRUE(memcmp(p, "GET /", 5) == 0);
    EXPECT_OK(cio_stream_consume(b, 4));
    EXPECT_EQ(1, cio_stream_readable(b));
    /* peek again with nothing consumed waits for more */
    EXPECT_OK(cio_stream_peek(b, &p, &len));
    EXPECT_EQ(1, len);
    EXPECT_OK(cio_stream_write(a, "x HTTP", 6));
    EXPECT_OK(cio_stream_peek(b, &p, &len));
    EXPECT_EQ(7, len);
    EXPECT_TRUE(memcmp(p, "/x HTTP", 7) == 0);
    EXPECT_ERR(-EINVAL, cio_stream_consume(b, 8));
    EXPECT_OK(cio_stream_consume(b, 7));
    EXPECT_EQ(0, cio_stream_readable(b));
    EXPECT_EQ(0, cio__conn_rbufs_held);
    EXPECT_OK(cio_stream_shutdown(a));
    EXPECT_OK(cio_stream_peek(b, &p, &len));
    EXPECT_EQ(0, len);
    EXPECT_OK(cio_stream_close(a));
    EXPECT_OK(cio_stream_close(b));
    return 0;
}

TEST(peek_and_consume)
{
    st_run(peek_main, NULL);
}

/* ---- half-close, reset, close, abort -------------------------------------- */

static int half_server(void *arg, void **res)
{
    (void)res;
    cio_stream *s = arg;
    void *all;
    size_t len;
    EXPECT_OK(cio_stream_read_all(s, 1 << 20, &all, &len));
    char reply[64];
    int n = snprintf(reply, sizeof reply, "got %zu", len);
    free(all);
    EXPECT_OK(cio_stream_write(s, reply, (size_t)n));
    EXPECT_OK(cio_stream_close(s));
    return 0;
}

static int half_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_stream *a, *b;
    st_tcp_pair(&a, &b, NULL);
    cio_task *srv;
    EXPECT_OK(cio_spawn(half_server, b, &srv));
    EXPECT_OK(cio_stream_write(a, "twelve bytes", 12));
    EXPECT_OK(cio_stream_shutdown(a));
    EXPECT_OK(cio_stream_shutdown(a)); /* again: nothing to do */
    EXPECT_ERR(-EPIPE, cio_stream_write(a, "x", 1));
    void *all;
    size_t len;
    EXPECT_OK(cio_stream_read_all(a, 100, &all, &len));
    EXPECT_STR_EQ("got 12", (char *)all);
    free(all);
    EXPECT_OK(cio_await(srv, NULL));
    cio_future_unref(srv);
    EXPECT_OK(cio_stream_close(a));
    return 0;
}

TEST(half_close_tcp)
{
    st_run(half_main, NULL);
}

static int reset_reader(void *arg, void **res)
{
    (void)res;
    cio_stream *s = arg;
    char buf[1000];
    EXPECT_EQ(1000, cio_stream_read_exactly(s, buf, sizeof buf));
    EXPECT_OK(cio_stream_abort(s)); /* unread data: the kernel resets too */
    return 0;
}

static int reset_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_stream *a, *b;
    st_tcp_pair(&a, &b, NULL);
    cio_task *rd;
    EXPECT_OK(cio_spawn(reset_reader, b, &rd));
    static char chunk[65536];
    int rc = 0;
    for (int i = 0; i < 10000 && rc == 0; i++)
        rc = cio_stream_write(a, chunk, sizeof chunk);
    EXPECT_TRUE(rc == -ECONNRESET || rc == -EPIPE);
    /* sticky */
    EXPECT_ERR(rc, cio_stream_write(a, "x", 1));
    EXPECT_ERR(rc, cio_stream_drain(a));
    EXPECT_ERR(rc, cio_stream_flush(a));
    EXPECT_EQ(0, cio_stream_buffered(a));
    char buf[10];
    ssize_t r = cio_stream_read(a, buf, sizeof buf);
    EXPECT_TRUE(r == -ECONNRESET || r == 0);
    EXPECT_OK(cio_await(rd, NULL));
    cio_future_unref(rd);
    EXPECT_ERR(rc, cio_stream_close(a));
    return 0;
}

TEST(peer_resets_mid_write)
{
    st_run(reset_main, NULL);
}

static int abort_reader(void *arg, void **res)
{
    (void)res;
    cio_stream *s = arg;
    char buf[10];
    EXPECT_ERR(-ECONNABORTED, cio_stream_read(s, buf, sizeof buf));
    return 0;
}

static int abort_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_stream *a, *b;
    st_pair(&a, &b, NULL);
    cio_task *rd;
    EXPECT_OK(cio_spawn(abort_reader, b, &rd));
    cio_yield();
    cio_yield();
    EXPECT_OK(cio_stream_abort(b)); /* the reader is inside: it gets -ECONNABORTED */
    EXPECT_OK(cio_await(rd, NULL));
    cio_future_unref(rd);
    char buf[4];
    EXPECT_EQ(0, cio_stream_read(a, buf, sizeof buf));
    EXPECT_OK(cio_stream_close(a));
    return 0;
}

TEST(abort_wakes_reader)
{
    st_run(abort_main, NULL);
}

static int close_timeout_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_stream *a, *b;
    st_tcp_pair(&a, &b, NULL);
    static char chunk[1 << 20];
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 0.1));
    int rc = 0;
    for (int i = 0; i < 64 && rc == 0; i++)
        rc = cio_stream_write(a, chunk, sizeof chunk);
    EXPECT_ERR(-ETIMEDOUT, rc);
    EXPECT_TRUE(cio_stream_buffered(a) > 0);
    /* still expired: the flush gives up, the connection is reset */
    EXPECT_ERR(-ETIMEDOUT, cio_stream_close(a));
    cio_scope_end(&sc);
    char buf[65536];
    ssize_t r;
    while ((r = cio_stream_read(b, buf, sizeof buf)) > 0)
        ;
    EXPECT_ERR(-ECONNRESET, r);
    EXPECT_OK(cio_stream_close(b));
    return 0;
}

TEST(close_flush_deadline_resets)
{
    st_run(close_timeout_main, NULL);
}

static int read_all_task(void *arg, void **res)
{
    void *all;
    size_t len;
    EXPECT_OK(cio_stream_read_all(arg, 4 << 20, &all, &len));
    EXPECT_OK(cio_stream_close(arg));
    free(all);
    *res = (void *)(uintptr_t)len;
    return 0;
}

static int close_flush_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_stream *a, *b;
    st_pair(&a, &b, NULL);
    static char data[1 << 20];
    memset(data, 'z', sizeof data);
    /* high water above the size: the write returns with bytes buffered */
    EXPECT_OK(cio_stream_set_water(a, 2 << 20, 0));
    EXPECT_OK(cio_stream_write(a, data, sizeof data));
    EXPECT_TRUE(cio_stream_buffered(a) > 0);
    cio_task *t;
    EXPECT_OK(cio_spawn(read_all_task, b, &t));
    EXPECT_OK(cio_stream_close(a)); /* flushes, then closes */
    void *len;
    EXPECT_OK(cio_await(t, &len));
    EXPECT_EQ(sizeof data, (uintptr_t)len);
    cio_future_unref(t);
    return 0;
}

TEST(close_flushes)
{
    st_run(close_flush_main, NULL);
}

/* ---- pipes ------------------------------------------------------------------ */

static int pipe_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    int p[2];
    EXPECT_EQ(0, pipe2(p, O_CLOEXEC));
    cio_stream *r, *w;
    EXPECT_OK(cio_stream_new(p[0], NULL, &r));
    EXPECT_OK(cio_stream_new(p[1], NULL, &w));
    static char data[300000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i % 7);
    EXPECT_OK(cio_stream_set_water(w, 1 << 20, 0));
    EXPECT_OK(cio_stream_write(w, data, sizeof data));
    EXPECT_OK(cio_stream_write(w, "end\n", 4));
    static char in[300000];
    EXPECT_EQ((ssize_t)sizeof in, cio_stream_read_exactly(r, in, sizeof in));
    EXPECT_TRUE(memcmp(in, data, sizeof in) == 0);
    EXPECT_OK(cio_stream_shutdown(w));
    EXPECT_EQ(-1, cio_stream_fd(w));
    char line[16];
    EXPECT_EQ(4, cio_stream_read_line(r, line, sizeof line));
    EXPECT_EQ(0, cio_stream_read(r, line, sizeof line));
    EXPECT_OK(cio_stream_close(w));
    EXPECT_OK(cio_stream_close(r));
    return 0;
}

TEST(pipe_stream)
{
    st_run(pipe_main, NULL);
}

/* ---- arguments and states ------------------------------------------------- */

static int busy_reader(void *arg, void **res)
{
    (void)res;
    char buf[4];
    EXPECT_EQ(1, cio_stream_read(arg, buf, sizeof buf));
    return 0;
}

static int args_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    cio_stream *a, *b;
    st_pair(&a, &b, NULL);
    char buf[4];
    cio_task *t;
    EXPECT_OK(cio_spawn(busy_reader, b, &t));
    cio_yield();
    EXPECT_ERR(-EBUSY, cio_stream_read(b, buf, sizeof buf));
    EXPECT_ERR(-EBUSY, cio_stream_read_line(b, buf, sizeof buf));
    const void *p;
    size_t len;
    EXPECT_ERR(-EBUSY, cio_stream_peek(b, &p, &len));
    EXPECT_OK(cio_stream_write(a, "x", 1));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_ERR(-EINVAL, cio_stream_read(NULL, buf, 1));
    EXPECT_ERR(-EINVAL, cio_stream_read(b, NULL, 1));
    EXPECT_ERR(-EINVAL, cio_stream_read(b, buf, 0));
    EXPECT_ERR(-EINVAL, cio_stream_read_exactly(NULL, buf, 1));
    EXPECT_ERR(-EINVAL, cio_stream_write(NULL, "x", 1));
    EXPECT_ERR(-EINVAL, cio_stream_write(a, NULL, 1));
    EXPECT_ERR(-EINVAL, cio_stream_writev(a, NULL, 1));
    EXPECT_ERR(-EINVAL, cio_stream_writev(a, NULL, -1));
    EXPECT_ERR(-EINVAL, cio_stream_drain(NULL));
    EXPECT_ERR(-EINVAL, cio_stream_flush(NULL));
    EXPECT_ERR(-EINVAL, cio_stream_shutdown(NULL));
    EXPECT_ERR(-EINVAL, cio_stream_close(NULL));
    EXPECT_ERR(-EINVAL, cio_stream_abort(NULL));
    EXPECT_ERR(-EINVAL, cio_stream_sendfile(NULL, 0, 0, 1));
    EXPECT_ERR(-EINVAL, cio_stream_sendfile(a, -1, 0, 1));
    EXPECT_ERR(-EINVAL, cio_stream_read_all(NULL, 1, (void **)&p, &len));
    EXPECT_ERR(-EINVAL, cio_stream_peek(NULL, &p, &len));
    EXPECT_ERR(-EINVAL, cio_stream_consume(NULL, 0));
    EXPECT_ERR(-EINVAL, cio_stream_set_water(a, 1, 2));
    EXPECT_ERR(-EINVAL, cio_stream_set_water(NULL, 2, 1));
    EXPECT_EQ(-1, cio_stream_fd(NULL));
    EXPECT_EQ(0, cio_stream_buffered(NULL));
    EXPECT_EQ(0, cio_stream_readable(NULL));
    EXPECT_FALSE(cio_stream_is_eof(NULL));
    EXPECT_TRUE(cio_stream_fd(a) >= 0);
    cio_stream *x;
    EXPECT_ERR(-EINVAL, cio_stream_new(-1, NULL, &x));
    EXPECT_ERR(-EINVAL, cio_stream_new(0, NULL, NULL));
    cio_stream_options bad = CIO_STREAM_OPTIONS(.high_water = 10, .low_water = 20);
    EXPECT_ERR(-EINVAL, cio_stream_new(cio_stream_fd(a), &bad, &x));
    cio_stream_options zero = {0};
    EXPECT_ERR(-EINVAL, cio_stream_new(cio_stream_fd(a), &zero, &x));
    /* a regular file is not a stream */
    int f = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    EXPECT_ERR(-EINVAL, cio_stream_new(f, NULL, &x));
    close(f);
    cio_addr addr;
    EXPECT_ERR(-EINVAL, cio_stream_connect(NULL, NULL, NULL, &x));
    EXPECT_ERR(-EINVAL, cio_stream_connect(&addr, NULL, NULL, NULL));
    EXPECT_OK(cio_stream_close(a));
    EXPECT_OK(cio_stream_close(b));
    return 0;
}

TEST(arguments)
{
    st_run(args_main, NULL);
}

/* Outside a task: the suspending calls say -EPERM and change nothing. */
static void outside_cb(void *arg)
{
    int *fds = arg;
    cio_stream *a, *b;
    EXPECT_OK(cio_stream_new(fds[0], NULL, &a));
    EXPECT_OK(cio_stream_new(fds[1], NULL, &b));
    char buf[4];
    const void *p;
    size_t len;
    EXPECT_ERR(-EPERM, cio_stream_read(a, buf, 1));
    EXPECT_ERR(-EPERM, cio_stream_read_exactly(a, buf, 1));
    EXPECT_ERR(-EPERM, cio_stream_read_line(a, buf, 4));
    EXPECT_ERR(-EPERM, cio_stream_peek(a, &p, &len));
    EXPECT_ERR(-EPERM, cio_stream_write(a, "x", 1));
    EXPECT_ERR(-EPERM, cio_stream_drain(a));
    EXPECT_ERR(-EPERM, cio_stream_flush(a));
    EXPECT_ERR(-EPERM, cio_stream_shutdown(a));
    EXPECT_ERR(-EPERM, cio_stream_sendfile(a, 0, 0, 1));
    /* nothing buffered: closing needs no task */
    EXPECT_OK(cio_stream_close(a));
    EXPECT_OK(cio_stream_abort(b));
    fds[2] = 1;
}

TEST(outside_a_task)
{
    int before = st_fd_count();
    cio_loop *loop = test_strict_loop_new();
    int fds[3] = {-1, -1, 0};
    EXPECT_OK(cio_socket_pair(SOCK_STREAM, fds));
    cio_stream *x;
    EXPECT_ERR(-EPERM, cio_stream_new(fds[0], NULL, &x)); /* no current loop */
    EXPECT_OK(cio_call_soon(loop, outside_cb, fds));
    test_run_until(loop, &fds[2], 100);
    CLOSE_LOOP(loop);
    EXPECT_EQ(before, st_fd_count());
}

/* ---- idle streams hold no read buffer ---------------------------------- */

#define IDLE_N 10000

static int idle_waiter(void *arg, void **res)
{
    (void)res;
    char buf[16];
    ssize_t n = cio_stream_read(arg, buf, 1);
    return n == 1 ? 0 : -EIO;
}

static int idle_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    struct rlimit rl;
    EXPECT_EQ(0, getrlimit(RLIMIT_NOFILE, &rl));
    if (rl.rlim_max < IDLE_N + 200) {
        fprintf(stderr, "skipped: RLIMIT_NOFILE hard limit %lu\n", (unsigned long)rl.rlim_max);
        return 0;
    }
    rlim_t old = rl.rlim_cur;
    rl.rlim_cur = IDLE_N + 200;
    EXPECT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
    cio_stream **s = calloc(IDLE_N, sizeof *s);
    size_t rss0 = st_rss();
    for (int i = 0; i < IDLE_N; i += 2)
        st_pair(&s[i], &s[i + 1], NULL);
    size_t rss1 = st_rss();
    /* a byte each way through every pair: each took a buffer (or read
     * directly) and gave it back */
    char c;
    for (int i = 0; i < IDLE_N; i += 2) {
        EXPECT_OK(cio_stream_write(s[i], "p", 1));
        EXPECT_EQ(1, cio_stream_read(s[i + 1], &c, 1));
    }
    EXPECT_EQ(0, cio__conn_rbufs_held);
    /* readers waiting on 1,000 streams hold no buffer either */
    cio_task *t[1000];
    cio_task_options to = CIO_TASK_OPTIONS_INIT;
    to.stack_size = 16384;
    for (int i = 0; i < 1000; i++)
        EXPECT_OK(cio_spawn_with(&to, idle_waiter, s[2 * i + 1], &t[i]));
    for (int i = 0; i < 3; i++)
        cio_yield();
    EXPECT_EQ(0, cio__conn_rbufs_held);
    struct cio__net *net = cio__net_get(cio_current_loop());
    EXPECT_TRUE(net->buf_nfree <= CIO__BUF_POOL_MAX);
    for (int i = 0; i < 1000; i++) {
        EXPECT_OK(cio_stream_write(s[2 * i], "q", 1));
        EXPECT_OK(cio_await(t[i], NULL));
        cio_future_unref(t[i]);
    }
    EXPECT_EQ(0, cio__conn_rbufs_held);
    /* RSS per idle stream: an upper bound (the page granularity and the
     * allocator make it noisy), generous against the ~256-byte struct */
    size_t per = rss1 > rss0 ? (rss1 - rss0) / IDLE_N : 0;
    fprintf(stderr, "idle stream: sizeof %zu, RSS growth %zu B per stream\n",
            sizeof(struct cio__conn), per);
    EXPECT_TRUE(per <= 2048);
    for (int i = 0; i < IDLE_N; i++)
        EXPECT_OK(cio_stream_close(s[i]));
    free(s);
    rl.rlim_cur = old;
    setrlimit(RLIMIT_NOFILE, &rl);
    return 0;
}

TEST(idle_streams_hold_no_buffer)
{
    st_run(idle_main, NULL);
}

/* ---- sendfile ------------------------------------------------------------ */

struct sf_reader {
    cio_stream *s;
    size_t len;
    char *got;
};

static int sf_read(void *arg, void **res)
{
    (void)res;
    struct sf_reader *r = arg;
    EXPECT_EQ((ssize_t)r->len, cio_stream_read_exactly(r->s, r->got, r->len));
    return 0;
}

static int sendfile_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    char path[] = "/tmp/cio-sendfile-XXXXXX";
    int f = mkstemp(path);
    EXPECT_TRUE(f >= 0);
    unlink(path);
    size_t size = 8u << 20; /* far more than a socket buffer */
    char *data = malloc(size);
    for (size_t i = 0; i < size; i++)
        data[i] = (char)(i * 7 % 255);
    EXPECT_EQ((ssize_t)size, write(f, data, size));
    cio_stream *a, *b;
    st_tcp_pair(&a, &b, NULL);
    struct sf_reader r = {b, 4 + size + 10 + 4, malloc(4 + size + 10 + 4)};
    cio_task *t;
    EXPECT_OK(cio_spawn(sf_read, &r, &t));
    EXPECT_OK(cio_stream_set_water(a, 1 << 20, 0));
    EXPECT_OK(cio_stream_write(a, "head", 4));
    EXPECT_EQ((ssize_t)size, cio_stream_sendfile(a, f, 0, size));
    /* past the end of the file: what there is */
    EXPECT_EQ(10, cio_stream_sendfile(a, f, (off_t)size - 10, 100));
    EXPECT_OK(cio_stream_write(a, "tail", 4));
    EXPECT_OK(cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_TRUE(memcmp(r.got, "head", 4) == 0);
    EXPECT_TRUE(memcmp(r.got + 4, data, size) == 0);
    EXPECT_TRUE(memcmp(r.got + 4 + size, data + size - 10, 10) == 0);
    EXPECT_TRUE(memcmp(r.got + 4 + size + 10, "tail", 4) == 0);
    /* a source sendfile(2) refuses (a pipe): the read-and-write fallback */
    int p[2];
    EXPECT_EQ(0, pipe2(p, O_CLOEXEC));
    EXPECT_ERR(-ESPIPE, cio_stream_sendfile(a, p[0], 0, 10));
    close(p[0]);
    close(p[1]);
    free(r.got);
    free(data);
    close(f);
    EXPECT_OK(cio_stream_close(a));
    EXPECT_OK(cio_stream_close(b));
    return 0;
}

TEST(sendfile_large_file)
{
    st_run(sendfile_main, NULL);
}

/* The same scenarios on the level-triggered poll backend (each case runs
 * in a process of its own, so the variable stays in it). */
TEST(poll_backend)
{
    setenv("CIO_BACKEND", "poll", 1);
    st_run(echo_tcp_main, NULL);
    st_run(bulk_main, NULL);
    st_run(half_main, NULL);
    st_run(exactly_timeout_main, NULL);
    st_run(sendfile_main, NULL);
    st_run(reset_main, NULL);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv);
}
