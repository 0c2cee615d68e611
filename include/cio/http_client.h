/* cio/http_client.h: the HTTP/1.1 client (what aiohttp's ClientSession is to
 * asyncio): one client object holds a pool of keep-alive connections per
 * scheme, host and port, and sends requests from tasks (or, for callback
 * code, runs them in a task of its own).
 *
 * Every request has one deadline budget (timeout) that covers name
 * resolution, connecting, the TLS handshake, sending, the response's header
 * section and reading its body: once it has passed, every call on the
 * request or its reply fails with -ETIMEDOUT, whatever the peer does.
 * connect_timeout and read_timeout are smaller limits inside that budget.
 *
 * Responses are parsed with llhttp in strict mode with the server's limits
 * and smuggling rules (a response outside the grammar fails with -EPROTO
 * and its connection is never reused).
 *
 * A client belongs to the loop it was made on: use it from that loop's
 * tasks (any number at once) and callbacks only. */
#ifndef CIO_HTTP_CLIENT_H
#define CIO_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"
#include "dns.h"
#include "future.h"
#include "net.h"
#include "tls.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cio_http_client cio_http_client;
/* A response the client received (the server side's is cio_http_response). */
typedef struct cio_http_reply cio_http_reply;
/* A cookie jar (RFC 6265), shareable by clients of one loop. */
typedef struct cio_http_jar cio_http_jar;
struct cJSON;

/* A header field to send. */
typedef struct cio_http_field {
    const char *name;
    const char *value;
} cio_http_field;

typedef struct cio_http_client_options {
    size_t size;               /* sizeof(cio_http_client_options): the macros */
    const cio_tls_config *tls; /* a client configuration for https (its ALPN, if
                                  any, must offer "http/1.1" only: the client
                                  speaks HTTP/1.1); NULL: the client makes one
                                  (the system's trust store, verification on,
                                  ALPN "http/1.1") */
    cio_resolver *resolver;    /* NULL: the default resolver of cio_stream_connect_name */
    size_t max_connections;    /* open connections in all: 0: 100 */
    size_t max_per_host;       /* to one scheme, host and port: 0: max_connections */
    double idle_timeout;       /* a pooled idle connection is closed after this: 0: 15 s */
    double timeout;            /* each request's whole budget: 0: 300 s; INFINITY: none */
    double connect_timeout;    /* resolution, connect and TLS inside the budget: 0: 30 s */
    double read_timeout;       /* the longest wait for any byte of a response: 0: 60 s */
    int max_redirects;         /* followed per request: 0: 10; < 0: none followed */
    size_t max_header_size;    /* a response's header section: 0: 64 KiB (-EMSGSIZE) */
    size_t max_headers;        /* its fields: 0: 100 (-EMSGSIZE) */
    uint64_t max_body_size;    /* cio_http_reply_body's default limit: 0: 64 MiB */
    cio_http_jar *jar;         /* cookies kept across requests (the caller's; must
                                  outlive the client); NULL: cookies only follow
                                  the redirects of one request */
    const char *proxy;         /* "http://[user:pass@]host[:port]" for every request
                                  (https through CONNECT); NULL: from the
                                  environment unless no_env_proxy */
    bool no_env_proxy;         /* ignore http_proxy, https_proxy, no_proxy
                                  (also their upper-case forms) */
    bool no_decompress;        /* send no Accept-Encoding and decode nothing */
    const char *user_agent;    /* NULL: "cio/VERSION"; "": none */
} cio_http_client_options;
#define CIO_HTTP_CLIENT_OPTIONS_INIT {.size = sizeof(cio_http_client_options)}
#define CIO_HTTP_CLIENT_OPTIONS(...) \
    ((cio_http_client_options){.size = sizeof(cio_http_client_options), __VA_ARGS__})

/* Reads up to len bytes of a streamed request body into buf: returns the
 * count, 0 at the body's end, or a negative error (the request fails with
 * it). Called from the requesting task; may suspend. */
typedef ssize_t (*cio_http_body_reader)(void *arg, void *buf, size_t len);

/* One request. Strings are read during the call. */
typedef struct cio_http_client_request {
    size_t size;                  /* sizeof(cio_http_client_request): the macros */
    const char *method;           /* a token; NULL: GET, POST when there is a body */
    const char *url;              /* "http://" or "https://" absolute URL (required) */
    const cio_http_field *headers; /* nheaders fields added to the request */
    size_t nheaders;
    const void *body;             /* a body in memory (Content-Length)... */
    size_t body_len;
    cio_http_body_reader body_reader; /* ...or streamed from this (not with body) */
    void *body_arg;
    int64_t body_length;          /* the streamed body's length; 0: not known, sent
                                     chunked (a body known to be empty needs no reader) */
    const char *content_type;     /* Content-Type; NULL: none (unless a header has it) */
    double timeout;               /* this request's budget; 0: the client's */
    int max_redirects;            /* 0: the client's; < 0: none followed */
} cio_http_client_request;
#define CIO_HTTP_CLIENT_REQUEST_INIT {.size = sizeof(cio_http_client_request)}
#define CIO_HTTP_CLIENT_REQUEST(...) \
    ((cio_http_client_request){.size = sizeof(cio_http_client_request), __VA_ARGS__})

/* Makes a client on the current loop (opts may be NULL: defaults; read
 * during the call, jar and tls kept). Returns 0, -EINVAL (NULL out, bad
 * options: a negative or NaN time, a user_agent that is not a field
 * value; a proxy that is not an http:// URL, tls a server's
 * configuration), -E2BIG, -EPERM with no running loop on this thread,
 * -ENOMEM. Never suspends. (Without tls, the client's own configuration is
 * made at its first https connection: cio_tls_config_new's errors are then
 * that request's.) */
CIO_API int cio_http_client_new(const cio_http_client_options *opts, cio_http_client **out);

/* Closes every pooled connection and frees the client. NULL is a no-op.
 * Returns 0, or -EBUSY (frees nothing) while a request or a reply not yet
 * freed is in flight. Never suspends. */
CIO_API int cio_http_client_free(cio_http_client *c);

/* Sends rq and waits for the response's header section, following
 * redirects (301, 302, 303: GET without the body, HEAD stays HEAD; 307,
 * 308: the same method and body, which a streamed body cannot be: the
 * redirect is then returned as it is, as is one whose Location is not an
 * http(s) URL the client can follow); Authorization, Cookie and
 * Proxy-Authorization set by the caller are dropped when a redirect leaves
 * the scheme, host and port (an https-to-http redirect is followed, as
 * browsers do, with those dropped). A
 * pooled connection that turns out dead before any response byte is
 * retried once on a fresh connection, for idempotent methods (GET, HEAD,
 * OPTIONS, TRACE, PUT, DELETE) only. *out is the caller's (free it with
 * cio_http_reply_free; read its body first to give its connection back to
 * the pool). Any status is a success (404 too): check
 * cio_http_reply_status. Credentials in the URL ("user:pass@") are sent
 * as Basic Authorization unless rq sets that field; a Host field in rq
 * replaces the client's. Returns 0; -EINVAL (NULL arguments, a bad URL,
 * method or field, a Content-Length or Transfer-Encoding field (the
 * client frames the body), body with body_reader, a negative
 * body_length or one without body_reader, a streamed body longer or
 * shorter than body_length, options not made with the macros);
 * -E2BIG; -EPERM outside a task of the client's loop; -ETIMEDOUT
 * (the budget, the connect or the read limit); -ECANCELED; -ELOOP (more
 * redirects than allowed); -EPROTO (a response outside the grammar, an
 * unsupported transfer or content coding); -EMSGSIZE (a header section
 * over the limits); cio_stream_connect_name's errors (DNS, connect, TLS:
 * certificates are verified); -ECONNRESET / -EPIPE (the server broke
 * off); the body reader's error; -ENOMEM. May suspend. */
CIO_API int cio_http_client_request_send(cio_http_client *c, const cio_http_client_request *rq,
                                         cio_http_reply **out);

/* GET url: cio_http_client_request_send with only the URL. */
CIO_API int cio_http_client_get(cio_http_client *c, const char *url, cio_http_reply **out);

/* POST len bytes of body to url as content_type (NULL: none); body may
 * be NULL with len 0 (Content-Length: 0), -EINVAL with len > 0. */
CIO_API int cio_http_client_post(cio_http_client *c, const char *url, const char *content_type,
                                 const void *body, size_t len, cio_http_reply **out);

/* POST json (printed unformatted) to url as application/json. -EINVAL
 * also for NULL json; -ENOMEM when cJSON cannot print it. */
CIO_API int cio_http_client_post_json(cio_http_client *c, const char *url,
                                      const struct cJSON *json, cio_http_reply **out);

/* The callback form: runs rq in a task of the client's own (rq is copied,
 * the body included), reads the whole body (at most the client's
 * max_body_size), then calls cb(reply, err, arg) on the loop's thread once:
 * reply (the callee's to free, with its body read: cio_http_reply_body
 * returns it at once) and err 0, or reply NULL and err as
 * cio_http_client_request_send and cio_http_reply_body return. *out
 * (may be NULL) receives a future (the caller's reference) done when cb
 * has returned: cancel it to cancel the request (cb then gets
 * -ECANCELED). Returns 0 (cb will be called), -EINVAL, -EPERM (not on the
 * client's loop's thread), -ENOMEM. Never suspends. */
typedef void (*cio_http_reply_cb)(cio_http_reply *reply, int err, void *arg);
CIO_API int cio_http_client_request_cb(cio_http_client *c, const cio_http_client_request *rq,
                                       cio_http_reply_cb cb, void *arg, cio_future **out);

/* Connections open now (pooled and in use); 0 for NULL. */
CIO_API size_t cio_http_client_connections(const cio_http_client *c);
/* Idle connections in the pool now; 0 for NULL. */
CIO_API size_t cio_http_client_idle(const cio_http_client *c);

/* ---- Replies --------------------------------------------------------------
 * Strings a reply returns are NUL-terminated, owned by the reply and valid
 * until cio_http_reply_free. */

/* The status code (100..999); -1 for NULL. Interim 1xx answers are read
 * and dropped (but 101). */
CIO_API int cio_http_reply_status(const cio_http_reply *r);
/* The reason phrase as sent (may be ""). */
CIO_API const char *cio_http_reply_reason(const cio_http_reply *r);
/* The HTTP minor version: 0 or 1; -1 for NULL. */
CIO_API int cio_http_reply_version(const cio_http_reply *r);
/* The URL that answered (the last of the redirects). */
CIO_API const char *cio_http_reply_url(const cio_http_reply *r);
/* Redirects followed to get here. */
CIO_API int cio_http_reply_redirects(const cio_http_reply *r);
/* The first value of header name (case-insensitive), or NULL. */
CIO_API const char *cio_http_reply_header(const cio_http_reply *r, const char *name);
/* Every value of header name, as cio_http_request_headers. */
CIO_API size_t cio_http_reply_headers(const cio_http_reply *r, const char *name,
                                      const char **values, size_t max);
/* The i-th header field. Returns 0, -ENOENT past the last, -EINVAL. */
CIO_API int cio_http_reply_header_at(const cio_http_reply *r, size_t i, const char **name,
                                     const char **value);
/* A trailer field of a chunked body once the body was read to its end, or
 * NULL. */
CIO_API const char *cio_http_reply_trailer(const cio_http_reply *r, const char *name);
/* The declared body length (before any content decoding), -1 when unknown
 * (chunked, or up to the connection's end); 0 for no body (HEAD, 204,
 * 304). */
CIO_API int64_t cio_http_reply_content_length(const cio_http_reply *r);

/* Reads up to len bytes of the body, decoded (chunked undone; gzip and
 * deflate content codings undone unless the client has no_decompress; the
 * Content-Encoding field stays as sent): returns the count, 0 at the
 * body's end (the connection goes back to the pool then, when it can be
 * reused), -EINVAL (NULL, len 0), -ETIMEDOUT (the request's budget or the
 * read limit), -ECANCELED, -EPROTO (a malformed chunk or compressed
 * stream, a body shorter than its Content-Length), -ECONNRESET, -EPERM
 * outside a task. An error is kept: later reads return it. May suspend. */
CIO_API ssize_t cio_http_reply_read(cio_http_reply *r, void *buf, size_t len);

/* Reads the whole (rest of the) body into memory the reply owns, at most
 * max bytes (0: the client's max_body_size); *data is NUL-terminated (not
 * counted in *len). A second call returns the same body. Returns 0,
 * -EMSGSIZE (longer than max), cio_http_reply_read's errors, -ENOMEM. May
 * suspend. */
CIO_API int cio_http_reply_body(cio_http_reply *r, size_t max, const void **data, size_t *len);

/* Parses the body (read as cio_http_reply_body with max 0) as JSON, once;
 * *out is the reply's. Returns 0, -EBADMSG (not JSON, or anything but
 * whitespace after it), cio_http_reply_body's errors. May suspend. */
CIO_API int cio_http_reply_json(cio_http_reply *r, const struct cJSON **out);

/* Frees the reply. A body read to its end gave its connection back to the
 * pool already; otherwise the connection is closed (its rest is not
 * read). NULL is a no-op. Never suspends. */
CIO_API void cio_http_reply_free(cio_http_reply *r);

/* ---- Cookie jars (RFC 6265) ------------------------------------------------ */

/* Makes an empty jar. Returns 0, -EINVAL (NULL out), -ENOMEM. */
CIO_API int cio_http_jar_new(cio_http_jar **out);
/* Frees the jar. NULL is a no-op. */
CIO_API void cio_http_jar_free(cio_http_jar *jar);
/* Stores a cookie as if a response from url had sent the Set-Cookie
 * field value set_cookie (domain and path rules, Secure, HttpOnly,
 * SameSite, Max-Age and Expires as RFC 6265 §5.2-5.3 say; a cookie the
 * rules reject is ignored and -EINVAL returned). Returns 0, -EINVAL,
 * -ENOMEM. */
CIO_API int cio_http_jar_set(cio_http_jar *jar, const char *url, const char *set_cookie);
/* The Cookie field value a request to url would send ("a=1; b=2", RFC 6265
 * §5.4 order), into buf of len bytes. Returns the length (0: no cookie),
 * -EINVAL (NULL arguments, a bad URL), -ENOSPC (buf too small; nothing
 * useful in it). */
CIO_API ssize_t cio_http_jar_header(cio_http_jar *jar, const char *url, char *buf, size_t len);
/* Cookies stored now (expired ones dropped first). */
CIO_API size_t cio_http_jar_count(cio_http_jar *jar);
/* Drops every cookie. */
CIO_API void cio_http_jar_clear(cio_http_jar *jar);

#ifdef __cplusplus
}
#endif

#endif
