/* http_server, cio: the server of the HTTP workloads (http_plain,
 * http_pipelined, http_static, https_plain, http_cores).
 *
 * usage: cio_http_server PORT hello [threads=N]
 *        cio_http_server PORT static DIR
 *        cio_http_server PORT tls CERT KEY
 *
 *   hello   an application with one route, GET "/", whose handler answers
 *           cio_http_response_text(res, 200, "Hello, World!"): a 13-byte
 *           body, "text/plain; charset=utf-8", Content-Length, Date (cached
 *           per second by the server) and Server: cio; keep-alive with the
 *           server's defaults (no cap on requests per connection).
 *   static  cio_http_app_static(app, "/", DIR, NULL): the files under DIR,
 *           sent with sendfile, ETag and Last-Modified.
 *   tls     hello over TLS: cio_tls_config_new with the harness's ECDSA
 *           P-256 certificate, TLS 1.3 only, X25519, TLS_AES_128_GCM_SHA256,
 *           ALPN "http/1.1", no tickets (nginx gets the same settings).
 *   threads=N  (hello only) cio_http_run(app, addr, opts, N): N loops sharing
 *           the port with SO_REUSEPORT (http_cores).
 *
 * Every server listens on 127.0.0.1:PORT, backlog 511, and (one loop) prints
 * "ready" on stdout once it listens; bench/run ends it with SIGTERM. */
#include <cio.h>
#include <cio/http.h>
#include <cio/net.h>
#include <cio/tls.h>

#include "../client/server.h"

static const char *mode, *dir, *cert, *key;
static long port, threads;


static int hello(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    return cio_http_response_text(res, 200, "Hello, World!");
}

static cio_http_app *make_app(void)
{
    cio_http_app *app;
    BENCH_CHECK(cio_http_app_new(&app));
    if (strcmp(mode, "static") == 0)
        BENCH_CHECK(cio_http_app_static(app, "/", dir, NULL));
    else
        BENCH_CHECK(cio_http_app_route(app, "GET", "/", hello, NULL));
    return app;
}

static int serve(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_http_app *app = make_app();
    cio_tls_config *tls = NULL;
    if (strcmp(mode, "tls") == 0) {
        int rc = cio_tls_config_new(
            &CIO_TLS_OPTIONS(.server = true, .cert_file = cert, .key_file = key,
                             .min_version = CIO_TLS_1_3, .groups = "X25519",
                             .ciphersuites = "TLS_AES_128_GCM_SHA256", .alpn = "http/1.1",
                             .no_tickets = true),
            &tls);
        if (rc != 0) {
            fprintf(stderr, "cio http_server: %s\n", cio_tls_last_error());
            exit(1);
        }
    }
    cio_addr addr;
    BENCH_CHECK(cio_addr_ip("127.0.0.1", (uint16_t)port, &addr));
    cio_socket_options sopts = CIO_SOCKET_OPTIONS(.backlog = BENCH_BACKLOG);
    cio_http_server_options opts = CIO_HTTP_SERVER_OPTIONS(.socket = &sopts, .tls = tls);
    cio_http_server *srv;
    BENCH_CHECK(cio_http_server_new(app, &addr, &opts, &srv));
    bench_server_ready();
    /* Serve until SIGTERM (bench/run ends the server that way). */
    for (;;)
        BENCH_CHECK(cio_sleep(3600));
    return 0;
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s PORT hello [threads=N] | PORT static DIR | PORT tls CERT KEY\n",
            argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    char *end = NULL;
    port = argc > 2 ? strtol(argv[1], &end, 10) : -1;
    if (argc < 3 || *end != '\0' || port < 1 || port > 65535)
        usage(argv[0]);
    mode = argv[2];
    if (strcmp(mode, "hello") == 0 && argc == 4 && strncmp(argv[3], "threads=", 8) == 0) {
        threads = strtol(argv[3] + 8, &end, 10);
        if (*end != '\0' || threads < 1 || threads > 256)
            usage(argv[0]);
    } else if (strcmp(mode, "hello") == 0 && argc == 3) {
    } else if (strcmp(mode, "static") == 0 && argc == 4) {
        dir = argv[3];
    } else if (strcmp(mode, "tls") == 0 && argc == 5) {
        cert = argv[3];
        key = argv[4];
    } else {
        usage(argv[0]);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (threads > 0) {
        /* Every core: N loops, SO_REUSEPORT, SIGTERM shuts them all down.
         * The harness waits until the port accepts a connection. */
        cio_http_app *app = make_app();
        cio_addr addr;
        BENCH_CHECK(cio_addr_ip("127.0.0.1", (uint16_t)port, &addr));
        cio_socket_options sopts = CIO_SOCKET_OPTIONS(.backlog = BENCH_BACKLOG);
        cio_http_server_options opts = CIO_HTTP_SERVER_OPTIONS(.socket = &sopts);
        BENCH_CHECK(cio_http_run(app, &addr, &opts, (size_t)threads));
        cio_http_app_free(app);
        return 0;
    }
    BENCH_CHECK(cio_run(serve, NULL, NULL));
    return 0;
}
