/* echo_server, libuv: the server of echo_pingpong, echo_stream, idle_conns
 * (echo mode) and accept_rate (accept mode). See bench/client/server.h.
 *
 * echo: uv_read_start on every connection, reading into one 64 KiB slab the
 * whole loop shares (alloc_cb hands it out; read_cb has consumed it before
 * the next alloc_cb: libuv's own benchmarks do this), so an idle connection
 * holds no read buffer. read_cb writes the bytes back with uv_try_write;
 * what the socket does not take at once is copied into a uv_write request
 * (the pattern libuv's documentation gives for uv_try_write). Flow control:
 * when more than 64 KiB wait in the write queue (uv_stream_get_write_queue_size),
 * reading stops until they drain to 16 KiB.
 *
 * accept: uv_accept, uv_try_write of one byte, uv_close. */
#include <uv.h>

#include "../../client/server.h"

typedef struct {
    uv_write_t req;
    char data[];
} write_req;

static uv_loop_t *loop;
static uv_tcp_t server;
static bool accept_mode;
static char slab[BENCH_READ_SIZE];

static void on_close(uv_handle_t *h) { free(h); }

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = slab;
    buf->len = sizeof slab;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status)
{
    uv_stream_t *s = req->handle;
    free(req);
    if (status < 0)
        return; /* read_cb sees the error too and closes */
    if (s->data && !uv_is_closing((uv_handle_t *)s) &&
        uv_stream_get_write_queue_size(s) <= BENCH_LOW_WATER) {
        s->data = NULL; /* paused: resume */
        uv_read_start(s, on_alloc, on_read);
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    if (nread < 0) { /* UV_EOF or an error */
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (nread == 0)
        return;
    uv_buf_t b = uv_buf_init(buf->base, (unsigned)nread);
    int w = uv_try_write(s, &b, 1);
    if (w == nread)
        return;
    if (w < 0 && w != UV_EAGAIN) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    size_t done = w > 0 ? (size_t)w : 0, rest = (size_t)nread - done;
    write_req *r = malloc(sizeof *r + rest);
    if (!r) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    memcpy(r->data, buf->base + done, rest);
    uv_buf_t rb = uv_buf_init(r->data, (unsigned)rest);
    if (uv_write(&r->req, s, &rb, 1, on_written) != 0) {
        free(r);
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (uv_stream_get_write_queue_size(s) > BENCH_HIGH_WATER) {
        s->data = s; /* paused */
        uv_read_stop(s);
    }
}

static void on_connection(uv_stream_t *srv, int status)
{
    if (status < 0) {
        fprintf(stderr, "libuv echo_server: %s\n", uv_strerror(status));
        return;
    }
    uv_tcp_t *c = malloc(sizeof *c);
    BENCH_CHECK(c == NULL);
    BENCH_CHECK(uv_tcp_init(loop, c));
    if (uv_accept(srv, (uv_stream_t *)c) != 0) {
        uv_close((uv_handle_t *)c, on_close);
        return;
    }
    uv_tcp_nodelay(c, 1);
    c->data = NULL; /* reading (not paused) */
    if (accept_mode) {
        uv_buf_t b = uv_buf_init("x", 1);
        uv_try_write((uv_stream_t *)c, &b, 1);
        uv_close((uv_handle_t *)c, on_close);
        return;
    }
    BENCH_CHECK(uv_read_start((uv_stream_t *)c, on_alloc, on_read));
}

int main(int argc, char **argv)
{
    bench_server_args a = bench_server_parse(argc, argv);
    accept_mode = a.accept_mode;
    loop = uv_default_loop();
    struct sockaddr_in addr;
    BENCH_CHECK(uv_ip4_addr("127.0.0.1", a.port, &addr));
    BENCH_CHECK(uv_tcp_init(loop, &server));
    BENCH_CHECK(uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0));
    BENCH_CHECK(uv_listen((uv_stream_t *)&server, BENCH_BACKLOG, on_connection));
    bench_server_ready();
    return uv_run(loop, UV_RUN_DEFAULT);
}
