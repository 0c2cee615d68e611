/* Responses: status and header fields, the head serialized straight into
 * the connection's output buffer, whole bodies (send: small ones join the
 * output buffer and go out with the batch, big ones are written from the
 * caller's memory in pieces the stream's flow control paces), streamed
 * bodies (Content-Length, chunked with trailers, or to the close for
 * HTTP/1.0), body filters, sendfile. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"

#define SMALL_BODY 16384     /* send(): bodies up to this join the output buffer */
#define WRITE_PIECE 262144   /* big bodies are handed to the stream in pieces */
#define OUT_FLUSH 32768      /* the output buffer goes out once it is this full */

/* ---- Reasons ------------------------------------------------------------------ */

const char *cio_http_status_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 208: return "Already Reported";
    case 226: return "IM Used";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 506: return "Variant Also Negotiates";
    case 507: return "Insufficient Storage";
    case 508: return "Loop Detected";
    case 510: return "Not Extended";
    case 511: return "Network Authentication Required";
    default: return "";
    }
}

/* ---- Internals ------------------------------------------------------------------ */

uint64_t cio__http_bytes_sent(const cio_http_response *res) { return res ? res->sent : 0; }
bool cio__http_is_ended(const cio_http_response *res)
{
    return res && res->state == CIO__RES_ENDED;
}
cio_http_request *cio__http_request_of(cio_http_response *res)
{
    return res ? &res->c->req : NULL;
}

void cio__http_response_reset(struct cio__http_conn *c)
{
    cio_http_response *res = &c->res;
    res->status = 200;
    res->state = CIO__RES_NEW;
    res->nfields = 0;
    res->ntrailers = 0;
    res->length = -1;
    res->sent = 0;
    res->written = 0;
    res->chunked = false;
    res->no_body = false;
    res->close = false;
    res->to_close = false;
    res->user_date = false;
    res->user_server = false;
    res->err = 0;
    res->filters = NULL;
}

static void filters_abort(cio_http_response *res)
{
    struct cio__http_filter *f = res->filters;
    res->filters = NULL;
    while (f) {
        struct cio__http_filter *next = f->next;
        f->finish(f, NULL);
        f = next;
    }
}

void cio__http_response_taken(struct cio__http_conn *c, int status)
{
    cio_http_response *res = &c->res;
    filters_abort(res);
    res->status = status;
    res->state = CIO__RES_ENDED;
    res->close = true;
}

/* ---- Header fields ----------------------------------------------------------------- */

static bool value_ok(const char *v)
{
    return cio__http_is_field_value(v, strlen(v));
}

static int add_field(cio_http_response *res, struct cio__http_field **arr, size_t *n, size_t *cap,
                     const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        struct cio__http_field *a = realloc(*arr, ncap * sizeof *a);
        if (!a)
            return -ENOMEM;
        *arr = a;
        *cap = ncap;
    }
    cio_http_request *req = &res->c->req;
    char *p = cio__http_alloc(req, nl + vl + 2);
    if (!p)
        return -ENOMEM;
    memcpy(p, name, nl + 1);
    memcpy(p + nl + 1, value, vl + 1);
    (*arr)[(*n)++] = (struct cio__http_field){p, p + nl + 1, (uint32_t)nl, (uint32_t)vl};
    return 0;
}

static bool has_close_token(const char *v)
{
    size_t n = strlen(v), i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (cio__http_ieq(v + s, i - s, "close", 5))
            return true;
    }
    return false;
}

static void note_special(cio_http_response *res, const char *name, const char *value)
{
    size_t nl = strlen(name);
    if (cio__http_ieq(name, nl, "date", 4))
        res->user_date = value != NULL;
    else if (cio__http_ieq(name, nl, "server", 6))
        res->user_server = value != NULL;
    else if (value && cio__http_ieq(name, nl, "connection", 10) && has_close_token(value))
        res->close = true;
}

int cio_http_response_header(cio_http_response *res, const char *name, const char *value)
{
    if (!res || !name || !value || !cio__http_is_token(name, strlen(name)) || !value_ok(value))
        return -EINVAL;
    if (res->state != CIO__RES_NEW)
        return -EALREADY;
    int rc = add_field(res, &res->fields, &res->nfields, &res->fcap, name, value);
    if (rc == 0)
        note_special(res, name, value);
    return rc;
}

int cio_http_response_set_header(cio_http_response *res, const char *name, const char *value)
{
    if (!res || !name || !cio__http_is_token(name, strlen(name)) || (value && !value_ok(value)))
        return -EINVAL;
    if (res->state != CIO__RES_NEW)
        return -EALREADY;
    size_t nl = strlen(name), j = 0;
    for (size_t i = 0; i < res->nfields; i++) {
        struct cio__http_field *f = &res->fields[i];
        if (!cio__http_ieq(f->name, f->nlen, name, nl))
            res->fields[j++] = *f;
    }
    res->nfields = j;
    note_special(res, name, NULL);
    if (!value)
        return 0;
    return cio_http_response_header(res, name, value);
}

const char *cio_http_response_get_header(const cio_http_response *res, const char *name)
{
    if (!res || !name)
        return NULL;
    size_t nl = strlen(name);
    for (size_t i = 0; i < res->nfields; i++)
        if (cio__http_ieq(res->fields[i].name, res->fields[i].nlen, name, nl))
            return res->fields[i].value;
    return NULL;
}

int cio_http_response_trailer(cio_http_response *res, const char *name, const char *value)
{
    if (!res || !name || !value || !cio__http_is_token(name, strlen(name)) || !value_ok(value))
        return -EINVAL;
    if (res->state == CIO__RES_ENDED)
        return -EALREADY;
    return add_field(res, &res->trailers, &res->ntrailers, &res->tcap, name, value);
}

int cio_http_response_status(cio_http_response *res, int status)
{
    if (!res || status < 100 || status > 999)
        return -EINVAL;
    if (res->state != CIO__RES_NEW)
        return -EALREADY;
    res->status = status;
    return 0;
}

bool cio_http_response_is_started(const cio_http_response *res)
{
    return res && res->state != CIO__RES_NEW;
}

int cio_http_response_get_status(const cio_http_response *res) { return res ? res->status : 0; }

int cio_http_response_close(cio_http_response *res)
{
    if (!res)
        return -EINVAL;
    if (res->state != CIO__RES_NEW)
        return -EALREADY;
    res->close = true;
    return 0;
}

/* ---- The head ------------------------------------------------------------------------ */

static bool framing_field(const struct cio__http_field *f)
{
    switch (f->nlen) {
    case 10: return cio__http_ieq(f->name, 10, "connection", 10);
    case 14: return cio__http_ieq(f->name, 14, "content-length", 14);
    case 17: return cio__http_ieq(f->name, 17, "transfer-encoding", 17);
    default: return false;
    }
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

static char *put_u64(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* Runs the filters' start, then serializes the status line and header
 * fields into the output buffer. ctype: a Content-Type to add (send). */
static int start(cio_http_response *res, int64_t length, const char *ctype)
{
    struct cio__http_conn *c = res->c;
    cio_http_request *req = &c->req;
    struct cio__http_filter **pf = &res->filters;
    while (*pf) {
        struct cio__http_filter *f = *pf;
        int r = f->start ? f->start(f, res, &length) : 0;
        if (r < 0)
            return r;
        if (r == 1)
            *pf = f->next;
        else
            pf = &f->next;
    }
    int st = res->status;
    bool bodiless_status = st < 200 || st == 204 || st == 304;
    res->no_body = req->head || bodiless_status;
    res->length = length;
    bool close = res->close || cio__http_must_close(c);
    if (length < 0 && !bodiless_status) {
        if (req->minor >= 1) {
            res->chunked = true;
        } else {
            res->to_close = true;
            close = true;
        }
    }
    res->close = close;
    const cio_http_server *srv = c->srv;
    const char *reason = cio_http_status_reason(st);
    size_t rl = strlen(reason);
    size_t cl = ctype ? strlen(ctype) : 0;
    size_t need = 17 + rl + srv->server_line_len + 40 + 48 + 30 + (ctype ? cl + 16 : 0);
    for (size_t i = 0; i < res->nfields; i++)
        need += res->fields[i].nlen + res->fields[i].vlen + 4;
    char *p = cio__http_out_reserve(c, need);
    if (!p)
        return -ENOMEM;
    char *p0 = p;
    p = put(p, "HTTP/1.1 ", 9);
    *p++ = (char)('0' + st / 100);
    *p++ = (char)('0' + st / 10 % 10);
    *p++ = (char)('0' + st % 10);
    *p++ = ' ';
    p = put(p, reason, rl);
    p = put(p, "\r\n", 2);
    if (srv->server_line && !res->user_server)
        p = put(p, srv->server_line, srv->server_line_len);
    if (!res->user_date)
        p = put(p, cio__http_date_line(), 37);
    if (ctype) {
        p = put(p, "Content-Type: ", 14);
        p = put(p, ctype, cl);
        p = put(p, "\r\n", 2);
    }
    for (size_t i = 0; i < res->nfields; i++) {
        const struct cio__http_field *f = &res->fields[i];
        if (framing_field(f))
            continue;
        p = put(p, f->name, f->nlen);
        *p++ = ':';
        *p++ = ' ';
        p = put(p, f->value, f->vlen);
        p = put(p, "\r\n", 2);
    }
    if (!bodiless_status) {
        if (length >= 0) {
            p = put(p, "Content-Length: ", 16);
            p = put_u64(p, (uint64_t)length);
            p = put(p, "\r\n", 2);
        } else if (res->chunked) {
            p = put(p, "Transfer-Encoding: chunked\r\n", 28);
        }
    }
    if (close)
        p = put(p, "Connection: close\r\n", 19);
    else if (req->minor == 0)
        p = put(p, "Connection: keep-alive\r\n", 24);
    p = put(p, "\r\n", 2);
    c->olen -= need - (size_t)(p - p0);
    res->state = CIO__RES_STARTED;
    return 0;
}

/* ---- Body bytes on the wire ---------------------------------------------------------- */

static int fail(cio_http_response *res, int rc)
{
    if (!res->err)
        res->err = rc;
    res->c->broken = true;
    return rc;
}

/* Writes body bytes after the filters: framing, then the stream. */
static int raw_write(cio_http_response *res, const void *data, size_t len)
{
    if (res->err)
        return res->err;
    if (res->length >= 0 && res->written + len > (uint64_t)res->length)
        return -EMSGSIZE;
    res->written += len;
    if (res->no_body || len == 0)
        return 0;
    struct cio__http_conn *c = res->c;
    const char *d = data;
    char hdr[24];
    size_t hl = 0;
    if (res->chunked) {
        hl = (size_t)snprintf(hdr, sizeof hdr, "%zx\r\n", len);
    }
    if (len <= 1024) {
        /* Small pieces are copied: one writev of the buffer. */
        if ((hl && cio__http_out_append(c, hdr, hl)) || cio__http_out_append(c, d, len) ||
            (res->chunked && cio__http_out_append(c, "\r\n", 2)))
            return fail(res, -ENOMEM);
        int rc = cio__http_out_flush(c, NULL, 0);
        if (rc)
            return fail(res, rc);
        res->sent += len;
        return 0;
    }
    size_t off = 0;
    while (off < len) {
        size_t n = len - off > WRITE_PIECE ? WRITE_PIECE : len - off;
        struct iovec v[3];
        int k = 0;
        if (off == 0 && hl)
            v[k++] = (struct iovec){hdr, hl};
        v[k++] = (struct iovec){(void *)(d + off), n};
        if (off + n == len && res->chunked)
            v[k++] = (struct iovec){(void *)"\r\n", 2};
        int rc = cio__http_out_flush(c, v, k);
        if (rc)
            return fail(res, rc);
        off += n;
        res->sent += n;
    }
    return 0;
}

int cio__http_filter_write_next(struct cio__http_filter *f, cio_http_response *res,
                                const void *data, size_t len)
{
    if (!f || !res || (!data && len))
        return -EINVAL;
    if (f->next)
        return f->next->write(f->next, res, data, len);
    return raw_write(res, data, len);
}

int cio__http_push_filter(cio_http_response *res, struct cio__http_filter *f)
{
    if (!res || !f || !f->write || !f->finish)
        return -EINVAL;
    if (res->state != CIO__RES_NEW)
        return -EALREADY;
    f->next = NULL;
    struct cio__http_filter **pf = &res->filters;
    while (*pf)
        pf = &(*pf)->next;
    *pf = f;
    return 0;
}

static int body_write(cio_http_response *res, const void *data, size_t len)
{
    if (res->filters)
        return res->filters->write(res->filters, res, data, len);
    return raw_write(res, data, len);
}

/* ---- Streaming ------------------------------------------------------------------------- */

int cio_http_response_begin(cio_http_response *res, int64_t length)
{
    if (!res || length < -1)
        return -EINVAL;
    if (res->state != CIO__RES_NEW)
        return -EALREADY;
    int rc = start(res, length, NULL);
    if (rc)
        return rc;
    rc = cio__http_out_flush(res->c, NULL, 0);
    return rc ? fail(res, rc) : 0;
}

int cio_http_response_write(cio_http_response *res, const void *data, size_t len)
{
    if (!res || (!data && len))
        return -EINVAL;
    if (res->state == CIO__RES_ENDED)
        return -EALREADY;
    if (res->state == CIO__RES_NEW) {
        int rc = start(res, -1, NULL);
        if (rc)
            return rc;
    }
    if (len == 0)
        return 0;
    return body_write(res, data, len);
}

int cio_http_response_end(cio_http_response *res)
{
    if (!res)
        return -EINVAL;
    if (res->state == CIO__RES_ENDED)
        return -EALREADY;
    struct cio__http_conn *c = res->c;
    int rc;
    if (res->state == CIO__RES_NEW && (rc = start(res, res->filters ? -1 : 0, NULL)))
        return rc;
    /* Each filter's finish pushes its last bytes through the ones after. */
    while (res->filters) {
        struct cio__http_filter *f = res->filters;
        res->filters = f->next;
        rc = f->finish(f, res);
        if (rc) {
            res->filters = f->next;
            filters_abort(res);
            res->state = CIO__RES_ENDED;
            return fail(res, rc);
        }
    }
    res->state = CIO__RES_ENDED;
    if (res->err)
        return res->err;
    /* HEAD and bodiless statuses: the declared length counts as sent. */
    if (res->length >= 0 && !res->no_body && res->written < (uint64_t)res->length) {
        c->broken = true;
        return -EPROTO;
    }
    if (res->chunked && !res->no_body) {
        size_t need = 5;
        for (size_t i = 0; i < res->ntrailers; i++)
            need += res->trailers[i].nlen + res->trailers[i].vlen + 4;
        char *p = cio__http_out_reserve(c, need);
        if (!p)
            return fail(res, -ENOMEM);
        p = put(p, "0\r\n", 3);
        for (size_t i = 0; i < res->ntrailers; i++) {
            const struct cio__http_field *f = &res->trailers[i];
            p = put(p, f->name, f->nlen);
            *p++ = ':';
            *p++ = ' ';
            p = put(p, f->value, f->vlen);
            p = put(p, "\r\n", 2);
        }
        put(p, "\r\n", 2);
    }
    if (++c->queued >= c->srv->opts.max_pipelined || c->olen > OUT_FLUSH) {
        rc = cio__http_out_flush(c, NULL, 0);
        if (rc)
            return fail(res, rc);
    }
    return 0;
}

/* ---- Whole responses ----------------------------------------------------------------- */

/* send() after its checks; content_type is known to be a field value (the
 * caller's, checked, or one of the library's own constants). */
static int send_checked(cio_http_response *res, int status, const char *content_type,
                        const void *body, size_t len)
{
    if (res->state != CIO__RES_NEW)
        return -EALREADY;
    res->status = status;
    if (res->filters) {
        int rc;
        if (content_type &&
            (rc = cio_http_response_set_header(res, "Content-Type", content_type)))
            return rc;
        if ((rc = cio_http_response_begin(res, (int64_t)len)) ||
            (len && (rc = cio_http_response_write(res, body, len))))
            return rc;
        return cio_http_response_end(res);
    }
    if (content_type && cio_http_response_get_header(res, "Content-Type"))
        cio_http_response_set_header(res, "Content-Type", NULL);
    int rc = start(res, (int64_t)len, content_type);
    if (rc)
        return rc;
    struct cio__http_conn *c = res->c;
    res->written = len;
    res->state = CIO__RES_ENDED;
    if (!res->no_body && len) {
        if (len <= SMALL_BODY) {
            if (cio__http_out_append(c, body, len))
                return fail(res, -ENOMEM);
        } else {
            const char *d = body;
            size_t off = 0;
            while (off < len) {
                size_t n = len - off > WRITE_PIECE ? WRITE_PIECE : len - off;
                struct iovec v = {(void *)(d + off), n};
                if ((rc = cio__http_out_flush(c, &v, 1)))
                    return fail(res, rc);
                off += n;
            }
        }
        res->sent = len;
    }
    if (++c->queued >= c->srv->opts.max_pipelined || c->olen > OUT_FLUSH) {
        rc = cio__http_out_flush(c, NULL, 0);
        if (rc)
            return fail(res, rc);
    }
    return 0;
}

int cio_http_response_send(cio_http_response *res, int status, const char *content_type,
                           const void *body, size_t len)
{
    if (!res || status < 100 || status > 999 || (!body && len) ||
        (content_type && !value_ok(content_type)))
        return -EINVAL;
    return send_checked(res, status, content_type, body, len);
}

int cio_http_response_text(cio_http_response *res, int status, const char *text)
{
    if (!res || !text || status < 100 || status > 999)
        return -EINVAL;
    return send_checked(res, status, "text/plain; charset=utf-8", text, strlen(text));
}

int cio_http_response_error(cio_http_response *res, int status, const char *detail)
{
    if (!res || status < 400 || status > 599)
        return -EINVAL;
    if (res->state != CIO__RES_NEW)
        return -EALREADY;
    const char *reason = cio_http_status_reason(status);
    size_t dl = detail ? strlen(detail) : 0;
    size_t cap = 8 + strlen(reason) + dl + 2;
    char small[256];
    char *buf = cap <= sizeof small ? small : cio__http_alloc(&res->c->req, cap);
    if (!buf)
        return -ENOMEM;
    int n = snprintf(buf, cap, "%d %s\n", status, reason);
    if (detail) {
        memcpy(buf + n, detail, dl);
        buf[n + (int)dl] = '\n';
        n += (int)dl + 1;
    }
    return send_checked(res, status, "text/plain; charset=utf-8", buf, (size_t)n);
}

int cio_http_response_redirect(cio_http_response *res, int status, const char *location)
{
    if (!res || !location || !*location)
        return -EINVAL;
    if (status != 301 && status != 302 && status != 303 && status != 307 && status != 308)
        return -EINVAL;
    for (const char *p = location; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return -EINVAL;
    if (res->state != CIO__RES_NEW)
        return -EALREADY;
    int rc = cio_http_response_set_header(res, "Location", location);
    if (rc)
        return rc;
    const char *reason = cio_http_status_reason(status);
    size_t cap = strlen(reason) + strlen(location) + 32;
    char *buf = cio__http_alloc(&res->c->req, cap);
    if (!buf)
        return -ENOMEM;
    int n = snprintf(buf, cap, "%d %s: %s\n", status, reason, location);
    return send_checked(res, status, "text/plain; charset=utf-8", buf, (size_t)n);
}

/* ---- Files ------------------------------------------------------------------------------ */

int cio__http_response_sendfile(cio_http_response *res, int fd, off_t offset, size_t len)
{
    if (!res || fd < 0 || offset < 0)
        return -EINVAL;
    if (res->state == CIO__RES_ENDED)
        return -EALREADY;
    int rc;
    if (res->state == CIO__RES_NEW && (rc = start(res, -1, NULL)))
        return rc;
    if (len == 0)
        return 0;
    if (res->filters) {
        size_t bl = len < 65536 ? len : 65536;
        char *buf = malloc(bl);
        if (!buf)
            return -ENOMEM;
        rc = 0;
        while (len) {
            size_t want = len < bl ? len : bl;
            ssize_t r = pread(fd, buf, want, offset);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                rc = r < 0 ? -errno : -EIO;
                break;
            }
            if ((rc = body_write(res, buf, (size_t)r)))
                break;
            offset += r;
            len -= (size_t)r;
        }
        free(buf);
        return rc;
    }
    if (res->err)
        return res->err;
    if (res->length >= 0 && res->written + len > (uint64_t)res->length)
        return -EMSGSIZE;
    res->written += len;
    if (res->no_body)
        return 0;
    struct cio__http_conn *c = res->c;
    if (res->chunked) {
        char hdr[24];
        int hl = snprintf(hdr, sizeof hdr, "%zx\r\n", len);
        if (cio__http_out_append(c, hdr, (size_t)hl))
            return fail(res, -ENOMEM);
    }
    if (c->olen && (rc = cio__http_out_flush(c, NULL, 0)))
        return fail(res, rc);
    while (len) {
        ssize_t r = cio_stream_sendfile(c->s, fd, offset, len);
        if (r < 0)
            return fail(res, (int)r);
        if (r == 0)
            return fail(res, -EIO); /* the file is shorter than promised */
        offset += r;
        len -= (size_t)r;
        res->sent += (uint64_t)r;
    }
    if (res->chunked && cio__http_out_append(c, "\r\n", 2))
        return fail(res, -ENOMEM);
    return 0;
}

/* ---- The connection's end of a request ---------------------------------------------------- */

int cio__http_error_raw(struct cio__http_conn *c, int status, const char *detail)
{
    cio_http_response *res = &c->res;
    res->close = true;
    return cio_http_response_error(res, status, detail);
}

int cio__http_response_finish(struct cio__http_conn *c, int rc)
{
    cio_http_response *res = &c->res;
    cio_http_request *req = &c->req;
    int err = req->body_err;
    if (c->broken) {
        filters_abort(res);
        return -1;
    }
    if (err && res->state == CIO__RES_NEW) {
        /* The body failed: the status says why, and the connection ends. */
        int st = err == -EMSGSIZE ? 413 : err == -ETIMEDOUT ? 408 : 400;
        filters_abort(res);
        res->nfields = 0;
        res->close = true;
        return cio_http_response_error(res, st, NULL) ? -1 : 0;
    }
    int r = 0;
    if (rc < 0) {
        if (res->state == CIO__RES_NEW) {
            /* Cancelled by a shutdown whose grace ran out: 503. */
            int st = rc == -ECANCELED && c->srv->shutting_down ? 503 : 500;
            filters_abort(res);
            res->nfields = 0;
            r = cio_http_response_error(res, st, NULL);
        } else if (res->state == CIO__RES_STARTED) {
            filters_abort(res);
            c->broken = true;
            return -1;
        }
    } else if (res->state == CIO__RES_NEW) {
        r = cio_http_response_send(res, res->status, NULL, NULL, 0);
    } else if (res->state == CIO__RES_STARTED) {
        r = cio_http_response_end(res);
    }
    if (r) {
        filters_abort(res);
        return -1;
    }
    return 0;
}
