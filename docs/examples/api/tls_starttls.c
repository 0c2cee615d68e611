/* STARTTLS: a plain connection upgraded in place, the server a transport
 * (cio_transport_start_tls, cio_transport_tls_info, cio_transport_ssl), the
 * client a stream (cio_stream_start_tls). The certificate is made at run
 * time (tls_cert.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include <cio.h>
#include <cio/net.h>
#include <cio/tls.h>

#include "tls_cert.h"

static char dir[] = "/tmp/cio-starttls-example-XXXXXX";

struct server {
    cio_tls_config *cfg;
    cio_future *handshake; /* set once STARTTLS came */
};

static void on_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    struct server *srv = ctx;
    if (!srv->handshake) {
        if (len == 9 && memcmp(data, "STARTTLS\n", 9) == 0) {
            cio_transport_write(t, "GO\n", 3); /* still in the clear */
            cio_transport_start_tls(t, srv->cfg, NULL, &srv->handshake);
        }
        return;
    }
    /* after the handshake: what TLS negotiated, then an echo */
    cio_tls_info info;
    if (cio_transport_tls_info(t, &info) == 0)
        printf("server: %s, %s\n", SSL_get_version(cio_transport_ssl(t)), info.cipher);
    cio_transport_write(t, data, len);
}

static void on_lost(cio_transport *t, int error, void *ctx)
{
    (void)t;
    (void)ctx;
    printf("server: connection lost (%s)\n", error ? cio_err_name(error) : "clean");
}

static const cio_protocol proto = {.data_received = on_data, .connection_lost = on_lost};

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    char cert[256], key[256];
    snprintf(cert, sizeof cert, "%s/localhost.pem", dir);
    snprintf(key, sizeof key, "%s/localhost.key", dir);
    struct server srv = {0};
    int rc = cio_tls_config_new(
        &CIO_TLS_OPTIONS(.server = true, .cert_file = cert, .key_file = key), &srv.cfg);
    if (rc)
        return rc;
    cio_tls_config *client_cfg;
    if ((rc = cio_tls_config_new(&CIO_TLS_OPTIONS(.ca_file = cert), &client_cfg)) != 0)
        return rc;
    int fds[2];
    if ((rc = cio_socket_pair(SOCK_STREAM, fds)) != 0)
        return rc;
    cio_transport *t;
    cio_transport_new(cio_current_loop(), fds[1], NULL, &proto, &srv, &t);
    cio_stream *s;
    cio_stream_new(fds[0], NULL, &s);

    char line[64];
    cio_stream_write(s, "STARTTLS\n", 9);
    cio_stream_read_line(s, line, sizeof line); /* "GO" */
    rc = cio_stream_start_tls(s, client_cfg, "localhost");
    if (rc) {
        fprintf(stderr, "start_tls: %s: %s\n", cio_strerror(rc), cio_tls_last_error());
        return rc;
    }
    cio_stream_write(s, "now sealed\n", 11);
    ssize_t n = cio_stream_read_line(s, line, sizeof line);
    printf("client: echoed %.*s", (int)(n > 0 ? n : 0), line);
    rc = cio_await(srv.handshake, NULL); /* the server's side: done */
    cio_future_unref(srv.handshake);
    cio_stream_close(s);
    cio_sleep(0.01); /* the transport's end */
    cio_tls_config_free(srv.cfg);
    cio_tls_config_free(client_cfg);
    return rc;
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    const char *names[] = {"localhost"};
    int rc = -1;
    if (make_cert(dir, "localhost", "localhost", "DNS:localhost") == 0)
        rc = cio_run(main_task, NULL, NULL);
    remove_certs(dir, names, 1);
    return rc == 0 ? 0 : 1;
}
