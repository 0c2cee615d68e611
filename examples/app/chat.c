/* The demo app's WebSocket chat room (docs/demo.md).
 *
 * GET /chat upgrades to a WebSocket (cio_ws_accept) and makes the
 * connection a member of the one room. The handler's task is the member's
 * receiving task: every text message it receives is broadcast to every
 * member, the sender included, as JSON ({"type":"message","from":NAME,
 * "text":TEXT}); members joining and leaving are announced the same way.
 *
 * A broadcast must not wait for any member: one slow reader would stall
 * the room. So each member has a bounded queue of outgoing messages and a
 * task of its own, the sender, that takes them out and sends them; the
 * receiving task only puts (cio_queue_put_nowait, never waiting). A member
 * whose queue is full has fallen DEMO_CHAT_QUEUE messages behind: it is
 * dropped (closed with 1008, "policy violation", saying why), and the room
 * goes on. A message is built once and shared, reference-counted, by the
 * queues it sits in.
 *
 * Dropping happens in another member's task, while the dropped member's own
 * task waits in cio_ws_recv for a message that may never come. That task
 * receives inside a deadline scope without a deadline (its "life"); the
 * task that drops it moves the deadline to now (cio_scope_reschedule), so
 * its cio_ws_recv returns -ETIMEDOUT and it ends the member itself. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "app.h"

struct chat_msg {
    unsigned refs;
    size_t len;
    char data[];
};

struct member {
    struct member *prev, *next; /* the room's list, while in_room */
    struct demo_room *room;
    cio_ws *ws;
    cio_queue *out;   /* struct chat_msg *, DEMO_CHAT_QUEUE at most */
    cio_task *sender; /* takes from out, sends on ws */
    cio_scope *life;  /* the receiving task's deadline scope, while it is open */
    bool in_room;
    bool dropped; /* fell behind: closed with 1008 */
    char name[32];
};

struct demo_room {
    struct member *first;
    size_t count;       /* members in the room */
    size_t connections; /* members' connections still open (a member dropped is
                           out of the room before its connection is closed) */
    unsigned last_id;
};

int demo_room_new(struct demo *d)
{
    d->room = calloc(1, sizeof *d->room);
    return d->room ? 0 : -ENOMEM;
}

size_t demo_room_members(const struct demo *d)
{
    return d->room ? d->room->count : 0;
}

size_t demo_room_connections(const struct demo *d)
{
    return d->room ? d->room->connections : 0;
}

void demo_room_free(struct demo *d)
{
    /* Every member's handler has ended (the server is closed): the room is
     * empty. */
    free(d->room);
    d->room = NULL;
}

static void msg_unref(struct chat_msg *m)
{
    if (m && --m->refs == 0) free(m);
}

/* A message from a JSON object (consumed). NULL when out of memory. */
static struct chat_msg *msg_from_json(cJSON *o)
{
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!text) return NULL;
    size_t len = strlen(text);
    struct chat_msg *m = malloc(sizeof *m + len + 1);
    if (m) {
        m->refs = 1;
        m->len = len;
        memcpy(m->data, text, len + 1);
    }
    cJSON_free(text);
    return m;
}

static struct chat_msg *notice(const char *type, const char *from, size_t members)
{
    cJSON *o = cJSON_CreateObject();
    if (o && cJSON_AddStringToObject(o, "type", type) && cJSON_AddStringToObject(o, "from", from) &&
        cJSON_AddNumberToObject(o, "members", (double)members))
        return msg_from_json(o);
    cJSON_Delete(o);
    return NULL;
}

static void room_add(struct demo_room *r, struct member *m)
{
    m->prev = NULL;
    m->next = r->first;
    if (r->first) r->first->prev = m;
    r->first = m;
    r->count++;
    m->in_room = true;
}

static void room_remove(struct demo_room *r, struct member *m)
{
    if (!m->in_room) return;
    if (m->prev)
        m->prev->next = m->next;
    else
        r->first = m->next;
    if (m->next) m->next->prev = m->prev;
    m->prev = m->next = NULL;
    r->count--;
    m->in_room = false;
}

/* Empties m's queue, dropping the references it held. */
static void drain(struct member *m)
{
    void *item;
    while (cio_queue_get_nowait(m->out, &item) == 0)
        msg_unref(item);
}

/* Takes m out of the room without waiting for anything: no more messages
 * are queued for it, its queue is emptied and shut down, its sender is
 * cancelled (it may be waiting for m's socket to drain, which a reader that
 * stopped reading never does), and m's own task is woken from cio_ws_recv
 * (its life scope expires) to close the connection with 1008. */
static void drop(struct member *m)
{
    room_remove(m->room, m);
    m->dropped = true;
    drain(m);
    cio_queue_shutdown(m->out, false);
    if (!cio_future_is_done(m->sender)) cio_future_cancel(m->sender);
    if (m->life) cio_scope_reschedule(m->life, 0);
}

/* Queues msg for every member, dropping those whose queue is full, and
 * tells the others about each one dropped. Never suspends. */
static void broadcast(struct demo_room *r, struct chat_msg *msg)
{
    struct member *dropped = NULL; /* announced once the list walk is over */
    for (struct member *m = r->first, *next; m; m = next) {
        next = m->next; /* drop(m) unlinks m only */
        msg->refs++;
        int rc = cio_queue_put_nowait(m->out, msg);
        if (rc < 0) {
            msg->refs--;
            if (rc == -EAGAIN)
                fprintf(stderr, "cio-demo: chat: %s fell %d messages behind: dropped\n", m->name,
                        DEMO_CHAT_QUEUE);
            else
                fprintf(stderr, "cio-demo: chat: %s: %s: dropped\n", m->name, cio_strerror(rc));
            drop(m);
            m->next = dropped;
            dropped = m;
        }
    }
    /* Each announcement may drop more members; each drop shrinks the room,
     * so this recursion is as deep as the room is large at most. */
    while (dropped) {
        struct member *m = dropped;
        dropped = m->next;
        m->next = NULL;
        struct chat_msg *bye = notice("dropped", m->name, r->count);
        if (bye) broadcast(r, bye);
        msg_unref(bye);
    }
}

/* The sender task of one member. */
static int sender(void *arg, void **result)
{
    (void)result;
    struct member *m = arg;
    int rc;
    for (;;) {
        void *item;
        rc = cio_queue_get(m->out, &item);
        if (rc < 0) break; /* -ESHUTDOWN: the member left; -ECANCELED: dropped */
        struct chat_msg *msg = item;
        rc = cio_ws_send(m->ws, CIO_WS_TEXT, msg->data, msg->len);
        msg_unref(msg);
        if (rc < 0) break;
    }
    return rc; /* always an error: the member's task awaits it and drops it */
}

static void member_free(struct member *m)
{
    if (m->ws) m->room->connections--;
    if (m->out) {
        drain(m);
        cio_queue_free(m->out);
    }
    cio_ws_free(m->ws);
    free(m);
}

/* Ends m: out of the room (announced to the others), its sender stopped and
 * awaited, the connection closed. */
static void leave(struct member *m)
{
    struct demo_room *r = m->room;
    if (m->in_room) { /* a member dropped was announced then */
        room_remove(r, m);
        struct chat_msg *bye = notice("leave", m->name, r->count);
        if (bye) broadcast(r, bye);
        msg_unref(bye);
    }
    drain(m);
    cio_queue_shutdown(m->out, false);
    if (m->sender) {
        if (!cio_future_is_done(m->sender)) cio_future_cancel(m->sender);
        /* This task may be cancelled itself (the server shutting down):
         * the sender still has to end before m goes. */
        cio_scope shield;
        cio_shield_begin(&shield);
        cio_await(m->sender, NULL);
        /* A member dropped is told why, now that nothing else sends.
         * cio_ws_close waits close_timeout at most for the peer's answer
         * (a reader that stopped reading never gives one). */
        if (m->dropped && !cio_ws_is_closing(m->ws))
            cio_ws_close(m->ws, CIO_WS_POLICY, "too slow: messages piled up");
        cio_scope_end(&shield);
        cio_future_unref(m->sender);
    }
    member_free(m);
}

static int chat(cio_http_request *req, cio_http_response *res, void *arg)
{
    struct demo *d = arg;
    struct demo_room *r = d->room;
    struct member *m = calloc(1, sizeof *m);
    if (!m) return -ENOMEM;
    m->room = r;
    int rc = cio_queue_new(CIO_QUEUE_FIFO, DEMO_CHAT_QUEUE, NULL, &m->out);
    if (rc == 0)
        rc = cio_ws_accept(req, res,
                           &CIO_WS_OPTIONS(.max_message = DEMO_CHAT_MAX_MESSAGE,
                                           .ping_interval = 30, .close_timeout = 3),
                           &m->ws);
    if (rc < 0) {
        member_free(m);
        /* -EPROTO: not a WebSocket handshake; cio_ws_accept answered it. */
        return rc == -EPROTO ? 0 : rc;
    }
    r->connections++;
    snprintf(m->name, sizeof m->name, "guest-%u", ++r->last_id);
    rc = cio_spawn_with(&CIO_TASK_OPTIONS(.name = "chat-sender"), sender, m, &m->sender);
    if (rc < 0) {
        m->sender = NULL;
        member_free(m);
        return rc;
    }
    /* Its life: a deadline scope with no deadline, until another task ends
     * it (drop). */
    cio_scope life;
    cio_deadline_begin(&life, INFINITY);
    m->life = &life;
    /* First to the newcomer alone (its queue is empty: this cannot fail
     * for want of room), then to everyone. */
    struct chat_msg *hi = notice("welcome", m->name, r->count + 1);
    if (hi && cio_queue_put_nowait(m->out, hi) < 0) msg_unref(hi);
    room_add(r, m);
    struct chat_msg *join = notice("join", m->name, r->count);
    if (join) broadcast(r, join);
    msg_unref(join);

    for (;;) {
        cio_ws_message in;
        rc = cio_ws_recv(m->ws, &in);
        if (rc < 0 || in.type == CIO_WS_CLOSE) break;
        if (in.type != CIO_WS_TEXT || in.len == 0 || !m->in_room) continue;
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddStringToObject(o, "type", "message") ||
            !cJSON_AddStringToObject(o, "from", m->name) ||
            !cJSON_AddStringToObject(o, "text", in.data)) {
            cJSON_Delete(o);
            continue;
        }
        struct chat_msg *msg = msg_from_json(o);
        if (msg) broadcast(r, msg);
        msg_unref(msg);
    }
    m->life = NULL;
    cio_scope_end(&life); /* -ETIMEDOUT when dropped: that was the point */
    leave(m);
    /* The peer closing, breaking off or sending garbage ends the member,
     * not the server; a cancellation is passed on. */
    return rc == -ECANCELED ? rc : 0;
}

int demo_chat_routes(cio_http_app *app, struct demo *d)
{
    return cio_http_app_route(app, "GET", "/chat", chat, d);
}
