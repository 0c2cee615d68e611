/* A WebSocket echo server and a client of it, in one program over
 * loopback: the server's route upgrades with cio_ws_accept and echoes every
 * message; the client connects with cio_ws_connect, asks for a
 * subprotocol, sends a text and a binary message, reads the echoes, and
 * ends with the close handshake. */
#define _POSIX_C_SOURCE 200809L
#include <cio.h>
#include <cio/ws.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* GET /echo: one WebSocket session per request, in the request's task. */
static int echo(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    if (!cio_ws_is_upgrade(req))
        return cio_http_response_text(res, 400, "WebSocket only\n");
    cio_ws_options o = CIO_WS_OPTIONS(.protocols = "echo.v2,echo.v1");
    cio_ws *ws;
    int rc = cio_ws_accept(req, res, &o, &ws);
    if (rc)
        return 0; /* refused (answered already), or the client left */
    cio_addr peer;
    char who[64] = "?";
    if (cio_ws_peer(ws, &peer) == 0)
        cio_addr_format(&peer, who, sizeof who);
    printf("server: a client from 127.0.0.1: %s, protocol %s\n",
           strncmp(who, "127.0.0.1:", 10) == 0 ? "yes" : "no", cio_ws_protocol(ws));
    for (;;) {
        cio_ws_message m;
        rc = cio_ws_recv(ws, &m);
        if (rc || m.type == CIO_WS_CLOSE) { /* the close was answered already */
            if (!rc)
                printf("server: the client closed with %d \"%s\"\n", m.code, (const char *)m.data);
            break;
        }
        if (cio_ws_send(ws, m.type, m.data, m.len))
            break;
    }
    cio_ws_free(ws);
    return 0;
}

static int client(const cio_addr *addr)
{
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/echo", (unsigned)cio_addr_port(addr));
    cio_ws_options o = CIO_WS_OPTIONS(.protocols = "echo.v1");
    cio_ws *ws;
    int rc = cio_ws_connect(NULL, url, &o, &ws);
    if (rc)
        return rc;
    printf("client: protocol %s, permessage-deflate %s\n", cio_ws_protocol(ws),
           cio_ws_is_deflate(ws) ? "on" : "off");
    const unsigned char bytes[4] = {0, 1, 2, 255};
    if ((rc = cio_ws_send_text(ws, "hello")) == 0)
        rc = cio_ws_send(ws, CIO_WS_BINARY, bytes, sizeof bytes);
    /* The echoes come back in order, whole. */
    for (int i = 0; i < 2 && !rc; i++) {
        cio_ws_message m;
        rc = cio_ws_recv(ws, &m);
        if (rc)
            break;
        if (i == 0 && m.type == CIO_WS_TEXT && strcmp(m.data, "hello") == 0)
            printf("client: text \"%s\"\n", (const char *)m.data);
        else if (i == 1 && m.type == CIO_WS_BINARY && m.len == sizeof bytes &&
                 memcmp(m.data, bytes, sizeof bytes) == 0)
            printf("client: %zu bytes, the last %u\n", m.len,
                   (unsigned)((const unsigned char *)m.data)[m.len - 1]);
        else
            rc = -EPROTO;
    }
    if (!rc) {
        rc = cio_ws_close(ws, CIO_WS_NORMAL, "done");
        printf("client: closed (%s), closing %s\n", rc ? cio_strerror(rc) : "ok",
               cio_ws_is_closing(ws) ? "yes" : "no");
    }
    cio_ws_free(ws);
    return rc;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_http_app *app;
    if (cio_http_app_new(&app) || cio_http_app_route(app, "GET", "/echo", echo, NULL))
        return -1;
    cio_addr addr;
    cio_addr_ip("127.0.0.1", 0, &addr);
    cio_http_server *srv;
    int rc = cio_http_server_new(app, &addr, NULL, &srv);
    if (rc == 0) {
        cio_http_server_addr(srv, &addr);
        rc = client(&addr);
        cio_http_server_close(srv, 1);
    }
    cio_http_app_free(app);
    if (rc)
        fprintf(stderr, "ws_echo: %s\n", cio_strerror(rc));
    return rc;
}

int main(void)
{
    return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1;
}
