/* lws_echo: the libwebsockets peer of ws_echo (Debian's libwebsockets-dev,
 * 4.1), written the way lws's own minimal echo server
 * (minimal-examples/ws-server/minimal-ws-server-echo and its protocol
 * plugin) does it:
 *
 *   - one protocol, the first of the list (a client naming no subprotocol
 *     gets it), with a per-session ring (lws_ring) of received messages;
 *   - LWS_CALLBACK_RECEIVE copies the fragment into a malloc'd buffer with
 *     LWS_PRE bytes of headroom, inserts it in the ring, asks for
 *     LWS_CALLBACK_SERVER_WRITEABLE (lws_callback_on_writable) and stops
 *     reading (lws_rx_flow_control) when the ring is nearly full;
 *   - LWS_CALLBACK_SERVER_WRITEABLE writes the ring's oldest message with
 *     lws_write (the same type, first/final flags from lws_write_ws_flags),
 *     frees it, asks again while the ring holds more, and lets reading
 *     resume once there is room;
 *   - one thread, lws_service in a loop.
 *
 * No extensions (info.extensions NULL: permessage-deflate is never
 * negotiated, compression off as on every side), no TLS, no HTTP mounts.
 *
 * usage: libwebsockets_ws_echo PORT. Prints "ready" once it listens;
 * SIGTERM (bench/run) ends it. */
#include <libwebsockets.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RING_DEPTH 4096

struct msg {
    void *payload; /* malloc'd: LWS_PRE + len */
    size_t len;
    char binary, first, final;
};

struct session {
    struct lws_ring *ring;
    uint32_t tail;
    char flow_controlled;
};

static volatile sig_atomic_t interrupted;

static void destroy_message(void *m)
{
    struct msg *msg = m;
    free(msg->payload);
    msg->payload = NULL;
    msg->len = 0;
}

static int callback_echo(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    struct session *pss = user;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        pss->ring = lws_ring_create(sizeof(struct msg), RING_DEPTH, destroy_message);
        if (!pss->ring)
            return 1;
        pss->tail = 0;
        break;

    case LWS_CALLBACK_SERVER_WRITEABLE: {
        const struct msg *pmsg = lws_ring_get_element(pss->ring, &pss->tail);
        if (!pmsg)
            break;
        int flags = lws_write_ws_flags(pmsg->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT,
                                       pmsg->first, pmsg->final);
        int m = lws_write(wsi, (unsigned char *)pmsg->payload + LWS_PRE, pmsg->len,
                          (enum lws_write_protocol)flags);
        if (m < (int)pmsg->len) {
            lwsl_err("lws_write failed: %d\n", m);
            return -1;
        }
        lws_ring_consume_single_tail(pss->ring, &pss->tail, 1);
        if (lws_ring_get_element(pss->ring, &pss->tail))
            lws_callback_on_writable(wsi);
        if (pss->flow_controlled && lws_ring_get_count_free_elements(pss->ring) > RING_DEPTH - 5) {
            lws_rx_flow_control(wsi, 1);
            pss->flow_controlled = 0;
        }
        break;
    }

    case LWS_CALLBACK_RECEIVE: {
        if (!lws_ring_get_count_free_elements(pss->ring)) {
            lwsl_err("ring full: dropping a message\n");
            break;
        }
        struct msg amsg = {
            .len = len,
            .binary = (char)lws_frame_is_binary(wsi),
            .first = (char)lws_is_first_fragment(wsi),
            .final = (char)lws_is_final_fragment(wsi),
        };
        amsg.payload = malloc(LWS_PRE + len);
        if (!amsg.payload) {
            lwsl_err("out of memory\n");
            break;
        }
        memcpy((char *)amsg.payload + LWS_PRE, in, len);
        if (!lws_ring_insert(pss->ring, &amsg, 1)) {
            destroy_message(&amsg);
            break;
        }
        lws_callback_on_writable(wsi);
        if (lws_ring_get_count_free_elements(pss->ring) < 2) {
            lws_rx_flow_control(wsi, 0);
            pss->flow_controlled = 1;
        }
        break;
    }

    case LWS_CALLBACK_CLOSED:
        if (pss->ring)
            lws_ring_destroy(pss->ring);
        pss->ring = NULL;
        break;

    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"lws-bench-echo", callback_echo, sizeof(struct session), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: libwebsockets_ws_echo PORT\n");
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = atoi(argv[1]);
    info.iface = "127.0.0.1";
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
    struct lws_context *context = lws_create_context(&info);
    if (!context) {
        fprintf(stderr, "lws_create_context failed\n");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    int n = 0;
    while (n >= 0 && !interrupted)
        n = lws_service(context, 0);
    lws_context_destroy(context);
    return 0;
}
