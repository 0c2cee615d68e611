/* cio: networking. Waiting on descriptors from tasks, addresses, TCP, UDP
 * and Unix sockets, buffered streams with one flow-control contract,
 * servers, the protocol/transport callback API, subprocesses and files.
 *
 * Two styles, one connection object underneath:
 *   - coroutine style: a cio_stream, read and written from tasks (the plain
 *     names suspend, as everywhere in cio);
 *   - callback style: a cio_transport driving a cio_protocol's callbacks
 *     (asyncio's and Twisted's model), from the loop's thread.
 * cio_transport_to_stream and cio_stream_to_transport hand a connection
 * from one style to the other with its buffered bytes.
 *
 * Every descriptor cio creates is non-blocking and close-on-exec. SIGPIPE
 * never kills a cio program: sockets are written with MSG_NOSIGNAL, and the
 * first use of this header's functions sets SIGPIPE to SIG_IGN if it was
 * SIG_DFL (a handler the program installed itself is left alone);
 * subprocesses start with SIGPIPE back at SIG_DFL.
 *
 * Deadlines and cancellation: every suspending call here honours the
 * calling task's deadline scopes (-ETIMEDOUT) and cancellation
 * (-ECANCELED), as cio_await does. A read that gives up that way consumes
 * nothing; a write that gives up may have sent part of the data (the
 * entry says how much is known). */
#ifndef CIO_NET_H
#define CIO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "common.h"
#include "future.h"
#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Waiting on a descriptor ----------------------------------------------
 * The first wait on a descriptor registers it with the loop's backend once
 * (edge-triggered where the backend has it), and the registration stays
 * while the descriptor is in use: later waits cost no epoll_ctl. So a
 * descriptor waited on must leave through cio_fd_close, or cio_fd_forget
 * before the program closes it or hands it elsewhere (debug mode reports a
 * descriptor closed behind cio's back when it notices). One task at a time
 * may wait for each direction of a descriptor. */

/* Suspends until fd is ready for one of `events` (CIO_READABLE,
 * CIO_WRITABLE, or both): level-triggered semantics, as poll(2); a ready
 * descriptor returns at once. After a wait returned a direction, the next
 * wait on it first asks the kernel (one zero-timeout poll(2)), since cio
 * cannot see the caller's own reads; cio_fd_read/cio_fd_write keep the
 * state known and need no such probe. fd is not made non-blocking. On 0,
 * *ready (may be NULL) receives the ready events, with CIO_IOERR added for
 * an error or hang-up. Returns 0, -EINVAL (fd < 0, no event), -EBUSY
 * (another task waits for the same direction, or fd has a reader/writer of
 * cio_loop_add_reader), -EBADF (fd not open, or forgotten/closed while
 * waiting), -EPERM outside a task, -ECANCELED, -ETIMEDOUT, -ENOMEM or the
 * backend's error (-EPERM for a regular file under epoll). May suspend. */
CIO_API int cio_fd_wait(int fd, int events, int *ready);

/* read(2) that suspends the task instead of returning EAGAIN: returns the
 * bytes read (0 at end of file) or -errno (-EBADF, -EPERM outside a task,
 * -EBUSY another task reads fd, -ECANCELED/-ETIMEDOUT with nothing read,
 * read's errors). Puts fd in non-blocking mode and registers it as
 * cio_fd_wait does; a regular file is read directly. May suspend. */
CIO_API ssize_t cio_fd_read(int fd, void *buf, size_t len);

/* write(2) that suspends instead of returning EAGAIN: returns the bytes
 * written (at least 1 when len > 0, possibly fewer than len, as write(2))
 * or -errno as cio_fd_read (-EPIPE for a closed peer: sockets are sent to
 * with MSG_NOSIGNAL). Puts fd in non-blocking mode. May suspend. */
CIO_API ssize_t cio_fd_write(int fd, const void *buf, size_t len);

/* Drops the loop's registration of fd (if any) and wakes a task waiting on
 * it with -EBADF; leaves fd open. Returns 0, -EINVAL (fd < 0) or -EPERM
 * when called off the loop's thread with no current loop. Never suspends. */
CIO_API int cio_fd_forget(int fd);

/* cio_fd_forget (if a loop runs on this thread), then close(2). Returns 0
 * or -errno of close (-EBADF; the descriptor is closed either way, as
 * close(2); EINTR counts as 0). Never suspends. */
CIO_API int cio_fd_close(int fd);

/* ---- Addresses ------------------------------------------------------------ */

/* An IPv4, IPv6 or Unix socket address, by value. len is the length the
 * system calls take (0: no address). */
typedef struct cio_addr {
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
        struct sockaddr_un un;
        struct sockaddr_storage storage;
    } u;
    socklen_t len;
} cio_addr;

/* Room for any address cio_addr_format writes, with its terminating NUL. */
#define CIO_ADDR_STRLEN 136

/* Parses "1.2.3.4:80", "[::1]:80", "[fe80::1%eth0]:80", "unix:/path"
 * (after "unix:" any non-empty path, relative too), "/path" (a path
 * starting with '/' or '.'), "unix:@name" or "@name" (a Linux abstract
 * name) into *out. A port is required for IP addresses (1 to 5 decimal
 * digits, 0..65535, no sign); host names are not accepted. Returns 0,
 * -EINVAL for text outside that grammar, -ENAMETOOLONG for a path or name
 * that does not fit sun_path (107 bytes); out is untouched on error.
 * Never suspends. */
CIO_API int cio_addr_parse(const char *text, cio_addr *out);

/* An IP address from a numeric host ("127.0.0.1", "::1", no brackets) and a
 * port. Returns 0 or -EINVAL. Never suspends. */
CIO_API int cio_addr_ip(const char *host, uint16_t port, cio_addr *out);

/* A Unix address: a path, or with a leading '@' an abstract name. Returns
 * 0, -EINVAL (NULL or empty) or -ENAMETOOLONG. Never suspends. */
CIO_API int cio_addr_unix(const char *path, cio_addr *out);

/* Copies a system address (from accept(2), getsockname(2), ...). Returns
 * 0, or -EINVAL for a family other than AF_INET/AF_INET6/AF_UNIX or a
 * length that does not fit it. Never suspends. */
CIO_API int cio_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, cio_addr *out);

/* Formats a as cio_addr_parse reads it ("[::1]:80", "unix:/p", "unix:@n",
 * "unix:" for an unnamed Unix socket). Returns 0, -EINVAL (bad address) or
 * -ENOSPC if len is too small (buf then holds "" when len > 0). Never
 * suspends. */
CIO_API int cio_addr_format(const cio_addr *a, char *buf, size_t len);

/* The address family (AF_INET, AF_INET6, AF_UNIX); AF_UNSPEC for NULL or
 * an empty address. */
CIO_API sa_family_t cio_addr_family(const cio_addr *a);

/* The port of an IP address; 0 for NULL or a Unix address. */
CIO_API uint16_t cio_addr_port(const cio_addr *a);

/* Whether two addresses are the same (family, address, port or path). */
CIO_API bool cio_addr_is_equal(const cio_addr *a, const cio_addr *b);

/* ---- Sockets --------------------------------------------------------------- */

/* Options of sockets cio creates (connect, listen, servers). Zero is every
 * default. */
typedef struct cio_socket_options {
    size_t size;     /* sizeof(cio_socket_options) as compiled: the macros */
    int backlog;     /* listen(2) backlog; default 511 (nginx's) */
    bool reuseport;  /* SO_REUSEPORT: several sockets (loops) share the port */
    bool nagle;      /* leave Nagle's algorithm on; default: TCP_NODELAY set */
    bool keepalive;  /* SO_KEEPALIVE */
    int keepalive_idle;     /* s before the first probe; 0: the system's */
    int keepalive_interval; /* s between probes; 0: the system's */
    int keepalive_count;    /* probes before the connection drops; 0: the system's */
    bool v6only;     /* IPV6_V6ONLY on an IPv6 listener; default off (dual stack) */
    bool unlink;     /* a Unix listener removes a stale socket file at its path first */
    const cio_addr *local; /* connect: bind to this local address first */
    /* Connecting by name (cio_stream_connect_name, cio_transport_connect_name): */
    struct cio_resolver *resolver; /* NULL: the loop's default (cio/dns.h) */
    int family;             /* AF_UNSPEC (both, the default), AF_INET, AF_INET6 */
    double attempt_delay;   /* Happy Eyeballs: seconds before the next address
                               is tried while one still connects; 0: 0.25 (RFC
                               8305); INFINITY: one address at a time */
} cio_socket_options;

#define CIO_SOCKET_OPTIONS_INIT {.size = sizeof(cio_socket_options)}
#define CIO_SOCKET_OPTIONS(...) \
    ((cio_socket_options){.size = sizeof(cio_socket_options), __VA_ARGS__})

/* A listening socket for addr (TCP for IP addresses, SOCK_STREAM for Unix
 * ones), with SO_REUSEADDR, the options' backlog and SO_REUSEPORT. Port 0
 * picks a free port (cio_socket_local tells which). On 0, *fd is the
 * caller's. Returns 0, -EINVAL, -E2BIG, or the error of socket, bind or
 * listen (-EADDRINUSE, -EACCES, ...). Never suspends. */
CIO_API int cio_socket_listen(const cio_addr *addr, const cio_socket_options *opts, int *fd);

/* Suspends until a connection arrives on the listening socket lfd and
 * accepts it (non-blocking, close-on-exec; TCP_NODELAY set on TCP). lfd is
 * registered with the loop as by cio_fd_wait (close it with cio_fd_close).
 * On 0, *fd is the caller's and *peer (may be NULL) its address. Returns
 * 0, -EINVAL (lfd < 0, NULL fd, not listening), -EPERM outside a task,
 * -EBUSY (another task accepts on lfd), -ECANCELED, -ETIMEDOUT, or
 * accept's error (-EMFILE, ...). May suspend. */
CIO_API int cio_socket_accept(int lfd, int *fd, cio_addr *peer);

/* Connects a new socket to addr, suspending until the connection is made
 * (TCP_NODELAY and the other options applied; a Unix listener with a full
 * backlog is retried after growing pauses until the deadline). On 0, *fd
 * is the caller's (not registered with the loop).
 * Returns 0, -EINVAL, -E2BIG, -EPERM outside a task, -ECANCELED,
 * -ETIMEDOUT (the task's deadline), or the connection's error
 * (-ECONNREFUSED, -ENETUNREACH, ...); no descriptor is left open on error.
 * May suspend. */
CIO_API int cio_socket_connect(const cio_addr *addr, const cio_socket_options *opts, int *fd);

/* A connected pair of Unix sockets of `type` (SOCK_STREAM, SOCK_DGRAM,
 * SOCK_SEQPACKET), non-blocking and close-on-exec. Returns 0, -EINVAL or
 * socketpair's error. Never suspends. */
CIO_API int cio_socket_pair(int type, int fds[2]);

/* The socket's local / peer address (an unnamed Unix socket: "unix:").
 * Return 0, -EINVAL (NULL out), -EAFNOSUPPORT (a family cio_addr does not
 * hold) or -errno (-EBADF, -ENOTSOCK, -ENOTCONN). Never suspend. */
CIO_API int cio_socket_local(int fd, cio_addr *out);
CIO_API int cio_socket_peer(int fd, cio_addr *out);

/* Sends len bytes (len >= 1) and nfds descriptors (SCM_RIGHTS, at most
 * CIO_SOCKET_MAX_FDS) over the Unix socket fd, suspending while its buffer
 * is full. Returns the bytes sent (the descriptors went with the first of
 * them; a stream socket may take fewer than len) or -errno: -EINVAL (bad
 * argument, or descriptors over a socket that is not AF_UNIX), -EPERM
 * outside a task, -ECANCELED/-ETIMEDOUT/-EBUSY of the wait (nothing sent),
 * sendmsg's error (-EBADF for a closed descriptor in fds, -EPIPE, ...).
 * fd and the descriptors stay the caller's (the receiver gets duplicates).
 * Both calls wait as cio_fd_read and cio_fd_write do (fd is put in
 * non-blocking mode; its registration stays): a socket they used leaves
 * through cio_fd_close (or cio_fd_forget first). May suspend. */
#define CIO_SOCKET_MAX_FDS 253
CIO_API ssize_t cio_socket_send_fds(int fd, const void *buf, size_t len, const int *fds,
                                    size_t nfds);

/* Receives up to len bytes (len >= 1) and up to *nfds descriptors from the
 * Unix socket fd, suspending until a message arrives. On return *nfds is
 * the number of descriptors received into fds (each close-on-exec, the
 * caller's); more descriptors than fit are closed and the call returns
 * -EMSGSIZE after storing the ones that fit (the byte count is then lost:
 * treat the message as damaged). Returns the bytes read (0: the peer
 * closed) or -errno: -EINVAL, -EPERM outside a task, -EMSGSIZE,
 * -ECANCELED/-ETIMEDOUT/-EBUSY of the wait (nothing consumed), recvmsg's
 * error. May suspend. */
CIO_API ssize_t cio_socket_recv_fds(int fd, void *buf, size_t len, int *fds, size_t *nfds);

/* ---- Streams (coroutine style) ---------------------------------------------
 * A buffered, bidirectional byte stream over a connected socket or a pipe.
 *
 * Reading: bytes are read into a buffer the stream takes from its loop's
 * pool when data arrives and gives back as soon as it is empty, so an idle
 * stream holds no read buffer. One task reads a stream at a time (a second
 * concurrent reader gets -EBUSY).
 *
 * Writing and flow control, the one contract: a write appends to the
 * stream's write buffer and returns at once while the buffer stays at or
 * below the high-water mark; a write that takes it over the mark suspends
 * its task until the buffer drains to the low-water mark. cio_stream_drain
 * waits for the same condition without writing. Any number of tasks may
 * write and drain one stream at once (each write's bytes stay contiguous,
 * in call order); all of them are woken. A write error (the peer reset)
 * is returned by the write or drain that sees it and by every later one. */
typedef struct cio_stream cio_stream;

/* cio/tls.h and cio/dns.h. */
typedef struct cio_tls_config cio_tls_config;
typedef struct cio_resolver cio_resolver;

typedef struct cio_stream_options {
    size_t size;       /* sizeof(cio_stream_options) as compiled: the macros */
    size_t high_water; /* bytes; default 64 KiB */
    size_t low_water;  /* bytes; default high_water / 4; must not exceed high_water */
    size_t limit;      /* the most a line or read_until may span; default 64 KiB */
    /* TLS (cio/tls.h): the connection speaks TLS with this configuration
     * (its role, client or server, says which side); NULL: plain. */
    const cio_tls_config *tls;
    /* Client: the server name sent as SNI and verified against the
     * certificate (an IP literal: verified against its IP addresses, no
     * SNI); NULL: the host given to a connect-by-name call. A client with
     * verification on and no name at all fails with -EINVAL. The session
     * cache keys resumption on it (and the port). */
    const char *server_name;
} cio_stream_options;

#define CIO_STREAM_OPTIONS_INIT {.size = sizeof(cio_stream_options)}
#define CIO_STREAM_OPTIONS(...) \
    ((cio_stream_options){.size = sizeof(cio_stream_options), __VA_ARGS__})

/* Makes a stream of the connected descriptor fd (a socket, pipe or
 * terminal) on the current loop, and puts fd in non-blocking mode; the
 * stream owns fd from then on (on error fd is still the caller's). Returns
 * 0, -EINVAL (fd < 0, out NULL, a regular file or directory, bad marks:
 * low_water > high_water), -E2BIG, -EPERM with no current loop (call it
 * from a task or a callback of a running loop), -ENOMEM, or the error of
 * registering fd with the loop (-EBUSY: it has a cio_loop_add_reader
 * watcher; -EINVAL for opts->tls: upgrade with cio_stream_start_tls).
 * Never suspends. */
CIO_API int cio_stream_new(int fd, const cio_stream_options *opts, cio_stream **out);

/* cio_socket_connect, then cio_stream_new: a TCP or Unix stream connected
 * to addr. With opts->tls, the TLS handshake follows before it returns
 * (opts->server_name is the name verified; cio/tls.h). Returns what they
 * return, and the TLS errors. May suspend. */
CIO_API int cio_stream_connect(const cio_addr *addr, const cio_socket_options *sopts,
                               const cio_stream_options *opts, cio_stream **out);

/* Connects to host (a name, or a numeric IPv4/IPv6 address) at port:
 * resolves it (sopts->resolver, sopts->family), then tries the addresses
 * as RFC 8305 (Happy Eyeballs) says: address families interleaved, the
 * family of the resolver's first address (RFC 6724's sorting: IPv6 where
 * usable) first; while an attempt is in progress the next starts after
 * sopts->attempt_delay (or at once when the attempt fails); the first
 * connection made wins and every other attempt is cancelled and closed.
 * A numeric host needs no resolver; at most 16 addresses are tried; with
 * sopts->local only addresses of its family are (bound to it). With
 * opts->tls the TLS handshake follows (server name: opts->server_name,
 * else host). The whole (resolution, connection, handshake) runs under the
 * task's deadline. Returns 0, -EINVAL (NULL or empty host, port 0, NULL
 * out, a family other than AF_UNSPEC/AF_INET/AF_INET6, a NaN or negative
 * attempt_delay, sopts->local of another family than sopts->family, bad
 * options), -E2BIG, the resolver's errors (cio/dns.h; -ENODATA too for a
 * numeric host of the other family), the last attempt's connect error when
 * all fail (-ECONNREFUSED, ...; an error saying only that the family or
 * network is unusable, -ENETUNREACH, -EADDRNOTAVAIL, -EAFNOSUPPORT,
 * -ENETDOWN, gives way to any other attempt's), the TLS errors
 * (cio/tls.h), -EPERM outside a task, -ECANCELED, -ETIMEDOUT, -ENOMEM. No
 * descriptor is left open on error. May suspend. */
CIO_API int cio_stream_connect_name(const char *host, uint16_t port,
                                    const cio_socket_options *sopts,
                                    const cio_stream_options *opts, cio_stream **out);

/* Reads what is buffered, or suspends until some bytes arrive: returns the
 * bytes copied into buf (1..len), 0 at end of stream, or -errno
 * (-EINVAL for len 0, -EBUSY while another task reads, -ECONNRESET,
 * -ECONNABORTED / -EBADF when another task aborts / closes the stream
 * meanwhile, ...). With nothing buffered, a read of 4 KiB or more goes
 * straight into buf. May suspend. */
CIO_API ssize_t cio_stream_read(cio_stream *s, void *buf, size_t len);

/* Reads exactly len bytes. Returns len (0 for len 0), or -ENODATA if the
 * stream ended first (the bytes that did arrive stay buffered for
 * cio_stream_read), or another error; on any error nothing is consumed
 * (what arrived stays buffered). May suspend. */
CIO_API ssize_t cio_stream_read_exactly(cio_stream *s, void *buf, size_t len);

/* Reads up to and including the separator sep (seplen >= 1) into buf.
 * Returns the bytes stored (separator included), 0 at the end of the
 * stream with nothing buffered, -EMSGSIZE if no separator appears within
 * min(len, the stream's limit) bytes (nothing consumed: the bytes stay
 * buffered, and the buffer never grows past max(limit, 64 KiB)), -ENODATA
 * if the stream ended without a separator (the tail stays buffered),
 * -EINVAL, -EBUSY, or another error. May suspend. */
CIO_API ssize_t cio_stream_read_until(cio_stream *s, const void *sep, size_t seplen, void *buf,
                                      size_t len);

/* cio_stream_read_until with "\n". May suspend. */
CIO_API ssize_t cio_stream_read_line(cio_stream *s, char *buf, size_t len);

/* Reads to the end of the stream into a new malloc'd buffer: on 0, *data
 * (the caller's, free(3); NUL-terminated for convenience, the NUL not
 * counted) and *len. Returns 0, -EMSGSIZE as soon as more than max bytes
 * arrived, or another error; on an error *data is NULL and what was read
 * stays buffered (at most max + 1 bytes), so nothing is consumed. May
 * suspend. */
CIO_API int cio_stream_read_all(cio_stream *s, size_t max, void **data, size_t *len);

/* Zero-copy reading for parsers: suspends until at least one byte is
 * buffered (or the stream ended), then points *data at the buffered bytes
 * and sets *len (0 at end of stream). The bytes stay valid until the next
 * call on the stream; cio_stream_consume says how many were used. A peek
 * after a peek with nothing consumed in between waits for MORE bytes
 * (a parser that needs more just peeks again). Returns 0, -EMSGSIZE (the
 * buffer holds max(limit, 64 KiB) bytes and the parser wants more),
 * -ENODATA (the stream ended and every byte left was shown already), or
 * -errno. May suspend. */
CIO_API int cio_stream_peek(cio_stream *s, const void **data, size_t *len);

/* Drops n bytes from the front of the read buffer (n at most what is
 * buffered). Returns 0 or -EINVAL. Never suspends. */
CIO_API int cio_stream_consume(cio_stream *s, size_t n);

/* Appends len bytes to the write buffer (see the contract above), sending
 * what the socket takes at once (while nothing is buffered, the bytes go
 * straight to the socket and only the rest is copied). Returns 0 or
 * -errno (-EINVAL, -EPIPE after cio_stream_shutdown, -ECONNRESET, the
 * sticky write error, ...); on -ECANCELED/-ETIMEDOUT the bytes were
 * buffered and will be sent. May suspend. */
CIO_API int cio_stream_write(cio_stream *s, const void *buf, size_t len);

/* cio_stream_write of iovcnt pieces as one contiguous write. May suspend. */
CIO_API int cio_stream_writev(cio_stream *s, const struct iovec *iov, int iovcnt);

/* Suspends until the write buffer is at or below the low-water mark.
 * Returns 0 or the stream's write error. May suspend. */
CIO_API int cio_stream_drain(cio_stream *s);

/* Suspends until every buffered byte has been handed to the kernel.
 * Returns 0 or the stream's write error. May suspend. */
CIO_API int cio_stream_flush(cio_stream *s);

/* Sends count bytes of the file file_fd from offset with sendfile(2),
 * after flushing what is buffered (falls back to pread and write where
 * sendfile cannot be used); file_fd's offset is not changed. Writes made
 * meanwhile by other tasks follow the file. Returns the bytes sent (fewer
 * than count only when the file ended, or when a deadline or cancellation
 * stopped it after some bytes went), or -errno (-EBUSY: another sendfile
 * runs on the stream; the file's errors, such as -ESPIPE, are not sticky).
 * May suspend. */
CIO_API ssize_t cio_stream_sendfile(cio_stream *s, int file_fd, off_t offset, size_t count);

/* Half-close: flushes, then shuts down the write side (a pipe is closed:
 * cio_stream_fd then returns -1); reading goes on, writes return -EPIPE.
 * A second call returns 0. If the wait gives up (-ETIMEDOUT, -ECANCELED),
 * the shutdown still happens once the buffer is sent. Returns 0 or
 * -errno. May suspend. */
CIO_API int cio_stream_shutdown(cio_stream *s);

/* Graceful close: flushes under the task's deadline, closes the descriptor
 * and frees the stream (invalid afterwards, whatever this returns, except
 * -EPERM: called outside a task with bytes still to flush, it frees
 * nothing). Other tasks inside a call on the stream return -EBADF.
 * Returns 0, or the flush's error (the stream is closed anyway;
 * -ETIMEDOUT / -ECANCELED: the rest was dropped with a reset; the sticky
 * write error), -EINVAL (NULL, or a stream handed to a transport). May
 * suspend. */
CIO_API int cio_stream_close(cio_stream *s);

/* Abortive close: drops buffered output, resets a TCP connection
 * (SO_LINGER 0), closes and frees; tasks waiting on the stream get
 * -ECONNABORTED. Returns 0 or -EINVAL. Never suspends. */
CIO_API int cio_stream_abort(cio_stream *s);

/* Getters. cio_stream_fd returns the descriptor (-1 for NULL), which
 * stays the stream's; cio_stream_buffered the bytes in the write buffer;
 * cio_stream_readable the bytes buffered for reading. */
CIO_API int cio_stream_fd(const cio_stream *s);
CIO_API size_t cio_stream_buffered(const cio_stream *s);
CIO_API size_t cio_stream_readable(const cio_stream *s);
/* The end of the stream was seen and every buffered byte was read. */
CIO_API bool cio_stream_is_eof(const cio_stream *s);

/* Changes the write buffer's marks (low <= high; 0, 0: the defaults) and
 * wakes the writers and drainers the new low mark satisfies. Returns 0 or
 * -EINVAL. Never suspends. */
CIO_API int cio_stream_set_water(cio_stream *s, size_t high, size_t low);

/* ---- Protocol/transport (callback style) -----------------------------------
 * asyncio's model: cio calls the protocol's callbacks on the loop's thread;
 * the protocol writes through the transport, which never blocks: it
 * buffers, and calls pause_writing when the buffer goes over the
 * high-water mark and resume_writing when it drains to the low-water
 * mark. No callback is called from inside a transport function the
 * protocol called (they come from the loop), and connection_lost is the
 * last callback, called exactly once for a connection_made. */
typedef struct cio_transport cio_transport;

typedef struct cio_protocol {
    /* The connection is up. arg is the server's or connect's arg; *ctx
     * (initially arg) is handed to every later callback. Return 0, or an
     * error to abort the connection (connection_lost follows). */
    int (*connection_made)(cio_transport *t, void *arg, void **ctx);
    /* Bytes arrived (len >= 1); data is valid during the call only. */
    void (*data_received)(cio_transport *t, const void *data, size_t len, void *ctx);
    /* The peer shut down its side. Return true to keep the transport open
     * for writing (half-close), false to close it (the default when NULL). */
    bool (*eof_received)(cio_transport *t, void *ctx);
    /* The connection is gone: error is 0 for a clean close or eof, else
     * -errno. The transport is freed once this returns. */
    void (*connection_lost)(cio_transport *t, int error, void *ctx);
    /* Flow control (may be NULL). */
    void (*pause_writing)(cio_transport *t, void *ctx);
    void (*resume_writing)(cio_transport *t, void *ctx);
} cio_protocol;

/* Makes a transport of the connected descriptor fd on loop and calls
 * proto->connection_made (from the loop, soon; NULL callbacks are skipped,
 * data_received is required). With opts->tls, the TLS handshake comes
 * first: connection_made follows it, and a failed or timed-out handshake
 * (handshake_timeout, a loop timer) ends the transport without any
 * callback (the descriptor is closed), as does closing or aborting it
 * before its handshake ended. Owns fd from then on (on error it is still
 * the caller's). Call it on the loop's thread. Returns 0, -EINVAL, -E2BIG,
 * -ENOMEM, or the error of registering fd. Never suspends. */
CIO_API int cio_transport_new(cio_loop *loop, int fd, const cio_stream_options *opts,
                              const cio_protocol *proto, void *arg, cio_transport **out);

/* Connects to addr without a task: once connected, a transport runs proto
 * (connection_made). *out (may be NULL) receives a future (the caller's
 * reference) that completes with 0 once connection_made ran (or with the
 * error connection_made returned), or with the error of connecting
 * (-ECONNREFUSED, -ENOENT for a Unix path, ...: connection_made is then
 * never called). Cancelling the future before connection_made ran
 * cancels the attempt, and no callback is called. Returns 0 (started),
 * -EINVAL, -E2BIG, -ENOMEM or the error of socket/bind. Never suspends. */
CIO_API int cio_transport_connect(cio_loop *loop, const cio_addr *addr,
                                  const cio_socket_options *sopts,
                                  const cio_stream_options *opts, const cio_protocol *proto,
                                  void *arg, cio_future **out);

/* cio_transport_connect by name: resolves host and connects as
 * cio_stream_connect_name does (Happy Eyeballs, then TLS with opts->tls),
 * in a task of its own on loop, then runs proto. *out (may be NULL)
 * receives a future as cio_transport_connect's: 0 once connection_made
 * ran (or its error), or the error of cio_stream_connect_name, with no
 * callback called; cancelling it before connection_made ran cancels the
 * whole attempt (resolution, connects, handshake), and no callback is
 * called. host, sopts and opts are copied, opts->tls is referenced (the
 * caller may free its configuration at once); sopts->resolver must
 * outlive the attempt. No deadline but the system's connect timeout.
 * Returns 0 (started), -EINVAL (as cio_stream_connect_name's, and a NULL
 * or closed loop, no proto or data_received), -E2BIG, -ENOMEM. Call it on
 * the loop's thread. Never suspends. */
CIO_API int cio_transport_connect_name(cio_loop *loop, const char *host, uint16_t port,
                                       const cio_socket_options *sopts,
                                       const cio_stream_options *opts,
                                       const cio_protocol *proto, void *arg, cio_future **out);

/* Sends what the socket takes and buffers the rest. Never blocks:
 * exceeding the high-water mark calls pause_writing (later, from the loop).
 * Returns 0, -EINVAL, -EPIPE after write_eof or close, or the
 * connection's error. Never suspends. */
CIO_API int cio_transport_write(cio_transport *t, const void *data, size_t len);
CIO_API int cio_transport_writev(cio_transport *t, const struct iovec *iov, int iovcnt);

/* Shuts the write side down once the buffer is sent (half-close); later
 * writes return -EPIPE. Returns 0, -EINVAL (closing or lost), or the
 * connection's write error. Never suspends. */
CIO_API int cio_transport_write_eof(cio_transport *t);

/* Stops / restarts calling data_received (no read buffer is held while
 * paused; bytes wait in the kernel). Return 0 or -EINVAL (closing or
 * lost). Never suspend. */
CIO_API int cio_transport_pause_reading(cio_transport *t);
CIO_API int cio_transport_resume_reading(cio_transport *t);

/* Graceful close: stops reading, sends the buffered bytes, closes, then
 * connection_lost(0) (or the error that stopped the sending) from the
 * loop. Returns 0 or -EINVAL (already closing or lost). Never suspends. */
CIO_API int cio_transport_close(cio_transport *t);

/* Abortive close: drops the buffer, resets (SO_LINGER 0) and closes the
 * descriptor now, then connection_lost(-ECONNABORTED) from the loop.
 * Returns 0 or -EINVAL (lost already). Never suspends. */
CIO_API int cio_transport_abort(cio_transport *t);

/* Changes the flow-control marks (low <= high; 0, 0: the defaults); the
 * protocol hears of a crossing from the loop. Returns 0 or -EINVAL. */
CIO_API int cio_transport_set_water(cio_transport *t, size_t high, size_t low);

/* Getters: the descriptor (-1 for NULL, or once closed), the bytes in the
 * write buffer, the loop, and whether close, abort or an error has begun
 * the end. */
CIO_API int cio_transport_fd(const cio_transport *t);
CIO_API size_t cio_transport_buffered(const cio_transport *t);
CIO_API cio_loop *cio_transport_loop(const cio_transport *t);
CIO_API bool cio_transport_is_closing(const cio_transport *t);

/* Hands the connection to the coroutine style: the transport becomes a
 * stream (the same object: t is not to be used as a transport again;
 * bytes received but not yet delivered, bytes not yet sent and the marks
 * carry over); the protocol gets no more callbacks, not even
 * connection_lost. Call it from a protocol callback or a task of the same
 * loop. Returns 0, -EINVAL (NULL, closing or lost). Never suspends. */
CIO_API int cio_transport_to_stream(cio_transport *t, cio_stream **out);

/* The reverse: the stream becomes a transport running proto
 * (connection_made with arg, from the loop, then data_received with any
 * bytes the stream had buffered for reading; bytes not yet sent go out
 * first). No task may be inside a call on the stream. Returns 0, -EBUSY
 * (a task is inside a call on s), -EINVAL, -ENOMEM. Never suspends. */
CIO_API int cio_stream_to_transport(cio_stream *s, const cio_protocol *proto, void *arg,
                                    cio_transport **out);

/* ---- TLS connections (configurations and errors: cio/tls.h) ---------------- */

/* OpenSSL's SSL, for the escape hatch (no OpenSSL header needed). */
struct ssl_st;

/* What a TLS connection negotiated. The strings stay valid while the
 * connection is open. */
typedef struct cio_tls_info {
    int version;             /* CIO_TLS_1_2 or CIO_TLS_1_3 (cio/tls.h) */
    const char *cipher;      /* "TLS_AES_128_GCM_SHA256" */
    const char *alpn;        /* the protocol ALPN chose; NULL: none */
    const char *server_name; /* client: the name asked for; server: the SNI
                                the client sent; NULL: none */
    bool resumed;            /* the session was resumed (abbreviated handshake) */
    bool peer_verified;      /* the peer presented a certificate that verified */
    bool ktls_send;          /* the kernel encrypts what is sent */
    bool ktls_recv;          /* the kernel decrypts what is received */
} cio_tls_info;

/* The negotiated parameters of a stream's / transport's TLS session.
 * Return 0, -EINVAL (NULL), -ENOTCONN (not a TLS connection, or its
 * handshake is not done). Never suspend. */
CIO_API int cio_stream_tls_info(const cio_stream *s, cio_tls_info *out);
CIO_API int cio_transport_tls_info(const cio_transport *t, cio_tls_info *out);

/* The OpenSSL SSL object of a TLS connection (NULL otherwise): for the
 * peer's certificate and the like; reading or writing through it directly
 * is not allowed. Never suspend. */
CIO_API struct ssl_st *cio_stream_ssl(const cio_stream *s);
CIO_API struct ssl_st *cio_transport_ssl(const cio_transport *t);

/* STARTTLS: upgrades a plain stream to TLS in place, as the side cfg says
 * (client or server). Bytes buffered for writing are sent in the clear
 * first; bytes already buffered for reading are the peer's first TLS bytes
 * and are handed to TLS. server_name as in cio_stream_options (client: the
 * name to verify; NULL with verification on is -EINVAL). Suspends until
 * the handshake is done (handshake_timeout, the task's deadline). On a TLS
 * error the stream can only be closed (cio_stream_abort). Returns 0,
 * -EINVAL (NULL, already TLS, not a socket), -EBUSY (another task is
 * inside a call on s), -EPERM outside a task, -ECANCELED, -ETIMEDOUT, the
 * TLS errors above, the stream's errors. May suspend. */
CIO_API int cio_stream_start_tls(cio_stream *s, const cio_tls_config *cfg,
                                 const char *server_name);

/* The same for a transport, from its protocol's callbacks: bytes written
 * before the call go in the clear, data_received stops until the
 * handshake is done, and bytes written meanwhile are sent encrypted after
 * it. Bytes read before the call were delivered already (all of the
 * data_received call it is made from, too), so the peer must wait for a
 * go-ahead before it starts TLS, as SMTP's and IMAP's STARTTLS do; a peer
 * sending its ClientHello behind the command stalls until
 * handshake_timeout (cio_stream_start_tls takes such bytes). *out (may be NULL) receives a future (the caller's
 * reference) completing with 0 once the handshake is done, or with the
 * TLS error (connection_lost(error) follows). Returns 0 (started),
 * -EINVAL, -ENOMEM. Never suspends. */
CIO_API int cio_transport_start_tls(cio_transport *t, const cio_tls_config *cfg,
                                    const char *server_name, cio_future **out);

/* ---- Servers ---------------------------------------------------------------
 * A server listens on an address and runs, for every connection, a task
 * (cio_server_new: the task receives a stream it owns) or a protocol
 * (cio_server_new_protocol). The handler tasks belong to the server, as
 * tasks of a task group: closing the server stops accepting, lets them
 * finish within a grace period, then cancels the rest and waits for them.
 *
 * Running out of descriptors (accept failing with EMFILE/ENFILE) neither
 * spins nor stops the server: it keeps a spare descriptor, which it closes
 * to accept and at once close the pending connection (shedding it rather
 * than leaving the client hanging), then pauses accepting (10 ms, doubling
 * up to 1 s while the shortage lasts) and resumes by itself. At
 * max_connections it stops accepting (connections wait in the backlog)
 * until one closes. */
typedef struct cio_server cio_server;

/* A connection's task: owns s (closing it is optional: the server closes
 * it when the task returns). Its return value is the task's result. */
typedef int (*cio_stream_handler)(cio_stream *s, void *arg);

typedef struct cio_server_options {
    size_t size;            /* sizeof(cio_server_options) as compiled: the macros */
    const cio_socket_options *socket; /* listening and accepted sockets; NULL: defaults */
    const cio_stream_options *stream; /* every connection's stream; NULL: defaults */
    size_t max_connections; /* concurrent connections; 0: no cap */
    size_t stack_size;      /* handler tasks' stacks; 0: cio_task_options' default */
    const char *name;       /* handler tasks are named "<name>-conn"; default "server" */
    const int *fd;          /* serve this listening socket (the server adopts it)
                               instead of binding addr; NULL: bind addr */
} cio_server_options;

#define CIO_SERVER_OPTIONS_INIT {.size = sizeof(cio_server_options)}
#define CIO_SERVER_OPTIONS(...) \
    ((cio_server_options){.size = sizeof(cio_server_options), __VA_ARGS__})

/* Listens on addr (NULL when opts->fd names a listening socket, which the
 * server then adopts: closing the server closes it) and starts accepting
 * on the current loop. Each connection becomes a stream (opts->stream;
 * with opts->stream->tls its TLS handshake is done first, and a connection
 * whose handshake fails is closed without a task) and runs
 * handler(stream, arg) in a new task of the server, named
 * "<name>-conn", with opts->stack_size. The task's outcome is the
 * handler's return value (negative: its error; else its result, as an
 * intptr_t); the server reads it, so a handler's error is not reported as
 * one nobody awaited. Accepted sockets get opts->socket's options
 * (TCP_NODELAY unless nagle). On an error *out is NULL and an adopted
 * descriptor is still the caller's. Returns 0; -EINVAL (NULL handler or
 * out, neither or both of addr and opts->fd, an empty addr, opts->fd not a
 * listening socket, opts->stream->tls not a server's configuration or on a
 * listener that is not SOCK_STREAM (a SOCK_SEQPACKET one), options not made
 * with the macros); -E2BIG (options
 * from a newer header); -EPERM with no running loop on this thread (call
 * it from a task or a callback); -ENOMEM; or the error of listen
 * (-EADDRINUSE, ...). Never suspends. */
CIO_API int cio_server_new(const cio_addr *addr, const cio_server_options *opts,
                           cio_stream_handler handler, void *arg, cio_server **out);

/* The same with a protocol: each connection gets a transport running
 * proto, with arg passed to connection_made. Returns as cio_server_new
 * (-EINVAL for a NULL proto or one without data_received). Never
 * suspends. */
CIO_API int cio_server_new_protocol(const cio_addr *addr, const cio_server_options *opts,
                                    const cio_protocol *proto, void *arg, cio_server **out);

/* Graceful close: stops accepting and closes the listening socket at once
 * (new clients are refused from then on; a Unix socket file the server
 * made is removed), closes protocol connections with cio_transport_close
 * at once, lets handler tasks run for up to grace seconds (INFINITY: no
 * limit), then cancels the tasks still running and aborts the transports
 * left; waits until every connection is gone and frees the server. A
 * handler task that ends with its stream still open gets it closed
 * (cio_stream_close: flushed, or reset when it cannot be). Follows the
 * _close rule: srv is invalid once this returns, whatever it returns,
 * except -EINVAL, -EPERM, -EDEADLK and -ENOMEM, which change nothing.
 * Returns 0; -EINVAL (NULL srv, NaN or negative grace, a close already
 * under way); -EPERM outside a task while connections remain (use
 * cio_server_close_future; with none left it frees at once, anywhere);
 * -EDEADLK from one of srv's own handler tasks (it would wait for its own
 * end: use cio_server_close_future); -ENOMEM; -ECANCELED / -ETIMEDOUT when
 * the calling task is cancelled or its deadline passes while it waits:
 * the grace period is then cut short (the handlers are cancelled) and the
 * call still waits, shielded, until they ended and the server is freed.
 * May suspend. */
CIO_API int cio_server_close(cio_server *srv, double grace);

/* cio_server_close for callback code: starts the same close and returns at
 * once; *out receives a future (the caller's reference) that completes
 * with 0 when the server is freed (already done when no connection was
 * open). srv is invalid once this returns 0. Returns 0, -EINVAL (NULL srv
 * or out, NaN or negative grace, a close already under way) or -ENOMEM
 * (nothing done). Never suspends. */
CIO_API int cio_server_close_future(cio_server *srv, double grace, cio_future **out);

/* The address the server listens on (the port chosen for port 0). Returns
 * 0 or -EINVAL (NULL srv or out). Never suspends. */
CIO_API int cio_server_addr(const cio_server *srv, cio_addr *out);
/* Connections open now: handler tasks not yet ended (stream style),
 * transports not yet gone (protocol style). 0 for NULL. Never suspends. */
CIO_API size_t cio_server_connections(const cio_server *srv);

/* ---- UDP and Unix datagram sockets ----------------------------------------- */
typedef struct cio_udp cio_udp;

typedef struct cio_udp_options {
    size_t size;            /* sizeof(cio_udp_options) as compiled: the macros */
    const cio_addr *remote; /* connect(2) to this peer (send with to == NULL) */
    bool reuseaddr;         /* SO_REUSEADDR (several receivers of a multicast group) */
    bool reuseport;         /* SO_REUSEPORT */
    bool broadcast;         /* SO_BROADCAST */
    int family;             /* AF_INET/AF_INET6/AF_UNIX when neither local nor remote is given */
} cio_udp_options;

#define CIO_UDP_OPTIONS_INIT {.size = sizeof(cio_udp_options)}
#define CIO_UDP_OPTIONS(...) ((cio_udp_options){.size = sizeof(cio_udp_options), __VA_ARGS__})

/* A datagram socket (UDP for IP addresses, SOCK_DGRAM for Unix ones) on
 * the current loop, bound to local (NULL or len 0: an ephemeral port, or
 * an unnamed Unix socket). The family is local's, else remote's, else
 * opts->family, else AF_INET. On 0, *out is the caller's (cio_udp_close);
 * on an error *out is NULL and no descriptor is left. A Unix socket's file
 * stays at its path after close. Returns 0, -EINVAL (NULL out, unknown
 * family, families that disagree), -E2BIG, -EPERM (no current loop),
 * -ENOMEM, or the error of socket, setsockopt, bind or connect
 * (-EADDRINUSE, -ENOENT, ...). Never suspends. */
CIO_API int cio_udp_new(const cio_addr *local, const cio_udp_options *opts, cio_udp **out);

/* Sends one datagram (len may be 0) to `to` (NULL or len 0: the connected
 * peer), suspending while the socket's buffer is full. Returns len or
 * -errno: -EINVAL, -EPERM outside a task, -EDESTADDRREQ (no destination,
 * not connected), -EMSGSIZE, -ECONNREFUSED (a connected socket after an
 * ICMP error, reported once), -ECANCELED/-ETIMEDOUT (nothing sent), -EBADF
 * (closed while waiting), sendto's error. May suspend. */
CIO_API ssize_t cio_udp_send(cio_udp *u, const void *buf, size_t len, const cio_addr *to);

/* The same without suspending, also outside a task (a receiver callback
 * answering): -EAGAIN when the buffer is full. Never suspends. */
CIO_API ssize_t cio_udp_send_nowait(cio_udp *u, const void *buf, size_t len, const cio_addr *to);

/* Suspends until a datagram arrives; copies up to len bytes of it into buf
 * (the rest of a longer one is dropped) and its sender into *from (may be
 * NULL; an unnamed Unix sender: len 0, AF_UNSPEC). Returns the datagram's
 * full length (more than len: truncated) or -errno: -EINVAL, -EPERM
 * outside a task, -EBUSY (a receiver is set), -ECONNREFUSED (see send),
 * -ECANCELED/-ETIMEDOUT (nothing consumed), -EBADF (closed while waiting).
 * May suspend. */
CIO_API ssize_t cio_udp_recv(cio_udp *u, void *buf, size_t len, cio_addr *from);

/* One datagram of a batch. */
typedef struct cio_datagram {
    void *data;   /* send: the bytes; recv: the caller's buffer */
    size_t len;   /* send: their length; recv: the buffer's size, then the datagram's length */
    cio_addr addr; /* send: the destination (len 0: the connected peer); recv: the sender */
} cio_datagram;

/* Batches (sendmmsg/recvmmsg): sends msgs[0..n) in order, suspending while
 * the buffer is full; on return *done (done may be NULL) is the number
 * sent. Every message is checked first (-EINVAL: nothing sent). Returns 0
 * or the error that stopped the batch (*done tells how far it got), as
 * cio_udp_send's. May suspend. */
CIO_API int cio_udp_send_many(cio_udp *u, const cio_datagram *msgs, size_t n, size_t *done);
/* Suspends until at least one datagram arrives, then receives up to n of
 * them without waiting more; *done is the number received, and each one's
 * len its full length (more than the buffer: truncated). Returns 0, or
 * -EINVAL (NULL u, msgs or done, n == 0), -EPERM, -EBUSY (a receiver is
 * set), or the errors of cio_udp_recv; an error met after some arrived is
 * returned with *done counting them. May suspend. */
CIO_API int cio_udp_recv_many(cio_udp *u, cio_datagram *msgs, size_t n, size_t *done);

/* Callback style: cb is called on the loop's thread for every datagram, in
 * order (data and from valid during the call only), never from inside this
 * call; the socket is drained with recvmmsg in batches. NULL stops it;
 * datagrams read but not yet delivered then go to the next receiver or to
 * cio_udp_recv. cb may close u. Socket errors (ICMP) are dropped in this
 * style. While a callback is set, cio_udp_recv returns -EBUSY. Returns 0,
 * -EINVAL, -EBUSY (a task waits in a receive on u), -ENOMEM. Never
 * suspends. */
typedef void (*cio_udp_cb)(cio_udp *u, const void *data, size_t len, const cio_addr *from,
                           void *arg);
CIO_API int cio_udp_set_receiver(cio_udp *u, cio_udp_cb cb, void *arg);

/* Multicast: join or leave group (a numeric IPv4 or IPv6 address) on the
 * interface named iface (NULL: the system's choice). Return 0, -EINVAL
 * (NULL, not a multicast address, an IPv6 group on an IPv4 socket, a Unix
 * socket), -ENODEV (no such interface), or setsockopt's error (-EADDRINUSE:
 * joined already; -EADDRNOTAVAIL: not a member). Never suspend. */
CIO_API int cio_udp_join(cio_udp *u, const char *group, const char *iface);
CIO_API int cio_udp_leave(cio_udp *u, const char *group, const char *iface);
/* IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP, IP_MULTICAST_TTL / hops (0..255),
 * SO_BROADCAST. Return 0, -EINVAL (NULL, a Unix socket, ttl out of range)
 * or setsockopt's error. Never suspend. */
CIO_API int cio_udp_set_multicast_loop(cio_udp *u, bool on);
CIO_API int cio_udp_set_multicast_ttl(cio_udp *u, int ttl);
CIO_API int cio_udp_set_broadcast(cio_udp *u, bool on);
/* The interface multicast datagrams from u go out on: iface is an
 * interface's name ("lo", "eth0") or, on an IPv4 socket, the numeric IPv4
 * address of a local interface ("127.0.0.1"); NULL goes back to the
 * system's choice (the routing table). IPv4: IP_MULTICAST_IF with an
 * ip_mreqn (the index, or the address); IPv6: IPV6_MULTICAST_IF (the
 * index; datagrams to IPv4 groups through a dual-stack socket keep the
 * system's choice). Returns 0, -EINVAL (NULL u, a closed or Unix socket,
 * an IPv4 address on an IPv6 socket), -ENODEV (no interface of that name)
 * or setsockopt's error (-EADDRNOTAVAIL: no interface has that address).
 * Never suspends. */
CIO_API int cio_udp_set_multicast_if(cio_udp *u, const char *iface);

/* The descriptor (still u's), -1 for NULL; the local address (0, -EINVAL
 * or getsockname's error). */
CIO_API int cio_udp_fd(const cio_udp *u);
CIO_API int cio_udp_local(const cio_udp *u, cio_addr *out);

/* Closes the socket and frees u (u is invalid afterwards); a task waiting
 * on it gets -EBADF, a receiver no more calls. May be called from u's own
 * receiver callback. Returns 0 or -EINVAL (NULL). Never suspends. */
CIO_API int cio_udp_close(cio_udp *u);

/* ---- Subprocesses ----------------------------------------------------------
 * A child process started with posix_spawn, on the loop of the thread that
 * starts it, and reaped by that loop: through a pidfd where the kernel has
 * pidfd_open (5.3), otherwise through the loop's SIGCHLD handler
 * (cio_loop_add_signal_handler), which reaps only the loop's own children
 * (waitpid on each of their pids, never waitpid(-1)) and is removed when
 * none runs. No zombie is left behind either way, and no signal ever goes
 * to a pid after cio reaped it. While a process runs, its loop is busy
 * (cio_loop_close says -EBUSY): wait for every process (or kill it) and
 * free it before the loop closes. In the SIGCHLD way cio holds the loop's
 * SIGCHLD handler while a process runs: do not set one of your own on that
 * loop then. A program that sets SIGCHLD to SIG_IGN has the kernel reap
 * children itself: with a pidfd their status then reads 255, as asyncio
 * reports it (the SIGCHLD way's handler replaces SIG_IGN while a process
 * runs, and gets the real status). */
typedef struct cio_process cio_process;

/* What a child's stdin/stdout/stderr is. */
enum {
    CIO_PROCESS_INHERIT = 0, /* the parent's */
    CIO_PROCESS_PIPE,        /* a pipe to a cio_stream of the parent */
    CIO_PROCESS_DEVNULL,     /* /dev/null */
    CIO_PROCESS_STDOUT,      /* stderr only: the same as stdout */
};

typedef struct cio_process_options {
    size_t size;            /* sizeof(cio_process_options) as compiled: the macros */
    const char *const *env; /* NULL-terminated "K=V" list; NULL: the parent's */
    const char *cwd;        /* working directory; NULL: the parent's */
    int stdin_mode, stdout_mode, stderr_mode; /* CIO_PROCESS_* */
    bool new_session;       /* setsid(2) in the child */
    bool search_path;       /* look argv[0] up in PATH (execvp); default: a path */
} cio_process_options;

#define CIO_PROCESS_OPTIONS_INIT {.size = sizeof(cio_process_options)}
#define CIO_PROCESS_OPTIONS(...) \
    ((cio_process_options){.size = sizeof(cio_process_options), __VA_ARGS__})

/* Starts argv[0] with argv (NULL-terminated) on the current loop. The
 * child starts with every signal at its default disposition (SIGPIPE too,
 * which cio ignores in the parent) and an empty signal mask, in cwd (a
 * relative argv[0] is then found from there), and holds no descriptor of
 * cio's (all are close-on-exec) beyond its stdin/stdout/stderr. argv, env
 * and cwd are read during the call only. With search_path, PATH is the
 * parent's. On 0, *out is the caller's (cio_process_free). Returns 0,
 * -EINVAL (NULL or empty argv[0], NULL out, a mode out of range or
 * CIO_PROCESS_STDOUT for stdin/stdout), -E2BIG (opts from a newer header),
 * -EPERM (no loop runs on this thread: call it from a task or a callback),
 * -ENOENT / -EACCES / -ENOTDIR / -ENOEXEC (the program could not be
 * executed, or cwd does not exist: reported here, never as an exit status
 * 127; no child is left), -EMFILE (the pipes), -EAGAIN (the process
 * limit), -ENOMEM. Never suspends. */
CIO_API int cio_process_new(const char *const *argv, const cio_process_options *opts,
                            cio_process **out);

/* The pipes (NULL when not CIO_PROCESS_PIPE; NULL for NULL p): streams the
 * process owns, valid until cio_process_free, which aborts them; never
 * close or abort them yourself. cio_stream_shutdown on stdin closes the
 * child's input (it reads end of file). */
CIO_API cio_stream *cio_process_stdin(const cio_process *p);
CIO_API cio_stream *cio_process_stdout(const cio_process *p);
CIO_API cio_stream *cio_process_stderr(const cio_process *p);
/* The child's process id (0 for NULL). Once the child is reaped the
 * number may belong to another process: use cio_process_signal, not
 * kill(2). */
CIO_API pid_t cio_process_pid(const cio_process *p);

/* Suspends until the child has exited and been reaped; *status (may be
 * NULL) receives its exit code, or -N if signal N killed it (asyncio's
 * returncode). Returns at once once the child is done (any number of
 * calls, from any number of tasks). Returns 0, -EINVAL (NULL p, or a
 * process of another loop), -EPERM outside a task, -ECANCELED,
 * -ETIMEDOUT (the task's deadline: the child keeps running), -ENOMEM.
 * May suspend. */
CIO_API int cio_process_wait(cio_process *p, int *status);

/* The same for callback code: *out receives a new future (the caller's
 * reference) that completes with 0 once the child has been reaped (then
 * cio_process_status reads the status), at once if it has been already.
 * Cancelling that future leaves the process alone. Returns 0, -EINVAL
 * (NULL p or out), -ENOMEM. Never suspends. */
CIO_API int cio_process_wait_future(cio_process *p, cio_future **out);

/* Whether the child has exited and been reaped; and its status (as
 * cio_process_wait's; 0 until then, and for NULL). Never suspend. */
CIO_API bool cio_process_is_done(const cio_process *p);
CIO_API int cio_process_status(const cio_process *p);

/* Sends signal sig (0: only checks that it could) through the child's
 * pidfd (pidfd_send_signal), or kill(2) in the SIGCHLD way; a no-op
 * returning 0 once the child has exited (it is reaped first if it has),
 * so a recycled pid is never signalled. Returns 0, -EINVAL (NULL p, sig
 * outside 0..NSIG-1), or the system's error (-EPERM). cio_process_kill
 * sends SIGKILL. Never suspend. */
CIO_API int cio_process_signal(cio_process *p, int sig);
CIO_API int cio_process_kill(cio_process *p);

/* Aborts the pipes' streams and frees p. Returns 0, or -EBUSY (nothing
 * freed) while the child runs (wait or kill it first) or a task is inside
 * cio_process_wait on p. Accepts NULL. Never suspends. */
CIO_API int cio_process_free(cio_process *p);

/* The outcome of cio_process_run. */
typedef struct cio_process_result {
    int status;   /* as cio_process_wait */
    char *out;    /* captured stdout (NUL-terminated, malloc'd), or NULL */
    size_t out_len;
    char *err;    /* captured stderr, or NULL */
    size_t err_len;
} cio_process_result;

/* Runs a command to the end (asyncio's communicate): writes input (may be
 * NULL) to its stdin and closes it, while capturing stdout and stderr (at
 * once, in tasks of their own, so outputs of any size never deadlock),
 * then waits for the exit. Modes: with input, stdin is a pipe (stdin_mode
 * must be INHERIT or PIPE); without, stdin_mode applies (PIPE refused).
 * stdout and stderr are captured when their mode is INHERIT (the default)
 * or PIPE; DEVNULL drops one; stderr_mode STDOUT captures both in out. A
 * child that exits or closes its stdin before reading all of input is no
 * error. Each output may take up to max bytes (0: no limit); more is
 * -EMSGSIZE, and the child is killed. On 0, *res holds the status and the
 * outputs (free with cio_process_result_free; out/err NULL where not
 * captured, else NUL-terminated, their lengths not counting the NUL); on an
 * error *res is zeroed. Whatever ends the run early (-EMSGSIZE, a read
 * error, -ECANCELED, -ETIMEDOUT) kills the child and reaps it before this
 * returns. Returns 0, -EINVAL (NULL argv or res, input_len without input,
 * the modes above), -EPERM outside a task, the errors of cio_process_new,
 * -EMSGSIZE, -ECANCELED, -ETIMEDOUT, -ENOMEM. May suspend. */
CIO_API int cio_process_run(const char *const *argv, const cio_process_options *opts,
                            const void *input, size_t input_len, size_t max,
                            cio_process_result *res);
/* Frees the outputs and zeroes *res. Accepts NULL. Never suspends. */
CIO_API void cio_process_result_free(cio_process_result *res);

/* ---- Files (through the thread pool) ---------------------------------------
 * Each call runs its system call on the thread pool (io_uring later) and
 * suspends the task meanwhile: one pool round trip per call, including
 * cio_file_read_all and cio_file_write_atomic, which run whole on one
 * thread. Outside a task every call but cio_file_fd and cio_file_close
 * returns -EPERM and does nothing.
 *
 * Cancellation and deadlines: a pool thread cannot be interrupted, so a
 * call whose task is cancelled (or whose deadline passes) returns at once
 * only when that is safe:
 *   - the job had not started: it never will; the call returns
 *     -ECANCELED / -ETIMEDOUT at once and nothing happened;
 *   - the job runs and uses the caller's buffer or descriptor (read,
 *     write, pread, pwrite, sync, stat, write_atomic): the task keeps
 *     waiting (shielded) until the thread is done, then the call returns
 *     -ECANCELED / -ETIMEDOUT; the bytes may have moved (a read may have
 *     consumed them, a write may have written them);
 *   - the job runs but owns all it uses (open, read_all, stat_path,
 *     close): the call returns at once, and what the job makes after all
 *     (the descriptor of an open, the buffer of a read_all) is released
 *     when it comes back.
 * So no call returns while a pool thread still uses memory or a
 * descriptor of the caller's. Calls on one cio_file from several tasks may
 * run at once (as the system calls may from several threads), except
 * cio_file_close, which must be the last. */
typedef struct cio_file cio_file;

/* Opens path with open(2)'s flags (O_CLOEXEC is always added) and mode (for
 * O_CREAT / O_TMPFILE), and sets *out to a new cio_file (NULL on an
 * error), the caller's until cio_file_close. Returns 0, -EINVAL (NULL or
 * empty path, NULL out), -EPERM outside a task, -ENOMEM, -ECANCELED,
 * -ETIMEDOUT (a descriptor opened after the caller gave up is closed) or
 * open(2)'s error. May suspend. */
CIO_API int cio_file_open(const char *path, int flags, mode_t mode, cio_file **out);
/* Reads up to len bytes at the descriptor's position, which advances: one
 * read(2), so fewer bytes than asked at the end of a file (or from a pipe),
 * 0 at the end. len 0 returns 0 with no system call. Returns the count,
 * -EINVAL (NULL f, NULL buf with len > 0, len > SSIZE_MAX), -EPERM,
 * -ECANCELED, -ETIMEDOUT (see above: the bytes may have been consumed),
 * -ENOMEM or read(2)'s error. May suspend. */
CIO_API ssize_t cio_file_read(cio_file *f, void *buf, size_t len);
/* Writes all len bytes at the descriptor's position (at the end with
 * O_APPEND), looping over short writes on the pool thread. Returns len;
 * the count written before an error cut it short (the next call returns
 * the error, as write(2) does: ENOSPC, EFBIG); or -EINVAL, -EPERM,
 * -ECANCELED, -ETIMEDOUT (some bytes may have been written: a thread
 * that notices the cancellation between two writes stops there), -ENOMEM
 * or write(2)'s error. May suspend. */
CIO_API ssize_t cio_file_write(cio_file *f, const void *buf, size_t len);
/* cio_file_read at offset (>= 0, else -EINVAL), with pread(2): the
 * descriptor's position does not move. Same returns. May suspend. */
CIO_API ssize_t cio_file_pread(cio_file *f, void *buf, size_t len, off_t offset);
/* cio_file_write at offset (>= 0, else -EINVAL), with pwrite(2): the
 * position does not move (but Linux appends with O_APPEND). Writes all
 * len bytes as cio_file_write does. Same returns. May suspend. */
CIO_API ssize_t cio_file_pwrite(cio_file *f, const void *buf, size_t len, off_t offset);
/* fsync(2): the file's data and metadata reach the disk. Returns 0,
 * -EINVAL (NULL f), -EPERM, -ECANCELED, -ETIMEDOUT, -ENOMEM or fsync's
 * error (-EIO: an earlier write was lost). May suspend. */
CIO_API int cio_file_sync(cio_file *f);
/* fstat(2) into *st (written only on 0). Returns 0, -EINVAL (NULL f or
 * st), -EPERM, -ECANCELED, -ETIMEDOUT, -ENOMEM or fstat's error. May
 * suspend. */
CIO_API int cio_file_stat(cio_file *f, struct stat *st);
/* The descriptor, still owned by f (-1 for NULL): for calls cio does not
 * wrap (fchmod, flock, ...). Never fails; does not suspend. */
CIO_API int cio_file_fd(const cio_file *f);
/* Closes the descriptor with close(2) on the pool (a close can block, on
 * NFS say) and frees f, whatever it returns; f is invalid afterwards. No
 * other call on f may be in progress. Cancelled or past a deadline, it
 * returns -ECANCELED / -ETIMEDOUT at once, and the descriptor is closed
 * all the same (by the pool thread, or here if the job had not started).
 * Outside a task, close(2) runs in this call. Returns 0, close's error
 * (-EIO, -EBADF), -ECANCELED, -ETIMEDOUT; 0 for NULL. May suspend. */
CIO_API int cio_file_close(cio_file *f);
/* Whole files. */
/* Reads the whole file at path: opens it, takes the size from fstat as a
 * hint (files whose size says nothing, /proc's, are read to the end all
 * the same), reads until the end. On 0, *data is a malloc'd buffer (free
 * it with free()) of *len bytes plus a NUL terminator not counted in
 * *len; on an error *data is NULL and *len 0. max is the largest size
 * accepted (0: no limit): a larger file fails with -EMSGSIZE, and the
 * buffer never grows past max + 2 bytes on the way. Returns 0, -EINVAL (NULL or empty
 * path, NULL data or len), -EPERM, -EMSGSIZE, -ENOMEM, -ECANCELED,
 * -ETIMEDOUT, or the error of open(2) or read(2) (-ENOENT, -EISDIR, ...).
 * May suspend. */
CIO_API int cio_file_read_all(const char *path, size_t max, void **data, size_t *len);
/* Replaces (or creates) the file at path with len bytes of data so that a
 * reader sees either the old file or the new one, whole, never a mix, and
 * a crash leaves one of the two: the data goes to a temporary file in the
 * same directory (O_TMPFILE, named with linkat once complete; where the
 * file system lacks it, an O_CREAT | O_EXCL file ".<name>.<random>"),
 * which is fsync'ed and renamed over path, and then the directory is
 * fsync'ed. The new file has mode (less the umask), the caller's owner,
 * and a new inode (hard links to the old file keep the old content; a
 * symbolic link at path is replaced, not followed). On any error before
 * the rename the target is untouched and the temporary removed. data may
 * be NULL when len is 0. Returns 0, -EINVAL (NULL or empty path, NULL data
 * with len > 0), -EISDIR (path ends in "/", ".", ".." or names a
 * directory), -EPERM, -ENOMEM, -ECANCELED / -ETIMEDOUT (the target is
 * either untouched or wholly replaced: the thread gives up at the latest
 * before the rename), or a system call's error (-ENOENT: no such
 * directory, -EACCES, -ENOSPC, -EFBIG, -EROFS...); an error of the final
 * directory fsync is returned although the file was replaced. May
 * suspend. */
CIO_API int cio_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* stat(2) of path (following symbolic links) into *st, written only on 0.
 * Returns 0, -EINVAL (NULL or empty path, NULL st), -EPERM, -ENOMEM,
 * -ECANCELED, -ETIMEDOUT or stat's error. May suspend. */
CIO_API int cio_file_stat_path(const char *path, struct stat *st);

#ifdef __cplusplus
}
#endif

#endif
