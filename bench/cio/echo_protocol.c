/* echo_protocol, cio (callback style: protocol/transport): the server of
 * echo_pingpong, echo_stream, idle_conns (echo mode) and accept_rate
 * (accept mode). See bench/client/server.h for the command line.
 *
 * cio_server_new_protocol on 127.0.0.1:PORT (backlog 511; TCP_NODELAY is
 * cio's default on accepted sockets), default transport marks (64 KiB high,
 * 16 KiB low).
 *
 * echo: data_received writes the bytes back with cio_transport_write (it
 * sends at once what the socket takes and buffers the rest); pause_writing
 * stops reading (cio_transport_pause_reading) until resume_writing, so the
 * write buffer stays bounded, as the other servers' flow control.
 * eof_received is NULL: the transport closes at the peer's end.
 *
 * accept: connection_made writes one byte and closes the transport. */
#include <cio.h>
#include <cio/net.h>

#include "../client/server.h"

static bench_server_args args;

static int on_made(cio_transport *t, void *arg, void **ctx)
{
    (void)arg;
    (void)ctx;
    if (args.accept_mode) {
        int rc = cio_transport_write(t, "x", 1);
        if (rc != 0)
            return rc;
        return cio_transport_close(t);
    }
    return 0;
}

static void on_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    (void)ctx;
    if (cio_transport_write(t, data, len) != 0)
        cio_transport_abort(t);
}

static void on_lost(cio_transport *t, int error, void *ctx)
{
    (void)t;
    (void)error;
    (void)ctx;
}

static void on_pause(cio_transport *t, void *ctx)
{
    (void)ctx;
    cio_transport_pause_reading(t);
}

static void on_resume(cio_transport *t, void *ctx)
{
    (void)ctx;
    cio_transport_resume_reading(t);
}

static const cio_protocol echo_proto = {
    .connection_made = on_made,
    .data_received = on_data,
    .connection_lost = on_lost,
    .pause_writing = on_pause,
    .resume_writing = on_resume,
};

static int serve(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_addr addr;
    BENCH_CHECK(cio_addr_ip("127.0.0.1", (uint16_t)args.port, &addr));
    cio_socket_options sopts = CIO_SOCKET_OPTIONS(.backlog = BENCH_BACKLOG);
    cio_server_options opts = CIO_SERVER_OPTIONS(.socket = &sopts, .name = "echo");
    cio_server *srv;
    BENCH_CHECK(cio_server_new_protocol(&addr, &opts, &echo_proto, NULL, &srv));
    bench_server_ready();
    /* Serve until SIGTERM (bench/run ends the server that way). */
    for (;;)
        BENCH_CHECK(cio_sleep(3600));
    return 0;
}

int main(int argc, char **argv)
{
    args = bench_server_parse(argc, argv);
    BENCH_CHECK(cio_run(serve, NULL, NULL));
    return 0;
}
