/* curl_multi: the libcurl peer of client_pool (Debian's libcurl4-openssl-dev),
 * written as curl's documentation recommends for many transfers in one
 * thread: the multi interface driven by the "multi_socket" API with epoll
 * (curl_multi_socket_action, CURLMOPT_SOCKETFUNCTION and
 * CURLMOPT_TIMERFUNCTION, as curl's ephiperfifo example does), easy
 * handles reused from one transfer to the next (removed from the multi
 * handle when done and added again: libcurl keeps their connection in the
 * multi handle's cache and reuses it), the connection cache sized with
 * CURLMOPT_MAXCONNECTS.
 *
 * usage: libcurl_client_pool URL [total=100000] [conns=100] [phases=seq,par]
 *
 *   seq: one easy handle makes `total` GETs of URL one after another (one
 *        keep-alive connection);
 *   par: `conns` easy handles, each making total/conns GETs one after
 *        another, all at once (`conns` keep-alive connections).
 *
 * Every answer must be 200 with the body bench/run's nginx sends (13 bytes,
 * read and counted by the write callback). HTTP/1.1, no proxy (CURLOPT_PROXY
 * ""), no signals (CURLOPT_NOSIGNAL), TCP_NODELAY (libcurl's default).
 *
 * Prints for each phase P: requests_per_s_P and client_cpu_ns_per_op_P (this
 * process's user + system CPU time, getrusage, per request). */
#include "../common.h"

#include <curl/curl.h>
#include <sys/epoll.h>
#include <unistd.h>

struct transfer {
    CURL *easy;
    long left;   /* requests this handle still makes */
    size_t body; /* bytes of the current answer's body */
};

static CURLM *multi;
static int ep;
static uint64_t deadline_ns; /* libcurl's timer: 0 none, else when it expires */
static long done_total;
static size_t expect_body = 13;

static void die(const char *what)
{
    fprintf(stderr, "curl_multi: %s\n", what);
    exit(1);
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void)ptr;
    struct transfer *t = arg;
    t->body += size * nmemb;
    return size * nmemb;
}

/* CURLMOPT_SOCKETFUNCTION: keep epoll's set as libcurl asks. socketp is
 * non-NULL once the socket is in the set. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)userp;
    if (what == CURL_POLL_REMOVE) {
        if (socketp) {
            epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL);
            curl_multi_assign(multi, s, NULL);
        }
        return 0;
    }
    struct epoll_event ev = {
        .events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0),
        .data.fd = s,
    };
    if (epoll_ctl(ep, socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &ev) != 0)
        die("epoll_ctl");
    if (!socketp)
        curl_multi_assign(multi, s, (void *)1);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: a non-repeating timer (ms -1: none), the next
 * epoll_wait's timeout. */
static int on_timer(CURLM *m, long ms, void *userp)
{
    (void)m;
    (void)userp;
    deadline_ns = ms < 0 ? 0 : bench_now_ns() + (uint64_t)ms * 1000000u;
    return 0;
}

static int wait_ms(void)
{
    if (!deadline_ns)
        return 1000;
    uint64_t now = bench_now_ns();
    return now >= deadline_ns ? 0 : (int)((deadline_ns - now + 999999) / 1000000);
}

static void check_done(void)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        struct transfer *t;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
        if (msg->data.result != CURLE_OK) {
            fprintf(stderr, "curl_multi: transfer failed: %s\n",
                    curl_easy_strerror(msg->data.result));
            exit(1);
        }
        long code = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
        if (code != 200 || t->body != expect_body) {
            fprintf(stderr, "curl_multi: status %ld, body %zu bytes\n", code, t->body);
            exit(1);
        }
        done_total++;
        curl_multi_remove_handle(multi, easy);
        if (--t->left > 0) {
            t->body = 0;
            if (curl_multi_add_handle(multi, easy) != CURLM_OK)
                die("curl_multi_add_handle");
        }
    }
}

static void run_phase(const char *name, struct transfer *ts, long nhandles, long per_handle,
                      const char *url)
{
    for (long i = 0; i < nhandles; i++) {
        ts[i].left = per_handle;
        ts[i].body = 0;
        curl_easy_setopt(ts[i].easy, CURLOPT_URL, url);
        if (curl_multi_add_handle(multi, ts[i].easy) != CURLM_OK)
            die("curl_multi_add_handle");
    }
    long want = done_total + nhandles * per_handle;
    double cpu0 = bench_cpu_s();
    uint64_t t0 = bench_now_ns();
    int running = 1;
    struct epoll_event evs[256];
    while (done_total < want) {
        int n = epoll_wait(ep, evs, 256, wait_ms());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        if (n == 0 || (deadline_ns && bench_now_ns() >= deadline_ns)) {
            deadline_ns = 0; /* fired: libcurl sets a new one if it needs one */
            curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        if (n > 0) {
            for (int k = 0; k < n; k++) {
                int mask = (evs[k].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                           (evs[k].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                           (evs[k].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
                curl_multi_socket_action(multi, evs[k].data.fd, mask, &running);
            }
        }
        check_done();
    }
    double dt = (bench_now_ns() - t0) / 1e9;
    double cpu = bench_cpu_s() - cpu0;
    long reqs = nhandles * per_handle;
    char metric[64];
    snprintf(metric, sizeof metric, "requests_per_s_%s", name);
    bench_emit("client_pool", "libcurl", metric, "1/s", reqs / dt, "higher");
    snprintf(metric, sizeof metric, "client_cpu_ns_per_op_%s", name);
    bench_emit("client_pool", "libcurl", metric, "ns", cpu * 1e9 / reqs, "lower");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: libcurl_client_pool URL [total=N] [conns=N] [phases=seq,par]\n");
        return 2;
    }
    const char *url = argv[1];
    long total = 100000, conns = 100;
    const char *phases = "seq,par";
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
            fprintf(stderr, "curl_multi: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (total < 1 || conns < 1 || total % conns != 0)
        die("total and conns must be positive, total a multiple of conns");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        die("curl_global_init");
    multi = curl_multi_init();
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!multi || ep < 0)
        die("curl_multi_init or epoll_create1");
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, conns);

    struct transfer *ts = calloc((size_t)conns, sizeof *ts);
    if (!ts)
        die("out of memory");
    for (long i = 0; i < conns; i++) {
        CURL *e = curl_easy_init();
        if (!e)
            die("curl_easy_init");
        ts[i].easy = e;
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &ts[i]);
        curl_easy_setopt(e, CURLOPT_PRIVATE, &ts[i]);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_PROXY, "");
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    }
    if (strstr(phases, "seq"))
        run_phase("seq", ts, 1, total, url);
    if (strstr(phases, "par"))
        run_phase("par", ts, conns, total / conns, url);
    for (long i = 0; i < conns; i++)
        curl_easy_cleanup(ts[i].easy);
    curl_multi_cleanup(multi);
    close(ep);
    curl_global_cleanup();
    free(ts);
    return 0;
}
