/* Static files (static.c, mime.c): the pure parts, declared for the tests
 * (tests/http/test_static.c), which check them without a server. */
#ifndef CIO_HTTP_STATIC_H
#define CIO_HTTP_STATIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "internal.h"

/* The type for extension ext[0..n) (no dot, any case), NULL if unknown. */
const char *cio__http_mime_lookup(const char *ext, size_t n);
/* Whether the table is in the order the binary search needs. */
bool cio__http_mime_table_sorted(void);

/* Checks a request path below a static root (percent-decoded, without the
 * prefix) and writes it to out (room for cap bytes) as a relative path:
 * no leading '/', empty segments dropped, the trailing '/' of a directory
 * kept. Refuses (-ENOENT) "." and ".." segments, backslashes, NUL and
 * control bytes; -ENAMETOOLONG when it does not fit. Returns the length. */
ssize_t cio__http_static_clean_path(const char *path, char *out, size_t cap);

/* Whether a raw (still percent-encoded) path holds an encoded NUL (%00)
 * or backslash (%5c), or a raw backslash: refused before decoding. */
bool cio__http_static_raw_refused(const char *raw);

/* Opens rel (relative, as cio__http_static_clean_path makes it; "" is the
 * root itself) below rootfd, never outside it: openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS (| RESOLVE_NO_SYMLINKS unless
 * follow) where the kernel has it, else cio__http_static_open_walk.
 * flags are open(2)'s (O_CLOEXEC is added). Returns a descriptor or a
 * negative errno (-EXDEV for an escape, -ELOOP for a refused symlink). */
int cio__http_static_open(int rootfd, const char *rel, int flags, bool follow);
/* The fallback for kernels before 5.6: walks rel one component at a time
 * with openat(O_NOFOLLOW), resolving symlinks itself when follow (a
 * relative target only, never above rootfd; at most 40). */
int cio__http_static_open_walk(int rootfd, const char *rel, int flags, bool follow);
/* Whether cio__http_static_open found openat2 missing (ENOSYS) and now
 * always walks. */
bool cio__http_static_walking(void);

/* A strong entity tag from inode, size and modification time (ns):
 * "ino-size-mtime" in hex, quotes included, NUL-terminated in buf (room
 * for CIO__HTTP_ETAG_MAX). Returns its length. */
#define CIO__HTTP_ETAG_MAX 64
int cio__http_etag(char *buf, const struct stat *st);
/* Whether the entity-tag list of If-None-Match (weak comparison) or
 * If-Match (strong: weak tags never match) holds etag; "*" matches any. */
bool cio__http_etag_match(const char *list, const char *etag, bool strong);

/* The preconditions of RFC 9110 13.2.2 in their order for a GET or HEAD
 * of a representation with etag and mtime (seconds): If-Match, else
 * If-Unmodified-Since; then If-None-Match, else If-Modified-Since.
 * Arguments are the header values or NULL. Returns 0 (go on), 304 or 412. */
int cio__http_preconditions(const char *if_match, const char *if_unmodified_since,
                            const char *if_none_match, const char *if_modified_since,
                            const char *etag, int64_t mtime);

/* If-Range (RFC 9110 13.1.5): whether the Range may be honoured: the
 * value is our strong etag, or exactly our Last-Modified date. */
bool cio__http_if_range(const char *value, const char *etag, int64_t mtime);

struct cio__http_range {
    uint64_t first, last; /* inclusive */
};
enum {
    CIO__HTTP_RANGE_IGNORE = 0, /* no usable Range (bad syntax, not bytes): 200 */
    CIO__HTTP_RANGE_OK,         /* *n ranges (1: 206; more: multipart) */
    CIO__HTTP_RANGE_NONE,       /* no satisfiable range: 416 */
    CIO__HTTP_RANGE_WHOLE,      /* too many or overlapping ranges: 200 whole */
};
/* Parses a Range value for a representation of size bytes into out[0..max)
 * (RFC 9110 14.1.2): "bytes=" then first-last, first- or -suffix, comma-
 * separated; last clipped to size - 1; unsatisfiable ranges dropped. A
 * suffix range on an empty representation gives WHOLE (satisfiable, RFC
 * 9110 14.1.1, but not expressible in a Content-Range). More
 * than max ranges, or ranges whose sizes add up to more than the
 * representation (overlaps: the many-small-ranges attack) give WHOLE. */
int cio__http_parse_range(const char *value, uint64_t size, struct cio__http_range *out, size_t max,
                          size_t *n);

/* Whether Accept-Encoding allows gzip: "gzip" or "*" with a q-value above
 * 0 (an explicit "gzip;q=0" wins over "*"). */
bool cio__http_accepts_gzip(const char *accept_encoding);

/* A growing text buffer (the directory listing). */
struct cio__http_buf {
    char *p;
    size_t len, cap;
};
/* Appends n bytes of s; false when out of memory (b unchanged). */
bool cio__http_buf_add(struct cio__http_buf *b, const char *s, size_t n);
/* Appends s HTML-escaped (& < > " ' as character references). */
bool cio__http_html_escape(struct cio__http_buf *b, const char *s);
/* Appends s percent-encoded for a URL path segment (all but unreserved
 * characters: ALPHA DIGIT - . _ ~). */
bool cio__http_url_escape(struct cio__http_buf *b, const char *s);

#endif
