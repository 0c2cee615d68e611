/* The request's parsed views: query, cookies, urlencoded forms, JSON and
 * streaming multipart/form-data. Each is parsed on first use, from request
 * memory, and kept in the request's slot for the rest of the request; the
 * parsers themselves are in request_parse.c. */
#include <errno.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "internal.h"
#include "request_parse.h"

/* Parsed pairs; err is the answer when the input was malformed. */
struct kvset {
    int err;
    size_t n;
    struct cio__http_kv kv[];
};

static struct kvset *kvset_new(cio_http_request *req, size_t max)
{
    struct kvset *s = cio__http_alloc(req, sizeof *s + max * sizeof s->kv[0]);
    if (s)
        *s = (struct kvset){0};
    return s;
}

static const char *kvset_get(const struct kvset *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->kv[i].name, name) == 0)
            return s->kv[i].value;
    return NULL;
}

static size_t kvset_all(const struct kvset *s, const char *name, const char **values, size_t max)
{
    size_t c = 0;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->kv[i].name, name) == 0) {
            if (c < max)
                values[c] = s->kv[i].value;
            c++;
        }
    return c;
}

/* urlencoded s[0..n) into a new kvset; NULL when out of memory. */
static struct kvset *urlencoded(cio_http_request *req, const char *s, size_t n, int bad)
{
    size_t max = cio__http_urlencoded_max(s, n);
    struct kvset *set = kvset_new(req, max);
    char *copy = set ? cio__http_strndup(req, s, n) : NULL;
    if (!copy)
        return NULL;
    ssize_t c = cio__http_urlencoded_parse(copy, n, set->kv, max);
    if (c < 0)
        set->err = bad;
    else
        set->n = (size_t)c;
    return set;
}

/* ---- Query --------------------------------------------------------------- */

static const struct kvset *query_set(const cio_http_request *creq)
{
    /* The slots are the request's cache: parsing on a const request is
     * not a change anyone can see. */
    cio_http_request *req = (cio_http_request *)creq;
    void **slot = cio__http_slot(req, CIO__HTTP_SLOT_QUERY);
    if (!*slot) {
        const char *qs = cio_http_request_query_string(req);
        if (!qs)
            qs = "";
        *slot = urlencoded(req, qs, strlen(qs), -EINVAL);
    }
    const struct kvset *s = *slot;
    return s && !s->err ? s : NULL;
}

const char *cio_http_request_query(const cio_http_request *req, const char *name)
{
    if (!req || !name)
        return NULL;
    const struct kvset *s = query_set(req);
    return s ? kvset_get(s, name) : NULL;
}

size_t cio_http_request_query_all(const cio_http_request *req, const char *name,
                                  const char **values, size_t max)
{
    if (!req || !name || (!values && max))
        return 0;
    const struct kvset *s = query_set(req);
    return s ? kvset_all(s, name, values, max) : 0;
}

/* ---- Cookies ------------------------------------------------------------- */

static const struct kvset *cookie_set(cio_http_request *req)
{
    void **slot = cio__http_slot(req, CIO__HTTP_SLOT_COOKIES);
    if (*slot)
        return *slot;
    const char *few[8];
    const char **vals = few;
    size_t nh = cio_http_request_headers(req, "Cookie", few, 8);
    if (nh > 8) {
        vals = cio__http_alloc(req, nh * sizeof *vals);
        if (!vals)
            return NULL;
        nh = cio_http_request_headers(req, "Cookie", vals, nh);
    }
    size_t max = 0;
    for (size_t i = 0; i < nh; i++)
        max += cio__http_cookie_max(vals[i], strlen(vals[i]));
    struct kvset *s = kvset_new(req, max);
    if (!s)
        return NULL;
    /* Every Cookie field in order (RFC 6265 5.4 puts the most specific
     * cookies first; HTTP/2 splits one into several fields). */
    for (size_t i = 0; i < nh; i++) {
        size_t len = strlen(vals[i]);
        char *copy = cio__http_strndup(req, vals[i], len);
        if (!copy)
            return NULL;
        s->n += cio__http_cookie_parse(copy, len, s->kv + s->n, max - s->n);
    }
    *slot = s;
    return s;
}

const char *cio_http_request_cookie(const cio_http_request *req, const char *name)
{
    if (!req || !name)
        return NULL;
    const struct kvset *s = cookie_set((cio_http_request *)req);
    return s ? kvset_get(s, name) : NULL;
}

/* ---- Forms ----------------------------------------------------------------- */

/* The whole body, when the Content-Type is one is_type accepts (else
 * -EBADMSG): what forms and JSON read. */
static int typed_body(cio_http_request *req, bool (*is_type)(const char *), const void **data,
                      size_t *len)
{
    if (!is_type(cio_http_request_header(req, "Content-Type")))
        return -EBADMSG;
    return cio_http_request_body(req, 0, data, len);
}

int cio_http_request_form(cio_http_request *req, const char *name, const char **value)
{
    if (value)
        *value = NULL;
    if (!req || !name || !value)
        return -EINVAL;
    void **slot = cio__http_slot(req, CIO__HTTP_SLOT_FORM);
    if (!*slot) {
        const void *data;
        size_t len;
        int rc = typed_body(req, cio__http_is_form_type, &data, &len);
        if (rc < 0)
            return rc;
        if (!(*slot = urlencoded(req, data, len, -EBADMSG)))
            return -ENOMEM;
    }
    const struct kvset *s = *slot;
    if (s->err)
        return s->err;
    *value = kvset_get(s, name);
    return 0;
}

/* ---- JSON ------------------------------------------------------------------- */

static void json_free(void *tree) { cJSON_Delete(tree); }

int cio_http_request_json(cio_http_request *req, const struct cJSON **out)
{
    if (out)
        *out = NULL;
    if (!req || !out)
        return -EINVAL;
    void **slot = cio__http_slot(req, CIO__HTTP_SLOT_JSON);
    if (!*slot) {
        const void *data;
        size_t len;
        int rc = typed_body(req, cio__http_is_json_type, &data, &len);
        if (rc < 0)
            return rc;
        /* The body is NUL-terminated: handing cJSON the NUL too makes it
         * refuse anything after the value but whitespace (it checks that
         * the value ends at a NUL inside the length). A NUL inside the
         * body would end it early: refused. */
        if (memchr(data, 0, len))
            return -EBADMSG;
        cJSON *tree = cJSON_ParseWithLengthOpts(data, len + 1, NULL, 1);
        if (!tree)
            return -EBADMSG;
        if (cio__http_on_end(req, json_free, tree) < 0) {
            cJSON_Delete(tree);
            return -ENOMEM;
        }
        *slot = tree;
    }
    *out = *slot;
    return 0;
}

/* ---- Multipart -------------------------------------------------------------- */

static ssize_t mp_read_body(void *req, void *buf, size_t len)
{
    return cio_http_request_read(req, buf, len);
}

int cio_http_request_next_part(cio_http_request *req, cio_http_part **part)
{
    if (part)
        *part = NULL;
    if (!req || !part)
        return -EINVAL;
    void **slot = cio__http_slot(req, CIO__HTTP_SLOT_MULTIPART);
    if (!*slot) {
        char boundary[71];
        size_t blen;
        if (cio__http_multipart_boundary(cio_http_request_header(req, "Content-Type"), boundary,
                                         &blen) < 0)
            return -EBADMSG;
        const cio_http_server_options *o = cio__http_options(req);
        size_t max_header = o->max_header_size, max_headers = o->max_headers;
        struct cio_http_part *mp = cio__http_alloc(req, sizeof *mp);
        void *mem = mp ? cio__http_alloc(req, cio__http_mp_size(max_header, max_headers)) : NULL;
        if (!mem)
            return -ENOMEM;
        cio__http_mp_init(mp, mem, boundary, blen, max_header, max_headers, mp_read_body, req);
        *slot = mp;
    }
    struct cio_http_part *mp = *slot;
    int rc = cio__http_mp_next(mp);
    if (rc < 0)
        return rc;
    if (rc == 1)
        *part = mp;
    return 0;
}
