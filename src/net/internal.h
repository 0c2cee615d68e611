/* Internal declarations of the net layer (src/net). Never installed.
 *
 * The net layer sits on the task layer (rank 4 in src/LAYERS.md): it uses
 * the public API of tasks and sync, and reaches the core only through
 * src/core.h (edge registrations, the per-loop slot, the loop's time).
 *
 * Shared pieces, each in its own file:
 *   fd.c      struct cio__nfd: a descriptor registered once with the loop
 *             (edge-triggered), its ready bits and the tasks waiting on it;
 *             cio_fd_*; the per-loop net state (struct cio__net);
 *             cio__net_init_process (SIGPIPE).
 *   addr.c    cio_addr_*.
 *   socket.c  cio_socket_* (listen, accept, connect, pair, fd passing),
 *             cio__sock_* helpers.
 *   conn.c    struct cio__conn: the one connection object behind both a
 *   stream.c  cio_stream and a cio_transport (its buffers, its byte-moving
 *   transport.c ops, which TLS replaces), the buffer pool.
 *   tls.c     cio_tls_config_* (OpenSSL), the TLS ops of a connection,
 *             its handshake, STARTTLS, cio_*_tls_info / cio_*_ssl.
 *   server.c  cio_server_*.
 *   udp.c     cio_udp_*.
 *   process.c cio_process_*.
 *   file.c    cio_file_*.
 *   dns.c     cio_resolver_*, cio_dns_* (c-ares). */
#ifndef CIO_NET_INTERNAL_H
#define CIO_NET_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cio/net.h>
#include <cio/task.h>

#include "../core.h"

/* ---- The per-loop state of the net layer ---------------------------------
 * Kept in the loop's CIO__SLOT_NET slot (src/core.h), made on first use by
 * cio__net_get and freed by the loop's cio_loop_free. */
struct cio__nfd;
struct cio__net {
    cio_loop *loop;
    /* cio_fd_wait's registrations of raw descriptors, indexed by fd
     * (NULL: none). Streams, servers and UDP sockets embed their own
     * cio__nfd and are not in this table. */
    struct cio__nfd **raw;
    int nraw;
    /* The read-buffer pool (conn.c): free buffers of CIO__BUF_SIZE bytes,
     * malloc'd, in a list through each buffer's first word (void *next);
     * the loop's end frees them (fd.c). */
    void *buf_free;
    size_t buf_nfree;
    /* Subprocesses (process.c): the SIGCHLD fallback's list. Not freed at
     * the loop's end: process.c must leave it empty (or keep its state in
     * a slot of its own, with its own free function). */
    void *procs;
    /* The loop's default resolver (dns.c), made at its first use; freed
     * with the loop by cio__dns_loop_end. */
    struct cio_resolver *dns;
    /* The resolvers cio_resolver_new made on the loop (dns.c), not yet
     * released: ended with the loop by cio__dns_loop_end, freed by their
     * cio_resolver_free (before or after). */
    struct cio_resolver *resolvers;
};

/* Ends a resolver of the loop at the loop's end (dns.c): its lookups end
 * with -ECANCELED, callbacks called from here, as the loop is closed. The
 * default is freed; one of the caller's is taken off net->resolvers and
 * freed once its cio_resolver_free has been called (before or after). */
void cio__dns_loop_end(struct cio_resolver *r);
struct cio_dns_query;
/* cio_dns_resolve_cb on loop (which need not be running; r NULL: loop's
 * default resolver), for callers given a loop (cio_transport_connect_name).
 * Loop thread. Same returns as cio_dns_resolve_cb (-EPERM: loop NULL). */
int cio__dns_resolve_cb_on(cio_loop *loop, struct cio_resolver *r, const char *host,
                           uint16_t port, int family,
                           void (*cb)(int status, const cio_addr *addrs, size_t n, void *arg),
                           void *arg, struct cio_dns_query **out);

/* The net state of the running loop / of loop, made on first use (NULL:
 * out of memory, or no loop). Loop thread only. */
struct cio__net *cio__net_get(cio_loop *loop);
static inline struct cio__net *cio__net_current(void)
{
    cio_loop *loop = cio__running_loop();
    return loop ? cio__net_get(loop) : NULL;
}

/* Sets SIGPIPE to SIG_IGN once per process if it is SIG_DFL. Every public
 * constructor of the net layer calls it (cheap after the first time). */
void cio__net_init_process(void);

/* ---- Descriptors registered with the loop --------------------------------
 * An nfd is registered once (cio__nfd_open) and stays registered while the
 * owner uses the descriptor. The backend reports edges; each edge sets
 * `ready` bits. The I/O code follows the edge-triggered rule: try the
 * system call first; only when it returns EAGAIN, clear that direction's
 * ready bit (cio__nfd_clear) and wait (cio__nfd_wait or a callback). A
 * read shorter than asked on a stream socket may clear the bit too (epoll
 * reports every new arrival as a new edge), which saves the EAGAIN call.
 *
 * Two kinds of owners: tasks wait with cio__nfd_wait (one per direction);
 * callback owners (transports, servers, UDP receivers) set `on_event`,
 * called from the loop with the events of every edge. */
struct cio__nfd {
    cio_loop *loop;
    int fd;
    /* CIO_READABLE | CIO_WRITABLE | CIO_IOERR seen, not yet cleared. 0 at
     * cio__nfd_open: the backend reports the state at registration as a
     * first edge (epoll queues one for a ready descriptor; poll sees the
     * level once armed). CIO_IOERR (an error or hang-up) sets both
     * directions too, so waits in either end and the next call returns the
     * error; waits look at the direction bits only. */
    uint8_t ready;
    /* What the core has armed (cio__io_edge_arm): for a task-owned nfd the
     * directions tasks wait for now (set and cleared by cio__nfd_wait and
     * the edge callback); for a callback owner (on_event set) what it
     * asked for with cio__nfd_arm, plus the directions tasks wait for. */
    uint8_t armed;
    bool registered;
    /* Opened with cio__nfd_open_lazy and not yet in the backend: the
     * first wait or non-empty arm registers it. */
    bool lazy;
    cio_future *rwait, *wwait; /* the futures tasks await, one per direction */
    void (*on_event)(struct cio__nfd *n, int events);
    void *owner;
};

/* Registers fd (non-blocking; the caller made it so) with loop: one
 * epoll_ctl, the only one in the registration's life. A raw registration
 * of fd (cio_fd_*, cio_socket_accept's listener) that no task waits on is
 * taken over (dropped first). Sets loop, fd,
 * ready = armed = 0, no waiters; leaves on_event and owner as the caller
 * set them (before or after: on_event is read at each edge). n must not
 * move until cio__nfd_close. Returns 0, -EINVAL, -EBUSY (fd has a
 * reader/writer of cio_loop_add_reader, another nfd, or a raw registration
 * a task waits on), -ENOMEM, -EBADF or
 * the backend's error (-EPERM for a regular file under epoll). Loop
 * thread. Also calls cio__net_init_process. */
int cio__nfd_open(struct cio__nfd *n, cio_loop *loop, int fd);
/* cio__nfd_open without the system call: the descriptor enters the
 * backend at the first cio__nfd_wait, or cio__nfd_arm of a direction, so
 * a connection that never has to wait (accepted, answered at once from
 * the socket buffers, closed: the accept_rate benchmark) costs no
 * epoll_ctl at all. Registering then is still race-free: epoll reports a
 * descriptor already ready at EPOLL_CTL_ADD, and poll sees the level. For
 * descriptors nobody else can have registered (fresh from accept4); an
 * error of the late registration (-ENOMEM, -EBUSY) comes from the wait or
 * the arm. Never fails: returns 0, or -EINVAL for bad arguments. */
int cio__nfd_open_lazy(struct cio__nfd *n, cio_loop *loop, int fd);
/* Deregisters (the descriptor stays open) and completes a waiting task's
 * future with -EBADF (the task resumes later and no longer touches n, so
 * n may be freed right after this returns). Safe on a zeroed or already
 * closed nfd, and after the loop closed. */
void cio__nfd_close(struct cio__nfd *n);
/* Suspends the current task until `events` (one direction, or both: then
 * either) is ready, honouring deadlines and cancellation. Returns 0,
 * -EINVAL (no direction, or a task of another loop), -EBUSY (a task
 * already waits for that direction), -EPERM (no task), -ENOMEM,
 * -ECANCELED, -ETIMEDOUT, -EBADF (not registered, or cio__nfd_close
 * meanwhile). A direction whose ready bit is set returns 0 at once,
 * without suspending; the bits are left as they are (the caller clears
 * them on EAGAIN). No system call: arming is free on epoll and in memory
 * on poll. After a 0, the caller must look at n again only if it knows n
 * is still alive (another task may have closed it). */
int cio__nfd_wait(struct cio__nfd *n, int events);
static inline void cio__nfd_clear(struct cio__nfd *n, int events)
{
    n->ready &= (uint8_t)~events;
}
/* For callback owners: what they want reported (costs no system call on
 * epoll; a level-triggered backend polls only armed directions, and keeps
 * reporting one until the owner disarms it or drains it). Arming reports
 * nothing by itself on epoll: an edge comes only when the state changes,
 * so an owner looks at `ready` first (a bit still set means: go on with
 * the system call) and arms only after EAGAIN cleared the bit. Armed
 * directions count as the loop's live work. on_event is called with the
 * events of every edge, armed or not (epoll reports them all; ready is
 * updated first, waiting tasks are woken first), and may close and free
 * n. Returns 0, -EBADF (not registered) or -ENOMEM (poll). */
int cio__nfd_arm(struct cio__nfd *n, int events);

/* For operations on raw descriptors (cio_fd_read/write, cio_socket_accept,
 * fd passing): runs op(fd, arg), a non-blocking system call that returns
 * >= 0 or -errno (-EINTR is retried), on fd's raw registration in the
 * running loop (the one cio_fd_wait uses, made if need be; fd is made
 * non-blocking once), and while it returns -EAGAIN waits for `dir`
 * (CIO_READABLE or CIO_WRITABLE) and runs it again. The call is skipped
 * while the direction is known not ready (no edge since its last EAGAIN).
 * Returns op's result, or -EBADF (fd < 0, or forgotten meanwhile), -EPERM
 * (no task), -EBUSY (another task waits for dir, or fd has a reader or
 * writer or belongs to a stream), -ECANCELED, -ETIMEDOUT, -ENOMEM. A
 * regular file under epoll is not registered: op runs directly. Note that
 * op's arg stays in use across the suspension. May suspend. */
ssize_t cio__fd_io(int fd, int dir, ssize_t (*op)(int fd, void *arg), void *arg);

/* ---- Socket helpers (socket.c) ------------------------------------------- */
int cio__sock_nonblock(int fd);                      /* O_NONBLOCK on; 0 or -errno */
/* TCP_NODELAY (unless o->nagle) and the keep-alive options on an IP socket
 * (nothing on others); o NULL: the defaults. 0 or -errno. */
int cio__sock_apply(int fd, int family, const cio_socket_options *o);
/* accept4 with SOCK_NONBLOCK|SOCK_CLOEXEC: returns the new descriptor or
 * -errno (-EAGAIN when nothing is pending; never suspends). With o, the
 * TCP options are applied (one setsockopt each; on failure the socket is
 * closed and the error returned). With o NULL nothing is applied: Linux
 * copies TCP_NODELAY and the keep-alive settings from the listener to the
 * accepted socket, and a listener of cio_socket_listen has them, so a
 * server on such a listener passes NULL and saves the system calls.
 * *peer (may be NULL) gets the client's address ("unix:" if unnamed). */
int cio__sock_accept(int lfd, const cio_socket_options *o, cio_addr *peer);
/* The first half of cio_socket_connect: checks addr and opts, makes the
 * socket (non-blocking, close-on-exec), applies the TCP options and binds
 * opts->local. 0 and *fd, or -EINVAL or -errno. Never suspends. */
int cio__sock_open(const cio_addr *addr, const cio_socket_options *opts, int *fd);
/* The second half: connects s (from cio__sock_open) to addr. While the
 * connect is in progress it calls wait(arg), which suspends until s is
 * writable and returns 0 or an error (-ECANCELED, -ETIMEDOUT, ...), so an
 * owner whose registration of s is already made (a stream's) waits on it
 * and no epoll_ctl is spent; wait NULL: a registration of its own, made
 * and dropped around the wait. A Unix listener with a full backlog is
 * retried after growing pauses. Returns 0, wait's error, or the
 * connection's error (-ECONNREFUSED, ...); s stays the caller's. Suspends
 * (a task only). */
int cio__sock_connect(int s, const cio_addr *addr, int (*wait)(void *arg), void *arg);

/* ---- Connecting by name (connect.c) -------------------------------------- */
/* The most addresses one connect-by-name tries (the resolver's answer is
 * cut there). */
#define CIO__CONNECT_MAX 16
/* The Happy Eyeballs engine (RFC 8305) over addrs[0..n) (1 <= n <=
 * CIO__CONNECT_MAX), tried in the order given: the first attempt starts at
 * once, the next after sopts->attempt_delay (0: 0.25 s; INFINITY: only
 * when the one before failed) or at once when an attempt fails; the first
 * connection made wins and the others are closed before this returns.
 * Addresses of another family than sopts->local's are skipped. opts gives
 * the stream's marks (no TLS here). On 0, *out is a plain stream. Returns
 * 0, -EINVAL, -E2BIG, -EPERM outside a task, the task's -ECANCELED /
 * -ETIMEDOUT, -ENOMEM, or when every attempt failed the last one's error
 * (an error that only says the family or network is unusable from here,
 * -ENETUNREACH, -EADDRNOTAVAIL, -EAFNOSUPPORT, gives way to any other). No
 * descriptor is left open on error. May suspend. For the tests and
 * cio_stream_connect_name. */
int cio__connect_addrs(const cio_addr *addrs, size_t n, const cio_socket_options *sopts,
                       const cio_stream_options *opts, cio_stream **out);
/* Reorders addrs[0..n) for Happy Eyeballs: IPv6 first (when any), then the
 * families alternate, each in its given order (RFC 8305, section 4, with a
 * First Address Family Count of 1). Never suspends. */
void cio__connect_order(cio_addr *addrs, size_t n);
/* cio_stream_to_transport whose connection_made completes fut (may be
 * NULL) as cio_transport_connect's future: with 0 or connection_made's
 * error; fut cancelled before connection_made ran aborts the transport
 * and no callback is called (transport.c, for
 * cio_transport_connect_name). Returns as cio_stream_to_transport. */
int cio__stream_to_transport_connect(cio_stream *s, const cio_protocol *proto, void *arg,
                                     cio_future *fut, cio_transport **out);

/* ---- Watching a connection (stream.c, transport.c) -----------------------
 * For servers (server.c), which hand each connection to a handler task or
 * a protocol and must know when it stops being theirs without touching a
 * freed object: gone(arg) is called once, when s (t) is freed
 * (cio_stream_close/cio_stream_abort; a transport after its
 * connection_lost returned) or handed to the other style
 * (cio_stream_to_transport, cio_transport_to_stream). Never from inside a
 * call of the protocol's on a transport (it comes from the loop, as
 * connection_lost). gone NULL removes the watch; one watch per object. */
void cio__stream_watch(cio_stream *s, void (*gone)(void *arg), void *arg);
void cio__transport_watch(cio_transport *t, void (*gone)(void *arg), void *arg);

#endif
