/* ws_chat.c: a chat room over WebSocket. A member's connection runs in the
 * server's handler task, which reads what the member says; what the room
 * says to a member goes through that member's queue to a writer task of its
 * own, so a slow member never holds the room back (its queue fills up and
 * it misses lines instead). Two clients in the same program join, talk and
 * leave. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cio.h>

#define ROOM_SIZE 16

struct member {
    cio_ws *ws;
    cio_queue *out; /* lines to send, malloc'd */
    char name[32];
};

static struct member *room[ROOM_SIZE];

/* Says text to everyone in the room, never waiting. */
static void say(const char *text)
{
    for (int i = 0; i < ROOM_SIZE; i++) {
        if (!room[i])
            continue;
        char *line = strdup(text);
        if (line && cio_queue_put_nowait(room[i]->out, line) != 0)
            free(line); /* that member's queue is full: it misses this line */
    }
}

/* One per member: sends what the room says, until the queue shuts down. */
static int writer(void *arg, void **result)
{
    (void)result;
    struct member *m = arg;
    void *line;
    while (cio_queue_get(m->out, &line) == 0) {
        int err = cio_ws_send_text(m->ws, line);
        free(line);
        if (err)
            break; /* the member is gone */
    }
    return 0;
}

/* GET /chat?name=NAME: one member, for as long as the connection lives. */
static int chat(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    struct member m = {0};
    const char *name = cio_http_request_query(req, "name");
    snprintf(m.name, sizeof m.name, "%s", name ? name : "anonymous");
    if (cio_ws_accept(req, res, NULL, &m.ws) != 0)
        return 0; /* not a WebSocket handshake: answered with 400 already */
    int slot = 0;
    while (slot < ROOM_SIZE && room[slot])
        slot++;
    cio_task *w = NULL;
    if (slot == ROOM_SIZE || cio_queue_new(CIO_QUEUE_FIFO, 64, NULL, &m.out) != 0) {
        cio_ws_close(m.ws, CIO_WS_GOING_AWAY, "the room is full");
        cio_ws_free(m.ws);
        return 0;
    }
    if (cio_spawn(writer, &m, &w) != 0) {
        cio_queue_free(m.out);
        cio_ws_free(m.ws);
        return 0;
    }
    room[slot] = &m;
    char line[256];
    snprintf(line, sizeof line, "* %s joined", m.name);
    say(line);
    for (;;) {
        cio_ws_message msg;
        if (cio_ws_recv(m.ws, &msg) != 0 || msg.type == CIO_WS_CLOSE)
            break; /* a close is answered already */
        if (msg.type == CIO_WS_TEXT) {
            snprintf(line, sizeof line, "%s: %s", m.name, (const char *)msg.data);
            say(line);
        }
    }
    room[slot] = NULL;
    snprintf(line, sizeof line, "* %s left", m.name);
    say(line);
    /* The writer sends what is left (or fails to: the member is gone). */
    cio_queue_shutdown(m.out, false);
    cio_await(w, NULL);
    cio_future_unref(w);
    void *rest;
    while (cio_queue_get_nowait(m.out, &rest) == 0)
        free(rest);
    cio_queue_free(m.out);
    cio_ws_free(m.ws);
    return 0;
}

static cio_ws *join(const cio_addr *server, const char *name)
{
    char url[128];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/chat?name=%s", (unsigned)cio_addr_port(server),
             name);
    cio_ws *ws = NULL;
    int err = cio_ws_connect(NULL, url, NULL, &ws);
    if (err)
        printf("%s could not join: %s\n", name, cio_strerror(err));
    return ws;
}

/* Prints the next line a client gets. */
static int show(cio_ws *ws, const char *who)
{
    cio_ws_message msg;
    int err = cio_ws_recv(ws, &msg);
    if (err)
        return err;
    if (msg.type != CIO_WS_TEXT)
        return -EPROTO;
    printf("[%s] %s\n", who, (const char *)msg.data);
    return 0;
}

static int leave(cio_ws *ws, const char *who)
{
    int err = cio_ws_close(ws, CIO_WS_NORMAL, "bye");
    printf("[%s] left the room: %s\n", who, err ? cio_strerror(err) : "ok");
    cio_ws_free(ws);
    return err;
}

static int main_task(void *arg, void **result)
{
    (void)result;
    cio_http_app *app = arg;
    cio_addr addr;
    cio_addr_parse("127.0.0.1:0", &addr);
    cio_http_server *srv;
    int err = cio_http_server_new(app, &addr, NULL, &srv);
    if (err)
        return err;
    cio_http_server_addr(srv, &addr);

    /* Each client reads the lines meant for it in the order the room said
     * them; waiting for a line before the next step keeps the story in
     * order. */
    cio_ws *alice = NULL, *bob = NULL;
    err = -1;
    if (!(alice = join(&addr, "alice")) || show(alice, "alice"))
        goto out;
    if (!(bob = join(&addr, "bob")) || show(bob, "bob") || show(alice, "alice"))
        goto out;
    if (cio_ws_send_text(alice, "hi bob") || show(alice, "alice") || show(bob, "bob"))
        goto out;
    if (cio_ws_send_text(bob, "hello alice") || show(bob, "bob") || show(alice, "alice"))
        goto out;
    err = leave(bob, "bob");
    bob = NULL;
    if (!err)
        err = show(alice, "alice"); /* the room says bob left */
out:
    cio_ws_free(bob);
    if (alice) {
        int lerr = leave(alice, "alice");
        if (!err)
            err = lerr;
    }

    int cerr = cio_http_server_close(srv, 1.0);
    return err ? err : cerr;
}

int main(void)
{
    cio_http_app *app;
    if (cio_http_app_new(&app) || cio_http_app_route(app, "GET", "/chat", chat, NULL))
        return 1;
    int err = cio_run(main_task, app, NULL);
    cio_http_app_free(app);
    return err ? 1 : 0;
}
