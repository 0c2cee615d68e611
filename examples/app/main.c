/* cio-demo: the demo app behind `make run` (docs/demo.md).
 *
 *     cio-demo [--port N] [--bind ADDR] [--static DIR] [--uploads DIR] [--quiet]
 *
 * Serves, on one event loop, an HTML page and what it uses:
 *   /               the page (static/index.html)
 *   /static/...     its script and style sheet (cio_http_app_static)
 *   /hello          a text answer
 *   /json           a JSON answer (cio_http_response_json)
 *   /time           the time, computed by a chain of callbacks (see below)
 *   /events         server-sent events: a tick every second (a streamed response)
 *   /upload         POST, multipart/form-data: files streamed to disk (upload.c)
 *   /uploads        the files uploaded so far, as JSON; /uploads/ID one of them
 *   /chat           a WebSocket chat room (chat.c)
 * It prints "cio demo app: URL" once listening, then an access log line per
 * request (--quiet: none). SIGINT (Ctrl-C) or SIGTERM: a graceful shutdown.
 * Exit status 0 after a shutdown, 1 when serving fails, 2 for bad
 * arguments.
 *
 * Two styles side by side. Most handlers here are task-style: a handler
 * runs in its connection's task and reads like blocking code (cio_sleep,
 * cio_http_part_read, cio_ws_recv suspend the task, never the loop). /time
 * is callback-style, as code written for a plain event loop is: a timer
 * callback (cio_call_later) starts work on the thread pool
 * (cio_to_thread_future), whose done-callback completes a future; the
 * handler only awaits that future. Futures are where the two styles meet:
 * callbacks complete them, tasks await them. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cio.h>

#define DEFAULT_PORT 8080

#ifndef CIO_DEMO_STATIC_DIR
#define CIO_DEMO_STATIC_DIR "examples/app/static"
#endif

#include "app.h"

static const char usage[] =
    "usage: cio-demo [--port N] [--bind ADDR] [--static DIR] [--uploads DIR] [--quiet]\n"
    "\n"
    "The cio demo app: an HTML page, /hello, /json, /time, /events (server-sent\n"
    "events), file uploads and a WebSocket chat, on one event loop.\n"
    "\n"
    "  --port N       port to listen on (default 8080, or $PORT; 0: any free port)\n"
    "  --bind ADDR    address to listen on (default 127.0.0.1)\n"
    "  --static DIR   the page's files (default: the source tree's examples/app/static)\n"
    "  --uploads DIR  where uploads are stored (default: a new temporary directory,\n"
    "                 removed at exit)\n"
    "  --quiet        no access log\n"
    "  -h, --help     this text\n";

struct config {
    const char *bind;
    long port;
    const char *static_dir;
    const char *upload_dir;
    bool quiet;
};

static int bad(const char *fmt, const char *what)
{
    fprintf(stderr, "cio-demo: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\nTry 'cio-demo --help'.\n");
    return 2;
}

static bool parse_port(const char *s, long *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0 || v > 65535) return false;
    *out = v;
    return true;
}

/* Returns 0, the exit status for a bad command line, or -1 for --help. */
static int parse_args(int argc, char **argv, struct config *c)
{
    *c = (struct config){
        .bind = "127.0.0.1", .port = DEFAULT_PORT, .static_dir = CIO_DEMO_STATIC_DIR};
    const char *env = getenv("PORT");
    if (env && *env && !parse_port(env, &c->port))
        return bad("$PORT: '%s' is not a port number (0..65535)", env);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **target = NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return -1;
        } else if (strcmp(a, "--quiet") == 0) {
            c->quiet = true;
            continue;
        } else if (strcmp(a, "--port") == 0) {
            if (i + 1 >= argc) return bad("option '%s' needs a value", a);
            if (!parse_port(argv[++i], &c->port))
                return bad("--port: '%s' is not a port number (0..65535)", argv[i]);
            continue;
        } else if (strcmp(a, "--bind") == 0) {
            target = &c->bind;
        } else if (strcmp(a, "--static") == 0) {
            target = &c->static_dir;
        } else if (strcmp(a, "--uploads") == 0) {
            target = &c->upload_dir;
        } else {
            return bad("unknown argument '%s'", a);
        }
        if (i + 1 >= argc) return bad("option '%s' needs a value", a);
        *target = argv[++i];
    }
    return 0;
}

/* ---- Task style: plain handlers ------------------------------------------- */

/* /time requests waiting for their callback chain, and /events streams
 * open, now (shown by /json). */
static unsigned time_waiting, event_streams;

static int page(cio_http_request *req, cio_http_response *res, void *arg)
{
    struct demo *d = arg;
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/index.html", d->static_dir) >= (int)sizeof path)
        return cio_http_response_error(res, 500, "static directory path too long");
    int rc = cio_http_response_file(req, res, path);
    if (rc < 0 && !cio_http_response_is_started(res))
        return cio_http_response_error(res, 500, cio_strerror(rc));
    return rc;
}

static int hello(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    (void)arg;
    return cio_http_response_text(res, 200, "Hello from cio!\n");
}

/* The wall clock as ISO 8601 with milliseconds, UTC. */
static void iso_now(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static int json(cio_http_request *req, cio_http_response *res, void *arg)
{
    struct demo *d = arg;
    char now[40];
    iso_now(now, sizeof now);
    cio_addr peer;
    char peer_text[64] = "?";
    if (cio_http_request_client(req, &peer) == 0)
        cio_addr_format(&peer, peer_text, sizeof peer_text);
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "message", "Hello, JSON!") ||
        !cJSON_AddStringToObject(o, "library", "cio") ||
        !cJSON_AddStringToObject(o, "version", cio_version_string()) ||
        !cJSON_AddStringToObject(o, "backend", cio_loop_backend(cio_current_loop())) ||
        !cJSON_AddStringToObject(o, "time", now) || !cJSON_AddStringToObject(o, "you", peer_text) ||
        !cJSON_AddNumberToObject(o, "chat_members", (double)demo_room_members(d)) ||
        !cJSON_AddNumberToObject(o, "chat_connections", (double)demo_room_connections(d)) ||
        !cJSON_AddNumberToObject(o, "time_waiting", time_waiting) ||
        !cJSON_AddNumberToObject(o, "event_streams", event_streams)) {
        cJSON_Delete(o);
        return -ENOMEM;
    }
    int rc = cio_http_response_json(res, 200, o);
    cJSON_Delete(o);
    return rc;
}

/* Server-sent events: a streamed text/event-stream response, one "tick"
 * event a second, until the client leaves (the next write fails) or, with
 * ?count=N, after N ticks. The task sleeps between ticks; the loop serves
 * everyone else meanwhile. */
static int events(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    long count = 0; /* 0: no end */
    const char *q = cio_http_request_query(req, "count");
    if (q) {
        char *end;
        count = strtol(q, &end, 10);
        if (*end || count < 1 || count > 1000000)
            return cio_http_response_error(res, 400, "count: 1..1000000");
    }
    cio_http_response_set_header(res, "Content-Type", "text/event-stream");
    cio_http_response_set_header(res, "Cache-Control", "no-store");
    int rc = cio_http_response_begin(res, -1);
    /* HEAD: the head is the whole answer (a body would be dropped, so no
     * write would ever fail to tell that the client left). */
    if (rc < 0 || strcmp(cio_http_request_method(req), "HEAD") == 0) return rc;
    /* retry: how long the browser waits before reconnecting (ms). */
    rc = cio_http_response_write(res, "retry: 2000\n\n", 13);
    event_streams++;
    for (long n = 1; rc == 0; n++) {
        char now[40], ev[160];
        iso_now(now, sizeof now);
        int len =
            snprintf(ev, sizeof ev, "event: tick\nid: %ld\ndata: {\"n\":%ld,\"time\":\"%s\"}\n\n",
                     n, n, now);
        rc = cio_http_response_write(res, ev, (size_t)len);
        if (rc < 0 || n == count) break;
        rc = cio_sleep(1.0);
    }
    event_streams--;
    /* A client that went away is the normal end of a stream, not an error
     * worth a report; a cancellation (the server shutting down) is passed
     * on, as a cancelled task must. */
    if (rc == -EPIPE || rc == -ECONNRESET) return 0;
    return rc;
}

/* ---- Callback style: /time ------------------------------------------------
 * The same loop also runs plain callbacks, asyncio's loop.call_later and
 * run_in_executor: no task, no stack of its own, each step a function the
 * loop calls when the previous one finished. A task meets that code through
 * a future: the handler creates one, hands it to the callbacks and awaits
 * it; the last callback completes it. */

struct time_job {
    cio_loop *loop;
    cio_future *fut; /* completed by the chain; this reference is the chain's */
    cio_handle timer;
    bool timer_pending;
};

static void time_job_end(struct time_job *job)
{
    cio_future_unref(job->fut);
    free(job);
}

static void json_free(void *p)
{
    cJSON_Delete(p);
}

/* Step 2, on a pool thread: anything that may block (here: formatting the
 * time, which reads the time zone files on some systems). */
static int time_work(void *arg, void **result)
{
    (void)arg;
    char *s = malloc(40);
    if (!s) return -ENOMEM;
    iso_now(s, 40);
    *result = s;
    return 0;
}

/* Step 3, on the loop's thread: the pool's result becomes the handler's. */
static void time_computed(cio_future *work, void *arg)
{
    struct time_job *job = arg;
    char *iso = NULL;
    int rc = cio_future_take_result(work, (void **)&iso);
    if (!cio_future_is_done(job->fut)) { /* else: the handler gave up */
        cJSON *o = rc == 0 ? cJSON_CreateObject() : NULL;
        if (o && cJSON_AddStringToObject(o, "time", iso) &&
            cJSON_AddStringToObject(o, "style", "callbacks: call_later, then the thread pool") &&
            cio_future_set_result(job->fut, o, json_free) == 0)
            o = NULL;
        else
            cio_future_set_error(job->fut, rc < 0 ? rc : -ENOMEM);
        cJSON_Delete(o);
    }
    free(iso);
    time_job_end(job);
}

/* Step 1, a timer callback: hands the work to the pool. */
static void time_start(void *arg)
{
    struct time_job *job = arg;
    job->timer_pending = false;
    cio_future *work;
    int rc = cio_to_thread_future(job->loop, &CIO_WORK_OPTIONS(.result_free = free), time_work,
                                  NULL, &work);
    if (rc == 0) {
        rc = cio_future_add_done_callback(work, time_computed, job);
        if (rc < 0) cio_future_cancel(work);
        cio_future_unref(work); /* the done-callback holds its own reference */
        if (rc == 0) return;
    }
    cio_future_set_error(job->fut, rc);
    time_job_end(job);
}

/* The task-style handler that waits for the callbacks: ?delay=SECONDS
 * (0..5) before step 1. */
static int time_handler(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    double delay = 0;
    const char *q = cio_http_request_query(req, "delay");
    if (q) {
        char *end;
        delay = strtod(q, &end);
        if (*end || !(delay >= 0 && delay <= 5))
            return cio_http_response_error(res, 400, "delay: 0..5 seconds");
    }
    cio_loop *loop = cio_current_loop();
    cio_future *fut;
    int rc = cio_future_new(loop, &fut);
    if (rc < 0) return rc;
    struct time_job *job = malloc(sizeof *job);
    if (!job) {
        cio_future_unref(fut);
        return -ENOMEM;
    }
    *job = (struct time_job){.loop = loop, .fut = cio_future_ref(fut), .timer_pending = true};
    rc = cio_call_later(loop, delay, time_start, job, &job->timer);
    if (rc < 0) {
        time_job_end(job);
        cio_future_unref(fut);
        return rc;
    }
    void *value;
    time_waiting++;
    rc = cio_await(fut, &value);
    time_waiting--;
    if (rc == 0) {
        rc = cio_http_response_json(res, 200, value);
    } else if (!cio_future_is_done(fut)) {
        /* This task was cancelled (the client left, the server stops)
         * while the chain runs: stop the timer if it has not fired (the
         * job is then ours to free), else tell the chain nobody waits. */
        if (job->timer_pending) {
            cio_timer_cancel(loop, job->timer);
            time_job_end(job);
        } else {
            cio_future_cancel(fut);
        }
    }
    cio_future_unref(fut);
    return rc;
}

/* ---- Serving --------------------------------------------------------------- */

static void on_signal(void *arg)
{
    cio_event_set(arg);
}

/* The URL a browser on this machine uses: an unspecified bind address is
 * reached on the loopback, IPv6 literals go in brackets. */
static void print_url(const cio_addr *bound)
{
    char host[80];
    if (cio_addr_format(bound, host, sizeof host) != 0) snprintf(host, sizeof host, "?");
    char *colon = strrchr(host, ':'); /* "host:port", "[v6]:port": cut the port */
    if (colon) *colon = '\0';
    if (strcmp(host, "0.0.0.0") == 0) snprintf(host, sizeof host, "127.0.0.1");
    if (strcmp(host, "[::]") == 0) snprintf(host, sizeof host, "[::1]");
    printf("cio demo app: http://%s:%u/\n", host, (unsigned)cio_addr_port(bound));
    printf("(Ctrl-C to stop)\n");
    fflush(stdout);
}

static int add_routes(cio_http_app *app, struct demo *d)
{
    int rc;
    if ((rc = cio_http_app_route(app, "GET", "/", page, d)) < 0 ||
        (rc = cio_http_app_route(app, "GET", "/hello", hello, d)) < 0 ||
        (rc = cio_http_app_route(app, "GET", "/json", json, d)) < 0 ||
        (rc = cio_http_app_route(app, "GET", "/events", events, d)) < 0 ||
        (rc = cio_http_app_route(app, "GET", "/time", time_handler, d)) < 0 ||
        (rc = cio_http_app_static(app, "/static", d->static_dir, NULL)) < 0 ||
        (rc = demo_uploads_routes(app, d)) < 0 || (rc = demo_chat_routes(app, d)) < 0)
        return rc;
    return 0;
}

static int serve(void *arg, void **result)
{
    (void)result;
    const struct config *c = arg;
    struct demo d = {.static_dir = c->static_dir};
    cio_http_app *app = NULL;
    cio_http_server *srv = NULL;
    cio_event *stop = NULL;
    cio_loop *loop = cio_current_loop();
    cio_addr addr, bound;
    int rc;

    if (cio_addr_ip(c->bind, (uint16_t)c->port, &addr) != 0) {
        fprintf(stderr, "cio-demo: --bind: '%s' is not an IPv4 or IPv6 address\n", c->bind);
        return -EINVAL;
    }
    if (c->upload_dir) {
        if (snprintf(d.upload_dir, sizeof d.upload_dir, "%s", c->upload_dir) >=
                (int)sizeof d.upload_dir ||
            (mkdir(d.upload_dir, 0700) != 0 && errno != EEXIST)) {
            fprintf(stderr, "cio-demo: --uploads %s: cannot make it\n", c->upload_dir);
            return -EINVAL;
        }
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(d.upload_dir, sizeof d.upload_dir, "%s/cio-demo-uploads.XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(d.upload_dir)) {
            rc = -errno;
            fprintf(stderr, "cio-demo: cannot make an upload directory: %s\n", cio_strerror(rc));
            return rc;
        }
        d.own_upload_dir = true;
    }
    if ((rc = demo_uploads_new(&d)) < 0 || (rc = demo_room_new(&d)) < 0 ||
        (rc = cio_http_app_new(&app)) < 0 || (rc = cio_event_new(&stop)) < 0) {
        fprintf(stderr, "cio-demo: %s\n", cio_strerror(rc));
        goto out;
    }
    if ((rc = add_routes(app, &d)) < 0) {
        fprintf(stderr, "cio-demo: setting up the routes (static files in %s): %s\n", d.static_dir,
                cio_strerror(rc));
        goto out;
    }
    rc = cio_http_server_new(app, &addr,
                             &CIO_HTTP_SERVER_OPTIONS(.max_body_size = DEMO_MAX_UPLOAD,
                                                      .access_log_fd = c->quiet ? 0 : 1),
                             &srv);
    if (rc < 0) {
        fprintf(stderr, "cio-demo: cannot listen on %s port %ld: %s%s\n", c->bind, c->port,
                cio_strerror(rc),
                rc == -EADDRINUSE ? " (another port: --port N, or PORT=N make run)" : "");
        goto out;
    }
    cio_http_server_addr(srv, &bound);
    if ((rc = cio_loop_add_signal_handler(loop, SIGINT, on_signal, stop)) < 0 ||
        (rc = cio_loop_add_signal_handler(loop, SIGTERM, on_signal, stop)) < 0) {
        fprintf(stderr, "cio-demo: signal handlers: %s\n", cio_strerror(rc));
        goto out;
    }
    print_url(&bound);
    rc = cio_event_wait(stop);
    if (rc == 0) {
        printf("cio-demo: shutting down\n");
        fflush(stdout);
    }

out:
    cio_loop_remove_signal_handler(loop, SIGINT);
    cio_loop_remove_signal_handler(loop, SIGTERM);
    if (srv) {
        /* In-flight requests get a second; the endless ones (event
         * streams, chat connections) are cancelled then. The shield lets
         * the shutdown run to its end if this task was cancelled. */
        cio_scope shield;
        cio_shield_begin(&shield);
        int crc = cio_http_server_close(srv, 1.0);
        cio_scope_end(&shield);
        if (crc < 0 && crc != -ECANCELED && crc != -ETIMEDOUT)
            fprintf(stderr, "cio-demo: shutdown: %s\n", cio_strerror(crc));
    }
    cio_http_app_free(app);
    cio_event_free(stop);
    demo_room_free(&d);
    demo_uploads_free(&d);
    return rc;
}

int main(int argc, char **argv)
{
    struct config cfg;
    int rc = parse_args(argc, argv, &cfg);
    if (rc == -1) return 0;
    if (rc) return rc;
    signal(SIGPIPE, SIG_IGN);
    rc = cio_run(serve, &cfg, NULL);
    return rc < 0 ? 1 : 0;
}
