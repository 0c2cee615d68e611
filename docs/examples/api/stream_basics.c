/* cio_stream: the reading and writing calls over a Unix socketpair, one task
 * on each end. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cio.h>
#include <cio/net.h>

static int fail(const char *what, long rc)
{
    fprintf(stderr, "%s: %ld\n", what, rc);
    exit(1);
}
#define CHECK(call)                                                                               \
    do {                                                                                          \
        long rc_ = (long)(call);                                                                  \
        if (rc_ < 0)                                                                              \
            fail(#call, rc_);                                                                     \
    } while (0)

/* The peer: answers a header block, a length-prefixed body and a tail. */
static int peer(void *arg, void **result)
{
    (void)result;
    cio_stream *s = arg;
    char line[128];
    ssize_t n;
    /* header lines up to an empty one */
    while ((n = cio_stream_read_line(s, line, sizeof line)) > 1)
        printf("peer: header %.*s", (int)n, line);
    CHECK(n);
    char len[4];
    CHECK(cio_stream_read_exactly(s, len, sizeof len));
    char body[64];
    CHECK(cio_stream_read_until(s, "\r\n", 2, body, sizeof body));
    const void *p;
    size_t have;
    CHECK(cio_stream_peek(s, &p, &have)); /* zero-copy look at what came */
    CHECK(cio_stream_consume(s, have));
    printf("peer: %zu more bytes, %zu still readable\n", have, cio_stream_readable(s));
    struct iovec v[2] = {{"ok ", 3}, {"done\n", 5}};
    CHECK(cio_stream_writev(s, v, 2));
    CHECK(cio_stream_flush(s));
    void *rest;
    size_t rest_len;
    CHECK(cio_stream_read_all(s, 1024, &rest, &rest_len)); /* to the end */
    printf("peer: at the end, %zu bytes, eof %d\n", rest_len, cio_stream_is_eof(s));
    free(rest);
    return cio_stream_close(s);
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    int fds[2];
    CHECK(cio_socket_pair(SOCK_STREAM, fds));
    cio_stream_options o = CIO_STREAM_OPTIONS(.high_water = 256 * 1024, .limit = 4096);
    cio_stream *a, *b;
    CHECK(cio_stream_new(fds[0], &o, &a));
    CHECK(cio_stream_new(fds[1], &o, &b));
    printf("stream has a descriptor: %s\n", cio_stream_fd(a) >= 0 ? "yes" : "no");
    cio_task *t;
    CHECK(cio_spawn(peer, b, &t));
    const char req[] = "Host: example\nAccept: */*\n\n";
    CHECK(cio_stream_write(a, req, strlen(req)));
    CHECK(cio_stream_write(a, "0005hello\r\nextra", 16));
    CHECK(cio_stream_drain(a)); /* at or below the low-water mark */
    printf("buffered after drain: %zu\n", cio_stream_buffered(a));
    char reply[32];
    ssize_t n = cio_stream_read(a, reply, sizeof reply);
    CHECK(n);
    printf("reply: %.*s", (int)n, reply);
    CHECK(cio_stream_set_water(a, 0, 0)); /* back to the defaults */
    CHECK(cio_stream_shutdown(a));         /* half-close: the peer reads to the end */
    CHECK(cio_await(t, NULL));
    cio_future_unref(t);
    CHECK(cio_stream_read(a, reply, sizeof reply)); /* 0: the peer closed */
    return cio_stream_close(a);
}

int main(void)
{
    return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1;
}
