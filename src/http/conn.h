/* The connection code's own structs, shared by server.c (connections,
 * parsing, requests, bodies) and response.c (responses, the output
 * buffer). No other part of the http layer includes this: they reach
 * requests and responses through internal.h. */
#ifndef CIO_HTTP_CONN_H
#define CIO_HTTP_CONN_H

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* A header field: pointers into request memory (or the connection's copy
 * of the header section), NUL-terminated. */
struct cio__http_field {
    const char *name;
    const char *value;
    uint32_t nlen, vlen;
};

/* Request memory: a chain of blocks; the first one (embedded in the
 * connection) is kept across requests, the others are freed at the end of
 * every request. */
struct cio__http_block {
    struct cio__http_block *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
};

struct cio__http_end_fn {
    struct cio__http_end_fn *next;
    void (*fn)(void *);
    void *arg;
};

/* A trusted proxy: an address and a prefix length. */
struct cio__http_cidr {
    int family;
    unsigned char addr[16];
    unsigned bits;
};

struct cio__http_conn;

struct cio_http_request {
    struct cio__http_conn *c;
    const char *method, *target, *path, *raw_path, *query;
    size_t method_len;
    int minor;
    bool head;           /* HEAD: the response has no body */
    struct cio__http_field *fields;
    size_t nfields;
    void *data;
    void *slots[CIO__HTTP_NSLOTS];
    /* The body. */
    int64_t content_length; /* -1 chunked, 0 none */
    bool has_body;          /* a body follows the header section */
    bool body_done;         /* its end was read */
    bool expect_continue;   /* "Expect: 100-continue" and 100 not sent yet */
    int body_err;           /* sticky error of body reading */
    uint64_t body_read;     /* body bytes handed out so far */
    const void *body_copy;  /* cio_http_request_body's result */
    size_t body_copy_len;
    double rate_start;      /* body_min_rate: the current window's start */
    uint64_t rate_bytes;    /* body bytes seen in that window */
    /* Request memory. */
    struct cio__http_block *blocks; /* the current block; the chain ends at the first */
    struct cio__http_end_fn *on_end;
    double start_time;
    int64_t start_wall;   /* wall-clock seconds at the start: the access log */
};

enum { CIO__RES_NEW = 0, CIO__RES_STARTED, CIO__RES_ENDED };

struct cio_http_response {
    struct cio__http_conn *c;
    int status;
    int state;
    struct cio__http_field *fields; /* added header fields */
    size_t nfields, fcap;
    struct cio__http_field *trailers;
    size_t ntrailers, tcap;
    int64_t length;  /* the declared length, -1: chunked or to the close */
    uint64_t sent;   /* body bytes sent (after the filters) */
    bool chunked;    /* chunked framing on the wire */
    bool no_body;    /* HEAD, 1xx, 204, 304: the body is left out */
    bool close;      /* Connection: close */
    bool to_close;   /* HTTP/1.0 without a length: the body ends with the connection */
    bool user_date, user_server; /* the handler set Date / Server itself */
    uint64_t written; /* body bytes given (before the wire: HEAD counts too) */
    int err;         /* a write error (sticky) */
    struct cio__http_filter *filters;
};

struct cio__http_conn {
    cio_http_server *srv;
    cio_stream *s;
    cio_future *task;
    struct cio__http_conn *prev, *next;
    llhttp_t parser;
    /* Parsing the header section: offsets from the start of the request in
     * the stream's read buffer. */
    size_t parsed;            /* bytes fed to llhttp */
    size_t line_end;          /* the request line's end (0: not yet) */
    size_t hdr_end;           /* the header section's end (0: not yet) */
    size_t m_off, m_len, u_off, u_len;
    size_t *spans;            /* 4 per field: name off/len, value off/len */
    size_t nspans_fields;     /* fields seen */
    size_t span_cap;          /* fields the spans array holds */
    const char *base;         /* the request's first byte in the read buffer */
    bool in_name;
    bool want_value;          /* a field name ended; its value comes next */
    size_t trailer_bytes;     /* trailer fields of a chunked body (dropped) */
    bool in_trailer;          /* the trailer section has begun */
    char tr_last;             /* the last non-OWS trailer byte of earlier reads */
    bool cancelled;           /* the task was cancelled (it then ends with -ECANCELED) */
    int err_status;           /* a status decided by a callback (431, ...) */
    size_t hosts, te_fields, cl_fields;
    /* Body reading through llhttp (on_body copies here). */
    char *body_dst;
    size_t body_room, body_got;
    bool msg_done;
    /* The copy of the header section the request's strings point into. */
    char *hbuf;
    size_t hcap;
    struct cio__http_field *fields;
    size_t fcap;
    struct cio_http_request req;
    struct cio_http_response res;
    /* Responses waiting to be written with one writev. */
    char *out;
    size_t olen, ocap;
    size_t queued;            /* responses in out */
    size_t nrequests;
    bool idle;                /* waiting for a request's first byte */
    /* The idle wait's deadline, kept lazily: the wait runs in a scope with
     * no deadline (no timer per request); one per-connection timer, armed
     * at idle_at or earlier, expires idle_sc once idle_until has passed and
     * otherwise re-arms itself (only when the connection is idle). */
    struct cio_scope *idle_sc;
    double idle_until;
    double idle_at;           /* when idle_timer fires (if armed) */
    cio_handle idle_timer;
    bool idle_armed;
    bool keep_alive;          /* the request lets the connection go on */
    bool broken;              /* close without answering more */
    bool taken;               /* taken over (cio__http_takeover): the handler owns
                                 the stream until it returns, then it closes */
    cio_addr peer;
    bool peer_known;          /* peer was asked of the kernel */
    bool tls;
    struct cio__http_block first; /* must stay last: data[] follows */
};

/* The first block's room (allocated with the connection). */
#define CIO__HTTP_FIRST_BLOCK 2048

struct cio_http_server {
    cio_server *srv;
    cio_loop *loop;
    cio_http_app *app;
    cio_http_server_options opts; /* defaults filled in */
    char *server_line;            /* "Server: cio\r\n", or NULL for none */
    size_t server_line_len;
    struct cio__http_cidr *proxies;
    size_t nproxies;
    struct cio__http_conn *conns; /* every open connection */
    size_t nconns;
    bool shutting_down;
    bool tls;
    /* The access log: lines are buffered and written in batches. */
    char *log;
    size_t loglen, logcap;
    cio_handle log_timer;
    bool log_timer_on;
};

/* server.c for response.c. */
/* The current Date field line ("Date: ...\r\n", 37 bytes), cached per
 * second per thread from the loop's time. */
const char *cio__http_date_line(void);
/* Appends n bytes to the output buffer. Returns 0 or -ENOMEM. */
int cio__http_out_append(struct cio__http_conn *c, const void *p, size_t n);
/* Reserves n bytes at the end of the output buffer. */
char *cio__http_out_reserve(struct cio__http_conn *c, size_t n);
/* Writes the output buffer (and the iov after it) to the stream now. */
int cio__http_out_flush(struct cio__http_conn *c, const struct iovec *iov, int iovcnt);
/* The response is about to serialize its head: the request's body state
 * decides whether the connection can go on (Connection: close). */
bool cio__http_must_close(struct cio__http_conn *c);

/* response.c for server.c. */
void cio__http_response_reset(struct cio__http_conn *c);
/* Finishes the response after the handler returned rc. Returns 0, or an
 * error meaning the connection cannot go on. */
int cio__http_response_finish(struct cio__http_conn *c, int rc);
/* A complete error response (status, the consistent body, Connection:
 * close) into the output buffer, for requests refused before any handler. */
int cio__http_error_raw(struct cio__http_conn *c, int status, const char *detail);
/* The connection was taken over: the response counts as answered with
 * status, sends nothing (its filters are dropped), and the connection
 * closes after the handler. */
void cio__http_response_taken(struct cio__http_conn *c, int status);

#endif
