/* ws_echo, cio: the cio side of ws_echo.
 *
 * usage: cio_ws_echo PORT
 *
 * A cio HTTP server (cio_http_server_new, one loop) with one route, GET "/",
 * whose handler upgrades the request with cio_ws_accept (permessage-deflate
 * off: no_deflate, compression off as on every side; other options at their
 * defaults: 1 MiB message limit, no keep-alive pings) and then echoes:
 * cio_ws_recv, and cio_ws_send of the same type and bytes, until the
 * client's close (answered by cio_ws_recv), then cio_ws_free. One task per
 * connection (the server's handler task). Listens on 127.0.0.1:PORT, backlog
 * 511, prints "ready"; bench/run ends it with SIGTERM. */
#include <cio.h>
#include <cio/http.h>
#include <cio/net.h>
#include <cio/ws.h>

#include "../client/server.h"

static long port;

static int echo(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    cio_ws *ws;
    int rc = cio_ws_accept(req, res, &CIO_WS_OPTIONS(.no_deflate = true), &ws);
    if (rc != 0) /* -EPROTO: not a handshake, answered (400/426) already */
        return rc == -EPROTO ? 0 : rc;
    for (;;) {
        cio_ws_message msg;
        if (cio_ws_recv(ws, &msg) != 0 || msg.type == CIO_WS_CLOSE)
            break;
        if (cio_ws_send(ws, msg.type, msg.data, msg.len) != 0)
            break;
    }
    cio_ws_free(ws);
    return 0;
}

static int serve(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_http_app *app;
    BENCH_CHECK(cio_http_app_new(&app));
    BENCH_CHECK(cio_http_app_route(app, "GET", "/", echo, NULL));
    cio_addr addr;
    BENCH_CHECK(cio_addr_ip("127.0.0.1", (uint16_t)port, &addr));
    cio_socket_options sopts = CIO_SOCKET_OPTIONS(.backlog = BENCH_BACKLOG);
    cio_http_server_options opts = CIO_HTTP_SERVER_OPTIONS(.socket = &sopts);
    cio_http_server *srv;
    BENCH_CHECK(cio_http_server_new(app, &addr, &opts, &srv));
    bench_server_ready();
    /* Serve until SIGTERM (bench/run ends the server that way). */
    for (;;)
        BENCH_CHECK(cio_sleep(3600));
    return 0;
}

int main(int argc, char **argv)
{
    char *end = NULL;
    port = argc == 2 ? strtol(argv[1], &end, 10) : -1;
    if (argc != 2 || *end != '\0' || port < 1 || port > 65535) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    BENCH_CHECK(cio_run(serve, NULL, NULL));
    return 0;
}
