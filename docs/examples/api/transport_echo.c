/* The protocol/transport style: an echo protocol on a transport, a client
 * protocol connected with cio_transport_connect, flow control, half-close,
 * and a hand-off to a task and back. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cio.h>
#include <cio/net.h>

/* ---- The server side: echoes, half-closes when the client does ---------- */

static int echo_made(cio_transport *t, void *arg, void **ctx)
{
    (void)arg;
    (void)ctx;
    cio_transport_set_water(t, 64 * 1024, 16 * 1024);
    printf("server: connection made, closing: %d\n", cio_transport_is_closing(t));
    return 0;
}

static void echo_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    (void)ctx;
    cio_transport_write(t, data, len);
}

static bool echo_eof(cio_transport *t, void *ctx)
{
    (void)ctx;
    struct iovec v[2] = {{"bye", 3}, {"\n", 1}};
    cio_transport_writev(t, v, 2);
    cio_transport_write_eof(t); /* our side is done too */
    return true;                /* keep the transport until the buffer went */
}

static cio_event *all_lost; /* set when both server transports are gone */
static int lost_count;

static void echo_lost(cio_transport *t, int error, void *ctx)
{
    (void)t;
    (void)ctx;
    printf("server: connection lost (%s)\n", error ? cio_err_name(error) : "clean");
    if (++lost_count == 2)
        cio_event_set(all_lost);
}

static void echo_pause(cio_transport *t, void *ctx)
{
    (void)ctx;
    cio_transport_pause_reading(t); /* stop reading while the peer is slow */
}

static void echo_resume(cio_transport *t, void *ctx)
{
    (void)ctx;
    cio_transport_resume_reading(t);
}

static const cio_protocol echo_proto = {
    .connection_made = echo_made,
    .data_received = echo_data,
    .eof_received = echo_eof,
    .connection_lost = echo_lost,
    .pause_writing = echo_pause,
    .resume_writing = echo_resume,
};

/* ---- The client side: hands its connection to a task ------------------- */

struct client {
    cio_stream *s;
    cio_task *task;
};

static int client_task(void *arg, void **result)
{
    (void)result;
    struct client *c = arg;
    char line[64];
    ssize_t n = cio_stream_read_line(c->s, line, sizeof line);
    printf("client task: %.*s", (int)n, line);
    cio_stream_shutdown(c->s);
    while ((n = cio_stream_read_line(c->s, line, sizeof line)) > 0)
        printf("client task: %.*s", (int)n, line);
    return cio_stream_close(c->s);
}

static int client_made(cio_transport *t, void *arg, void **ctx)
{
    (void)ctx;
    struct client *c = arg;
    printf("client: connected, %zu bytes buffered\n", cio_transport_buffered(t));
    cio_transport_write(t, "hello\n", 6);
    /* the rest is easier to write as a task: hand the connection over */
    if (cio_transport_to_stream(t, &c->s) == 0)
        cio_task_new(cio_transport_loop(t), NULL, client_task, c, &c->task);
    return 0;
}

static void client_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    (void)t;
    (void)data;
    (void)len;
    (void)ctx;
}

static const cio_protocol client_proto = {
    .connection_made = client_made,
    .data_received = client_data,
};

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_loop *loop = cio_current_loop();
    cio_addr addr;
    int lfd, fd;
    cio_addr_ip("127.0.0.1", 0, &addr);
    if (cio_socket_listen(&addr, NULL, &lfd) != 0)
        return -1;
    cio_socket_local(lfd, &addr);
    struct client c = {0};
    cio_future *connected;
    cio_event_new(&all_lost);
    cio_transport_connect(loop, &addr, NULL, NULL, &client_proto, &c, &connected);
    if (cio_socket_accept(lfd, &fd, NULL) != 0)
        return -1;
    cio_fd_close(lfd);
    cio_transport *server;
    cio_transport_new(loop, fd, NULL, &echo_proto, NULL, &server);
    printf("server transport has a descriptor: %s\n", cio_transport_fd(server) >= 0 ? "yes" : "no");
    int rc = cio_await(connected, NULL); /* connection_made ran */
    cio_future_unref(connected);
    if (rc == 0 && c.task) {
        rc = cio_await(c.task, NULL); /* the client task read everything */
        cio_future_unref(c.task);
    }
    cio_transport_close(server);
    /* a stream can become a transport too: here one whose peer is gone,
     * ended at once with cio_transport_abort */
    int fds[2];
    cio_stream *s;
    cio_transport *t;
    if (cio_socket_pair(SOCK_STREAM, fds) != 0)
        return -1;
    close(fds[1]);
    if (cio_stream_new(fds[0], NULL, &s) != 0)
        return -1;
    if (cio_stream_to_transport(s, &echo_proto, NULL, &t) == 0)
        cio_transport_abort(t);
    cio_event_wait(all_lost);
    cio_event_free(all_lost);
    return rc;
}

int main(void)
{
    return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1;
}
