/* Fragments, pings and the peer's close, over loopback: the client sends a
 * ping (cio_ws_ping) whose pong it sees with report_control, and one text
 * message in three fragments (cio_ws_send_fragment); the server
 * reassembles the message, echoes it with cio_ws_send_text, and closes
 * with a code of its own, which the client reads as a CIO_WS_CLOSE
 * message. */
#define _POSIX_C_SOURCE 200809L
#include <cio.h>
#include <cio/ws.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int chat(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    cio_ws *ws;
    if (cio_ws_accept(req, res, NULL, &ws))
        return 0;
    cio_ws_message m;
    if (cio_ws_recv(ws, &m) == 0 && m.type == CIO_WS_TEXT) {
        printf("server: one message of %zu bytes: %s\n", m.len, (const char *)m.data);
        char reply[128];
        snprintf(reply, sizeof reply, "you said: %s", (const char *)m.data);
        cio_ws_send_text(ws, reply);
    }
    /* 4000-4999: codes for applications. */
    int rc = cio_ws_close(ws, 4000, "see you");
    printf("server: close handshake %s\n", rc ? cio_strerror(rc) : "done");
    cio_ws_free(ws);
    return 0;
}

static int client(const char *url)
{
    cio_ws_options o = CIO_WS_OPTIONS(.report_control = true);
    cio_ws *ws;
    int rc = cio_ws_connect(NULL, url, &o, &ws);
    if (rc)
        return rc;
    /* A ping first: the server answers it as it reads (once it began its
     * close handshake, it would answer nothing more). */
    rc = cio_ws_ping(ws, "tick", 4);
    /* One message, three fragments; "é" is split between two of them. */
    if (!rc && (rc = cio_ws_send_fragment(ws, CIO_WS_TEXT, "caf", 3, false)) == 0 &&
        (rc = cio_ws_send_fragment(ws, CIO_WS_TEXT, "\xc3", 1, false)) == 0)
        rc = cio_ws_send_fragment(ws, CIO_WS_TEXT, "\xa9 au lait", 9, true);
    int seen = 0; /* the pong, the echo, the close */
    while (!rc) {
        cio_ws_message m;
        rc = cio_ws_recv(ws, &m);
        if (rc)
            break;
        if (m.type == CIO_WS_PONG) {
            printf("client: pong \"%s\"\n", (const char *)m.data);
            seen |= 1;
        } else if (m.type == CIO_WS_TEXT) {
            printf("client: %s\n", (const char *)m.data);
            seen |= 2;
        } else if (m.type == CIO_WS_CLOSE) {
            printf("client: the server closed: %d \"%s\"\n", m.code, (const char *)m.data);
            seen |= m.code == 4000 ? 4 : 0;
            break;
        }
    }
    if (!rc && seen != 7)
        rc = -EPROTO;
    cio_ws_free(ws);
    return rc;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_http_app *app;
    if (cio_http_app_new(&app) || cio_http_app_route(app, "GET", "/chat", chat, NULL))
        return -1;
    cio_addr addr;
    cio_addr_ip("127.0.0.1", 0, &addr);
    cio_http_server *srv;
    int rc = cio_http_server_new(app, &addr, NULL, &srv);
    if (rc == 0) {
        cio_http_server_addr(srv, &addr);
        char url[64];
        snprintf(url, sizeof url, "ws://127.0.0.1:%u/chat", (unsigned)cio_addr_port(&addr));
        rc = client(url);
        cio_http_server_close(srv, 1);
    }
    cio_http_app_free(app);
    if (rc)
        fprintf(stderr, "ws_fragments: %s\n", cio_strerror(rc));
    return rc;
}

int main(void)
{
    return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1;
}
