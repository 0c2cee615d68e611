/* Set-Cookie (RFC 6265 4.1): the field is formatted and checked by
 * cio__http_set_cookie_format (request_parse.c), in request memory. */
#include <errno.h>

#include "../common/opts.h"
#include "internal.h"
#include "request_parse.h"

int cio_http_response_set_cookie(cio_http_response *res, const char *name, const char *value,
                                 const cio_http_cookie_options *opts)
{
    if (!res || !name || !value)
        return -EINVAL;
    cio_http_cookie_options o = CIO_HTTP_COOKIE_OPTIONS_INIT;
    int rc = cio__opts_copy(&o, sizeof o, opts);
    if (rc < 0)
        return rc;
    ssize_t n = cio__http_set_cookie_format(NULL, 0, name, value, &o);
    if (n < 0)
        return (int)n;
    if (cio_http_response_is_started(res))
        return -EALREADY;
    char *field = cio__http_alloc(cio__http_request_of(res), (size_t)n + 1);
    if (!field)
        return -ENOMEM;
    cio__http_set_cookie_format(field, (size_t)n + 1, name, value, &o);
    return cio_http_response_header(res, "Set-Cookie", field);
}
