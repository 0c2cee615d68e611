/* The request part's pure parsers (request_parse.c): urlencoded data,
 * cookies, media types, Set-Cookie formatting and the streaming
 * multipart/form-data reader. They do no I/O of their own and allocate
 * nothing: the caller hands them memory (request memory in request.c and
 * cookie.c, plain buffers in the unit tests). */
#ifndef CIO_HTTP_REQUEST_PARSE_H
#define CIO_HTTP_REQUEST_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "internal.h"

struct cio__http_kv {
    const char *name;
    const char *value;
};

/* application/x-www-form-urlencoded (the WHATWG URL standard's parser):
 * '&'-separated, empty pieces skipped, a piece without '=' has the value
 * "", '+' is a space, %XX decoded. cio__http_urlencoded_max(s, n) is the
 * most pairs s can hold. _parse decodes s[0..n) in place (s[n] must be
 * writable: the last NUL goes there) and fills kv[0..max). Returns the
 * count, or -EINVAL for a '%' not followed by two hex digits or a decoded
 * NUL (which a C string could not carry: refused rather than cut). */
size_t cio__http_urlencoded_max(const char *s, size_t n);
ssize_t cio__http_urlencoded_parse(char *s, size_t n, struct cio__http_kv *kv, size_t max);

/* A Cookie header's "name=value; name2=value2" (RFC 6265 5.4 and 4.2.1,
 * read leniently: whitespace around names and values trimmed, one pair of
 * DQUOTEs around a value removed, pieces without '=' or with an empty
 * name skipped). In place as above; returns the count of kv filled. */
size_t cio__http_cookie_max(const char *s, size_t n);
size_t cio__http_cookie_parse(char *s, size_t n, struct cio__http_kv *kv, size_t max);

/* A media type "type/subtype *( OWS ; OWS name=value )" (RFC 9110 8.3.1):
 * spans into ct. Returns 0 or -EBADMSG (malformed, parameters
 * included). */
struct cio__http_media {
    const char *type, *sub;
    size_t type_len, sub_len;
    const char *params; /* the rest, from the first ';' (or the end) */
};
int cio__http_media_parse(const char *ct, struct cio__http_media *m);
/* Parameter name (case-insensitive) of m, unquoted into out (room for
 * cap bytes, NUL-terminated). Returns 1 and *len, 0 when absent,
 * -EBADMSG when malformed or longer than cap - 1. */
int cio__http_media_param(const struct cio__http_media *m, const char *name, char *out, size_t cap,
                          size_t *len);
/* application/x-www-form-urlencoded, any parameters. */
bool cio__http_is_form_type(const char *ct);
/* application/json, or any type with a "+json" subtype suffix. */
bool cio__http_is_json_type(const char *ct);
/* multipart/form-data's boundary (RFC 2046 5.1.1: 1..70 bchars, not
 * ending in a space; quoted or not) into out (room for 71). Returns 0 and
 * *len, or -EBADMSG (another type, no or a bad boundary). */
int cio__http_multipart_boundary(const char *ct, char *out, size_t *len);

/* Set-Cookie's value for name=value with o's attributes (o complete, its
 * size checked) into buf (room for cap bytes, NUL-terminated when it
 * fits). Returns the length it needs (without the NUL) or -EINVAL. */
ssize_t cio__http_set_cookie_format(char *buf, size_t cap, const char *name, const char *value,
                                    const cio_http_cookie_options *o);

/* ---- Streaming multipart/form-data ---------------------------------------- */

/* Where the reader gets body bytes: returns 1..len bytes, 0 at the end, or
 * a negative error (kept: every later call returns it). */
typedef ssize_t (*cio__http_mp_read_fn)(void *ctx, void *buf, size_t len);

/* The reader, which is also the part handed out (one part at a time: the
 * same object describes the next part after cio__http_mp_next). */
struct cio_http_part {
    cio__http_mp_read_fn read;
    void *ctx;
    char delim[2 + 2 + 70]; /* CRLF "--" boundary */
    size_t dlen;
    char *buf; /* body bytes buffered: [pos, end) */
    size_t cap, pos, end;
    size_t scanned; /* no delimiter starts in [pos, scanned) */
    size_t found;   /* where the next delimiter starts, or SIZE_MAX */
    char *hdr;      /* the part's header section, split in place */
    char *dec;      /* name and filename, unquoted / decoded */
    size_t max_header;
    struct cio__http_kv *headers;
    size_t nheaders, max_headers;
    const char *name, *filename;
    int state, err;
    bool eof;
};

/* The memory cio__http_mp_init needs for these limits. */
size_t cio__http_mp_size(size_t max_header, size_t max_headers);
/* Sets mp up for boundary (1..70 bytes) over mem (cio__http_mp_size bytes,
 * 16-aligned), reading through read(ctx, ...). */
void cio__http_mp_init(struct cio_http_part *mp, void *mem, const char *boundary, size_t blen,
                       size_t max_header, size_t max_headers, cio__http_mp_read_fn read,
                       void *ctx);
/* Moves to the next part (draining what is left of the current one).
 * Returns 1 (a part: its headers are in mp), 0 (after the closing
 * delimiter: the epilogue was read and dropped), -EBADMSG or the read
 * function's error (then every later call returns the same). */
int cio__http_mp_next(struct cio_http_part *mp);

#endif
