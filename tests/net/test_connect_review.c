/* Review of connect.c (issue 9): the transport form cancelled while its
 * TLS handshake waits on a peer that accepted and never answers, with
 * the caller's TLS configuration freed right after the call (the attempt
 * holds its own reference). No callback is called and every descriptor
 * the attempt made is closed. */
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cio.h>
#include <cio/tls.h>

#include "test.h"

static int made;

static int on_made(cio_transport *t, void *arg, void **ctx)
{
    (void)t, (void)arg, (void)ctx;
    made++;
    return 0;
}

static void on_data(cio_transport *t, const void *d, size_t n, void *ctx)
{
    (void)t, (void)d, (void)n, (void)ctx;
}

static const cio_protocol proto = {.connection_made = on_made, .data_received = on_data};

static int stall_main(void *arg, void **res)
{
    (void)arg, (void)res;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    EXPECT_OK(bind(lfd, (struct sockaddr *)&a, sizeof a));
    EXPECT_OK(listen(lfd, 16));
    EXPECT_OK(getsockname(lfd, (struct sockaddr *)&a, &al));
    int before = test_fd_count();
    for (int round = 0; round < 2; round++) {
        cio_tls_config *cfg = NULL;
        EXPECT_OK(cio_tls_config_new(&(cio_tls_options){.size = sizeof(cio_tls_options),
                                                        .insecure = true},
                                     &cfg));
        cio_future *fut = NULL;
        cio_stream_options so = {.size = sizeof so, .tls = cfg, .server_name = "stall.test"};
        EXPECT_OK(cio_transport_connect_name(cio_current_loop(), round ? "localhost" : "127.0.0.1",
                                             ntohs(a.sin_port), NULL, &so, &proto, NULL, &fut));
        cio_tls_config_free(cfg); /* the attempt keeps its own reference */
        /* The peer sees the ClientHello: the attempt waits in its handshake. */
        int c = -1;
        for (int i = 0; i < 3000; i++) {
            if (c < 0)
                c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            struct pollfd p = {.fd = c, .events = POLLIN};
            if (c >= 0 && poll(&p, 1, 0) == 1)
                break;
            EXPECT_OK(cio_sleep(0.005));
        }
        EXPECT_TRUE(c >= 0);
        EXPECT_OK(cio_future_cancel(fut));
        EXPECT_TRUE(cio_future_is_cancelled(fut));
        /* The attempt ends: its socket closed (bounded wait). */
        for (int i = 0; i < 2000 && test_fd_count() != before + 1; i++)
            EXPECT_OK(cio_sleep(0.005));
        EXPECT_EQ(before + 1, test_fd_count());
        /* The peer sees the end of the connection. */
        struct pollfd p = {.fd = c, .events = POLLIN};
        EXPECT_EQ(1, poll(&p, 1, 30000));
        close(c);
        cio_future_unref(fut);
    }
    for (int i = 0; i < 10; i++)
        EXPECT_OK(cio_yield());
    EXPECT_EQ(0, made);
    close(lfd);
    return 0;
}

TEST(transport_tls_cancel_mid_handshake)
{
    int before = test_fd_baseline();
    EXPECT_OK(cio_run(stall_main, NULL, NULL));
    EXPECT_EQ(before, test_fd_count());
}

int main(int argc, char **argv) { return test_main(argc, argv); }
