/* cio/http.h: the HTTP/1.1 server framework (what aiohttp's web module is to
 * asyncio): an application (routes, sub-applications, middleware, static
 * files), served on one loop or on every core, HTTPS through the TLS layer.
 *
 * A request runs its handler in the connection's task, so a handler reads
 * like blocking code and may await anything (sleeps, queues, the thread
 * pool, other connections). Requests on one connection are handled one
 * after another, so pipelined responses go out in request order.
 *
 * Strings the request functions return are NUL-terminated, owned by the
 * request and valid until the handler returns (the whole middleware chain
 * included). An application is built before it is served and must not be
 * changed while any server serves it; it may then be shared by servers on
 * several loops and threads (its handlers' and middleware's args must then
 * be safe to share). */
#ifndef CIO_HTTP_H
#define CIO_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"
#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cio_http_app cio_http_app;
typedef struct cio_http_server cio_http_server;
typedef struct cio_http_request cio_http_request;
typedef struct cio_http_response cio_http_response;
/* cJSON (Debian's libcjson-dev), the JSON library of the JSON helpers. */
struct cJSON;

/* A handler: answers req through res. Returns 0 when done. A response it
 * left unfinished is finished for it (an empty 200 when nothing was
 * started, the end of a streamed body otherwise). A negative error: a
 * response not yet started becomes a 500 (cio_http_response_error) and the
 * error is reported through the loop's report function; a response already
 * started cannot be repaired, so the connection is closed. */
typedef int (*cio_http_handler)(cio_http_request *req, cio_http_response *res, void *arg);

/* A middleware: runs around the rest of the chain (the middleware after it
 * and the handler), which it runs by calling cio_http_next(req, res) once,
 * or answers on its own without calling it. Returns as a handler does. */
typedef int (*cio_http_middleware)(cio_http_request *req, cio_http_response *res, void *arg);

/* ---- Applications: routes, sub-applications, middleware ------------------ */

/* Makes an empty application (every request gets 404). Returns 0, -EINVAL
 * (NULL out) or -ENOMEM. Never suspends. */
CIO_API int cio_http_app_new(cio_http_app **out);

/* Frees app, its routes, its middleware (and what the shipped middleware
 * copied) and the sub-applications mounted in it. NULL is a no-op.
 * Returns 0, or -EBUSY and frees nothing while a server serves app or an
 * app mounted in it (close its servers first) or while app is mounted in
 * another (that one frees it). Never suspends. */
CIO_API int cio_http_app_free(cio_http_app *app);

/* Routes method requests whose path matches pattern to handler(req, res,
 * arg). method: a token ("GET", "POST", ...; case-sensitive; "GET" also
 * answers HEAD unless HEAD has its own route) or NULL for any method (a
 * route naming the method wins over it). pattern: starts with '/'; a
 * segment "{name}" matches one non-empty path segment and binds it
 * (percent-decoded) to name (cio_http_request_param); a last segment
 * "{name*}" matches the rest of the path after its '/', "/" included,
 * possibly empty ("/f/{p*}" matches "/f/" but not "/f"). Names are made of
 * letters, digits, '_', '-' and '.', at most 32 per pattern. Other
 * segments are literal and compare with the request's percent-decoded
 * segment ("/caf%C3%A9" matches "/café"); segments are cut on the raw path,
 * so "%2F" stays inside its segment. Literal segments win over parameters,
 * parameters over the wildcard, whatever the order of adding; a branch
 * without a route for the method is backed out of ("/a/b/c" and "/a/{x}/d"
 * both match). A path that matches a pattern but not its method gets 405
 * with Allow (every method the path accepts); no match, 404; a parameter
 * whose decoding is malformed or holds NUL, 400. Lookup walks a tree of
 * segments: its cost grows with the path's length, not with the number of
 * routes. Returns 0, -EINVAL (NULL app, pattern or handler; a pattern not
 * starting with '/', an unclosed or empty "{", a brace inside a literal
 * segment, a wildcard that is not last, a bad or repeated name, more than
 * 32 names, a method that is not a token), -EEXIST (the same method and
 * pattern again, parameter names aside), -EBUSY (app, or an app it is
 * mounted in, is being served) or -ENOMEM. Never suspends. */
CIO_API int cio_http_app_route(cio_http_app *app, const char *method, const char *pattern,
                               cio_http_handler handler, void *arg);

/* Mounts sub under prefix ("/api": requests for "/api" and "/api/..." go
 * to sub, which sees the rest of the path, "/" for the prefix itself; its
 * middleware runs after app's). A route of app itself below the prefix
 * wins when it matches the path and the method; any other path below the
 * prefix is sub's to answer (with its own 404 or 405), even where app has
 * a wildcard route above it. app owns sub from then on (freed with it).
 * Returns 0, -EINVAL (NULL app or sub, sub == app, sub already mounted,
 * a prefix that is not "/segments" without a trailing '/' or holds "{"),
 * -EEXIST (prefix mounted already), -EBUSY or -ENOMEM. Never suspends. */
CIO_API int cio_http_app_mount(cio_http_app *app, const char *prefix, cio_http_app *sub);

/* Appends mw to app's middleware chain (the first added runs first, around
 * all the others). Returns 0, -EINVAL (NULL app or mw), -EBUSY (app, an
 * app it is mounted in or one mounted in it is being served: their chains
 * hold app's middleware) or -ENOMEM. Never suspends. */
CIO_API int cio_http_app_use(cio_http_app *app, cio_http_middleware mw, void *arg);

/* From a middleware: runs the rest of the chain (the next middleware, or
 * the route's handler, or the 404/405 answer) and returns what it returned.
 * Returns -EINVAL for NULL arguments or when not called from a middleware
 * (from a handler, or outside a request), and -EALREADY when called twice
 * for one middleware. May suspend (as the handler does). */
CIO_API int cio_http_next(cio_http_request *req, cio_http_response *res);

/* Answers GET and HEAD on path (a pattern, as cio_http_app_route takes)
 * with 200 "ok" (text/plain), and with 503 "shutting down"
 * once a graceful shutdown began (so a load balancer stops sending new
 * requests during the grace period). Returns as cio_http_app_route. */
CIO_API int cio_http_app_health(cio_http_app *app, const char *path);

/* ---- Middleware shipped with cio ----------------------------------------- */

/* Request logging: one line per request to fd when it ends, after
 * everything inside it ran: "GET /path 200 1234 0.321ms id=ID\n" (method;
 * the decoded path with spaces, controls, '"', '\\' and non-ASCII bytes
 * as \xHH;
 * the status, 500 for a handler's error on a response not started; body
 * bytes sent after compression; the time since the request's first byte;
 * the request id when one is set), written with one write(2) (a full
 * non-blocking fd drops the line). fd stays the caller's. The
 * access log of cio_http_server_options writes the server's standard
 * formats instead. Returns as cio_http_app_use (-EINVAL for fd < 0). */
CIO_API int cio_http_app_use_logging(cio_http_app *app, int fd);

typedef struct cio_http_cors_options {
    size_t size;                /* sizeof(cio_http_cors_options): the macros */
    const char *const *origins; /* allowed origins, NULL-terminated; NULL: any ("*") */
    const char *methods;        /* Access-Control-Allow-Methods; NULL: "GET, HEAD, POST" */
    const char *headers;        /* Access-Control-Allow-Headers; NULL: echo the request's */
    const char *expose;         /* Access-Control-Expose-Headers; NULL: none */
    bool credentials;           /* Access-Control-Allow-Credentials: true (never with "*":
                                   the origin is echoed instead) */
    double max_age;             /* preflight cache, seconds; 0: not sent */
} cio_http_cors_options;
#define CIO_HTTP_CORS_OPTIONS_INIT {.size = sizeof(cio_http_cors_options)}
#define CIO_HTTP_CORS_OPTIONS(...) \
    ((cio_http_cors_options){.size = sizeof(cio_http_cors_options), __VA_ARGS__})

/* CORS (the Fetch standard): answers preflight requests (OPTIONS with
 * Access-Control-Request-Method) from an allowed origin with 204 and the
 * allow headers, without running the handler; adds Access-Control-Allow-
 * Origin ("*" when any origin is allowed without credentials, else the
 * request's Origin echoed) and the credentials and expose headers to
 * responses for allowed origins; a request from another origin is passed
 * on without CORS headers (the browser then refuses it). When the origin
 * is echoed, every response gets Vary: Origin (a cache must not hand one
 * origin's answer to another). Origins compare case-insensitively; an
 * entry must be one origin (no '*', comma or space). opts is copied (NULL: the defaults). Returns as
 * cio_http_app_use, -EINVAL for bad options, -E2BIG for options from a
 * newer header. Never suspends. */
CIO_API int cio_http_app_use_cors(cio_http_app *app, const cio_http_cors_options *opts);

typedef struct cio_http_compress_options {
    size_t size;       /* sizeof(cio_http_compress_options): the macros */
    size_t min_length; /* bodies shorter than this are sent as they are; default 256 */
    int level;         /* zlib level 1..9; 0: 6 */
} cio_http_compress_options;
#define CIO_HTTP_COMPRESS_OPTIONS_INIT {.size = sizeof(cio_http_compress_options)}
#define CIO_HTTP_COMPRESS_OPTIONS(...) \
    ((cio_http_compress_options){.size = sizeof(cio_http_compress_options), __VA_ARGS__})

/* Response compression with zlib: gzip or deflate (the zlib format, RFC
 * 9110 8.4.1.2), as the request's Accept-Encoding prefers (q-values
 * honoured, "x-gzip" is gzip, "*" stands for unlisted codings, gzip on a
 * tie; no Accept-Encoding field: identity). Skipped for HEAD, 1xx, 204,
 * 206 and 304, bodies under min_length when the length is known (unless
 * the client refused identity: "identity;q=0" or "*;q=0"), a response
 * with a Content-Encoding or Content-Range already, and types that are
 * compressed already (images but SVG, audio, video, archives, fonts in
 * woff/woff2) or read as they stream (text/event-stream). Sets
 * Content-Encoding and Vary: Accept-Encoding (the Vary also when the
 * client accepted no coding), drops Content-Length (the body goes chunked)
 * and a strong ETag's strength (W/). The body streams through zlib with
 * bounded memory (zlib's state, some 260 KiB, less for a body of known
 * length under 16 KiB, and a 16 KiB buffer per response being
 * compressed); streamed pieces are held until zlib's
 * buffer fills or the body ends. Returns as cio_http_app_use_cors
 * (-EINVAL also for a level outside 0..9). Never suspends. */
CIO_API int cio_http_app_use_compression(cio_http_app *app,
                                         const cio_http_compress_options *opts);

/* Request id: keeps the request's header (header: NULL means
 * "X-Request-Id"; a token, copied) when it is 1..200 visible ASCII
 * characters, else makes a new random one (128 bits from OpenSSL's DRBG,
 * 32 lower-case hex digits); sets it on the response and makes it
 * cio_http_request_id's answer. Returns as cio_http_app_use (-EINVAL for
 * a header name that is not a token). Never suspends. */
CIO_API int cio_http_app_use_request_id(cio_http_app *app, const char *header);

/* ---- Static files --------------------------------------------------------- */

typedef struct cio_http_static_options {
    size_t size;              /* sizeof(cio_http_static_options): the macros */
    const char *index;        /* file served for a directory; NULL: "index.html"; "": none */
    bool listing;             /* an HTML listing for a directory without index (off) */
    bool no_precompressed;    /* do not serve "F.gz" for F when the client accepts gzip */
    bool follow_symlinks;     /* follow symlinks that stay inside the root (off: a
                                 symlink anywhere in the path is 404) */
    double max_age;           /* Cache-Control: max-age, seconds; < 0 or 0: not sent */
} cio_http_static_options;
#define CIO_HTTP_STATIC_OPTIONS_INIT {.size = sizeof(cio_http_static_options)}
#define CIO_HTTP_STATIC_OPTIONS(...) \
    ((cio_http_static_options){.size = sizeof(cio_http_static_options), __VA_ARGS__})

/* Serves the files under dir for GET and HEAD requests under prefix ("/"
 * or "/segments"): sendfile, ETag and Last-Modified with 304 (If-None-Match,
 * If-Modified-Since), Range (one range: 206; several: multipart/byteranges;
 * unsatisfiable: 416; If-Range honoured), the MIME type by extension
 * (cio_http_mime_type), "F.gz" siblings, the index file, an optional
 * listing. A path is resolved below dir only: ".." segments (raw or
 * percent-encoded), NUL, backslashes and (unless follow_symlinks) symlinks
 * are refused with 404, and a symlink leading out of dir always is.
 * Other methods get 405. dir is opened now (an O_PATH descriptor kept by
 * the app), so renaming it later changes nothing. Returns 0, -EINVAL
 * (NULL app or dir, bad prefix or options), -E2BIG, -ENOTDIR, the errno
 * of opening dir, -EEXIST, -EBUSY or -ENOMEM. Never suspends. */
CIO_API int cio_http_app_static(cio_http_app *app, const char *prefix, const char *dir,
                                const cio_http_static_options *opts);

/* The MIME type for a file name by its extension (case-insensitive), with
 * "; charset=utf-8" for text types; "application/octet-stream" when
 * unknown or NULL. The string is static. Never suspends. */
CIO_API const char *cio_http_mime_type(const char *path);

/* ---- Servers -------------------------------------------------------------- */

typedef enum cio_http_log_format {
    CIO_HTTP_LOG_COMMON = 0,   /* NCSA common log format */
    CIO_HTTP_LOG_COMBINED = 1, /* common plus Referer and User-Agent */
} cio_http_log_format;

typedef struct cio_http_server_options {
    size_t size;                      /* sizeof(cio_http_server_options): the macros */
    const cio_socket_options *socket; /* listening and accepted sockets; NULL: defaults */
    const cio_tls_config *tls;        /* HTTPS with this server configuration (its ALPN
                                         should offer "http/1.1"); NULL: plain HTTP */
    /* Limits; 0 picks the default shown. */
    size_t max_request_line;  /* method, target and version: 8 KiB; over it: 414 */
    size_t max_header_size;   /* the whole header section: 16 KiB; over it: 431 */
    size_t max_headers;       /* header fields: 100; over it: 431 */
    uint64_t max_body_size;   /* request body: 1 MiB; over it: 413 (at once when the
                                 Content-Length says so); UINT64_MAX: no limit */
    double header_timeout;    /* the whole header section must arrive within this from
                                 its first byte (a total, which trickling cannot
                                 extend): 30 s; over it: 408 and close */
    double body_min_rate;     /* bytes per second a body must keep up, measured over
                                 body_rate_window: 1024; < 0: no minimum; too slow:
                                 408 and close */
    double body_rate_window;  /* seconds: 10 */
    double keepalive_timeout; /* idle time between requests before the connection is
                                 closed: 75 s */
    size_t max_requests;      /* per connection, then Connection: close; 0: no limit */
    size_t max_connections;   /* concurrent connections: 10000; SIZE_MAX: no cap */
    size_t max_pipelined;     /* requests read ahead of their responses on one
                                 connection: 16; past that the server stops reading
                                 until responses have drained */
    double shutdown_grace;    /* graceful shutdown: in-flight requests get this long
                                 to finish before they are cancelled: 10 s */
    int access_log_fd;        /* write an access log line per request here; 0: none
                                 (stdout is 1) */
    cio_http_log_format access_log_format;
    /* Addresses of proxies whose X-Forwarded-For / Forwarded headers are
     * believed, as "addr" or "addr/prefix" (IPv4 or IPv6), NULL-terminated;
     * NULL: none (the client is the peer). */
    const char *const *trusted_proxies;
    const char *server_header; /* the Server field: NULL: "cio"; "": none */
    size_t stack_size;         /* connection tasks' stacks; 0: cio_task_options' default */
} cio_http_server_options;
#define CIO_HTTP_SERVER_OPTIONS_INIT {.size = sizeof(cio_http_server_options)}
#define CIO_HTTP_SERVER_OPTIONS(...) \
    ((cio_http_server_options){.size = sizeof(cio_http_server_options), __VA_ARGS__})

/* Serves app on addr on the current loop (opts may be NULL: defaults; read
 * during the call). Each connection runs in a task of the server: requests
 * are parsed with llhttp in strict mode and checked against RFC 9112 and
 * 9110 (a request outside the grammar gets 400, 501 for an unknown transfer
 * coding, 505 for an unsupported version, and the connection is closed,
 * never reused), limited by opts, then passed through app. Returns 0;
 * -EINVAL (NULL app, addr or out; bad options; tls a client's
 * configuration), -E2BIG, -EPERM with no running loop on this thread,
 * -ENOMEM, or cio_server_new's errors (-EADDRINUSE, ...). Never suspends. */
CIO_API int cio_http_server_new(cio_http_app *app, const cio_addr *addr,
                                const cio_http_server_options *opts, cio_http_server **out);

/* The address the server listens on. Returns 0 or -EINVAL. Never
 * suspends. */
CIO_API int cio_http_server_addr(const cio_http_server *srv, cio_addr *out);

/* Graceful shutdown: stops accepting at once, closes idle keep-alive
 * connections, lets requests in flight finish for up to grace seconds
 * (< 0: opts->shutdown_grace; INFINITY: no limit) with Connection: close on
 * their responses, then cancels the rest; waits until every connection is
 * gone and frees srv. srv is invalid once this returns, except on -EINVAL
 * and -EPERM. Returns 0, -EINVAL (NULL srv, NaN grace, a shutdown already
 * under way), -EPERM outside a task (use cio_http_server_shutdown_future),
 * -EDEADLK from one of srv's own handlers; -ECANCELED / -ETIMEDOUT as
 * cio_server_close (the grace is cut short, the call still waits). May
 * suspend. */
CIO_API int cio_http_server_close(cio_http_server *srv, double grace);

/* The same for callback code: starts the shutdown and returns; *out gets a
 * future (the caller's reference) done when srv is freed. Returns 0,
 * -EINVAL or -ENOMEM. Never suspends. */
CIO_API int cio_http_server_close_future(cio_http_server *srv, double grace, cio_future **out);

/* Connections open now (0 for NULL). Never suspends. */
CIO_API size_t cio_http_server_connections(const cio_http_server *srv);

/* From a task: cio_http_server_new, then waits until the task is cancelled
 * (or its deadline passes), then shuts the server down gracefully
 * (cio_http_server_close with opts->shutdown_grace, in a shield scope, so
 * the shutdown runs to its end although the task is cancelled) and returns
 * -ECANCELED (or -ETIMEDOUT): the task then ends as it was asked to. With
 * ready non-NULL, *ready receives the bound address once listening, before
 * the call first suspends (useful with port 0: a task that spawned the
 * serving task sees it once that task has run). opts may be NULL. Returns
 * -EINVAL (NULL app or addr), -EPERM outside a task, cio_http_server_new's
 * errors (nothing is served then). Suspends until then. */
CIO_API int cio_http_serve(cio_http_app *app, const cio_addr *addr,
                           const cio_http_server_options *opts, cio_addr *ready);

/* Serves app on every core: cio_run_parallel with threads loops (0: one per
 * CPU this process may run on), each running cio_http_serve on addr with
 * SO_REUSEPORT (opts->socket is copied with reuseport set), so the kernel
 * spreads connections across them; SIGINT and SIGTERM start a graceful
 * shutdown of all of them (each stops accepting, closes its idle
 * connections and lets requests in flight finish within
 * opts->shutdown_grace). Port 0 with several workers gives them one port:
 * worker 0 binds first and the others bind the port it got (the caller
 * is not told which: bind a port of your own choosing to know it). A Unix
 * address cannot be shared: one worker serves it (threads 0 or 1).
 * Returns 0 after a shutdown by signal, or the first worker's error (the
 * others are then shut down); -EINVAL (NULL app or addr, options not made
 * with their macros, a Unix address with threads > 1, more than 4096
 * threads), -E2BIG, -EDEADLK (called from a task or while a loop runs on
 * this thread), -EAGAIN / -ENOMEM (a thread could not start). Does not
 * suspend: it blocks the calling thread (call it from main). */
CIO_API int cio_http_run(cio_http_app *app, const cio_addr *addr,
                         const cio_http_server_options *opts, size_t threads);

/* ---- Requests ------------------------------------------------------------- */

/* The method ("GET", ...). Never NULL for a valid request; NULL for NULL. */
CIO_API const char *cio_http_request_method(const cio_http_request *req);
/* The request target as sent ("/a%20b?x=1", or the absolute form
 * "http://h/a"). */
CIO_API const char *cio_http_request_target(const cio_http_request *req);
/* The path, percent-decoded, without the query ("/a b"); for the absolute
 * form, the path part of it. Inside a sub-application: the full path (the
 * route matched the rest). A path whose decoding holds NUL was refused
 * with 400 before any handler. */
CIO_API const char *cio_http_request_path(const cio_http_request *req);
/* The raw query after '?' ("" when none). */
CIO_API const char *cio_http_request_query_string(const cio_http_request *req);
/* HTTP minor version: 0 or 1 (the major is always 1). -1 for NULL. */
CIO_API int cio_http_request_version(const cio_http_request *req);
/* Whether the request came over TLS. */
CIO_API bool cio_http_request_is_tls(const cio_http_request *req);

/* The first value of header name (case-insensitive), or NULL. */
CIO_API const char *cio_http_request_header(const cio_http_request *req, const char *name);
/* Every value of header name, in order: fills values[0..max) and returns
 * how many there are in all (may exceed max). 0 for NULL arguments. */
CIO_API size_t cio_http_request_headers(const cio_http_request *req, const char *name,
                                        const char **values, size_t max);
/* The i-th header field as received (name as sent). Returns 0, -ENOENT
 * past the last one, -EINVAL (NULL arguments). */
CIO_API int cio_http_request_header_at(const cio_http_request *req, size_t i,
                                       const char **name, const char **value);

/* A route parameter bound by the pattern ("{id}" -> "id"), decoded, or
 * NULL. */
CIO_API const char *cio_http_request_param(const cio_http_request *req, const char *name);
/* The first value of query parameter name (application/x-www-form-
 * urlencoded rules: '+' is a space, %XX decoded; name is compared decoded
 * and case-sensitively), "" for a bare "name", NULL if absent, for NULL
 * arguments, when out of memory, or for a malformed query: a bad
 * %-escape or a decoded NUL anywhere in it makes every parameter NULL.
 * Parsed once per request. */
CIO_API const char *cio_http_request_query(const cio_http_request *req, const char *name);
/* Every value of query parameter name, in order, as
 * cio_http_request_headers (values may be NULL when max is 0: counts
 * only); 0 for a malformed query. */
CIO_API size_t cio_http_request_query_all(const cio_http_request *req, const char *name,
                                          const char **values, size_t max);
/* The value of cookie name from the Cookie header(s) (RFC 6265 §5.4;
 * every Cookie field, in order; whitespace around names and values and
 * double quotes around a value are removed; the first of several cookies
 * of one name wins; values are not decoded), or NULL. */
CIO_API const char *cio_http_request_cookie(const cio_http_request *req, const char *name);

/* The client's address: the peer, or when the peer is one of the trusted
 * proxies, the address it forwarded (Forwarded "for=", else the last
 * X-Forwarded-For entry not itself a trusted proxy). Port 0 when the
 * proxy gave none. Returns 0 or -EINVAL. */
CIO_API int cio_http_request_client(const cio_http_request *req, cio_addr *out);
/* The connection's peer, proxies or not. Returns 0 or -EINVAL. */
CIO_API int cio_http_request_peer(const cio_http_request *req, cio_addr *out);
/* The request id set by cio_http_app_use_request_id, or NULL. */
CIO_API const char *cio_http_request_id(const cio_http_request *req);

/* A pointer for middleware and handlers to pass along (NULL at first). */
CIO_API void *cio_http_request_data(const cio_http_request *req);
CIO_API void cio_http_request_set_data(cio_http_request *req, void *data);

/* The declared body length, or -1 when it is chunked (unknown); 0 for no
 * body. */
CIO_API int64_t cio_http_request_content_length(const cio_http_request *req);

/* Reads up to len bytes of the request body (chunked encoding and trailers
 * undone; "Expect: 100-continue" answered at the first read). Returns the
 * count, 0 at the body's end, -EMSGSIZE past max_body_size (the response
 * will be 413 if not started), -ETIMEDOUT when the body is slower than
 * body_min_rate, -ECONNRESET / -EPROTO when the client breaks off or sends
 * a malformed chunk, -EINVAL (NULL arguments), -EPERM outside a task.
 * May suspend. */
CIO_API ssize_t cio_http_request_read(cio_http_request *req, void *buf, size_t len);

/* Reads the whole body (at most max bytes; 0: max_body_size) into memory
 * the request owns; *data is NUL-terminated (not counted in *len). A
 * second call returns the same body; after cio_http_request_read, what
 * is left of it. Returns 0, -EMSGSIZE (longer than
 * max), the errors of cio_http_request_read, -ENOMEM. May suspend. */
CIO_API int cio_http_request_body(cio_http_request *req, size_t max, const void **data,
                                  size_t *len);

/* The value of field name of an application/x-www-form-urlencoded body
 * (any parameters, charset included, are accepted; bytes are not
 * converted), the first of several, "" for a bare "name", NULL in *value
 * when absent. Reads the body on the first call (as cio_http_request_body
 * with max 0) and parses it once. Returns 0, -EINVAL (NULL arguments),
 * -EBADMSG (another or no content type, a bad %-escape or a decoded NUL),
 * the errors of cio_http_request_body, -ENOMEM. May suspend. */
CIO_API int cio_http_request_form(cio_http_request *req, const char *name, const char **value);

/* Parses the body as JSON (application/json or a "+json" type; reads it
 * as cio_http_request_body with max 0) once; later calls return the same
 * tree. *out is the request's (freed when the request ends: cJSON_Duplicate
 * what you keep). Anything after the value but whitespace is refused, so
 * is a NUL byte in the body; nesting deeper than cJSON's CJSON_NESTING_LIMIT
 * (1000) fails as not JSON. Returns 0, -EINVAL (NULL arguments), -EBADMSG
 * (not JSON, or another content type; also when cJSON ran out of memory,
 * which it does not tell apart), the errors of cio_http_request_body,
 * -ENOMEM. May suspend. */
CIO_API int cio_http_request_json(cio_http_request *req, const struct cJSON **out);

/* ---- Streaming multipart/form-data (RFC 7578) ---------------------------- */
typedef struct cio_http_part cio_http_part;

/* The next part of a multipart/form-data body, read as it arrives through
 * cio_http_request_read (do not read the body otherwise as well): *part
 * is valid until the next call (NULL after the last part, once the
 * closing delimiter came; the epilogue is then read and dropped). Part
 * bodies a handler skipped are read and dropped. Memory is fixed per
 * request (a 64 KiB buffer and room for one header section), whatever the
 * parts' sizes. Returns 0, -EINVAL (NULL arguments), -EBADMSG (not
 * multipart/form-data, no or a bad boundary, a malformed part header or
 * delimiter line, no closing delimiter, a part's header section over
 * max_header_size or with more than max_headers fields), the errors of
 * cio_http_request_read, -ENOMEM; an error is kept: every later call
 * returns it. May suspend. */
CIO_API int cio_http_request_next_part(cio_http_request *req, cio_http_part **part);
/* The part's form field name (Content-Disposition name=), or NULL (also
 * for a disposition type other than form-data, and then the file name is
 * NULL too). */
CIO_API const char *cio_http_part_name(const cio_http_part *part);
/* The part's file name (filename*=UTF-8'' decoded when present, RFC 8187;
 * else filename=, unquoted, backslash escapes undone), or NULL. No path
 * is removed: never use it as a path as it is. */
CIO_API const char *cio_http_part_filename(const cio_http_part *part);
/* The part's header (case-insensitive), or NULL; Content-Type defaults to
 * NULL (text/plain by RFC 7578). */
CIO_API const char *cio_http_part_header(const cio_http_part *part, const char *name);
/* Reads up to len bytes of the part's body: the count, 0 at its end,
 * -EINVAL (NULL arguments, len 0), or the errors of
 * cio_http_request_next_part. May suspend. */
CIO_API ssize_t cio_http_part_read(cio_http_part *part, void *buf, size_t len);

/* ---- Responses ------------------------------------------------------------ */

/* Sets the status (100..999, default 200) before the response starts.
 * Returns 0, -EINVAL (NULL, out of range), -EALREADY (headers sent). */
CIO_API int cio_http_response_status(cio_http_response *res, int status);
/* Adds a header field (another value of the same name is another field).
 * name must be a token, value visible characters, spaces and tabs only
 * (no CR, LF, NUL). Returns 0, -EINVAL, -EALREADY, -ENOMEM. */
CIO_API int cio_http_response_header(cio_http_response *res, const char *name,
                                     const char *value);
/* Replaces every field of that name with one (value NULL: removes them).
 * Returns as cio_http_response_header. */
CIO_API int cio_http_response_set_header(cio_http_response *res, const char *name,
                                         const char *value);
/* The value of a response header set so far, or NULL. */
CIO_API const char *cio_http_response_get_header(const cio_http_response *res,
                                                 const char *name);

typedef enum cio_http_same_site {
    CIO_HTTP_SAME_SITE_DEFAULT = 0, /* no SameSite attribute */
    CIO_HTTP_SAME_SITE_LAX,
    CIO_HTTP_SAME_SITE_STRICT,
    CIO_HTTP_SAME_SITE_NONE, /* requires secure */
} cio_http_same_site;

typedef struct cio_http_cookie_options {
    size_t size;         /* sizeof(cio_http_cookie_options): the macros */
    const char *path;    /* Path; NULL: none */
    const char *domain;  /* Domain; NULL: none */
    int64_t max_age;     /* Max-Age seconds when has_max_age (0 deletes the cookie) */
    bool has_max_age;
    int64_t expires;     /* Expires, seconds since the epoch; 0: none */
    bool secure;
    bool http_only;
    cio_http_same_site same_site;
} cio_http_cookie_options;
#define CIO_HTTP_COOKIE_OPTIONS_INIT {.size = sizeof(cio_http_cookie_options)}
#define CIO_HTTP_COOKIE_OPTIONS(...) \
    ((cio_http_cookie_options){.size = sizeof(cio_http_cookie_options), __VA_ARGS__})

/* Adds a Set-Cookie field (RFC 6265). name must be a token; value
 * cookie-octets only (no space, '"', ',', ';', '\\', controls or non-ASCII:
 * encode it first), possibly inside one pair of double quotes; path any
 * printable ASCII but ';'; domain letters, digits, '-' and dots (a leading
 * dot allowed); max_age >= 0; expires 0 or 1..253402300799 (year 9999),
 * sent as an IMF-fixdate. opts may be NULL. Returns 0, -EINVAL (NULL res,
 * name or value; bad name, value, path, domain, max_age, expires or
 * same_site; SameSite=None without secure; opts not made with the
 * macros), -E2BIG, -EALREADY, -ENOMEM. Never suspends. */
CIO_API int cio_http_response_set_cookie(cio_http_response *res, const char *name,
                                         const char *value, const cio_http_cookie_options *opts);

/* The whole response at once: status, Content-Type (NULL: none), and len
 * bytes of body (Content-Length). Not for HEAD: the body is left out but
 * the length kept. Returns 0, -EINVAL, -EALREADY (started already),
 * -ENOMEM, or the connection's write error (-EPIPE, -ECONNRESET). May
 * suspend (flow control). */
CIO_API int cio_http_response_send(cio_http_response *res, int status, const char *content_type,
                                   const void *body, size_t len);
/* cio_http_response_send with "text/plain; charset=utf-8" and strlen(text). */
CIO_API int cio_http_response_text(cio_http_response *res, int status, const char *text);
/* cio_http_response_send of cJSON_PrintUnformatted(json) as
 * application/json. -EINVAL for NULL res or json, -EALREADY, -ENOMEM
 * (cJSON could not print), or cio_http_response_send's errors. May
 * suspend. */
CIO_API int cio_http_response_json(cio_http_response *res, int status, const struct cJSON *json);
/* A redirect: status 301, 302, 303, 307 or 308 (else -EINVAL) to location
 * (visible characters only), with a short text body. */
CIO_API int cio_http_response_redirect(cio_http_response *res, int status,
                                       const char *location);
/* An error response with the consistent body every error of the server has:
 * text/plain "<status> <reason>\n", then detail and "\n" when detail is
 * non-NULL. status 400..599 (else -EINVAL). */
CIO_API int cio_http_response_error(cio_http_response *res, int status, const char *detail);

/* Starts a streamed response: sends the status and headers (plus
 * Content-Length when length >= 0, else chunked for HTTP/1.1, or the end
 * of the connection for HTTP/1.0). Returns 0, -EALREADY, -EINVAL, or a
 * write error. May suspend. */
CIO_API int cio_http_response_begin(cio_http_response *res, int64_t length);
/* Writes body bytes (begins the response with length -1 if not begun).
 * Suspends while the connection's write buffer is over its high-water
 * mark. Returns 0, -EINVAL, -EMSGSIZE (more than a declared length),
 * -EALREADY (ended), a write error. May suspend. */
CIO_API int cio_http_response_write(cio_http_response *res, const void *data, size_t len);
/* Adds a trailer field, sent at the end of a chunked body (ignored
 * otherwise). Returns as cio_http_response_header (-EALREADY once ended). */
CIO_API int cio_http_response_trailer(cio_http_response *res, const char *name,
                                      const char *value);
/* Ends the response (the last chunk and trailers; -EPROTO when fewer bytes
 * were written than a declared length: the connection is then closed).
 * Returns 0, -EALREADY, a write error. May suspend. */
CIO_API int cio_http_response_end(cio_http_response *res);

/* Sends the file at path (resolved as given: no root check, see
 * cio_http_app_static for untrusted paths) with sendfile, with the
 * request's conditional (304) and Range (206/416) handling, its MIME type,
 * ETag and Last-Modified. Returns 0; the errno of opening path (-ENOENT,
 * -EACCES, -EISDIR, -ENOTDIR, -ELOOP, -ENAMETOOLONG, ...: nothing sent,
 * answer as you see fit); -EALREADY; a write error. May suspend. */
CIO_API int cio_http_response_file(cio_http_request *req, cio_http_response *res,
                                   const char *path);

/* Whether the headers went out (nothing can be changed any more). */
CIO_API bool cio_http_response_is_started(const cio_http_response *res);
/* The status set or sent so far. */
CIO_API int cio_http_response_get_status(const cio_http_response *res);
/* Asks to close the connection after this response (Connection: close).
 * Returns 0, -EINVAL, -EALREADY. */
CIO_API int cio_http_response_close(cio_http_response *res);

/* The reason phrase of status ("Not Found"), "" when unknown. Never
 * suspends. */
CIO_API const char *cio_http_status_reason(int status);

#ifdef __cplusplus
}
#endif

#endif
