/* The HTTP client's parts that stand on their own: content decoding
 * (decode.c), the cookie jar's request-side functions (jar.c) and proxy
 * selection and tunnels (proxy.c). client.c (the pool, requests, replies)
 * and ws.c use them. */
#ifndef CIO_HTTP_CLIENT_PARTS_H
#define CIO_HTTP_CLIENT_PARTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "internal.h"

/* ---- Content decoding (decode.c) ------------------------------------------ */

/* A streaming decoder for a response's Content-Encoding. */
struct cio__http_decoder;

/* Makes the decoder for the Content-Encoding field value coding (a list:
 * "gzip", "deflate" (zlib-wrapped, or raw deflate as some servers send),
 * "x-gzip", "identity", several comma-separated codings are undone last
 * first). *out is NULL for no coding (NULL, "" or "identity"). Returns 0,
 * -EPROTO (a coding it cannot undo: br, compress, an unknown token),
 * -ENOMEM. */
int cio__http_decoder_new(const char *coding, struct cio__http_decoder **out);

/* Decodes in[0..inlen) into out[0..outlen): *consumed gets the input bytes
 * taken (possibly fewer than inlen when out filled up: pass the rest
 * again). Returns the bytes written (0 is possible while input is being
 * consumed, e.g. a gzip header), or -EPROTO (corrupt data, a bad
 * checksum, any byte after the end of the compressed stream, except
 * another gzip member after a gzip member), -ENOMEM, -EINVAL (NULL d,
 * consumed or done; NULL in or out with a length). *done tells whether
 * every coding's stream ended with all its output given out: the body may
 * end only then (a body that ends while !*done was truncated). Call with
 * inlen 0 to drain output held back (cio__http_decoder_pending). Memory
 * stays bounded (one inflate state per coding and 16 KiB between stacked
 * codings), whatever the ratio. */
ssize_t cio__http_decoder_run(struct cio__http_decoder *d, const void *in, size_t inlen,
                              size_t *consumed, void *out, size_t outlen, bool *done);

/* Whether the decoder may have output it could still produce without
 * input (true after a call that filled out; a run may then still give 0). */
bool cio__http_decoder_pending(const struct cio__http_decoder *d);

void cio__http_decoder_free(struct cio__http_decoder *d);

/* ---- Cookie jar (jar.c) ------------------------------------------------------ */

/* Stores the Set-Cookie field value set_cookie received from u (RFC 6265
 * §5.3; a rejected cookie is ignored: -EINVAL, the jar unchanged; the
 * rules are listed in docs/api/http_client_jar.md). now: seconds since the
 * epoch (the jar's clock for Max-Age and expiry; tests pass their own).
 * Returns 0 (also for a cookie that only deletes), -EINVAL, -ENOMEM. */
int cio__http_jar_store(cio_http_jar *jar, const struct cio__http_url *u, const char *set_cookie,
                        int64_t now);

/* The Cookie field value for a request to u (RFC 6265 §5.4: domain, path,
 * Secure for TLS schemes only, expired cookies dropped, longer paths
 * first, then older first), into buf of len, NUL-terminated (nothing is
 * written when len is 0 and no cookie applies). The cookies sent count as
 * used (eviction is least recently used first). Returns its length (0:
 * none), -ENOSPC (the value and its NUL do not fit), -EINVAL (NULL jar or
 * u, NULL buf with a len). */
ssize_t cio__http_jar_cookies(cio_http_jar *jar, const struct cio__http_url *u, int64_t now,
                              char *buf, size_t len);

/* ---- Proxies (proxy.c) ------------------------------------------------------- */

/* The proxy URL to use for u: explicit (the client's proxy option, used
 * for every URL) or, when from_env, http_proxy / https_proxy (lower case
 * wins over upper case; HTTP_PROXY is not read when REQUEST_METHOD is set,
 * as curl and Go do against httpoxy) unless no_proxy/NO_PROXY matches u's
 * host ("*", a host, ".domain" or "domain" matching its subdomains, an IP
 * or CIDR, with an optional ":port"; entries separated by commas or
 * spaces; an empty variable counts as unset). *out is malloc'd, normalized
 * to "http://[userinfo@]host:port" (port 80 when none is given), or NULL
 * for a direct connection. A scheme-less "host:port" is taken as http://.
 * Returns 0, -EINVAL (NULL u or out, a proxy value that is not an http://
 * URL), -ENOMEM. */
int cio__http_proxy_for(const char *explicit_proxy, bool from_env, const struct cio__http_url *u,
                        char **out);

/* On s, a connection to a proxy: sends "CONNECT host:port HTTP/1.1" for
 * target (with Proxy-Authorization: Basic from proxy_userinfo, the
 * proxy URL's percent-encoded "user:pass", when non-NULL) and reads the
 * proxy's answer strictly (llhttp): 2xx is success (the stream is then a
 * tunnel: nothing after the answer's header section has been consumed).
 * Interim 1xx answers are skipped; *status (when non-NULL) gets the final
 * answer's status, 0 when there is none. Returns 0, -ECONNREFUSED (the
 * proxy answered with another status, 101 included; the connection is
 * then unusable), -EPROTO (not HTTP, or the proxy closed inside its
 * answer), -ECONNRESET (it closed before answering), -EINVAL (NULL s or
 * target, a bad '%' escape in proxy_userinfo), the stream's errors
 * (-EMSGSIZE: an answer's header section over the stream's buffer). May
 * suspend (under the caller's deadline). */
int cio__http_proxy_connect(cio_stream *s, const struct cio__http_url *target,
                            const char *proxy_userinfo, int *status);

/* Base64 and SHA-1 (Proxy-Authorization, WebSocket keys): OpenSSL's
 * EVP_EncodeBlock / EVP_DecodeBlock and SHA1, not code of ours. */

#endif
