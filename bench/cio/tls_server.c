/* tls_server, cio (coroutine style: a task per connection): the TLS echo
 * server of tls_handshake and tls_stream. See bench/client/tls_server.h for
 * the command line and what every TLS server does.
 *
 * cio_tls_config_new (server, the harness's certificate and key, TLS 1.3
 * only, groups "X25519", no_tickets) once; cio_server_new on 127.0.0.1:PORT
 * (backlog 511) with opts->stream->tls = that configuration and handler
 * tasks of 16 KiB stacks, as bench/cio/echo_server.c. The handler runs after
 * the handshake; it loops cio_stream_read into a 64 KiB buffer (one static
 * slab for every handler, as echo_server.c) and cio_stream_write; at the
 * client's close_notify the read returns 0, the handler returns and the
 * server closes the stream (cio_stream_close: its close_notify, then
 * close). */
#include <cio.h>
#include <cio/net.h>
#include <cio/tls.h>

#include "../client/tls_server.h"

static char slab[BENCH_READ_SIZE];
static bench_tls_server_args args;

static int echo(cio_stream *s, void *arg)
{
    (void)arg;
    for (;;) {
        ssize_t n = cio_stream_read(s, slab, sizeof slab);
        if (n <= 0)
            return n < 0 ? (int)n : 0;
        int rc = cio_stream_write(s, slab, (size_t)n);
        if (rc != 0)
            return rc;
    }
}

static int serve(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_tls_config *tls;
    int rc = cio_tls_config_new(&CIO_TLS_OPTIONS(.server = true, .cert_file = args.cert,
                                                 .key_file = args.key,
                                                 .min_version = CIO_TLS_1_3, .groups = "X25519",
                                                 .no_tickets = true),
                                &tls);
    if (rc != 0) {
        fprintf(stderr, "cio tls_server: %s\n", cio_tls_last_error());
        exit(1);
    }
    cio_addr addr;
    BENCH_CHECK(cio_addr_ip("127.0.0.1", (uint16_t)args.port, &addr));
    cio_socket_options sopts = CIO_SOCKET_OPTIONS(.backlog = BENCH_BACKLOG);
    cio_stream_options stream = CIO_STREAM_OPTIONS(.tls = tls);
    cio_server_options opts = CIO_SERVER_OPTIONS(.socket = &sopts, .stream = &stream,
                                                 .stack_size = 16 * 1024, .name = "tls");
    cio_server *srv;
    BENCH_CHECK(cio_server_new(&addr, &opts, echo, NULL, &srv));
    bench_server_ready();
    /* Serve until SIGTERM (bench/run ends the server that way). */
    for (;;)
        BENCH_CHECK(cio_sleep(3600));
    return 0;
}

int main(int argc, char **argv)
{
    args = bench_tls_server_parse(argc, argv);
    BENCH_CHECK(cio_run(serve, NULL, NULL));
    return 0;
}
