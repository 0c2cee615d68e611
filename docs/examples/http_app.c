/* http_app.c: a small web application. Routes with a parameter, a JSON
 * answer, a handler that awaits, a middleware of our own around them all,
 * served from a task; a client in the same program asks for a few pages
 * and prints the answers. A real server calls cio_http_run(app, &addr,
 * NULL, 0) from main instead: every core, until SIGINT or SIGTERM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cio.h>

/* GET /: plain text. */
static int index_page(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    return cio_http_response_text(res, 200, "Hello from cio\n");
}

/* GET /users/{id}: the parameter, and a query parameter, as JSON. */
static int user(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const char *fields = cio_http_request_query(req, "fields");
    cJSON *json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "id", cio_http_request_param(req, "id"));
    cJSON_AddStringToObject(json, "fields", fields ? fields : "all");
    int err = cio_http_response_json(res, 200, json);
    cJSON_Delete(json);
    return err;
}

/* POST /slow: a handler runs in a task, so it may await anything. */
static int slow(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const void *body;
    size_t len;
    int err = cio_http_request_body(req, 0, &body, &len);
    if (err)
        return err;
    cio_sleep(0.01);
    char text[64];
    snprintf(text, sizeof text, "got %zu bytes, slowly\n", len);
    return cio_http_response_text(res, 200, text);
}

/* A middleware around every request: numbers it in a response header
 * before the rest of the chain runs (once a handler has sent its answer,
 * headers can no longer change), and counts the errors after. */
static int numbering(cio_http_request *req, cio_http_response *res, void *arg)
{
    unsigned *count = arg;
    char n[16];
    snprintf(n, sizeof n, "%u", ++count[0]);
    cio_http_response_header(res, "X-Request-Number", n);
    int err = cio_http_next(req, res);
    if (cio_http_response_get_status(res) >= 400)
        count[1]++;
    return err;
}

/* One request over a plain stream, the way any HTTP/1.1 client sends it;
 * prints the status line and the body. */
static int fetch(const cio_addr *addr, const char *request)
{
    cio_stream *s;
    int err = cio_stream_connect(addr, NULL, NULL, &s);
    if (err)
        return err;
    err = cio_stream_write(s, request, strlen(request));
    void *data = NULL;
    size_t len = 0;
    if (!err)
        err = cio_stream_read_all(s, 64 * 1024, &data, &len);
    if (!err) {
        /* The status line, the headers we care about, and the body. */
        const char *text = data, *end = text + len;
        const char *body = strstr(text, "\r\n\r\n");
        const char *eol = strstr(text, "\r\n");
        printf("%.*s\n", (int)(eol - text), text);
        for (const char *line = eol + 2; body && line < body; line = strstr(line, "\r\n") + 2)
            if (strncmp(line, "X-Request-Number:", 17) == 0 || strncmp(line, "Allow:", 6) == 0)
                printf("  %.*s\n", (int)(strstr(line, "\r\n") - line), line);
        if (body && end > body + 4)
            printf("  %.*s%s", (int)(end - (body + 4)), body + 4, end[-1] == '\n' ? "" : "\n");
    }
    free(data);
    cio_stream_close(s);
    return err;
}

static int main_task(void *arg, void **result)
{
    (void)result;
    cio_http_app *app = arg;
    cio_addr addr;
    cio_addr_parse("127.0.0.1:0", &addr);
    cio_http_server *srv;
    int err = cio_http_server_new(app, &addr, NULL, &srv);
    if (err)
        return err;
    cio_http_server_addr(srv, &addr); /* the port the system chose */

    const char *requests[] = {
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /users/42?fields=name HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        "DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof requests / sizeof *requests && !err; i++)
        err = fetch(&addr, requests[i]);

    /* Graceful: stop accepting, let requests in flight finish (1 s). */
    int cerr = cio_http_server_close(srv, 1.0);
    return err ? err : cerr;
}

int main(void)
{
    cio_http_app *app;
    if (cio_http_app_new(&app))
        return 1;
    unsigned count[2] = {0, 0};
    cio_http_app_use(app, numbering, count);
    cio_http_app_route(app, "GET", "/", index_page, NULL);
    cio_http_app_route(app, "GET", "/users/{id}", user, NULL);
    cio_http_app_route(app, "POST", "/slow", slow, NULL);
    int err = cio_run(main_task, app, NULL);
    printf("%u requests, %u answered with an error\n", count[0], count[1]);
    cio_http_app_free(app);
    return err ? 1 : 0;
}
