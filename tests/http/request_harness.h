/* A server on 127.0.0.1 (port 0) in a thread of its own, for the tests of
 * request data (test_request, test_multipart, test_cookie): the case's
 * thread is the client (blocking sockets, python3). The server thread runs
 * cio_run; it closes the server when told through a pipe. */
#ifndef CIO_TEST_HTTP_REQUEST_HARNESS_H
#define CIO_TEST_HTTP_REQUEST_HARNESS_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "test.h"

struct harness {
    cio_http_app *app;
    cio_http_server_options opts;
    uint16_t port;
    int stop[2], ready[2];
    pthread_t th;
    int fds_before;
};

static int harness_main(void *arg, void **result)
{
    (void)result;
    struct harness *h = arg;
    cio_loop_set_report_handler(cio_current_loop(), test_fail_on_report, NULL);
    cio_addr a;
    EXPECT_OK(cio_addr_ip("127.0.0.1", 0, &a));
    cio_http_server *srv = NULL;
    EXPECT_OK(cio_http_server_new(h->app, &a, &h->opts, &srv));
    cio_addr bound;
    EXPECT_OK(cio_http_server_addr(srv, &bound));
    uint16_t port = cio_addr_port(&bound);
    EXPECT_EQ(sizeof port, write(h->ready[1], &port, sizeof port));
    int ev = 0;
    EXPECT_OK(cio_fd_wait(h->stop[0], CIO_READABLE, &ev));
    EXPECT_OK(cio_http_server_close(srv, 10));
    return 0;
}

static void *harness_thread(void *arg)
{
    int rc = cio_run(harness_main, arg, NULL);
    if (rc != 0)
        FAIL("server thread: cio_run: %s", cio_err_name(rc));
    return NULL;
}

/* Starts serving h->app (made by the caller) with h->opts (zeroed fields:
 * defaults; the body limit lifted). */
static void harness_start(struct harness *h)
{
    h->fds_before = test_fd_baseline();
    if (!h->opts.size)
        h->opts = (cio_http_server_options)CIO_HTTP_SERVER_OPTIONS_INIT;
    if (!h->opts.max_body_size)
        h->opts.max_body_size = UINT64_MAX;
    EXPECT_OK(pipe2(h->stop, O_CLOEXEC));
    EXPECT_OK(pipe2(h->ready, O_CLOEXEC));
    EXPECT_OK(pthread_create(&h->th, NULL, harness_thread, h));
    EXPECT_EQ(sizeof h->port, read(h->ready[0], &h->port, sizeof h->port));
}

static void harness_stop(struct harness *h)
{
    EXPECT_EQ(1, write(h->stop[1], "x", 1));
    EXPECT_OK(pthread_join(h->th, NULL));
    close(h->stop[0]);
    close(h->stop[1]);
    close(h->ready[0]);
    close(h->ready[1]);
    EXPECT_OK(cio_http_app_free(h->app));
    EXPECT_EQ(h->fds_before, test_fd_count());
}

static int harness_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_TRUE(fd >= 0);
    struct timeval tv = {.tv_sec = 60}; /* a bound against hangs only */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_OK(connect(fd, (struct sockaddr *)&sa, sizeof sa));
    return fd;
}

static void send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            FAIL("send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

/* Reads until the server closes; returns the length (NUL-terminated). */
static size_t recv_all(int fd, char *resp, size_t cap)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, resp + got, cap - 1 - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            FAIL("recv: %s", strerror(errno));
        if (n == 0)
            break;
        got += (size_t)n;
        if (got == cap - 1)
            FAIL("response longer than %zu", cap);
    }
    resp[got] = 0;
    return got;
}

/* One request (which should say "Connection: close"), its whole response. */
__attribute__((unused)) static size_t http_exchange(uint16_t port, const char *req, size_t len, char *resp, size_t cap)
{
    int fd = harness_connect(port);
    send_all(fd, req, len);
    size_t n = recv_all(fd, resp, cap);
    close(fd);
    return n;
}

static int http_status(const char *resp)
{
    int st = 0;
    if (sscanf(resp, "HTTP/1.1 %d", &st) != 1)
        FAIL("not a response: %.80s", resp);
    return st;
}

static const char *http_body(const char *resp)
{
    const char *b = strstr(resp, "\r\n\r\n");
    if (!b)
        FAIL("no header end: %.80s", resp);
    return b + 4;
}

/* A request to path with a body of the given type; the response's body. */
__attribute__((unused)) static const char *http_post(struct harness *h, const char *path, const char *type,
                             const char *body, size_t blen, char *resp, size_t cap, int *status)
{
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "POST %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s%s%s"
                     "Content-Length: %zu\r\n\r\n",
                     path, type ? "Content-Type: " : "", type ? type : "", type ? "\r\n" : "",
                     blen);
    int fd = harness_connect(h->port);
    send_all(fd, head, (size_t)n);
    send_all(fd, body, blen);
    recv_all(fd, resp, cap);
    close(fd);
    if (status)
        *status = http_status(resp);
    return http_body(resp);
}

__attribute__((unused)) static const char *http_get(struct harness *h, const char *target, const char *extra, char *resp,
                            size_t cap, int *status)
{
    char req[4096];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s\r\n",
                     target, extra ? extra : "");
    http_exchange(h->port, req, (size_t)n, resp, cap);
    if (status)
        *status = http_status(resp);
    return http_body(resp);
}

#endif
