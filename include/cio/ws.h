/* cio/ws.h: WebSocket (RFC 6455), server and client, with permessage-deflate
 * (RFC 7692).
 *
 * A server handler upgrades its request with cio_ws_accept; a client
 * connects with cio_ws_connect. Either way the result is a cio_ws used from
 * tasks of one loop: one task receives (cio_ws_recv) while any number of
 * tasks send (sends are serialized, whole messages never interleave).
 * Pings are answered by the receiving task; close frames are answered and
 * the connection ends as RFC 6455 §7 says.
 *
 * Sends wait while the connection's write buffer is over its high-water
 * mark; a receiver that stops calling cio_ws_recv stops reading from the
 * socket, so the peer is slowed by TCP's flow control. */
#ifndef CIO_WS_H
#define CIO_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"
#include "http.h"
#include "http_client.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cio_ws cio_ws;

/* Message types (the frame opcodes of RFC 6455 §5.2). */
typedef enum cio_ws_type {
    CIO_WS_TEXT = 1,   /* UTF-8 (validated on receipt, across fragments) */
    CIO_WS_BINARY = 2,
    CIO_WS_CLOSE = 8,  /* cio_ws_recv: the peer closed (code and reason) */
    CIO_WS_PING = 9,   /* cio_ws_recv reports these only with report_control */
    CIO_WS_PONG = 10,
} cio_ws_type;

/* Close codes (RFC 6455 §7.4.1). */
enum {
    CIO_WS_NORMAL = 1000,
    CIO_WS_GOING_AWAY = 1001,
    CIO_WS_PROTOCOL_ERROR = 1002,
    CIO_WS_UNSUPPORTED = 1003,
    CIO_WS_NO_STATUS = 1005,   /* received without a code (never sent) */
    CIO_WS_ABNORMAL = 1006,    /* the connection ended without a close frame (never sent) */
    CIO_WS_INVALID_DATA = 1007, /* text that is not UTF-8, bad compressed data */
    CIO_WS_POLICY = 1008,
    CIO_WS_TOO_BIG = 1009,
    CIO_WS_EXTENSION = 1010,
    CIO_WS_INTERNAL = 1011,
};

typedef struct cio_ws_options {
    size_t size;             /* sizeof(cio_ws_options): the macros */
    size_t max_message;      /* a received message's size (after inflating): 0: 1 MiB;
                                over it: close 1009 */
    double ping_interval;    /* send a ping when nothing came for this long (while a
                                task is in cio_ws_recv or cio_ws_close): 0: none */
    double ping_timeout;     /* no pong (or anything) this long after a ping (the
                                keep-alive's or cio_ws_ping's): close 1011 and
                                -ETIMEDOUT: 0: 20 s */
    double close_timeout;    /* the whole close handshake (one deadline): 0: 10 s */
    bool no_deflate;         /* neither offer nor accept permessage-deflate */
    int deflate_level;       /* zlib level for sent messages: 0: 6 */
    size_t deflate_min;      /* messages shorter than this are sent uncompressed: 0: 64 */
    const char *protocols;   /* subprotocols: tokens separated by commas, whitespace
                                only around the commas ("a, b"). Client: offered.
                                Server: the first of this list the client offers
                                is chosen. NULL: none */
    bool report_control;     /* cio_ws_recv also returns pings and pongs */
    /* Client only. */
    const cio_http_field *headers; /* nheaders fields added to the handshake */
    size_t nheaders;
    double timeout;          /* the opening handshake's budget: 0: 30 s */
    const char *origin;      /* Origin field; NULL: none */
} cio_ws_options;
#define CIO_WS_OPTIONS_INIT {.size = sizeof(cio_ws_options)}
#define CIO_WS_OPTIONS(...) ((cio_ws_options){.size = sizeof(cio_ws_options), __VA_ARGS__})

/* A received message. data (NUL-terminated, not counted in len) is the
 * cio_ws's, valid until the next cio_ws_recv or cio_ws_free. For
 * CIO_WS_CLOSE: code (CIO_WS_NO_STATUS when the peer sent none,
 * CIO_WS_ABNORMAL when the connection ended without a close frame) and the
 * reason in data. */
typedef struct cio_ws_message {
    cio_ws_type type;
    const void *data;
    size_t len;
    int code;
} cio_ws_message;

/* From an HTTP handler: checks that req is a WebSocket opening handshake
 * (GET, HTTP/1.1, Upgrade: websocket, Connection: upgrade, a 16-byte
 * Sec-WebSocket-Key, Sec-WebSocket-Version 13), answers 101 with the
 * negotiated subprotocol and extension, and takes over the connection: the
 * handler then talks WebSocket until it calls cio_ws_free (the connection
 * ends with the handler; nothing else is sent on res). A request that is not
 * a valid handshake is answered (400, or 426 with Sec-WebSocket-Version: 13
 * for another version) and -EPROTO returned. opts may be NULL. Returns 0,
 * -EINVAL (NULL arguments, bad options), -EALREADY (res started), -EPROTO,
 * -EPERM outside a task, -ENOMEM, a write error. May suspend. */
CIO_API int cio_ws_accept(cio_http_request *req, cio_http_response *res,
                          const cio_ws_options *opts, cio_ws **out);

/* Whether req asks for a WebSocket upgrade (Upgrade: websocket); false for
 * NULL. Never suspends. */
CIO_API bool cio_ws_is_upgrade(const cio_http_request *req);

/* Connects to url ("ws://" or "wss://"; through client's TLS
 * configuration, proxy and cookie jar when client is non-NULL, else
 * defaults) and runs the opening handshake, checking the server's answer
 * (101, Sec-WebSocket-Accept, a subprotocol and extension it was offered).
 * opts may be NULL. Returns 0, -EINVAL (NULL url or out, a bad URL or
 * options), -EPROTO (the server did not upgrade properly; -ECONNREFUSED
 * is not used for a non-101 status), -ETIMEDOUT, -ECANCELED, -EPERM
 * outside a task, cio_stream_connect_name's errors, -ENOMEM. May
 * suspend. */
CIO_API int cio_ws_connect(cio_http_client *client, const char *url, const cio_ws_options *opts,
                           cio_ws **out);

/* Sends one message of type CIO_WS_TEXT (data must be UTF-8: not checked)
 * or CIO_WS_BINARY, compressed when permessage-deflate was negotiated and
 * len >= deflate_min. Returns 0, -EINVAL (NULL ws, NULL data with len > 0,
 * another type, or the calling task is in the middle of a fragmented
 * message of its own), -EPIPE (the close handshake began or the
 * connection failed: nothing more may be sent), -EPERM outside a task,
 * -ECANCELED, a write error. May suspend. */
CIO_API int cio_ws_send(cio_ws *ws, cio_ws_type type, const void *data, size_t len);
/* cio_ws_send of strlen(text) bytes of text. */
CIO_API int cio_ws_send_text(cio_ws *ws, const char *text);

/* Sends one fragment of a message: the first call gives the type, later
 * ones continue it, fin ends it; other tasks' messages wait until it ends.
 * Fragments are never compressed. Returns as cio_ws_send, and -EINVAL for a
 * type differing from the message's begun. May suspend. */
CIO_API int cio_ws_send_fragment(cio_ws *ws, cio_ws_type type, const void *data, size_t len,
                                 bool fin);

/* Sends a ping (len <= 125) whose pong cio_ws_recv will see with
 * report_control; a pong (or any frame) must come within ping_timeout.
 * Returns as cio_ws_send, -EMSGSIZE over 125. */
CIO_API int cio_ws_ping(cio_ws *ws, const void *data, size_t len);

/* Waits for the next message (fragments reassembled, inflated, text
 * validated as UTF-8 as it arrives), answering pings on the way. A
 * protocol error of the peer (an unmasked frame from a client, a masked one
 * from a server, reserved bits, an unknown opcode, a control frame over
 * 125 bytes or fragmented, a bad close code, invalid UTF-8, a message over
 * max_message) sends the matching close code, closes the connection, and
 * returns -EPROTO (-EMSGSIZE for 1009, -EILSEQ for 1007). The peer's close
 * is answered and returned as a CIO_WS_CLOSE message (once; later calls
 * return -EPIPE). When a cio_ws_close in another task times out (the peer
 * never answered), this call is woken and returns a CIO_WS_CLOSE message
 * with code CIO_WS_ABNORMAL. Returns 0, -EINVAL, -EBUSY (another task is receiving),
 * -ETIMEDOUT (no pong within ping_timeout), -ECANCELED, -ECONNRESET, -EPERM
 * outside a task. May suspend. */
CIO_API int cio_ws_recv(cio_ws *ws, cio_ws_message *msg);

/* Starts the close handshake with code (one a receiver accepts: 1000-1003,
 * 1007-1014 or 3000-4999; 0: none sent) and reason (UTF-8, at most 123
 * bytes, only with a code; NULL: none), then waits until the peer's close
 * frame came, reading and dropping messages meanwhile (unless another task
 * is in cio_ws_recv: it gets the close), and closes the connection; the
 * whole handshake (sending, waiting, the shutdown) takes close_timeout at
 * most. Returns 0, -EINVAL (bad code or reason), -EALREADY (closed
 * already), -ETIMEDOUT (the peer did not answer: the connection is closed
 * anyway, and a task in cio_ws_recv gets CIO_WS_CLOSE with
 * CIO_WS_ABNORMAL), -ECANCELED, -EPERM outside a task, a write error. May
 * suspend. */
CIO_API int cio_ws_close(cio_ws *ws, int code, const char *reason);

/* The subprotocol agreed on, or NULL. */
CIO_API const char *cio_ws_protocol(const cio_ws *ws);
/* Whether permessage-deflate is in use. */
CIO_API bool cio_ws_is_deflate(const cio_ws *ws);
/* Whether the close handshake has begun (either side). */
CIO_API bool cio_ws_is_closing(const cio_ws *ws);
/* The peer's address. Returns 0 or -EINVAL. */
CIO_API int cio_ws_peer(const cio_ws *ws, cio_addr *out);

/* Frees ws: a connection still open is closed at once (with close 1001
 * going-away sent when it can be without waiting; use cio_ws_close for the
 * handshake; a server's connection is shut down, and closed when the
 * handler returns). No other task may be inside a call on ws. NULL is a
 * no-op. Never suspends. */
CIO_API void cio_ws_free(cio_ws *ws);

#ifdef __cplusplus
}
#endif

#endif
