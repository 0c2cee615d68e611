/* tls_echo.c: the echo server and client of section 12 over TLS, with the
 * client connecting by name. The certificate is made at run time by the
 * openssl command line (run as a subprocess), so the program needs no
 * files of its own; a real server loads its own certificate and key. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp is POSIX, not C11 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cio.h>

/* The same handler as in echo_task.c: TLS changes nothing here. */
static int echo(cio_stream *s, void *arg)
{
    (void)arg;
    char line[256];
    for (;;) {
        ssize_t n = cio_stream_read_line(s, line, sizeof line);
        if (n == -ENODATA || n == 0)
            return 0;
        if (n < 0)
            return (int)n;
        int err = cio_stream_write(s, line, (size_t)n);
        if (err)
            return err;
    }
}

/* A self-signed certificate for "localhost" in dir (dir/cert.pem and
 * dir/key.pem): openssl req, run as a subprocess. */
static int make_certificate(const char *dir)
{
    char cert[256], key[256];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    const char *argv[] = {"openssl", "req", "-x509", "-newkey", "ec",
                          "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                          "-keyout", key, "-out", cert, "-days", "1",
                          "-subj", "/CN=localhost",
                          "-addext", "subjectAltName=DNS:localhost", NULL};
    cio_process_result res;
    int err = cio_process_run(argv, &CIO_PROCESS_OPTIONS(.search_path = true), NULL, 0, 0, &res);
    if (err == 0 && res.status != 0)
        err = -EIO;
    cio_process_result_free(&res);
    return err;
}

static int main_task(void *arg, void **result)
{
    (void)result;
    const char *dir = arg;
    int err = make_certificate(dir);
    if (err) {
        fprintf(stderr, "openssl req: %s\n", cio_strerror(err));
        return err;
    }
    char cert[256], key[256];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);

    /* The server's configuration: its certificate and key. */
    cio_tls_config *server_tls, *client_tls;
    err = cio_tls_config_new(&CIO_TLS_OPTIONS(.server = true, .cert_file = cert,
                                              .key_file = key),
                             &server_tls);
    if (err) {
        fprintf(stderr, "server config: %s\n", cio_tls_last_error());
        return err;
    }
    /* The client's: verification is on by default; our self-signed
     * certificate is the only trust anchor. */
    err = cio_tls_config_new(&CIO_TLS_OPTIONS(.ca_file = cert), &client_tls);
    if (err) {
        fprintf(stderr, "client config: %s\n", cio_tls_last_error());
        cio_tls_config_free(server_tls);
        return err;
    }

    cio_addr addr;
    cio_addr_parse("127.0.0.1:0", &addr);
    cio_server *srv;
    cio_stream_options server_stream = CIO_STREAM_OPTIONS(.tls = server_tls);
    err = cio_server_new(&addr, &CIO_SERVER_OPTIONS(.stream = &server_stream), echo, NULL, &srv);
    if (err == 0) {
        cio_server_addr(srv, &addr);
        /* Connect by name: resolve "localhost" (from /etc/hosts), connect,
         * and verify that the certificate is for "localhost". */
        cio_stream *s;
        err = cio_stream_connect_name("localhost", cio_addr_port(&addr),
                                      &CIO_SOCKET_OPTIONS(.family = AF_INET),
                                      &CIO_STREAM_OPTIONS(.tls = client_tls), &s);
        if (err) {
            fprintf(stderr, "connect: %s (%s)\n", cio_strerror(err), cio_tls_last_error());
        } else {
            cio_tls_info info;
            cio_stream_tls_info(s, &info);
            printf("connected with %s\n", info.version == CIO_TLS_1_3 ? "TLS 1.3" : "TLS 1.2");
            char line[256];
            const char *text = "hello over TLS\n";
            err = cio_stream_write(s, text, strlen(text));
            ssize_t n = err ? err : cio_stream_read_line(s, line, sizeof line);
            if (n > 0)
                printf("echoed: %.*s", (int)n, line);
            else
                err = n < 0 ? (int)n : -ENODATA;
            cio_stream_close(s);
        }
        cio_server_close(srv, 1.0);
    }
    cio_tls_config_free(client_tls);
    cio_tls_config_free(server_tls);
    return err;
}

int main(void)
{
    char dir[] = "/tmp/tls_echo.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    int err = cio_run(main_task, dir, NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/cert.pem", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/key.pem", dir);
    remove(path);
    remove(dir);
    return err ? 1 : 0;
}
