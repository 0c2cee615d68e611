/* JSON responses through cJSON (Debian's libcjson-dev). */
#include <errno.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "internal.h"

int cio_http_response_json(cio_http_response *res, int status, const struct cJSON *json)
{
    if (!res || !json)
        return -EINVAL;
    if (cio_http_response_is_started(res))
        return -EALREADY;
    /* cJSON allocates the text itself (malloc through its hooks); it is
     * freed as soon as the response holds its copy. */
    char *text = cJSON_PrintUnformatted(json);
    if (!text)
        return -ENOMEM;
    int rc = cio_http_response_send(res, status, "application/json", text, strlen(text));
    cJSON_free(text);
    return rc;
}
