/* tls_protocol, cio (callback style: protocol/transport): the TLS echo
 * server of tls_handshake and tls_stream. See bench/client/tls_server.h for
 * the command line and what every TLS server does.
 *
 * The configuration of bench/cio/tls_server.c; cio_server_new_protocol
 * with opts->stream->tls. connection_made comes after the handshake;
 * data_received writes the bytes back (cio_transport_write); pause_writing
 * / resume_writing pause and resume reading, as bench/cio/echo_protocol.c.
 * eof_received is NULL: at the client's close_notify the transport closes
 * (its own close_notify, then close). */
#include <cio.h>
#include <cio/net.h>
#include <cio/tls.h>

#include "../client/tls_server.h"

static bench_tls_server_args args;

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
    .data_received = on_data,
    .connection_lost = on_lost,
    .pause_writing = on_pause,
    .resume_writing = on_resume,
};

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
        fprintf(stderr, "cio tls_protocol: %s\n", cio_tls_last_error());
        exit(1);
    }
    cio_addr addr;
    BENCH_CHECK(cio_addr_ip("127.0.0.1", (uint16_t)args.port, &addr));
    cio_socket_options sopts = CIO_SOCKET_OPTIONS(.backlog = BENCH_BACKLOG);
    cio_stream_options stream = CIO_STREAM_OPTIONS(.tls = tls);
    cio_server_options opts =
        CIO_SERVER_OPTIONS(.socket = &sopts, .stream = &stream, .name = "tls");
    cio_server *srv;
    BENCH_CHECK(cio_server_new_protocol(&addr, &opts, &echo_proto, NULL, &srv));
    bench_server_ready();
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
