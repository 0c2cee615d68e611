/* http_client_pool, cio: the cio side of client_pool.
 *
 * usage: cio_http_client_pool URL [total=100000] [conns=100] [phases=seq,par] [body=13]
 *
 * One cio_http_client (max_connections CONNS, no proxy from the
 * environment, no Accept-Encoding: nginx sends the body plain anyway) for
 * the whole run, each request cio_http_client_get + cio_http_reply_body
 * (which gives the connection back to the pool) + cio_http_reply_free:
 *
 *   seq: one task makes TOTAL GETs one after another (one keep-alive
 *        connection);
 *   par: CONNS tasks (cio_spawn), each making TOTAL/CONNS GETs one after
 *        another, at once (CONNS keep-alive connections).
 *
 * Every answer must be 200 with a body of BODY bytes. Prints for each phase
 * P: requests_per_s_P and client_cpu_ns_per_op_P (this process's user +
 * system CPU time, getrusage, per request), as the libcurl and aiohttp
 * peers do. */
#include <cio.h>
#include <cio/http_client.h>

#include "../common.h"

static const char *url;
static long total = 100000, conns = 100;
static size_t expect_body = 13;
static cio_http_client *client;

static void one_request(void)
{
    cio_http_reply *r;
    int rc = cio_http_client_get(client, url, &r);
    if (rc != 0) {
        fprintf(stderr, "cio_http_client_pool: get: %s\n", strerror(-rc));
        exit(1);
    }
    const void *data;
    size_t len;
    rc = cio_http_reply_body(r, 0, &data, &len);
    if (rc != 0 || cio_http_reply_status(r) != 200 || len != expect_body) {
        fprintf(stderr, "cio_http_client_pool: status %d, body %zu bytes (%s)\n",
                cio_http_reply_status(r), len, rc ? strerror(-rc) : "read");
        exit(1);
    }
    cio_http_reply_free(r);
}

static int worker(void *arg, void **result)
{
    (void)result;
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++)
        one_request();
    return 0;
}

static void emit(const char *phase, double dt, double cpu)
{
    char metric[64];
    snprintf(metric, sizeof metric, "requests_per_s_%s", phase);
    bench_emit("client_pool", "cio", metric, "1/s", total / dt, "higher");
    snprintf(metric, sizeof metric, "client_cpu_ns_per_op_%s", phase);
    bench_emit("client_pool", "cio", metric, "ns", cpu * 1e9 / total, "lower");
}

static const char *phases = "seq,par";

static int run(void *arg, void **result)
{
    (void)arg;
    (void)result;
    BENCH_CHECK(cio_http_client_new(
        &CIO_HTTP_CLIENT_OPTIONS(.max_connections = (size_t)conns, .no_env_proxy = true,
                                 .no_decompress = true),
        &client));
    if (strstr(phases, "seq")) {
        double cpu0 = bench_cpu_s();
        uint64_t t0 = bench_now_ns();
        worker((void *)(intptr_t)total, NULL);
        emit("seq", (bench_now_ns() - t0) / 1e9, bench_cpu_s() - cpu0);
    }
    if (strstr(phases, "par")) {
        cio_task **tasks = calloc((size_t)conns, sizeof *tasks);
        if (!tasks)
            exit(1);
        double cpu0 = bench_cpu_s();
        uint64_t t0 = bench_now_ns();
        for (long i = 0; i < conns; i++)
            BENCH_CHECK(cio_spawn(worker, (void *)(intptr_t)(total / conns), &tasks[i]));
        for (long i = 0; i < conns; i++) {
            BENCH_CHECK(cio_await(tasks[i], NULL));
            cio_future_unref(tasks[i]);
        }
        emit("par", (bench_now_ns() - t0) / 1e9, bench_cpu_s() - cpu0);
        free(tasks);
    }
    BENCH_CHECK(cio_http_client_free(client));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: cio_http_client_pool URL [total=N] [conns=N] [phases=seq,par]\n");
        return 2;
    }
    url = argv[1];
    for (int i = 2; i < argc; i++) {
        if (strncmp(argv[i], "total=", 6) == 0)
            total = atol(argv[i] + 6);
        else if (strncmp(argv[i], "conns=", 6) == 0)
            conns = atol(argv[i] + 6);
        else if (strncmp(argv[i], "phases=", 7) == 0)
            phases = argv[i] + 7;
        else if (strncmp(argv[i], "body=", 5) == 0)
            expect_body = (size_t)atol(argv[i] + 5);
        else {
            fprintf(stderr, "cio_http_client_pool: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (total < 1 || conns < 1 || total % conns != 0) {
        fprintf(stderr, "cio_http_client_pool: total and conns positive, total a multiple of conns\n");
        return 2;
    }
    BENCH_CHECK(cio_run(run, NULL, NULL));
    return 0;
}
