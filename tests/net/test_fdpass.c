/* Passing descriptors over Unix sockets (cio_socket_send_fds /
 * cio_socket_recv_fds): a pipe's write end passed and written through,
 * many at once, more than the receiver has room for (-EMSGSIZE, the excess
 * closed: the descriptor count says none leaked), close-on-exec, stream,
 * datagram and seqpacket pairs, a receiver that waits for the message, a
 * sender that waits for room, and every argument check. */
#include "net/test_udp.h"

/* The sockets these calls waited on are registered with the loop: they
 * leave through cio_fd_close. */
static void close_pair(int sv[2])
{
    EXPECT_OK(cio_fd_close(sv[0]));
    EXPECT_OK(cio_fd_close(sv[1]));
}

static int pipe_main(void *arg, void **result)
{
    int type = (int)(intptr_t)arg;
    int sv[2], p[2];
    EXPECT_OK(cio_socket_pair(type, sv));
    EXPECT_OK(pipe2(p, O_CLOEXEC));
    EXPECT_EQ(3, cio_socket_send_fds(sv[0], "fd!", 3, &p[1], 1));
    /* the sender keeps its descriptor */
    EXPECT_OK(close(p[1]));
    char buf[8];
    int fds[4] = {-1, -1, -1, -1};
    size_t n = 4;
    EXPECT_EQ(3, cio_socket_recv_fds(sv[1], buf, sizeof buf, fds, &n));
    EXPECT_EQ(1, n);
    EXPECT_TRUE(memcmp(buf, "fd!", 3) == 0);
    EXPECT_TRUE(fds[0] >= 0);
    EXPECT_EQ(-1, fds[1]);
    EXPECT_TRUE(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
    /* write through the received end, read from the pipe */
    EXPECT_EQ(5, write(fds[0], "hello", 5));
    EXPECT_OK(close(fds[0]));
    EXPECT_EQ(5, read(p[0], buf, sizeof buf));
    EXPECT_TRUE(memcmp(buf, "hello", 5) == 0);
    EXPECT_EQ(0, read(p[0], buf, sizeof buf)); /* no write end left anywhere */
    EXPECT_OK(close(p[0]));

    /* a message without descriptors */
    EXPECT_EQ(2, cio_socket_send_fds(sv[1], "no", 2, NULL, 0));
    n = 4;
    EXPECT_EQ(2, cio_socket_recv_fds(sv[0], buf, sizeof buf, fds, &n));
    EXPECT_EQ(0, n);
    close_pair(sv);
    return 0;
}

TEST(fdpass_pipe_write_end_stream) { udp_run(pipe_main, (void *)(intptr_t)SOCK_STREAM); }
TEST(fdpass_pipe_write_end_dgram) { udp_run(pipe_main, (void *)(intptr_t)SOCK_DGRAM); }
TEST(fdpass_pipe_write_end_seqpacket) { udp_run(pipe_main, (void *)(intptr_t)SOCK_SEQPACKET); }

static int many_main(void *arg, void **result)
{
    int sv[2], p[2];
    EXPECT_OK(cio_socket_pair(SOCK_STREAM, sv));
    EXPECT_OK(pipe2(p, O_CLOEXEC));
    enum { N = CIO_SOCKET_MAX_FDS };
    static int out[N], in[N];
    for (int i = 0; i < N; i++) {
        out[i] = dup(p[1]);
        EXPECT_TRUE(out[i] >= 0);
    }
    EXPECT_EQ(4, cio_socket_send_fds(sv[0], "many", 4, out, N));
    for (int i = 0; i < N; i++)
        EXPECT_OK(close(out[i]));
    char buf[8];
    size_t n = N;
    EXPECT_EQ(4, cio_socket_recv_fds(sv[1], buf, sizeof buf, in, &n));
    EXPECT_EQ(N, n);
    /* each one is a working write end, in the order sent */
    for (int i = 0; i < N; i++) {
        char c = (char)i;
        EXPECT_EQ(1, write(in[i], &c, 1));
        EXPECT_OK(close(in[i]));
    }
    EXPECT_OK(close(p[1]));
    for (int i = 0; i < N; i++) {
        char c;
        EXPECT_EQ(1, read(p[0], &c, 1));
        EXPECT_EQ((char)i, c);
    }
    EXPECT_OK(close(p[0]));
    /* one more than a message may carry */
    static int too_many[N + 1];
    EXPECT_ERR(-EINVAL, cio_socket_send_fds(sv[0], "x", 1, too_many, N + 1));
    close_pair(sv);
    return 0;
}

TEST(fdpass_many) { udp_run(many_main, NULL); }

static int excess_main(void *arg, void **result)
{
    int type = (int)(intptr_t)arg;
    int sv[2], p[2];
    EXPECT_OK(cio_socket_pair(type, sv));
    EXPECT_OK(pipe2(p, O_CLOEXEC));
    int before = test_fd_count();
    int out[10];
    for (int i = 0; i < 10; i++)
        out[i] = p[1];
    EXPECT_EQ(4, cio_socket_send_fds(sv[0], "ten!", 4, out, 10));
    char buf[8];
    int in[3] = {-1, -1, -1};
    size_t n = 3;
    EXPECT_ERR(-EMSGSIZE, cio_socket_recv_fds(sv[1], buf, sizeof buf, in, &n));
    EXPECT_EQ(3, n);
    EXPECT_EQ(before + 3, test_fd_count()); /* the other 7 were closed */
    for (int i = 0; i < 3; i++)
        EXPECT_OK(close(in[i]));
    EXPECT_EQ(before, test_fd_count());
    /* room for none: every descriptor closed */
    EXPECT_EQ(4, cio_socket_send_fds(sv[0], "two!", 4, out, 2));
    n = 0;
    EXPECT_ERR(-EMSGSIZE, cio_socket_recv_fds(sv[1], buf, sizeof buf, NULL, &n));
    EXPECT_EQ(0, n);
    EXPECT_EQ(before, test_fd_count());
    /* the pipe has no write end left once ours is closed: nothing leaked */
    EXPECT_OK(close(p[1]));
    EXPECT_EQ(0, read(p[0], buf, sizeof buf));
    EXPECT_OK(close(p[0]));
    close_pair(sv);
    return 0;
}

TEST(fdpass_more_than_room_stream) { udp_run(excess_main, (void *)(intptr_t)SOCK_STREAM); }
TEST(fdpass_more_than_room_dgram) { udp_run(excess_main, (void *)(intptr_t)SOCK_DGRAM); }

/* The receiver waits for the message; the sender waits for room. */
struct waits {
    int sv[2];
    int p[2];
};

static int late_sender(void *arg, void **result)
{
    struct waits *w = arg;
    EXPECT_EQ(1, cio_socket_send_fds(w->sv[0], "L", 1, &w->p[1], 1));
    return 0;
}

static int wait_main(void *arg, void **result)
{
    struct waits w;
    EXPECT_OK(cio_socket_pair(SOCK_STREAM, w.sv));
    EXPECT_OK(pipe2(w.p, O_CLOEXEC));
    cio_task *t = udp_spawn(late_sender, &w);
    char buf[4];
    int fd = -1;
    size_t n = 1;
    /* nothing there yet: this suspends until the sender task has run */
    EXPECT_EQ(1, cio_socket_recv_fds(w.sv[1], buf, sizeof buf, &fd, &n));
    EXPECT_EQ(1, n);
    EXPECT_OK(udp_join(t));
    EXPECT_OK(close(fd));

    /* fill the stream until the sender must wait, then drain it */
    static char chunk[4096];
    int sent = 0;
    for (int i = 0; i < 100000; i++) {
        ssize_t r = send(w.sv[0], chunk, sizeof chunk, MSG_DONTWAIT);
        if (r < 0) {
            EXPECT_EQ(EAGAIN, errno);
            break;
        }
        sent += (int)r;
    }
    t = udp_spawn(late_sender, &w);
    EXPECT_OK(cio_yield()); /* it runs and waits for room */
    EXPECT_FALSE(cio_future_is_done(t));
    static char sink[4096];
    while (sent > 0) {
        ssize_t r = cio_fd_read(w.sv[1], sink, sent < (int)sizeof sink ? (size_t)sent : sizeof sink);
        EXPECT_TRUE(r > 0);
        sent -= (int)r;
    }
    n = 1;
    EXPECT_EQ(1, cio_socket_recv_fds(w.sv[1], buf, sizeof buf, &fd, &n));
    EXPECT_EQ(1, n);
    EXPECT_EQ('L', buf[0]);
    EXPECT_OK(udp_join(t));
    EXPECT_OK(close(fd));
    EXPECT_OK(close(w.p[0]));
    EXPECT_OK(close(w.p[1]));
    close_pair(w.sv);
    return 0;
}

TEST(fdpass_waits) { udp_run(wait_main, NULL); }

/* The peer closed: 0 bytes, no descriptor. */
static int eof_main(void *arg, void **result)
{
    int sv[2];
    EXPECT_OK(cio_socket_pair(SOCK_STREAM, sv));
    EXPECT_OK(close(sv[0]));
    char buf[4];
    int fd = -1;
    size_t n = 1;
    EXPECT_EQ(0, cio_socket_recv_fds(sv[1], buf, sizeof buf, &fd, &n));
    EXPECT_EQ(0, n);
    EXPECT_OK(cio_fd_close(sv[1]));
    return 0;
}

TEST(fdpass_peer_closed) { udp_run(eof_main, NULL); }

static int plain_rc[2];
static void plain_calls(void *arg)
{
    int *sv = arg;
    int fds[1] = {sv[0]};
    size_t n = 1;
    char b[2];
    plain_rc[0] = (int)cio_socket_send_fds(sv[0], "x", 1, fds, 1);
    plain_rc[1] = (int)cio_socket_recv_fds(sv[1], b, sizeof b, fds, &n);
}

TEST(fdpass_needs_a_task)
{
    int sv[2];
    EXPECT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv));
    int before = test_fd_baseline();
    cio_loop *loop = test_strict_loop_new();
    EXPECT_OK(cio_call_soon(loop, plain_calls, sv));
    test_drain(loop);
    EXPECT_ERR(-EPERM, plain_rc[0]);
    EXPECT_ERR(-EPERM, plain_rc[1]);
    CLOSE_LOOP(loop);
    /* nothing was sent */
    char b;
    EXPECT_EQ(-1, recv(sv[1], &b, 1, MSG_DONTWAIT));
    EXPECT_EQ(EAGAIN, errno);
    EXPECT_EQ(before, test_fd_count());
    close(sv[0]);
    close(sv[1]);
}

static int args_main(void *arg, void **result)
{
    int sv[2];
    EXPECT_OK(cio_socket_pair(SOCK_STREAM, sv));
    int fds[2] = {sv[0], -1};
    size_t n = 1, zero = 0;
    char b[4];
    /* send */
    EXPECT_ERR(-EINVAL, cio_socket_send_fds(-1, "x", 1, fds, 1));
    EXPECT_ERR(-EINVAL, cio_socket_send_fds(sv[0], NULL, 1, fds, 1));
    EXPECT_ERR(-EINVAL, cio_socket_send_fds(sv[0], "x", 0, fds, 1));
    EXPECT_ERR(-EINVAL, cio_socket_send_fds(sv[0], "x", 1, NULL, 1));
    EXPECT_ERR(-EINVAL, cio_socket_send_fds(sv[0], "x", 1, fds, 2)); /* fds[1] < 0 */
    EXPECT_ERR(-EINVAL, cio_socket_send_fds(sv[0], "x", 1, fds, CIO_SOCKET_MAX_FDS + 1));
    /* recv */
    EXPECT_ERR(-EINVAL, cio_socket_recv_fds(-1, b, sizeof b, fds, &n));
    EXPECT_ERR(-EINVAL, cio_socket_recv_fds(sv[1], NULL, 1, fds, &n));
    EXPECT_ERR(-EINVAL, cio_socket_recv_fds(sv[1], b, 0, fds, &n));
    EXPECT_ERR(-EINVAL, cio_socket_recv_fds(sv[1], b, sizeof b, fds, NULL));
    EXPECT_ERR(-EINVAL, cio_socket_recv_fds(sv[1], b, sizeof b, NULL, &n));
    EXPECT_EQ(1, n); /* untouched on -EINVAL */
    /* the system's errors pass through */
    int p[2];
    EXPECT_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
    EXPECT_ERR(-ENOTSOCK, cio_socket_send_fds(p[1], "x", 1, fds, 1));
    EXPECT_ERR(-ENOTSOCK, cio_socket_recv_fds(p[0], b, sizeof b, NULL, &zero));
    int closed_fd = dup(p[0]);
    EXPECT_OK(close(closed_fd));
    EXPECT_ERR(-EBADF, cio_socket_send_fds(sv[0], "x", 1, &closed_fd, 1));
    /* descriptors over a socket that cannot carry them */
    cio_udp *u = udp_bound("127.0.0.1", NULL), *c = NULL;
    cio_addr ua = udp_local(u);
    EXPECT_OK(cio_udp_new(NULL, &CIO_UDP_OPTIONS(.remote = &ua), &c));
    EXPECT_ERR(-EINVAL, cio_socket_send_fds(cio_udp_fd(c), "x", 1, fds, 1));
    EXPECT_OK(cio_udp_close(c));
    EXPECT_OK(cio_udp_close(u));
    EXPECT_OK(close(p[0]));
    EXPECT_OK(close(p[1]));
    close_pair(sv);
    return 0;
}

TEST(fdpass_argument_checks) { udp_run(args_main, NULL); }

int main(int argc, char **argv) { return test_main(argc, argv); }
