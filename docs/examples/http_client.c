/* http_client.c: the HTTP client. Three pages fetched at once by three
 * tasks (three pooled connections), one more that reuses a connection, a
 * 404 (an answer, not an error), a JSON POST, and a request that runs out
 * of its time budget. The server is a cio application in the same
 * program, on a loopback port the system picks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cio.h>

/* ---- The server ---- */

/* GET /items/{id}: {"id":N,"name":"item N"} */
static int item(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    int id = atoi(cio_http_request_param(req, "id"));
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "id", id);
    char name[32];
    snprintf(name, sizeof name, "item %d", id);
    cJSON_AddStringToObject(j, "name", name);
    int rc = cio_http_response_json(res, 200, j);
    cJSON_Delete(j);
    return rc;
}

/* POST /orders: echoes the order with a number. */
static int order(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    const cJSON *in;
    if (cio_http_request_json(req, &in)) return cio_http_response_error(res, 400, "JSON, please");
    cJSON *out = cJSON_Duplicate(in, 1);
    cJSON_AddNumberToObject(out, "order", 1001);
    int rc = cio_http_response_json(res, 201, out);
    cJSON_Delete(out);
    return rc;
}

/* GET /stuck: never answers (until the server is closed). */
static int stuck(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)res;
    (void)arg;
    return cio_sleep(3600);
}

/* ---- The client ---- */

struct fetch {
    cio_http_client *client;
    char url[96];
    char text[128]; /* the answer, printed by main in order */
};

/* One task per page: each waits for its own answer. */
static int fetch_task(void *arg, void **result)
{
    (void)result;
    struct fetch *f = arg;
    cio_http_reply *r;
    int rc = cio_http_client_get(f->client, f->url, &r);
    if (rc) return rc;
    const void *body;
    size_t len;
    rc = cio_http_reply_body(r, 0, &body, &len);
    if (rc == 0)
        snprintf(f->text, sizeof f->text, "%d %s", cio_http_reply_status(r), (const char *)body);
    cio_http_reply_free(r); /* its body was read: the connection goes back to the pool */
    return rc;
}

static int client_main(cio_http_client *c, const char *base)
{
    /* Three at once: the pool opens three connections. */
    struct fetch f[3];
    cio_task_group *g;
    cio_task_group_begin(&g);
    for (int i = 0; i < 3; i++) {
        f[i].client = c;
        snprintf(f[i].url, sizeof f[i].url, "%s/items/%d", base, i + 1);
        cio_task_group_spawn(g, NULL, fetch_task, &f[i], NULL);
    }
    int rc = cio_task_group_end(g);
    if (rc) return rc;
    for (int i = 0; i < 3; i++)
        printf("items/%d: %s\n", i + 1, f[i].text);
    printf("%zu connections open, %zu idle\n", cio_http_client_connections(c),
           cio_http_client_idle(c));

    /* One more: an idle connection is reused. */
    struct fetch one = {.client = c};
    snprintf(one.url, sizeof one.url, "%s/items/4", base);
    if ((rc = fetch_task(&one, NULL))) return rc;
    printf("items/4: %s\n", one.text);
    printf("%zu connections open, %zu idle\n", cio_http_client_connections(c),
           cio_http_client_idle(c));

    /* A 404 is an answer like any other. */
    char url[96];
    snprintf(url, sizeof url, "%s/nothing", base);
    cio_http_reply *r;
    if ((rc = cio_http_client_get(c, url, &r))) return rc;
    printf("nothing: %d %s\n", cio_http_reply_status(r), cio_http_reply_reason(r));
    cio_http_reply_free(r);

    /* JSON out and back. */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "item", "item 2");
    cJSON_AddNumberToObject(o, "count", 3);
    snprintf(url, sizeof url, "%s/orders", base);
    rc = cio_http_client_post_json(c, url, o, &r);
    cJSON_Delete(o);
    if (rc) return rc;
    const cJSON *answer;
    if ((rc = cio_http_reply_json(r, &answer)) == 0)
        printf("orders: %d, order %d for %d x %s\n", cio_http_reply_status(r),
               cJSON_GetObjectItem(answer, "order")->valueint,
               cJSON_GetObjectItem(answer, "count")->valueint,
               cJSON_GetObjectItem(answer, "item")->valuestring);
    cio_http_reply_free(r);
    if (rc) return rc;

    /* Every request has one budget for everything; this one spends it. */
    snprintf(url, sizeof url, "%s/stuck", base);
    rc = cio_http_client_request_send(c, &CIO_HTTP_CLIENT_REQUEST(.url = url, .timeout = 0.2), &r);
    printf("stuck: %s\n", rc == -ETIMEDOUT ? "timed out" : "answered?");
    if (rc == 0) cio_http_reply_free(r);
    return rc == -ETIMEDOUT ? 0 : -1;
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_http_app *app;
    cio_http_app_new(&app);
    cio_http_app_route(app, "GET", "/items/{id}", item, NULL);
    cio_http_app_route(app, "POST", "/orders", order, NULL);
    cio_http_app_route(app, "GET", "/stuck", stuck, NULL);
    cio_addr addr;
    cio_addr_ip("127.0.0.1", 0, &addr);
    cio_http_server *srv;
    int rc = cio_http_server_new(app, &addr, NULL, &srv);
    if (rc) return rc;
    cio_http_server_addr(srv, &addr);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%u", cio_addr_port(&addr));

    /* One client per loop; no_env_proxy: never through an http_proxy of
     * the environment (this server is on loopback). */
    cio_http_client *c;
    rc = cio_http_client_new(&CIO_HTTP_CLIENT_OPTIONS(.no_env_proxy = true), &c);
    if (rc == 0) {
        rc = client_main(c, base);
        cio_http_client_free(c);
    }
    cio_http_server_close(srv, 0); /* cancels the stuck handler */
    cio_http_app_free(app);
    return rc;
}

int main(void)
{
    int rc = cio_run(main_task, NULL, NULL);
    if (rc) fprintf(stderr, "http_client: %s\n", cio_strerror(rc));
    return rc ? 1 : 0;
}
