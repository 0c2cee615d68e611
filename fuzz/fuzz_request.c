/* libFuzzer target for the HTTP server's request path: each input is the
 * byte stream one client sends on one connection. A cio HTTP server (small
 * limits, the request API exercised by its handler) listens on a Unix
 * socket in a temporary directory, on a loop this file keeps across
 * inputs; a client task connects, writes the input, half-closes, reads
 * everything the server answers until it closes, and closes. Whatever the
 * bytes, the server must neither crash nor trip a sanitizer nor leak; a
 * connection it does not end within 5 s after the client's EOF is reset.
 *
 * Built with -DCIO_FUZZ=ON (clang: -fsanitize=fuzzer,address); the seed
 * corpus is fuzz/corpus/request/, past crashers fuzz/crashers/. The same
 * entry point runs without libFuzzer in tests/http/test_fuzz_replay.c,
 * which replays both directories under `make test`:
 *
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCIO_FUZZ=ON \
 *         -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCIO_BUILD_TESTS=OFF
 *   cmake --build build-fuzz --target fuzz_request
 *   build-fuzz/fuzz/fuzz_request -jobs=1 -max_total_time=600 \
 *         fuzz/corpus/request   (new inputs go to the first directory) */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cio.h>
#include <cio/http.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cio_loop *fz_loop;
static cio_http_app *fz_app;
static cio_http_server *fz_srv;
static cio_addr fz_addr;
static char fz_dir[64];
static char fz_path[96];
/* Reports of the server's loop (the replay test fails on any). */
static unsigned long fz_reports;

static void fz_report(cio_loop *loop, const char *msg, void *arg)
{
    (void)loop, (void)arg;
    fz_reports++;
    fprintf(stderr, "fuzz_request: server report: %s\n", msg);
}

/* Touches what a handler may ask of a request, then answers with the
 * body it read (streamed in two pieces when it was chunked). */
static int fz_handler(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    size_t sum = 0;
    const char *s = cio_http_request_method(req);
    sum += s ? strlen(s) : 0;
    s = cio_http_request_path(req);
    sum += s ? strlen(s) : 0;
    s = cio_http_request_query_string(req);
    sum += s ? strlen(s) : 0;
    s = cio_http_request_header(req, "x-a");
    sum += s ? strlen(s) : 0;
    s = cio_http_request_query(req, "a");
    sum += s ? strlen(s) : 0;
    const char *vals[4];
    sum += cio_http_request_query_all(req, "a", vals, 4);
    s = cio_http_request_cookie(req, "c");
    sum += s ? strlen(s) : 0;
    const char *name, *value;
    for (size_t i = 0; cio_http_request_header_at(req, i, &name, &value) == 0; i++)
        sum += strlen(name) + strlen(value);
    const char *path = cio_http_request_path(req);
    int rc;
    if (path && strcmp(path, "/m") == 0) {
        /* Multipart, streamed part by part. */
        cio_http_part *part = NULL;
        char buf[512];
        while ((rc = cio_http_request_next_part(req, &part)) == 0 && part) {
            s = cio_http_part_name(part);
            sum += s ? strlen(s) : 0;
            s = cio_http_part_filename(part);
            sum += s ? strlen(s) : 0;
            s = cio_http_part_header(part, "content-type");
            sum += s ? strlen(s) : 0;
            ssize_t n;
            while ((n = cio_http_part_read(part, buf, sizeof buf)) > 0)
                sum += (size_t)n;
            if (n < 0) {
                rc = (int)n;
                break;
            }
        }
        if (rc < 0 && rc != -EBADMSG)
            return rc;
        return cio_http_response_text(res, rc == 0 ? 200 : 400, "multipart");
    }
    if (path && strcmp(path, "/f") == 0) {
        rc = cio_http_request_form(req, "a", &s);
        if (rc < 0 && rc != -EBADMSG)
            return rc;
        sum += rc == 0 && s ? strlen(s) : 0;
    } else if (path && strcmp(path, "/j") == 0) {
        const struct cJSON *j = NULL;
        rc = cio_http_request_json(req, &j);
        if (rc < 0 && rc != -EBADMSG)
            return rc;
    }
    const void *body = NULL;
    size_t len = 0;
    rc = cio_http_request_body(req, 0, &body, &len);
    if (rc < 0)
        return rc;
    char head[64];
    int n = snprintf(head, sizeof head, "%zu %zu\n", sum, len);
    if (cio_http_request_content_length(req) < 0) {
        if ((rc = cio_http_response_begin(res, -1)) < 0)
            return rc;
        if ((rc = cio_http_response_write(res, head, (size_t)n)) < 0)
            return rc;
        if ((rc = cio_http_response_write(res, body, len)) < 0)
            return rc;
        return cio_http_response_end(res);
    }
    return cio_http_response_send(res, 200, "text/plain", body, len);
}

static int fz_setup(void *arg, void **result)
{
    (void)arg, (void)result;
    cio_loop_set_report_handler(cio_current_loop(), fz_report, NULL);
    int rc = cio_http_app_new(&fz_app);
    if (rc == 0)
        rc = cio_http_app_route(fz_app, NULL, "/{rest*}", fz_handler, NULL);
    if (rc == 0)
        rc = cio_addr_unix(fz_path, &fz_addr);
    cio_http_server_options o = CIO_HTTP_SERVER_OPTIONS(
        .max_request_line = 2048, .max_header_size = 4096, .max_headers = 32,
        .max_body_size = 65536, .header_timeout = 5, .keepalive_timeout = 5,
        .body_min_rate = -1, .max_pipelined = 4);
    if (rc == 0)
        rc = cio_http_server_new(fz_app, &fz_addr, &o, &fz_srv);
    return rc;
}

struct fz_input {
    const uint8_t *data;
    size_t size;
    cio_stream *s;
};

static int fz_reader(void *arg, void **result)
{
    (void)result;
    struct fz_input *in = arg;
    char buf[16384];
    for (;;) {
        ssize_t n = cio_stream_read(in->s, buf, sizeof buf);
        if (n <= 0)
            return (int)n;
    }
}

static int fz_client(void *arg, void **result)
{
    (void)result;
    struct fz_input *in = arg;
    cio_scope scope;
    cio_timeout_begin(&scope, 5.0);
    int rc = cio_stream_connect(&fz_addr, NULL, NULL, &in->s);
    if (rc == 0) {
        cio_task *reader = NULL;
        rc = cio_spawn(fz_reader, in, &reader);
        if (rc == 0) {
            /* Written in a few pieces, so the parser sees split input. */
            size_t off = 0, step = in->size / 3 + 1;
            while (rc == 0 && off < in->size) {
                size_t n = in->size - off < step ? in->size - off : step;
                rc = cio_stream_write(in->s, in->data + off, n);
                if (rc == 0)
                    rc = cio_stream_flush(in->s);
                off += n;
            }
            cio_stream_shutdown(in->s);
            cio_await(reader, NULL);
            cio_future_unref(reader);
        }
        if (cio_scope_is_expired(&scope))
            cio_stream_abort(in->s);
        else
            cio_stream_close(in->s);
    }
    cio_scope_end(&scope);
    return 0;
}

static void fz_init(void)
{
    if (fz_loop)
        return;
    snprintf(fz_dir, sizeof fz_dir, "/tmp/cio-fuzz-XXXXXX");
    if (!mkdtemp(fz_dir))
        abort();
    snprintf(fz_path, sizeof fz_path, "%s/s", fz_dir);
    if (cio_loop_new(NULL, &fz_loop) != 0)
        abort();
    cio_task *t = NULL;
    if (cio_task_new(fz_loop, NULL, fz_setup, NULL, &t) != 0)
        abort();
    cio_loop_run_until_complete(fz_loop, t);
    void *r = NULL;
    int rc = cio_future_result(t, &r);
    cio_future_unref(t);
    if (rc != 0) {
        fprintf(stderr, "fuzz_request: the server did not start: %s\n", cio_err_name(rc));
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_init();
    struct fz_input in = {data, size, NULL};
    cio_task *t = NULL;
    if (cio_task_new(fz_loop, NULL, fz_client, &in, &t) != 0)
        abort();
    cio_loop_run_until_complete(fz_loop, t);
    cio_future_unref(t);
    /* Let the server's side of the connection finish (it saw the EOF;
     * its timers bound the wait in any case). */
    for (int i = 0; i < 10000 && cio_http_server_connections(fz_srv) > 0; i++)
        cio_loop_run_once(fz_loop, 0);
    return 0;
}

static int fz_teardown_task(void *arg, void **result)
{
    (void)arg, (void)result;
    int rc = cio_http_server_close(fz_srv, 1.0);
    fz_srv = NULL;
    cio_http_app_free(fz_app);
    fz_app = NULL;
    return rc;
}

/* Frees the server, the app and the loop (the replay test calls it; the
 * fuzzer never does). Returns the server close's result. */
__attribute__((unused)) static int fz_teardown(void)
{
    if (!fz_loop)
        return 0;
    cio_task *t = NULL;
    int rc = cio_task_new(fz_loop, NULL, fz_teardown_task, NULL, &t);
    if (rc == 0) {
        cio_loop_run_until_complete(fz_loop, t);
        void *r;
        rc = cio_future_result(t, &r);
        cio_future_unref(t);
    }
    cio_loop_close(fz_loop);
    cio_loop_free(fz_loop);
    fz_loop = NULL;
    unlink(fz_path);
    rmdir(fz_dir);
    return rc;
}
