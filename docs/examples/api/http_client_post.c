/* Sending bodies: a POST from memory, JSON both ways, a request with its
 * own method, fields and a streamed (chunked) body, and a streamed reply
 * read in pieces with its trailer. A cio server in the same program
 * answers over loopback. */
#define _POSIX_C_SOURCE 200809L
#include <cio.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/* Answers with the body's length, streamed in three chunks, and a trailer. */
static int count(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const void *body;
    size_t len;
    int rc = cio_http_request_body(req, 0, &body, &len);
    if (rc) return rc;
    char n[32];
    snprintf(n, sizeof n, "%zu", len);
    cio_http_response_trailer(res, "X-Count", n);
    const char *parts[] = {"got ", n, " bytes"};
    for (int i = 0; i < 3; i++)
        if ((rc = cio_http_response_write(res, parts[i], strlen(parts[i])))) return rc;
    return cio_http_response_end(res);
}

/* Answers {"double": 2 * n}. */
static int twice(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const cJSON *in;
    if (cio_http_request_json(req, &in)) return cio_http_response_error(res, 400, NULL);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "double", 2 * cJSON_GetObjectItem(in, "n")->valuedouble);
    int rc = cio_http_response_json(res, 200, out);
    cJSON_Delete(out);
    return rc;
}

/* A streamed request body: "abc" ten times, 3 bytes per call. */
static ssize_t ten_abc(void *arg, void *buf, size_t len)
{
    int *left = arg;
    if (*left == 0) return 0;
    if (len < 3) return -EINVAL;
    memcpy(buf, "abc", 3);
    --*left;
    return 3;
}

static int client(const char *base)
{
    cio_http_client *c;
    int rc = cio_http_client_new(&CIO_HTTP_CLIENT_OPTIONS(.no_env_proxy = true), &c);
    if (rc) return rc;
    char url[128];
    cio_http_reply *r;
    const void *body;
    size_t len;

    snprintf(url, sizeof url, "%s/count", base);
    if ((rc = cio_http_client_post(c, url, "text/plain", "hello", 5, &r))) goto out;
    if ((rc = cio_http_reply_body(r, 0, &body, &len)) == 0)
        printf("post: %s\n", (const char *)body);
    cio_http_reply_free(r);

    /* A PUT with a field and a body from a reader (length unknown: chunked). */
    int left = 10;
    cio_http_field fields[] = {{"X-Note", "streamed"}};
    if ((rc = cio_http_client_request_send(
             c,
             &CIO_HTTP_CLIENT_REQUEST(.method = "PUT", .url = url, .headers = fields, .nheaders = 1,
                                      .body_reader = ten_abc, .body_arg = &left),
             &r)))
        goto out;
    /* The reply read as it comes, in pieces of at most 4 bytes. */
    char piece[4], text[64];
    size_t tl = 0;
    ssize_t n;
    while ((n = cio_http_reply_read(r, piece, sizeof piece)) > 0 && tl + (size_t)n < sizeof text) {
        memcpy(text + tl, piece, (size_t)n);
        tl += (size_t)n;
    }
    text[tl] = 0;
    printf("put: %s, trailer X-Count: %s\n", text, cio_http_reply_trailer(r, "X-Count"));
    rc = n < 0 ? (int)n : 0;
    cio_http_reply_free(r);
    if (rc) goto out;

    snprintf(url, sizeof url, "%s/twice", base);
    cJSON *in = cJSON_CreateObject();
    cJSON_AddNumberToObject(in, "n", 21);
    rc = cio_http_client_post_json(c, url, in, &r);
    cJSON_Delete(in);
    if (rc) goto out;
    const cJSON *out;
    if ((rc = cio_http_reply_json(r, &out)) == 0)
        printf("json: %g\n", cJSON_GetObjectItem(out, "double")->valuedouble);
    cio_http_reply_free(r);
out:
    cio_http_client_free(c);
    return rc;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_http_app *app;
    if (cio_http_app_new(&app) || cio_http_app_route(app, NULL, "/count", count, NULL) ||
        cio_http_app_route(app, "POST", "/twice", twice, NULL))
        return -1;
    cio_addr addr;
    cio_addr_ip("127.0.0.1", 0, &addr);
    cio_http_server *srv;
    int rc = cio_http_server_new(app, &addr, NULL, &srv);
    if (rc == 0) {
        cio_http_server_addr(srv, &addr);
        char base[64];
        snprintf(base, sizeof base, "http://127.0.0.1:%u", cio_addr_port(&addr));
        rc = client(base);
        cio_http_server_close(srv, 1);
    }
    cio_http_app_free(app);
    return rc;
}

int main(void)
{
    int rc = cio_run(main_task, NULL, NULL);
    if (rc) fprintf(stderr, "http_client_post: %s\n", cio_strerror(rc));
    return rc == 0 ? 0 : 1;
}
