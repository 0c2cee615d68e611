/* echo_server, libevent: the server of echo_pingpong, echo_stream,
 * idle_conns (echo mode) and accept_rate (accept mode), with bufferevents,
 * as the libevent book recommends. See bench/client/server.h.
 *
 * An evconnlistener accepts; each connection gets a socket bufferevent
 * (BEV_OPT_CLOSE_ON_FREE) reading at most 64 KiB at a time
 * (bufferevent_set_max_single_read; the default is 16 KiB). echo: the read
 * callback moves the input buffer to the output buffer
 * (bufferevent_write_buffer, no copy); libevent writes it when the socket
 * is writable. Flow control: above 64 KiB of output, reading is disabled
 * until the write callback (low-water mark 16 KiB) sees it drained.
 * accept: bufferevent_write of one byte; the write callback frees the
 * bufferevent (closing the socket) once it is sent. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "../../client/server.h"

static bool accept_mode;

static void on_event(struct bufferevent *bev, short what, void *ctx)
{
    (void)ctx;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        bufferevent_free(bev);
}

static void on_read(struct bufferevent *bev, void *ctx)
{
    (void)ctx;
    struct evbuffer *out = bufferevent_get_output(bev);
    bufferevent_write_buffer(bev, bufferevent_get_input(bev));
    if (evbuffer_get_length(out) > BENCH_HIGH_WATER)
        bufferevent_disable(bev, EV_READ);
}

static void on_write(struct bufferevent *bev, void *ctx)
{
    (void)ctx;
    if (accept_mode) {
        bufferevent_free(bev); /* the byte is sent */
        return;
    }
    /* Called once the output is at or below the low-water mark. */
    if (!(bufferevent_get_enabled(bev) & EV_READ))
        bufferevent_enable(bev, EV_READ);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    (void)sa;
    (void)len;
    (void)arg;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct event_base *base = evconnlistener_get_base(l);
    struct bufferevent *bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    BENCH_CHECK(bev == NULL);
    if (accept_mode) {
        bufferevent_setcb(bev, NULL, on_write, on_event, NULL);
        bufferevent_write(bev, "x", 1);
        return;
    }
    bufferevent_set_max_single_read(bev, BENCH_READ_SIZE);
    bufferevent_set_max_single_write(bev, BENCH_READ_SIZE);
    bufferevent_setwatermark(bev, EV_WRITE, BENCH_LOW_WATER, 0);
    bufferevent_setcb(bev, on_read, on_write, on_event, NULL);
    bufferevent_enable(bev, EV_READ);
}

int main(int argc, char **argv)
{
    bench_server_args a = bench_server_parse(argc, argv);
    accept_mode = a.accept_mode;
    struct event_base *base = event_base_new();
    BENCH_CHECK(base == NULL);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)a.port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct evconnlistener *l = evconnlistener_new_bind(
        base, on_accept, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
        BENCH_BACKLOG, (struct sockaddr *)&addr, sizeof addr);
    if (!l) {
        perror("libevent echo_server: evconnlistener_new_bind");
        return 1;
    }
    bench_server_ready();
    return event_base_dispatch(base) < 0;
}
