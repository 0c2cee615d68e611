/* TLS configurations and a TLS server and client over loopback:
 * cio_tls_config_new, cio_tls_config_add_cert (SNI), cio_tls_config_ssl_ctx,
 * cio_stream_tls_info, cio_stream_ssl, cio_tls_last_error,
 * cio_tls_config_free. The certificates are made at run time (tls_cert.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/ssl.h>

#include <cio.h>
#include <cio/net.h>
#include <cio/tls.h>

#include "tls_cert.h"

static char dir[] = "/tmp/cio-tls-example-XXXXXX";

static const char *file(const char *name)
{
    static char bufs[4][256];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

/* The server's handler: runs after the handshake. */
static int echo(cio_stream *s, void *arg)
{
    (void)arg;
    cio_tls_info info;
    cio_stream_tls_info(s, &info);
    printf("server: the client asked for \"%s\", ALPN %s\n",
           info.server_name ? info.server_name : "", info.alpn ? info.alpn : "none");
    char line[256];
    ssize_t n;
    while ((n = cio_stream_read_line(s, line, sizeof line)) > 0)
        cio_stream_write(s, line, (size_t)n);
    return 0;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_tls_config *server_cfg, *client_cfg;
    int rc = cio_tls_config_new(&CIO_TLS_OPTIONS(.server = true,
                                                  .cert_file = file("localhost.pem"),
                                                  .key_file = file("localhost.key"),
                                                  .alpn = "h2,http/1.1"),
                                &server_cfg);
    if (rc) {
        fprintf(stderr, "server configuration: %s\n", cio_tls_last_error());
        return rc;
    }
    /* clients naming other.example get the second certificate */
    rc = cio_tls_config_add_cert(server_cfg, file("other.pem"), file("other.key"));
    if (rc)
        return rc;
    /* an OpenSSL setting cio does not wrap */
    SSL_CTX_set_session_cache_mode(cio_tls_config_ssl_ctx(server_cfg), SSL_SESS_CACHE_OFF);
    cio_addr addr;
    cio_addr_ip("127.0.0.1", 0, &addr);
    cio_server *srv;
    rc = cio_server_new(&addr, &CIO_SERVER_OPTIONS(.stream = &CIO_STREAM_OPTIONS(.tls = server_cfg)),
                        echo, NULL, &srv);
    cio_tls_config_free(server_cfg); /* the server keeps its own reference */
    if (rc)
        return rc;
    cio_server_addr(srv, &addr);

    /* The client trusts the self-signed certificate it is given. */
    rc = cio_tls_config_new(&CIO_TLS_OPTIONS(.ca_file = file("localhost.pem"),
                                             .alpn = "http/1.1"),
                            &client_cfg);
    if (rc)
        return rc;
    cio_stream *s;
    rc = cio_stream_connect(&addr, NULL,
                            &CIO_STREAM_OPTIONS(.tls = client_cfg, .server_name = "localhost"), &s);
    if (rc) {
        fprintf(stderr, "connect: %s: %s\n", cio_strerror(rc), cio_tls_last_error());
        return rc;
    }
    cio_tls_info info;
    cio_stream_tls_info(s, &info);
    printf("client: TLS %s, %s, ALPN %s, verified %s\n",
           info.version == CIO_TLS_1_3 ? "1.3" : "1.2", info.cipher,
           info.alpn ? info.alpn : "none", info.peer_verified ? "yes" : "no");
    X509 *peer = SSL_get1_peer_certificate(cio_stream_ssl(s));
    char subject[256] = "";
    if (peer)
        X509_NAME_oneline(X509_get_subject_name(peer), subject, sizeof subject);
    X509_free(peer);
    printf("client: the server is %s\n", subject);
    char line[64];
    cio_stream_write(s, "hello over TLS\n", 15);
    ssize_t n = cio_stream_read_line(s, line, sizeof line);
    printf("client: echoed %.*s", (int)(n > 0 ? n : 0), line);
    cio_stream_close(s);

    /* The name is checked: the certificate for localhost does not name
     * other.example, and other.example's is not trusted here. */
    rc = cio_stream_connect(&addr, NULL,
                            &CIO_STREAM_OPTIONS(.tls = client_cfg, .server_name = "other.example"),
                            &s);
    printf("client: other.example: %s (%s)\n", cio_err_name(rc), cio_tls_last_error());
    cio_tls_config_free(client_cfg);
    cio_server_close(srv, 5);
    return rc == -EKEYREJECTED ? 0 : -EPROTO;
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    const char *names[] = {"localhost", "other"};
    int rc = -1;
    if (make_cert(dir, "localhost", "localhost", "DNS:localhost,IP:127.0.0.1") == 0 &&
        make_cert(dir, "other", "other.example", "DNS:other.example") == 0)
        rc = cio_run(main_task, NULL, NULL);
    remove_certs(dir, names, 2);
    return rc == 0 ? 0 : 1;
}
