/* The connection object behind both cio_stream and cio_transport (net
 * layer, internal; owned by conn.c, stream.c and transport.c).
 *
 * One struct cio__conn is the stream and the transport: the public
 * cio_stream and cio_transport pointers are the same object seen through
 * two faces, so a hand-off between the styles (cio_transport_to_stream,
 * cio_stream_to_transport) moves no byte and allocates nothing.
 *
 * Memory of an idle connection. The struct is the only allocation while
 * nothing is buffered (its size is asserted below):
 *   - the read buffer (CIO__BUF_SIZE bytes) is taken from the loop's pool
 *     only while bytes wait to be read, and given back the moment it is
 *     empty. A reader first waits for readability, then takes a buffer;
 *     cio_stream_read reads straight into the caller's buffer when nothing
 *     is buffered, so a request/response connection may never take one.
 *     A transport holds one only during a data_received call.
 *   - the write buffer is malloc'd only for the bytes the socket did not
 *     take at once (a write goes straight to the socket while nothing is
 *     buffered), and freed when it drains.
 *
 * Byte moving goes through c->ops (struct cio__conn_ops), which the plain
 * socket/pipe implementation fills with recv/send (MSG_NOSIGNAL) or
 * read/write. TLS (tls.c) slots in underneath by replacing the ops
 * and keeping its state in c->ops_ctx: an op that cannot go on until the
 * descriptor is ready in the OTHER direction (a TLS read that must first
 * send a handshake record, a write waiting for a renegotiation read)
 * returns -EAGAIN and sets c->rneed / c->wneed to the direction it waits
 * for; the stream and transport code waits for exactly that direction.
 * Bytes a layer holds already decoded are reported by ops->pending, so a
 * reader never waits for an edge that will not come.
 *
 * A completion backend (io_uring, later): the buffers already belong to
 * the connection, not to the caller, so a completion backend submits its
 * reads into c->rbuf (a pool buffer taken when the read is submitted, or a
 * provided-buffer ring standing in for the pool so that idle connections
 * still hold none) and its writes from c->wbuf, and completes them into
 * rbuf/rend and wpos exactly as the readiness path does. The public API
 * sees only the buffered bytes (cio_stream_peek points into rbuf), so it
 * does not change. The two shortcuts that use the caller's memory (the
 * direct read into cio_stream_read's buffer, the direct write of a
 * cio_stream_write while the write buffer is empty) are per-call choices
 * in stream.c that a completion backend simply does not take: a caller's
 * buffer must not stay in the kernel's hands after the call returned
 * (cancellation). */
#ifndef CIO_NET_CONN_H
#define CIO_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "internal.h"

/* The read buffer's size, and how many free ones the per-loop pool keeps
 * (more are given back to malloc). */
#define CIO__BUF_SIZE (64 * 1024)
#define CIO__BUF_POOL_MAX 16

struct cio__conn;

/* The byte-moving layer. Every op is called on the loop's thread and never
 * suspends. */
struct cio__conn_ops {
    /* Reads up to len (>= 1) bytes into buf. Returns the bytes read, 0 at
     * end of stream, -EAGAIN (then c->rneed says which readiness to wait
     * for), or -errno. */
    ssize_t (*read)(struct cio__conn *c, void *buf, size_t len);
    /* Writes iov[0..iovcnt) in order. Returns the bytes taken (>= 1),
     * -EAGAIN (c->wneed says for what to wait) or -errno (-EPIPE,
     * -ECONNRESET, ...). */
    ssize_t (*writev)(struct cio__conn *c, const struct iovec *iov, int iovcnt);
    /* Shuts the write side down (everything buffered was written first).
     * Returns 0, -EAGAIN (wait for c->wneed, then call again) or -errno. */
    int (*shutdown)(struct cio__conn *c);
    /* Releases the layer's own state before the descriptor closes; with
     * reset, makes the close abortive (SO_LINGER 0 on a socket). */
    void (*close)(struct cio__conn *c, bool reset);
    /* Bytes the layer already holds for reading (decoded TLS records):
     * a reader reads them without waiting for readability. */
    size_t (*pending)(const struct cio__conn *c);
};

/* The plain descriptor layer: sockets (recv/sendmsg with MSG_NOSIGNAL)
 * and pipes or terminals (read/writev). */
extern const struct cio__conn_ops cio__conn_sock_ops, cio__conn_pipe_ops;

/* A task waiting for the write buffer (drain, flush) or for writability. */
enum { CIO__WAIT_DRAIN = 1, CIO__WAIT_FLUSH, CIO__WAIT_WRITABLE };
struct cio__conn_waiter {
    struct cio__conn_waiter *next, *prev;
    cio_future *fut;
    int rc;       /* the waker's outcome */
    uint8_t kind; /* CIO__WAIT_* */
    bool woken;
};

/* Which face the connection shows now. */
enum {
    CIO__CONN_STREAM = 0,
    CIO__CONN_TRANSPORT,
    CIO__CONN_CONNECTING, /* cio_transport_connect: the socket is connecting */
};

/* c->flags */
enum {
    CIO__C_SOCKET = 1 << 0,      /* a socket (else a pipe or terminal) */
    CIO__C_EOF = 1 << 1,         /* the read side saw the end */
    CIO__C_SHUT_WANT = 1 << 2,   /* half-close once the write buffer is empty */
    CIO__C_SHUT_DONE = 1 << 3,   /* the write side is shut down */
    CIO__C_CLOSING = 1 << 4,     /* transport: close once flushed */
    CIO__C_CLOSED = 1 << 5,      /* the descriptor is closed; only refs remain */
    CIO__C_READING = 1 << 6,     /* stream: a task reads (one at a time) */
    CIO__C_RPAUSED = 1 << 7,     /* transport: pause_reading */
    CIO__C_MADE = 1 << 8,        /* transport: connection_made returned 0 */
    CIO__C_WPAUSED = 1 << 9,     /* transport: pause_writing was called */
    CIO__C_SENDFILE = 1 << 10,   /* stream: sendfile owns the socket's write side */
    CIO__C_LOST = 1 << 11,       /* transport: connection_lost is due or done */
    CIO__C_SCHEDULED = 1 << 12,  /* transport: a dispatch is queued (holds a ref) */
    /* transport: connection_made runs; the dispatch arms once it returned,
     * so a connection answered and closed inside it never reaches the
     * backend (accepted sockets register lazily, src/net/fd.c) */
    CIO__C_IN_MADE = 1 << 15,
};

/* c->pending (transport): what the next dispatch from the loop must do. */
enum {
    CIO__P_MADE = 1 << 0,
    CIO__P_READ = 1 << 1,  /* deliver buffered bytes / read on */
    CIO__P_WRITE = 1 << 2, /* tell the protocol about the write marks */
    CIO__P_LOST = 1 << 3,
};

struct cio__conn {
    struct cio__nfd nfd; /* first: conn_on_event casts; nfd.owner == this */
    const struct cio__conn_ops *ops;
    void *ops_ctx;       /* the ops layer's state (TLS); NULL for plain */
    struct cio__net *net;
    /* Read buffer: bytes [rpos, rend) of rbuf (rcap bytes: CIO__BUF_SIZE
     * from the pool, or larger and malloc'd for a limit above it). NULL
     * while empty. */
    char *rbuf;
    uint32_t rpos, rend, rcap;
    uint32_t peeked;     /* cio_stream_peek: bytes the last peek showed */
    /* Write buffer: bytes [wpos, wend) of wbuf (wcap), malloc'd; NULL
     * while empty. */
    char *wbuf;
    size_t wpos, wend, wcap;
    size_t high, low, limit;
    int rerr, werr;      /* sticky errors of each direction */
    int close_err;       /* what a task still inside gets after a close */
    uint16_t flags;      /* CIO__C_* */
    uint8_t mode;        /* CIO__CONN_* */
    uint8_t rneed, wneed; /* the readiness the ops wait for (CIO_READABLE...) */
    uint8_t armed;       /* what we asked cio__nfd_arm for */
    uint8_t pending;     /* CIO__P_* */
    /* Neither a stream socket nor a FIFO (a terminal returns a line per
     * read, a SOCK_SEQPACKET socket a record): a short read does not mean
     * "drained" (flags has no bit left). */
    bool notdrained;
    uint16_t ntasks;     /* tasks inside a call on the stream */
    uint32_t refs;       /* the owner, tasks inside, a queued dispatch */
    cio_future *rfut;    /* the reader task's wait */
    struct cio__conn_waiter *wq_head, *wq_tail;
    /* Transport. */
    const cio_protocol *proto;
    void *ctx;
    int lost_err;
    cio_future *connect_fut; /* cio_transport_connect's future, until made */
    /* cio__stream_watch / cio__transport_watch (a server's): called once
     * when the connection stops being the watcher's (cio__conn_gone). */
    void (*gone)(void *arg);
    void *gone_arg;
};

_Static_assert(sizeof(struct cio__conn) <= 256, "an idle connection must stay small");

/* Buffers the loop's connections hold for reading now (per thread: each
 * loop runs on one), for the tests' accounting. */
extern _Thread_local size_t cio__conn_rbufs_held;

/* Whether a read that returned fewer bytes than asked emptied the
 * descriptor (so the ready bit may be cleared without an EAGAIN call). */
static inline bool cio__conn_short_read_drains(const struct cio__conn *c)
{
    return !c->notdrained && !c->ops->pending(c);
}

/* ---- conn.c -------------------------------------------------------------- */

/* Allocates a connection for fd on loop (registers it, picks the ops by
 * fstat). Copies opts. Returns 0, -EINVAL, -E2BIG, -ENOMEM or the
 * registration's error; fd stays the caller's on error. */
int cio__conn_new(cio_loop *loop, int fd, const cio_stream_options *opts, struct cio__conn **out);
/* The same, told what fd is: CIO__CONN_NB_SOCKET for a SOCK_STREAM socket
 * already non-blocking (from accept4 with SOCK_NONBLOCK), which saves the
 * fstat, the SO_TYPE getsockopt and the two fcntl calls per connection;
 * 0: find out. */
enum { CIO__CONN_NB_SOCKET = 1 };
int cio__conn_new_kind(cio_loop *loop, int fd, const cio_stream_options *opts, int kind,
                       struct cio__conn **out);
/* For servers (server.c): cio_stream_new / cio_transport_new of a socket
 * accepted with SOCK_NONBLOCK, with the same contract and errors. */
int cio__stream_new_accepted(cio_loop *loop, int fd, const cio_stream_options *opts,
                             cio_stream **out);
int cio__transport_new_accepted(cio_loop *loop, int fd, const cio_stream_options *opts,
                                const cio_protocol *proto, void *arg, cio_transport **out);
/* Reads the options into c's marks (validated). */
int cio__conn_set_opts(size_t *high, size_t *low, size_t *limit, const cio_stream_options *opts);
void cio__conn_ref(struct cio__conn *c);
void cio__conn_unref(struct cio__conn *c);
/* Closes the descriptor (reset: abortive), drops the buffers, wakes every
 * waiting task with err; the memory goes when the last ref does. Drops the
 * owner's ref. */
void cio__conn_close(struct cio__conn *c, bool reset, int err);
/* Calls and clears the watch (internal.h: cio__stream_watch), if any. */
void cio__conn_gone(struct cio__conn *c);
/* Asks the backend for what the connection waits for now. */
void cio__conn_rearm(struct cio__conn *c);

/* Read buffer. */
size_t cio__conn_rlen(const struct cio__conn *c);
/* Makes room for at least one more byte (takes a pool buffer, compacts, or
 * grows up to cap). Returns 0, -EMSGSIZE (full at cap), -ENOMEM. */
int cio__conn_rroom(struct cio__conn *c, size_t cap);
/* Drops n bytes (gives the buffer back when empty). */
void cio__conn_rconsume(struct cio__conn *c, size_t n);
/* Puts len bytes back at the front of the read buffer. 0 or -ENOMEM. */
int cio__conn_unread(struct cio__conn *c, const void *data, size_t len);
/* Reads once into the read buffer. Returns bytes read, 0 at EOF (flag
 * set), -EAGAIN (ready bit cleared), -EMSGSIZE (no room below cap) or a
 * sticky error. */
ssize_t cio__conn_fill_once(struct cio__conn *c, size_t cap);

/* Write side. */
size_t cio__conn_wlen(const struct cio__conn *c);
/* Sends what the socket takes of the buffer, then of iov (the buffered
 * bytes first), and buffers the rest of iov. Never suspends. Returns 0,
 * -ENOMEM, the sticky write error, -EPIPE after shutdown. */
int cio__conn_write(struct cio__conn *c, const struct iovec *iov, int iovcnt);
/* Flushes the buffer as far as the socket takes it, then wakes whoever the
 * progress concerns. */
void cio__conn_flush(struct cio__conn *c);
/* After the buffer shrank or failed: wakes drainers/flushers, half-closes,
 * tells the transport. */
void cio__conn_progress(struct cio__conn *c);
/* Sets the sticky write error, drops the buffer, wakes every writer. */
void cio__conn_write_failed(struct cio__conn *c, int err);

/* Task waits (stream.c). Return 0, the waker's outcome, -EPERM outside a
 * task, -ECANCELED, -ETIMEDOUT, or c->close_err once closed. */
int cio__conn_wait_read(struct cio__conn *c);
int cio__conn_wait_write(struct cio__conn *c, int kind);
/* Whether a write waiter of `kind` is satisfied now. */
bool cio__conn_wait_done(const struct cio__conn *c, int kind);

/* The pool: a list through each free buffer's first word, at most
 * CIO__BUF_POOL_MAX long; fd.c frees it with the loop. */
void *cio__conn_buf_take(struct cio__net *net);
void cio__conn_buf_give(struct cio__net *net, void *buf);

/* tls.c (issue 9). Turns c (a connected socket: a client's, or one a
 * server accepted) into a TLS connection with cfg's role: c->ops becomes
 * TLS's, c->ops_ctx its state (holding a reference on cfg). Bytes already
 * in c's read buffer are the peer's first TLS bytes and are handed to TLS;
 * bytes in its write buffer go out in the clear first. Client: server_name
 * (may be NULL: then verification must be off, else -EINVAL) is sent as
 * SNI and verified; server_name and port key the session cache. Returns 0,
 * -EINVAL (already TLS, not a socket), -ENOMEM. Never suspends. */
int cio__tls_attach(struct cio__conn *c, const cio_tls_config *cfg, const char *server_name,
                    uint16_t port);
/* Runs an attached connection's handshake from a task, under cfg's
 * handshake_timeout and the task's deadline. Returns 0 or the errors of
 * cio/tls.h (the thread's cio_tls_last_error() set), -ETIMEDOUT,
 * -ECANCELED. May suspend. */
int cio__tls_handshake(struct cio__conn *c);
/* The TLS fields of stream options (copied as cio__opts_copy does). */
int cio__tls_options(const cio_stream_options *opts, const cio_tls_config **tls,
                     const char **server_name);
/* Whether cfg was made with options.server. */
bool cio__tls_config_is_server(const cio_tls_config *cfg);
/* Another reference on cfg (a server's); cio_tls_config_free drops it. */
void cio__tls_config_ref(const cio_tls_config *cfg);
/* TLS was attached and its handshake did not complete (running, failed,
 * or the connection closed before it ended). */
bool cio__tls_unfinished(const struct cio__conn *c);
/* TLS is attached and its handshake neither done nor failed. */
bool cio__tls_handshaking(const struct cio__conn *c);
/* One step of the handshake from the loop (transports), under the
 * configuration's handshake_timeout (a loop timer, started by the first
 * step; when it fires, the transport fails with -ETIMEDOUT). Returns 0
 * once done, -EAGAIN (wait for c->rneed), or the TLS error. */
int cio__tls_drive(struct cio__conn *c);
/* cio_transport_start_tls's future (TLS takes the reference): completed
 * with 0 by the handshake's end, with its error when the connection
 * closes first. */
int cio__tls_set_future(struct cio__conn *c, cio_future *f);
/* kTLS sends for c: cio_stream_sendfile uses cio__tls_sendfile
 * (SSL_sendfile; returns bytes, -EAGAIN with c->wneed, or -errno). */
bool cio__tls_ktls_send(const struct cio__conn *c);
ssize_t cio__tls_sendfile(struct cio__conn *c, int fd, off_t off, size_t n);

/* transport.c: the connection's events while it is a transport, and the
 * queued dispatch. */
void cio__transport_on_event(struct cio__conn *c, int events);
void cio__transport_schedule(struct cio__conn *c, int what);
void cio__transport_connecting_event(struct cio__conn *c, int events);
/* After the write buffer shrank: the write marks, a pending close. */
void cio__transport_progress(struct cio__conn *c);
/* A write error: connection_lost(err) follows. */
void cio__transport_failed(struct cio__conn *c, int err);
/* The connection's on_event (conn.c). */
void cio__conn_on_event(struct cio__nfd *n, int events);

#endif
