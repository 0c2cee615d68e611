/* WebSocket connections (RFC 6455) with permessage-deflate (RFC 7692):
 * the opening handshakes (server: cio_ws_accept over cio__http_takeover;
 * client: cio_ws_connect), sending, receiving, the close handshake, and
 * the ping keep-alive. The codec is ws_frame.c.
 *
 * Flow control is the stream's own: a frame goes out with one stream
 * write (so frames of different tasks never mix), which suspends the
 * sender while the write buffer is over its high-water mark; the receiver
 * reads the socket only while a task is in cio_ws_recv. Control frames are
 * written without the send lock (RFC 6455 §5.4 lets them sit between the
 * fragments of a message); the lock only keeps another task's message out
 * of a fragmented one.
 *
 * Nothing is allocated per message on the echo path: received payloads
 * are unmasked straight from the stream's buffer into the connection's
 * message buffer (kept), a server's frames go out as header and payload
 * in one writev, a client's are masked into a kept send buffer. */
#include <ctype.h>
#include <errno.h>
#include <llhttp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "../common/opts.h"
#include "cio/net.h"
#include "cio/sync.h"
#include "cio/task.h"
#include "cio/tls.h"
#include "internal.h"
#include "ws_frame.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* The write buffer's marks, set on every WebSocket stream so cio_ws_free
 * knows when a close frame can go out without waiting. */
#define WS_HIGH_WATER (64 * 1024)
#define WS_LOW_WATER (16 * 1024)
/* Kept buffers bigger than this are given back after use. */
#define WS_KEEP_MAX (256 * 1024)
#define WS_MAX_HANDSHAKE 16384
/* Frames up to this payload are assembled on the stack and written whole. */
#define WS_SMALL 256

struct cio_ws {
    cio_stream *s;
    cio_loop *loop;
    bool server;     /* our role: a server receives masked frames */
    bool own_stream; /* client: the stream is ours to close */
    cio_tls_config *tls; /* a client's default TLS configuration (fallback) */
    cio_addr peer;
    /* Options (defaults filled in). */
    size_t max_message;
    double ping_interval, ping_timeout, close_timeout;
    size_t deflate_min;
    bool report_control;
    char *protocol;
    /* permessage-deflate. */
    struct cio__ws_pmd pmd;
    struct cio__ws_zip tx, rx;
    uint8_t *zbuf; /* compressed output */
    size_t zcap;
    /* Sending. */
    cio_lock *lock;       /* held by a task through a fragmented message */
    cio_task *frag_owner; /* that task */
    int frag_type;
    uint8_t *sbuf; /* a client's masked payloads */
    size_t scap;
    uint8_t rnd[512]; /* masking keys, drawn 4 bytes at a time */
    size_t rnd_pos;
    /* Receiving. */
    bool receiving;
    uint8_t *rbuf; /* the message being assembled (NUL-terminated when done) */
    size_t rlen, rcap;
    int msg_type;  /* the message in progress (opcode), 0: none */
    bool msg_zip;  /* it is compressed */
    bool msg_ret;  /* rbuf holds a message returned: drop it at the next call */
    uint8_t utf8;
    bool in_frame;  /* a data frame's payload is being read */
    struct cio__ws_header fh;
    uint64_t fgot;  /* its payload bytes read */
    uint8_t ctl[128]; /* a control frame's payload (NUL-terminated) */
    /* Closing. */
    bool close_sent, close_received;
    bool shut;      /* the connection is closed (or failed) */
    bool recv_done; /* cio_ws_recv returned the end: later calls -EPIPE */
    cio_event *close_ev; /* cio_ws_close waits here while another task receives */
    double close_by;     /* the close handshake's one deadline (0: not begun) */
    bool close_expired;  /* it passed unanswered: the receiver returns 1006 */
    cio_scope *recv_sc;  /* cio_ws_recv's scope, expired to wake the receiver */
    /* Keep-alive. */
    double last_rx;
    bool ping_out;
    double ping_at;
    cio_scope *wait_sc;
    cio_handle ka_timer;
    bool ka_armed;
    double ka_at;
};

/* ---- Small helpers --------------------------------------------------------------- */

static size_t ws_grow_to(size_t cap, size_t need)
{
    size_t c = cap ? cap : 1024;
    while (c < need)
        c *= 2;
    return c;
}

static int buf_reserve(uint8_t **buf, size_t *cap, size_t need)
{
    if (*cap >= need)
        return 0;
    size_t c = ws_grow_to(*cap, need);
    uint8_t *p = realloc(*buf, c);
    if (!p)
        return -ENOMEM;
    *buf = p;
    *cap = c;
    return 0;
}

static void buf_trim(uint8_t **buf, size_t *cap)
{
    if (*cap > WS_KEEP_MAX) {
        free(*buf);
        *buf = NULL;
        *cap = 0;
    }
}

/* Whether the comma-separated list v holds token (case-insensitive). */
static bool list_has(const char *v, const char *token)
{
    size_t tl = strlen(token);
    while (v && *v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        const char *s = v;
        while (*v && *v != ',')
            v++;
        const char *e = v;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (cio__http_ieq(s, (size_t)(e - s), token, tl))
            return true;
    }
    return false;
}

static bool utf8_ok(const void *s, size_t n)
{
    return cio__utf8_step(CIO__UTF8_OK, s, n) == CIO__UTF8_OK;
}

/* Sec-WebSocket-Accept for key (28 characters and a NUL into out). */
static void accept_value(const char *key, size_t klen, char out[29])
{
    unsigned char md[SHA_DIGEST_LENGTH];
    char in[24 + sizeof WS_GUID];
    if (klen > 24)
        klen = 24; /* keys are checked to be 24 characters */
    memcpy(in, key, klen);
    memcpy(in + klen, WS_GUID, sizeof WS_GUID - 1);
    SHA1((const unsigned char *)in, klen + sizeof WS_GUID - 1, md);
    EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}

/* A Sec-WebSocket-Key: base64 of 16 bytes (22 characters and "=="). */
static bool key_ok(const char *k)
{
    if (!k || strlen(k) != 24 || k[22] != '=' || k[23] != '=')
        return false;
    for (int i = 0; i < 22; i++)
        if (!isalnum((unsigned char)k[i]) && k[i] != '+' && k[i] != '/')
            return false;
    return true;
}

/* ---- Options and the object ---------------------------------------------------------- */

static int take_options(cio_ws_options *o, const cio_ws_options *in)
{
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    int rc = cio__opts_copy(o, sizeof *o, in);
    if (rc)
        return rc;
    if (!o->max_message)
        o->max_message = 1024 * 1024;
    if (isnan(o->ping_interval) || o->ping_interval < 0 || isnan(o->ping_timeout) ||
        o->ping_timeout < 0 || isnan(o->close_timeout) || o->close_timeout < 0 ||
        isnan(o->timeout) || o->timeout < 0)
        return -EINVAL;
    if (o->max_message > ((size_t)1 << 48))
        return -EINVAL;
    if (!o->ping_timeout)
        o->ping_timeout = 20;
    if (!o->close_timeout)
        o->close_timeout = 10;
    if (!o->timeout)
        o->timeout = 30;
    if (o->deflate_level < 0 || o->deflate_level > 9)
        return -EINVAL;
    if (!o->deflate_level)
        o->deflate_level = 6;
    if (!o->deflate_min)
        o->deflate_min = 64;
    if (o->nheaders && !o->headers)
        return -EINVAL;
    for (size_t i = 0; i < o->nheaders; i++) {
        const cio_http_field *f = &o->headers[i];
        if (!f->name || !f->value || !cio__http_is_token(f->name, strlen(f->name)) ||
            !cio__http_is_field_value(f->value, strlen(f->value)))
            return -EINVAL;
    }
    if (o->origin && !cio__http_is_field_value(o->origin, strlen(o->origin)))
        return -EINVAL;
    if (o->protocols) {
        /* Tokens separated by commas, with optional whitespace around
         * the commas only: "a, b,c"; not " a", "a b", "a,,b", "a,". */
        const char *p = o->protocols;
        for (;;) {
            const char *s = p;
            while (*p && *p != ',' && *p != ' ' && *p != '\t')
                p++;
            if (!cio__http_is_token(s, (size_t)(p - s)))
                return -EINVAL;
            const char *ws_at = p;
            while (*p == ' ' || *p == '\t')
                p++;
            if (!*p && p == ws_at)
                break;
            if (*p != ',')
                return -EINVAL; /* whitespace inside an element or at the end */
            p++;
            while (*p == ' ' || *p == '\t')
                p++;
        }
    }
    return 0;
}

static int ws_new(const cio_ws_options *o, bool server, cio_ws **out)
{
    cio_ws *ws = calloc(1, sizeof *ws);
    if (!ws)
        return -ENOMEM;
    if (cio_lock_new(&ws->lock)) {
        free(ws);
        return -ENOMEM;
    }
    ws->loop = cio_current_loop();
    ws->server = server;
    ws->max_message = o->max_message;
    ws->ping_interval = o->ping_interval;
    ws->ping_timeout = o->ping_timeout;
    ws->close_timeout = o->close_timeout;
    ws->deflate_min = o->deflate_min;
    ws->report_control = o->report_control;
    ws->tx.level = o->deflate_level;
    ws->rnd_pos = sizeof ws->rnd;
    ws->last_rx = cio_loop_time(ws->loop);
    *out = ws;
    return 0;
}

/* Applies negotiated deflate parameters to the two directions. */
static void pmd_apply(cio_ws *ws)
{
    const struct cio__ws_pmd *p = &ws->pmd;
    if (ws->server) {
        ws->tx.window_bits = p->server_max_window_bits;
        ws->tx.no_takeover = p->server_no_context_takeover;
        ws->rx.no_takeover = p->client_no_context_takeover;
    } else {
        ws->tx.window_bits = p->client_max_window_bits;
        ws->tx.no_takeover = p->client_no_context_takeover;
        ws->rx.no_takeover = p->server_no_context_takeover;
    }
    /* A bigger window than the sender's decodes anything it sends. */
    ws->rx.window_bits = 15;
}

/* ---- Writing frames ------------------------------------------------------------------------ */

static void mask_key(cio_ws *ws, uint8_t key[4])
{
    /* RFC 6455 §10.3 asks for unpredictable keys, not a system call per
     * frame: they come from a pool of random bytes refilled in bulk. */
    if (ws->rnd_pos + 4 > sizeof ws->rnd) {
        if (RAND_bytes(ws->rnd, sizeof ws->rnd) != 1) {
            /* OpenSSL's generator failed: the keys still differ. */
            for (size_t i = 0; i < sizeof ws->rnd; i++)
                ws->rnd[i] = (uint8_t)(ws->rnd[i] * 31 + i + (uintptr_t)ws);
        }
        ws->rnd_pos = 0;
    }
    memcpy(key, ws->rnd + ws->rnd_pos, 4);
    ws->rnd_pos += 4;
}

/* Writes one frame with one stream write. in_place: data may be masked
 * where it is (the connection's own compressed output). */
static int write_frame(cio_ws *ws, int opcode, bool fin, bool rsv1, const void *data,
                       size_t len, bool in_place)
{
    uint8_t hdr[CIO__WS_MAX_HEADER];
    size_t hl;
    struct iovec v[2];
    if (ws->server) {
        hl = cio__ws_header_write(hdr, opcode, fin, rsv1, len, NULL);
        if (len <= WS_SMALL) {
            /* A small frame goes out as one piece (one copy of a few
             * bytes beats a second iovec through the stream). */
            uint8_t small[CIO__WS_MAX_HEADER + WS_SMALL];
            memcpy(small, hdr, hl);
            if (len)
                memcpy(small + hl, data, len);
            return cio_stream_write(ws->s, small, hl + len);
        }
        v[1].iov_base = (void *)data;
    } else {
        uint8_t key[4];
        mask_key(ws, key);
        hl = cio__ws_header_write(hdr, opcode, fin, rsv1, len, key);
        if (in_place) {
            cio__ws_mask((uint8_t *)data, data, len, key, 0);
            v[1].iov_base = (void *)data;
        } else if (len <= WS_SMALL) {
            /* Small payloads ride in the header's buffer. */
            uint8_t small[CIO__WS_MAX_HEADER + WS_SMALL];
            memcpy(small, hdr, hl);
            cio__ws_mask(small + hl, data, len, key, 0);
            return cio_stream_write(ws->s, small, hl + len);
        } else {
            if (buf_reserve(&ws->sbuf, &ws->scap, len))
                return -ENOMEM;
            cio__ws_mask(ws->sbuf, data, len, key, 0);
            v[1].iov_base = ws->sbuf;
        }
    }
    v[0].iov_base = hdr;
    v[0].iov_len = hl;
    v[1].iov_len = len;
    /* writev copies everything before it may suspend: sbuf is free again
     * once it returns, whatever it returns. */
    int rc = cio_stream_writev(ws->s, v, len ? 2 : 1);
    if (!ws->server)
        buf_trim(&ws->sbuf, &ws->scap);
    return rc;
}

/* A control frame (never compressed, at most 125 bytes). */
static int write_control(cio_ws *ws, int opcode, const void *data, size_t len)
{
    return write_frame(ws, opcode, true, false, data, len, false);
}

/* Sends a close frame (code 0: none) once. */
static int send_close(cio_ws *ws, int code, const char *reason, size_t rlen)
{
    if (ws->close_sent)
        return 0;
    ws->close_sent = true;
    uint8_t p[125];
    size_t n = 0;
    if (code) {
        p[0] = (uint8_t)(code >> 8);
        p[1] = (uint8_t)code;
        n = 2;
        if (rlen) {
            memcpy(p + 2, reason, rlen);
            n += rlen;
        }
    }
    return write_control(ws, CIO__WS_OP_CLOSE, p, n);
}

/* The close handshake's deadline, set when it begins: every wait of the
 * handshake (sending the close, waiting for the answer, the shutdown)
 * runs under this one deadline, so the whole takes close_timeout at most. */
static double close_deadline(cio_ws *ws)
{
    if (!ws->close_by)
        ws->close_by = cio_loop_time(ws->loop) + ws->close_timeout;
    return ws->close_by;
}

/* Ends the connection: a server's write side is shut (the http server
 * closes the connection when the handler returns; a client, told so by
 * the FIN, closes its side), a client's too after it saw the server's
 * close. Bounded by the close handshake's deadline. */
static void shut(cio_ws *ws)
{
    if (ws->shut)
        return;
    ws->shut = true;
    cio_scope sc;
    if (cio_deadline_begin(&sc, close_deadline(ws)) == 0) {
        cio_stream_shutdown(ws->s);
        cio_scope_end(&sc);
    }
    if (ws->close_ev)
        cio_event_set(ws->close_ev);
}

/* Fails the connection (RFC 6455 §7.1.7): the close frame with code, then
 * the end. CIO_WS_ABNORMAL (1006, never sent on the wire: a write failed)
 * sends no close frame. Returns err. */
static int fail(cio_ws *ws, int code, int err)
{
    ws->recv_done = true;
    if (!ws->close_sent && code != CIO_WS_ABNORMAL) {
        cio_scope sc;
        if (cio_deadline_begin(&sc, close_deadline(ws)) == 0) {
            send_close(ws, code, NULL, 0);
            cio_scope_end(&sc);
        }
    }
    shut(ws);
    return err;
}

/* ---- Keep-alive -------------------------------------------------------------------------------- */

static double ka_deadline(const cio_ws *ws)
{
    if (ws->ping_out)
        return ws->ping_at + ws->ping_timeout;
    return ws->ping_interval > 0 ? ws->last_rx + ws->ping_interval : INFINITY;
}

/* One timer per connection, armed lazily (as the http server's idle
 * timer): the receiver's wait runs in a scope with no deadline of its
 * own; the timer expires it once the keep-alive deadline has passed and
 * otherwise re-arms itself for the later deadline. */
static void ka_timer_cb(void *arg)
{
    cio_ws *ws = arg;
    ws->ka_armed = false;
    if (!ws->wait_sc)
        return;
    double now = cio_loop_time(ws->loop), until = ka_deadline(ws);
    if (now >= until) {
        cio_scope_reschedule(ws->wait_sc, now);
        return;
    }
    if (until < INFINITY &&
        cio_call_at(ws->loop, until, ka_timer_cb, ws, &ws->ka_timer) == 0) {
        ws->ka_armed = true;
        ws->ka_at = until;
    } else if (until < INFINITY) {
        cio_scope_reschedule(ws->wait_sc, until);
    }
}

/* cio_stream_peek under the keep-alive: sends a ping when nothing came
 * for ping_interval, fails with 1011 and -ETIMEDOUT when nothing came for
 * ping_timeout after a ping. */
static int wait_peek(cio_ws *ws, const uint8_t **d, size_t *n)
{
    const void *pd;
    int rc;
    if (ws->ping_interval <= 0 && !ws->ping_out) {
        rc = cio_stream_peek(ws->s, &pd, n);
        *d = pd;
        return rc;
    }
    for (;;) {
        double until = ka_deadline(ws);
        if (ws->ka_armed && ws->ka_at > until) {
            cio_timer_cancel(ws->loop, ws->ka_timer);
            ws->ka_armed = false;
        }
        if (!ws->ka_armed) {
            if (cio_call_at(ws->loop, until, ka_timer_cb, ws, &ws->ka_timer))
                return -ENOMEM;
            ws->ka_armed = true;
            ws->ka_at = until;
        }
        cio_scope sc;
        if ((rc = cio_deadline_begin(&sc, INFINITY)))
            return rc;
        ws->wait_sc = &sc;
        rc = cio_stream_peek(ws->s, &pd, n);
        ws->wait_sc = NULL;
        bool expired = rc == -ETIMEDOUT && cio_scope_is_expired(&sc);
        cio_scope_end(&sc);
        if (!expired) {
            if (!rc && *n) {
                ws->last_rx = cio_loop_time(ws->loop);
                ws->ping_out = false;
            }
            *d = pd;
            return rc;
        }
        if (ws->ping_out)
            return fail(ws, CIO_WS_INTERNAL, -ETIMEDOUT);
        static const char payload[] = "cio keep-alive";
        ws->ping_out = true;
        ws->ping_at = cio_loop_time(ws->loop);
        if ((rc = write_control(ws, CIO__WS_OP_PING, payload, sizeof payload - 1)))
            return fail(ws, CIO_WS_ABNORMAL, rc);
    }
}

/* ---- Receiving ---------------------------------------------------------------------------------- */

static bool close_code_ok(int code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

/* The end of the connection after the close handshake: a client waits
 * (close_timeout at most) for the server to close TCP first (§7.1.1). */
static void after_close(cio_ws *ws)
{
    if (!ws->server && !ws->shut) {
        cio_scope sc;
        if (cio_deadline_begin(&sc, close_deadline(ws)) == 0) {
            for (int i = 0; i < 1 << 20; i++) {
                const void *d;
                size_t n;
                if (cio_stream_peek(ws->s, &d, &n) || n == 0)
                    break;
                cio_stream_consume(ws->s, n);
            }
            cio_scope_end(&sc);
        }
    }
    shut(ws);
}

/* A complete control frame, payload unmasked in ws->ctl. Returns 1 with
 * *msg filled (a message for the caller), 0 to go on, or an error. */
static int on_control(cio_ws *ws, int opcode, size_t len, cio_ws_message *msg)
{
    ws->ctl[len] = 0;
    switch (opcode) {
    case CIO__WS_OP_PING:
        if (!ws->close_sent) {
            int rc = write_control(ws, CIO__WS_OP_PONG, ws->ctl, len);
            if (rc)
                return fail(ws, CIO_WS_ABNORMAL, rc);
        }
        if (!ws->report_control)
            return 0;
        *msg = (cio_ws_message){CIO_WS_PING, ws->ctl, len, 0};
        return 1;
    case CIO__WS_OP_PONG:
        ws->ping_out = false;
        if (!ws->report_control)
            return 0;
        *msg = (cio_ws_message){CIO_WS_PONG, ws->ctl, len, 0};
        return 1;
    default: { /* close */
        int code = CIO_WS_NO_STATUS;
        size_t off = 0;
        if (len == 1)
            return fail(ws, CIO_WS_PROTOCOL_ERROR, -EPROTO);
        if (len >= 2) {
            code = ws->ctl[0] << 8 | ws->ctl[1];
            if (!close_code_ok(code))
                return fail(ws, CIO_WS_PROTOCOL_ERROR, -EPROTO);
            if (!utf8_ok(ws->ctl + 2, len - 2))
                return fail(ws, CIO_WS_INVALID_DATA, -EILSEQ);
            off = 2;
        }
        ws->close_received = true;
        ws->recv_done = true;
        if (!ws->close_sent) {
            /* Echo the code (§5.5.1), without the reason. */
            cio_scope sc;
            if (cio_deadline_begin(&sc, close_deadline(ws)) == 0) {
                send_close(ws, code == CIO_WS_NO_STATUS ? 0 : code, NULL, 0);
                cio_scope_end(&sc);
            }
        }
        after_close(ws);
        memmove(ws->ctl, ws->ctl + off, len - off + 1);
        *msg = (cio_ws_message){CIO_WS_CLOSE, ws->ctl, len - off, code};
        return 1;
    }
    }
}

/* Checks a data or control frame's header against what may come now.
 * Returns 0 or the error returned after failing the connection. */
static int check_header(cio_ws *ws, const struct cio__ws_header *h)
{
    int op = h->opcode;
    bool control = op >= 8;
    if (h->rsv2 || h->rsv3)
        return fail(ws, CIO_WS_PROTOCOL_ERROR, -EPROTO);
    if (op != CIO__WS_OP_CONT && op != CIO__WS_OP_TEXT && op != CIO__WS_OP_BINARY &&
        op != CIO__WS_OP_CLOSE && op != CIO__WS_OP_PING && op != CIO__WS_OP_PONG)
        return fail(ws, CIO_WS_PROTOCOL_ERROR, -EPROTO);
    if (h->masked != ws->server)
        return fail(ws, CIO_WS_PROTOCOL_ERROR, -EPROTO);
    if (control) {
        if (!h->fin || h->len > 125 || h->rsv1)
            return fail(ws, CIO_WS_PROTOCOL_ERROR, -EPROTO);
        return 0;
    }
    if (op == CIO__WS_OP_CONT) {
        if (!ws->msg_type || h->rsv1)
            return fail(ws, CIO_WS_PROTOCOL_ERROR, -EPROTO);
    } else {
        if (ws->msg_type)
            return fail(ws, CIO_WS_PROTOCOL_ERROR, -EPROTO);
        if (h->rsv1 && !ws->pmd.on)
            return fail(ws, CIO_WS_PROTOCOL_ERROR, -EPROTO);
    }
    return 0;
}

/* Payload bytes d[0..n) of the data frame being read: unmasked into the
 * message (inflated when compressed), text validated. */
static int on_payload(cio_ws *ws, const uint8_t *d, size_t n, bool last)
{
    size_t before = ws->rlen;
    if (!ws->msg_zip) {
        if (ws->fh.masked)
            cio__ws_mask(ws->rbuf + ws->rlen, d, n, ws->fh.key, ws->fgot);
        else
            memcpy(ws->rbuf + ws->rlen, d, n);
        ws->rlen += n;
    } else {
        const uint8_t *in = d;
        if (ws->fh.masked && n) {
            if (buf_reserve(&ws->zbuf, &ws->zcap, n))
                return fail(ws, CIO_WS_INTERNAL, -ENOMEM);
            cio__ws_mask(ws->zbuf, d, n, ws->fh.key, ws->fgot);
            in = ws->zbuf;
        }
        int rc = cio__ws_inflate(&ws->rx, in, n, last && ws->fh.fin, ws->max_message,
                                 &ws->rbuf, &ws->rlen, &ws->rcap);
        if (rc == -EMSGSIZE)
            return fail(ws, CIO_WS_TOO_BIG, -EMSGSIZE);
        if (rc == -EILSEQ)
            return fail(ws, CIO_WS_INVALID_DATA, -EILSEQ);
        if (rc)
            return fail(ws, CIO_WS_INTERNAL, rc);
    }
    if (ws->msg_type == CIO__WS_OP_TEXT) {
        ws->utf8 = cio__utf8_step(ws->utf8, ws->rbuf + before, ws->rlen - before);
        if (ws->utf8 == CIO__UTF8_BAD)
            return fail(ws, CIO_WS_INVALID_DATA, -EILSEQ);
    }
    return 0;
}

/* Processes the bytes d[0..n) shown by a peek: *used says how many were
 * taken. Returns 1 (a message in *msg), 0 (more bytes needed), or an
 * error. */
static int process(cio_ws *ws, const uint8_t *d, size_t n, size_t *used, cio_ws_message *msg)
{
    size_t u = 0;
    int rc = 0;
    while (!rc) {
        if (!ws->in_frame) {
            struct cio__ws_header h;
            int r = cio__ws_header_parse(d + u, n - u, &h);
            if (r == 0)
                break;
            if (r < 0) {
                rc = fail(ws, CIO_WS_PROTOCOL_ERROR, -EPROTO);
                break;
            }
            if ((rc = check_header(ws, &h)))
                break;
            if (h.opcode >= 8) {
                if (n - u < h.hlen + h.len)
                    break; /* control frames are read whole */
                if (h.masked)
                    cio__ws_mask(ws->ctl, d + u + h.hlen, (size_t)h.len, h.key, 0);
                else
                    memcpy(ws->ctl, d + u + h.hlen, (size_t)h.len);
                u += h.hlen + (size_t)h.len;
                rc = on_control(ws, h.opcode, (size_t)h.len, msg);
                continue;
            }
            if (h.opcode != CIO__WS_OP_CONT) {
                ws->msg_type = h.opcode;
                ws->msg_zip = h.rsv1;
                ws->utf8 = CIO__UTF8_OK;
                ws->rlen = 0;
            }
            if (!ws->msg_zip) {
                if (h.len > ws->max_message - ws->rlen) {
                    rc = fail(ws, CIO_WS_TOO_BIG, -EMSGSIZE);
                    break;
                }
                if (buf_reserve(&ws->rbuf, &ws->rcap, ws->rlen + (size_t)h.len + 1)) {
                    rc = fail(ws, CIO_WS_INTERNAL, -ENOMEM);
                    break;
                }
            }
            ws->fh = h;
            ws->fgot = 0;
            ws->in_frame = true;
            u += h.hlen;
        }
        uint64_t left = ws->fh.len - ws->fgot;
        size_t take = n - u < left ? n - u : (size_t)left;
        if (take || left == 0) {
            if ((rc = on_payload(ws, d + u, take, take == left)))
                break;
            u += take;
            ws->fgot += take;
        }
        if (ws->fgot < ws->fh.len)
            break;
        ws->in_frame = false;
        if (!ws->fh.fin)
            continue;
        if (ws->msg_type == CIO__WS_OP_TEXT && ws->utf8 != CIO__UTF8_OK) {
            rc = fail(ws, CIO_WS_INVALID_DATA, -EILSEQ);
            break;
        }
        if (buf_reserve(&ws->rbuf, &ws->rcap, ws->rlen + 1)) {
            rc = fail(ws, CIO_WS_INTERNAL, -ENOMEM);
            break;
        }
        ws->rbuf[ws->rlen] = 0;
        *msg = (cio_ws_message){(cio_ws_type)ws->msg_type, ws->rbuf, ws->rlen, 0};
        ws->msg_type = 0;
        ws->msg_ret = true;
        rc = 1;
    }
    *used = u;
    return rc;
}

static int recv_locked(cio_ws *ws, cio_ws_message *msg)
{
    if (ws->msg_ret) {
        /* The message returned last time is the caller's no more. */
        ws->msg_ret = false;
        ws->rlen = 0;
        if (ws->rcap > WS_KEEP_MAX && !ws->msg_type)
            buf_trim(&ws->rbuf, &ws->rcap);
    }
    for (;;) {
        const uint8_t *d = NULL;
        size_t n = 0;
        int rc = wait_peek(ws, &d, &n);
        if (rc == -ENODATA)
            n = 0, rc = 0;
        if (rc) {
            if (rc == -ECANCELED || rc == -ETIMEDOUT || ws->recv_done)
                return rc;
            if (rc == -EMSGSIZE) /* cannot happen: frames are read in pieces */
                return fail(ws, CIO_WS_INTERNAL, rc);
            ws->recv_done = true;
            ws->shut = true;
            if (ws->close_ev)
                cio_event_set(ws->close_ev);
            return rc;
        }
        if (n == 0) {
            /* The connection ended without a close frame. */
            ws->recv_done = true;
            ws->close_received = true;
            shut(ws);
            ws->ctl[0] = 0;
            *msg = (cio_ws_message){CIO_WS_CLOSE, ws->ctl, 0, CIO_WS_ABNORMAL};
            return 0;
        }
        size_t used = 0;
        rc = process(ws, d, n, &used, msg);
        if (used && !ws->shut)
            cio_stream_consume(ws->s, used);
        if (rc > 0)
            return 0;
        if (rc < 0)
            return rc;
    }
}

int cio_ws_recv(cio_ws *ws, cio_ws_message *msg)
{
    if (!ws || !msg)
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    if (ws->receiving)
        return -EBUSY;
    if (ws->recv_done)
        return -EPIPE;
    /* A scope cio_ws_close expires to wake this task when its handshake
     * goes unanswered (the peer stopped answering). */
    cio_scope sc;
    int rc = cio_deadline_begin(&sc, INFINITY);
    if (rc)
        return rc;
    ws->receiving = true;
    ws->recv_sc = &sc;
    rc = recv_locked(ws, msg);
    ws->recv_sc = NULL;
    ws->receiving = false;
    cio_scope_end(&sc);
    if (rc < 0 && rc != -ECANCELED && ws->close_expired) {
        /* The close handshake another task began timed out: the
         * connection is over without the peer's close. */
        ws->recv_done = true;
        ws->close_received = true;
        shut(ws);
        ws->ctl[0] = 0;
        *msg = (cio_ws_message){CIO_WS_CLOSE, ws->ctl, 0, CIO_WS_ABNORMAL};
        return 0;
    }
    return rc;
}

/* ---- Sending --------------------------------------------------------------------------------------- */

static int send_message(cio_ws *ws, int opcode, const void *data, size_t len)
{
    if (ws->pmd.on && len >= ws->deflate_min) {
        ssize_t z = cio__ws_deflate(&ws->tx, data, len, &ws->zbuf, &ws->zcap);
        if (z < 0)
            return (int)z;
        int rc = write_frame(ws, opcode, true, true, ws->zbuf, (size_t)z, true);
        buf_trim(&ws->zbuf, &ws->zcap);
        return rc;
    }
    return write_frame(ws, opcode, true, false, data, len, false);
}

int cio_ws_send(cio_ws *ws, cio_ws_type type, const void *data, size_t len)
{
    if (!ws || (!data && len) || (type != CIO_WS_TEXT && type != CIO_WS_BINARY))
        return -EINVAL;
    cio_task *me = cio_current_task();
    if (!me)
        return -EPERM;
    if (ws->frag_owner == me)
        return -EINVAL; /* its own fragmented message is in progress */
    if (ws->close_sent || ws->shut)
        return -EPIPE;
    if (!cio_lock_is_locked(ws->lock))
        return send_message(ws, type, data, len);
    /* A fragmented message is in progress: wait for its end. */
    int rc = cio_lock_acquire(ws->lock);
    if (rc)
        return rc;
    rc = ws->close_sent || ws->shut ? -EPIPE : send_message(ws, type, data, len);
    cio_lock_release(ws->lock);
    return rc;
}

int cio_ws_send_text(cio_ws *ws, const char *text)
{
    if (!text)
        return -EINVAL;
    return cio_ws_send(ws, CIO_WS_TEXT, text, strlen(text));
}

int cio_ws_send_fragment(cio_ws *ws, cio_ws_type type, const void *data, size_t len, bool fin)
{
    if (!ws || (!data && len) || (type != CIO_WS_TEXT && type != CIO_WS_BINARY))
        return -EINVAL;
    cio_task *me = cio_current_task();
    if (!me)
        return -EPERM;
    int opcode = type;
    if (ws->frag_owner == me) {
        if ((int)type != ws->frag_type)
            return -EINVAL;
        opcode = CIO__WS_OP_CONT;
    } else {
        if (ws->close_sent || ws->shut)
            return -EPIPE;
        int rc = cio_lock_acquire(ws->lock);
        if (rc)
            return rc;
        ws->frag_owner = me;
        ws->frag_type = type;
    }
    int rc = ws->close_sent || ws->shut
                 ? -EPIPE
                 : write_frame(ws, opcode, fin, false, data, len, false);
    if (fin || rc) {
        ws->frag_owner = NULL;
        cio_lock_release(ws->lock);
    }
    return rc;
}

int cio_ws_ping(cio_ws *ws, const void *data, size_t len)
{
    if (!ws || (!data && len))
        return -EINVAL;
    if (len > 125)
        return -EMSGSIZE;
    if (!cio_current_task())
        return -EPERM;
    if (ws->close_sent || ws->shut)
        return -EPIPE;
    int rc = write_control(ws, CIO__WS_OP_PING, data, len);
    if (!rc && !ws->ping_out) {
        ws->ping_out = true;
        ws->ping_at = cio_loop_time(ws->loop);
        /* A receiver waiting now picks the new deadline up. */
        if (ws->wait_sc && !ws->ka_armed &&
            cio_call_at(ws->loop, ws->ping_at + ws->ping_timeout, ka_timer_cb, ws,
                        &ws->ka_timer) == 0) {
            ws->ka_armed = true;
            ws->ka_at = ws->ping_at + ws->ping_timeout;
        }
    }
    return rc;
}

/* ---- Closing ------------------------------------------------------------------------------------------ */

int cio_ws_close(cio_ws *ws, int code, const char *reason)
{
    if (!ws)
        return -EINVAL;
    size_t rlen = reason ? strlen(reason) : 0;
    /* Only codes a receiver accepts (the same test as ours): the others
     * would only make the peer fail the connection with 1002. */
    if (code && !close_code_ok(code))
        return -EINVAL;
    if (rlen > 123 || (rlen && !code) || (rlen && !utf8_ok(reason, rlen)))
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    if (ws->close_sent || ws->shut)
        return -EALREADY;
    cio_scope sc;
    int rc = cio_deadline_begin(&sc, close_deadline(ws));
    if (rc)
        return rc;
    rc = send_close(ws, code, reason, rlen);
    if (!rc && !ws->recv_done) {
        if (ws->receiving) {
            /* The receiving task gets the peer's close and ends the
             * connection. */
            if (!ws->close_ev && (rc = cio_event_new(&ws->close_ev)))
                goto out;
            while (!rc && !ws->shut)
                rc = cio_event_wait(ws->close_ev);
        } else {
            ws->receiving = true;
            for (int i = 0; !rc && !ws->recv_done; i++) {
                cio_ws_message m;
                rc = recv_locked(ws, &m);
            }
            ws->receiving = false;
        }
    }
out:;
    bool expired = cio_scope_end(&sc) == -ETIMEDOUT;
    if (expired || rc == -ETIMEDOUT) {
        rc = -ETIMEDOUT;
        ws->recv_done = true;
        /* A task still receiving is woken: it returns the end (1006). */
        ws->close_expired = true;
        if (ws->recv_sc)
            cio_scope_reschedule(ws->recv_sc, cio_loop_time(ws->loop));
    }
    if (rc == -ECANCELED)
        return rc;
    if (!ws->shut) {
        ws->recv_done = true;
        shut(ws);
    }
    /* A failure the receiving loop met while dropping messages is the
     * peer's: the close still happened. */
    if (rc == -EPROTO || rc == -EMSGSIZE || rc == -EILSEQ || rc == -EPIPE)
        rc = 0;
    return rc;
}

void cio_ws_free(cio_ws *ws)
{
    if (!ws)
        return;
    if (ws->ka_armed)
        cio_timer_cancel(ws->loop, ws->ka_timer);
    if (ws->s) {
        bool in_task = cio_current_task() != NULL;
        /* Going away, when the frame fits without waiting. */
        if (!ws->close_sent && !ws->shut && in_task &&
            cio_stream_buffered(ws->s) + CIO__WS_MAX_HEADER + 2 <= WS_HIGH_WATER) {
            ws->close_sent = true;
            uint8_t p[2] = {CIO_WS_GOING_AWAY >> 8, CIO_WS_GOING_AWAY & 0xff};
            write_control(ws, CIO__WS_OP_CLOSE, p, 2);
        }
        if (ws->own_stream) {
            if (cio_stream_buffered(ws->s) == 0 || !in_task)
                cio_stream_close(ws->s) == -EPERM ? (void)cio_stream_abort(ws->s) : (void)0;
            else
                cio_stream_abort(ws->s);
        } else if (!ws->shut && in_task && cio_stream_buffered(ws->s) == 0) {
            /* The server's connection: its end now (the close when the
             * handler returns); with bytes still buffered, that close
             * sends them first. */
            cio_stream_shutdown(ws->s);
        }
    }
    cio__ws_zip_free(&ws->tx, true);
    cio__ws_zip_free(&ws->rx, false);
    cio_lock_free(ws->lock);
    cio_event_free(ws->close_ev);
    cio_tls_config_free(ws->tls);
    free(ws->protocol);
    free(ws->zbuf);
    free(ws->sbuf);
    free(ws->rbuf);
    free(ws);
}

/* ---- Getters ----------------------------------------------------------------------------------------- */

const char *cio_ws_protocol(const cio_ws *ws) { return ws ? ws->protocol : NULL; }
bool cio_ws_is_deflate(const cio_ws *ws) { return ws && ws->pmd.on; }
bool cio_ws_is_closing(const cio_ws *ws)
{
    return ws && (ws->close_sent || ws->close_received || ws->shut);
}
int cio_ws_peer(const cio_ws *ws, cio_addr *out)
{
    if (!ws || !out)
        return -EINVAL;
    *out = ws->peer;
    return 0;
}

/* ---- Server handshake ---------------------------------------------------------------------------------- */

bool cio_ws_is_upgrade(const cio_http_request *req)
{
    if (!req)
        return false;
    const char *v[8];
    size_t n = cio_http_request_headers(req, "Upgrade", v, 8);
    for (size_t i = 0; i < n && i < 8; i++)
        if (list_has(v[i], "websocket"))
            return true;
    return false;
}

static bool any_has(const cio_http_request *req, const char *name, const char *token)
{
    const char *v[16];
    size_t n = cio_http_request_headers(req, name, v, 16);
    for (size_t i = 0; i < n && i < 16; i++)
        if (list_has(v[i], token))
            return true;
    return false;
}

struct offer_ctx {
    struct cio__ws_pmd pmd;
};

static bool take_offer(const char *params, size_t n, void *arg)
{
    struct offer_ctx *o = arg;
    struct cio__ws_pmd p;
    if (cio__ws_pmd_parse(params, n, &p))
        return false; /* declined (RFC 7692 §5) */
    /* zlib has no raw deflate with an 8-bit window. */
    if (p.server_max_window_bits < 9)
        return false;
    /* The client's window is not limited by the answer: its offer of
     * client_max_window_bits is not echoed (the inflater uses 15). */
    p.client_max_window_bits_given = false;
    p.client_max_window_bits = 15;
    o->pmd = p;
    return true;
}

/* Chooses the first of ours (a comma-separated list) the client offers:
 * 0 with *out (malloc'd, NULL: none in common), or -ENOMEM. */
static int choose_protocol(const cio_http_request *req, const char *ours, char **out)
{
    *out = NULL;
    const char *v[16];
    size_t nv = cio_http_request_headers(req, "Sec-WebSocket-Protocol", v, 16);
    if (nv > 16)
        nv = 16;
    const char *p = ours;
    while (p && *p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *s = p;
        while (*p && *p != ',' && *p != ' ')
            p++;
        if (p == s)
            continue;
        char tok[256];
        size_t tl = (size_t)(p - s);
        if (tl >= sizeof tok)
            continue;
        memcpy(tok, s, tl);
        tok[tl] = 0;
        for (size_t i = 0; i < nv; i++)
            if (list_has(v[i], tok))
                return (*out = strdup(tok)) ? 0 : -ENOMEM;
    }
    return 0;
}

int cio_ws_accept(cio_http_request *req, cio_http_response *res, const cio_ws_options *opts,
                  cio_ws **out)
{
    if (out)
        *out = NULL;
    if (!req || !res || !out)
        return -EINVAL;
    cio_ws_options o;
    int rc = take_options(&o, opts);
    if (rc)
        return rc;
    if (cio_http_response_is_started(res))
        return -EALREADY;
    if (!cio_current_task())
        return -EPERM;
    const char *method = cio_http_request_method(req);
    const char *key = cio_http_request_header(req, "Sec-WebSocket-Key");
    const char *version = cio_http_request_header(req, "Sec-WebSocket-Version");
    if (!method || strcmp(method, "GET") != 0 || cio_http_request_version(req) < 1 ||
        !cio_ws_is_upgrade(req) || !any_has(req, "Connection", "upgrade") || !key_ok(key) ||
        cio_http_request_headers(req, "Sec-WebSocket-Key", NULL, 0) != 1 || !version ||
        cio_http_request_content_length(req) != 0) {
        cio_http_response_error(res, 400, "not a WebSocket handshake");
        return -EPROTO;
    }
    if (strcmp(version, "13") != 0) {
        cio_http_response_set_header(res, "Sec-WebSocket-Version", "13");
        cio_http_response_error(res, 426, NULL);
        return -EPROTO;
    }
    cio_ws *ws;
    if ((rc = ws_new(&o, true, &ws)))
        return rc;
    if (o.protocols && (rc = choose_protocol(req, o.protocols, &ws->protocol))) {
        cio_ws_free(ws);
        return rc;
    }
    if (!o.no_deflate) {
        const char *ev[16];
        size_t ne = cio_http_request_headers(req, "Sec-WebSocket-Extensions", ev, 16);
        struct offer_ctx oc;
        for (size_t i = 0; i < ne && i < 16; i++)
            if (cio__ws_ext_each(ev[i], take_offer, &oc)) {
                ws->pmd = oc.pmd;
                pmd_apply(ws);
                break;
            }
    }
    cio_http_request_peer(req, &ws->peer);
    cio_stream *s;
    if ((rc = cio__http_takeover(req, res, 101, &s))) {
        cio_ws_free(ws);
        if (rc == -EPROTO)
            cio_http_response_error(res, 400, "a WebSocket handshake has no body");
        return rc;
    }
    ws->s = s;
    cio_stream_set_water(s, WS_HIGH_WATER, WS_LOW_WATER);
    char acc[29];
    accept_value(key, strlen(key), acc);
    char head[512];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n",
                      acc);
    if (ws->protocol)
        hl += snprintf(head + hl, sizeof head - (size_t)hl, "Sec-WebSocket-Protocol: %s\r\n",
                       ws->protocol);
    if (ws->pmd.on) {
        char ext[160];
        cio__ws_pmd_format(&ws->pmd, true, ext);
        hl += snprintf(head + hl, sizeof head - (size_t)hl, "Sec-WebSocket-Extensions: %s\r\n",
                       ext);
    }
    hl += snprintf(head + hl, sizeof head - (size_t)hl, "\r\n");
    if ((rc = cio_stream_write(s, head, (size_t)hl))) {
        ws->shut = true;
        ws->close_sent = true;
        cio_ws_free(ws);
        return rc;
    }
    ws->last_rx = cio_loop_time(ws->loop);
    *out = ws;
    return 0;
}

/* ---- Client handshake ------------------------------------------------------------------------------------- */

/* A growing text buffer for the request head. */
struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->cap - b->len < n + 1) {
        size_t c = b->cap ? b->cap : 1024;
        while (c - b->len < n + 1)
            c *= 2;
        char *p = realloc(b->p, c);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = c;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_str(struct sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_field(struct sbuf *b, const char *name, const char *value)
{
    sb_str(b, name);
    sb_add(b, ": ", 2);
    sb_str(b, value);
    sb_add(b, "\r\n", 2);
}

/* The response head, split by llhttp. */
struct rhead {
    struct {
        const char *n, *v;
        size_t nl, vl;
    } f[64];
    size_t nf;
    bool in_value;
    bool too_many;
    bool done;
};

static int rh_field(llhttp_t *p, const char *at, size_t n)
{
    struct rhead *h = p->data;
    if (h->in_value || h->nf == 0) {
        if (h->nf == 64) {
            h->too_many = true;
            return -1;
        }
        h->f[h->nf].n = at;
        h->f[h->nf].nl = 0;
        h->f[h->nf].v = "";
        h->f[h->nf].vl = 0;
        h->nf++;
        h->in_value = false;
    }
    h->f[h->nf - 1].nl += n;
    return 0;
}

static int rh_field_done(llhttp_t *p)
{
    struct rhead *h = p->data;
    h->in_value = true;
    return 0;
}

static int rh_value(llhttp_t *p, const char *at, size_t n)
{
    struct rhead *h = p->data;
    if (h->nf == 0)
        return -1;
    if (h->f[h->nf - 1].vl == 0)
        h->f[h->nf - 1].v = at;
    h->f[h->nf - 1].vl += n;
    return 0;
}

static int rh_headers_done(llhttp_t *p)
{
    struct rhead *h = p->data;
    h->done = true;
    return HPE_PAUSED;
}

/* The values of field name, joined by ", " into out (room for len). */
static bool rh_get(const struct rhead *h, const char *name, char *out, size_t len)
{
    size_t nl = strlen(name), o = 0;
    bool found = false;
    for (size_t i = 0; i < h->nf; i++) {
        if (!cio__http_ieq(h->f[i].n, h->f[i].nl, name, nl))
            continue;
        size_t need = h->f[i].vl + (found ? 2 : 0);
        if (o + need + 1 > len)
            return found;
        if (found) {
            memcpy(out + o, ", ", 2);
            o += 2;
        }
        memcpy(out + o, h->f[i].v, h->f[i].vl);
        o += h->f[i].vl;
        found = true;
    }
    out[o] = 0;
    return found;
}

/* The URL as http(s):// for the cookie jar (RFC 6455 §4.1: cookies of
 * the http(s) URL of the same host and path), malloc'd. */
static char *jar_url(const struct cio__http_url *u)
{
    size_t n = strlen(u->host) + strlen(u->target) + 32;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s://%s%s%s:%u%s", u->tls ? "https" : "http", u->ipv6 ? "[" : "",
                 u->host, u->ipv6 ? "]" : "", u->port, u->target);
    return p;
}

/* Opens the connection: through the client (its proxy, TLS configuration
 * and resolver), or straight to the host with a default TLS configuration
 * for wss. */
static int connect_stream(cio_ws *ws, cio_http_client *client, const struct cio__http_url *u,
                          bool *via_proxy)
{
    *via_proxy = false;
    if (client) {
        int rc = cio__http_client_open(client, u, &ws->s, via_proxy);
        if (!rc)
            cio_stream_set_water(ws->s, WS_HIGH_WATER, WS_LOW_WATER);
        return rc;
    }
    cio_stream_options sopt = CIO_STREAM_OPTIONS(.high_water = WS_HIGH_WATER,
                                                 .low_water = WS_LOW_WATER,
                                                 .server_name = u->host);
    if (u->tls) {
        cio_tls_options to = CIO_TLS_OPTIONS(.alpn = "http/1.1");
        int rc = cio_tls_config_new(&to, &ws->tls);
        if (rc)
            return rc;
        sopt.tls = ws->tls;
    }
    return cio_stream_connect_name(u->host, u->port, NULL, &sopt, &ws->s);
}

static int read_answer(cio_ws *ws, cio_http_jar *jar, const char *hurl, const char *key,
                       const cio_ws_options *o);

/* Runs the client's opening handshake on ws->s. */
static int client_handshake(cio_ws *ws, cio_http_client *client, const struct cio__http_url *u,
                            bool via_proxy, const cio_ws_options *o)
{
    uint8_t nonce[16];
    if (RAND_bytes(nonce, sizeof nonce) != 1)
        return -EIO;
    char key[32];
    EVP_EncodeBlock((unsigned char *)key, nonce, sizeof nonce);
    struct sbuf b = {0};
    sb_str(&b, "GET ");
    char *hurl = jar_url(u);
    if (!hurl)
        return -ENOMEM;
    if (via_proxy) {
        /* A plain proxy wants the absolute form (of the http URL). */
        sb_str(&b, hurl);
    } else {
        sb_str(&b, u->target);
    }
    sb_str(&b, " HTTP/1.1\r\nHost: ");
    if (u->ipv6)
        sb_str(&b, "[");
    sb_str(&b, u->host);
    if (u->ipv6)
        sb_str(&b, "]");
    if (!u->default_port) {
        char pb[8];
        snprintf(pb, sizeof pb, ":%u", u->port);
        sb_str(&b, pb);
    }
    sb_str(&b, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
    sb_field(&b, "Sec-WebSocket-Key", key);
    sb_str(&b, "Sec-WebSocket-Version: 13\r\n");
    if (o->protocols)
        sb_field(&b, "Sec-WebSocket-Protocol", o->protocols);
    if (!o->no_deflate)
        sb_str(&b, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
    if (o->origin)
        sb_field(&b, "Origin", o->origin);
    cio_http_jar *jar = client ? cio__http_client_jar(client) : NULL;
    if (jar) {
        char cookie[4096];
        ssize_t cl = cio_http_jar_header(jar, hurl, cookie, sizeof cookie);
        if (cl > 0)
            sb_field(&b, "Cookie", cookie);
    }
    bool ua = false;
    for (size_t i = 0; i < o->nheaders; i++) {
        sb_field(&b, o->headers[i].name, o->headers[i].value);
        if (strcasecmp(o->headers[i].name, "User-Agent") == 0)
            ua = true;
    }
    if (!ua) {
        if (!client) {
            sb_str(&b, "User-Agent: cio/");
            sb_str(&b, cio_version_string());
            sb_str(&b, "\r\n");
        } else if (cio__http_client_user_agent(client)) {
            sb_field(&b, "User-Agent", cio__http_client_user_agent(client));
        }
    }
    sb_str(&b, "\r\n");
    int rc = b.oom ? -ENOMEM : cio_stream_write(ws->s, b.p, b.len);
    free(b.p);
    if (!rc)
        rc = read_answer(ws, jar, hurl, key, o);
    free(hurl);
    return rc;
}

/* Reads and checks the server's answer to the handshake sent with key. */
static int read_answer(cio_ws *ws, cio_http_jar *jar, const char *hurl, const char *key,
                       const cio_ws_options *o)
{
    int rc;
    /* The response head. */
    const void *pd;
    size_t n;
    const char *d = NULL;
    const char *end = NULL;
    for (;;) {
        if ((rc = cio_stream_peek(ws->s, &pd, &n)))
            return rc == -ENODATA || rc == -EMSGSIZE ? -EPROTO : rc;
        if (n == 0)
            return -EPROTO;
        d = pd;
        end = memmem(d, n, "\r\n\r\n", 4);
        if (end)
            break;
        if (n > WS_MAX_HANDSHAKE)
            return -EPROTO;
    }
    size_t hlen = (size_t)(end - d) + 4;
    llhttp_settings_t st;
    llhttp_settings_init(&st);
    st.on_header_field = rh_field;
    st.on_header_field_complete = rh_field_done;
    st.on_header_value = rh_value;
    st.on_headers_complete = rh_headers_done;
    llhttp_t p;
    llhttp_init(&p, HTTP_RESPONSE, &st);
    struct rhead h = {.nf = 0};
    p.data = &h;
    llhttp_errno_t e = llhttp_execute(&p, d, hlen);
    if ((e != HPE_OK && e != HPE_PAUSED && e != HPE_PAUSED_UPGRADE) || !h.done)
        return -EPROTO;
    if (p.status_code != 101 || p.http_major != 1 || p.http_minor != 1)
        return -EPROTO;
    char v[1024];
    if (!rh_get(&h, "Upgrade", v, sizeof v) || !list_has(v, "websocket"))
        return -EPROTO;
    if (!rh_get(&h, "Connection", v, sizeof v) || !list_has(v, "upgrade"))
        return -EPROTO;
    char acc[29];
    accept_value(key, 24, acc);
    if (!rh_get(&h, "Sec-WebSocket-Accept", v, sizeof v) || strcmp(v, acc) != 0)
        return -EPROTO;
    if (rh_get(&h, "Sec-WebSocket-Protocol", v, sizeof v)) {
        if (!o->protocols || strchr(v, ',') || !list_has(o->protocols, v))
            return -EPROTO;
        if (!(ws->protocol = strdup(v)))
            return -ENOMEM;
    }
    if (rh_get(&h, "Sec-WebSocket-Extensions", v, sizeof v)) {
        /* Only permessage-deflate was offered, once: the answer holds it
         * once, with parameters this client accepts. */
        size_t i = 0, nl = strlen(v);
        while (i < nl && v[i] != ';' && v[i] != ',' && v[i] != ' ')
            i++;
        if (o->no_deflate || !cio__http_ieq(v, i, "permessage-deflate", 18) || strchr(v, ','))
            return -EPROTO;
        struct cio__ws_pmd pm;
        if (cio__ws_pmd_parse(v + i, nl - i, &pm) || pm.client_max_window_bits < 9)
            return -EPROTO;
        ws->pmd = pm;
        pmd_apply(ws);
    }
    if (jar)
        for (size_t i = 0; i < h.nf; i++)
            if (cio__http_ieq(h.f[i].n, h.f[i].nl, "Set-Cookie", 10) && h.f[i].vl < sizeof v) {
                memcpy(v, h.f[i].v, h.f[i].vl);
                v[h.f[i].vl] = 0;
                cio_http_jar_set(jar, hurl, v);
            }
    cio_stream_consume(ws->s, hlen);
    return 0;
}

int cio_ws_connect(cio_http_client *client, const char *url, const cio_ws_options *opts,
                   cio_ws **out)
{
    if (out)
        *out = NULL;
    if (!url || !out)
        return -EINVAL;
    cio_ws_options o;
    int rc = take_options(&o, opts);
    if (rc)
        return rc;
    if (!cio_current_task())
        return -EPERM;
    struct cio__http_url u;
    if ((rc = cio__http_url_parse(url, &u)))
        return rc;
    if (strcmp(u.scheme, "ws") != 0 && strcmp(u.scheme, "wss") != 0) {
        cio__http_url_free(&u);
        return -EINVAL;
    }
    cio_ws *ws;
    if ((rc = ws_new(&o, false, &ws))) {
        cio__http_url_free(&u);
        return rc;
    }
    ws->own_stream = true;
    cio_scope sc;
    if ((rc = cio_timeout_begin(&sc, o.timeout))) {
        cio__http_url_free(&u);
        cio_ws_free(ws);
        return rc;
    }
    bool via_proxy;
    rc = connect_stream(ws, client, &u, &via_proxy);
    if (!rc)
        rc = client_handshake(ws, client, &u, via_proxy, &o);
    if (cio_scope_end(&sc) == -ETIMEDOUT && (!rc || rc == -ECANCELED))
        rc = -ETIMEDOUT;
    cio__http_url_free(&u);
    if (rc) {
        if (ws->s) {
            /* Not a reset: a server that sent a refusal may still be
             * shutting its side down. */
            if (cio_stream_close(ws->s) == -EPERM)
                cio_stream_abort(ws->s);
            ws->s = NULL;
        }
        cio_ws_free(ws);
        return rc;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getpeername(cio_stream_fd(ws->s), (struct sockaddr *)&ss, &sl) == 0)
        cio_addr_from_sockaddr((struct sockaddr *)&ss, sl, &ws->peer);
    ws->last_rx = cio_loop_time(ws->loop);
    *out = ws;
    return 0;
}
