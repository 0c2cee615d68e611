/* cio-bench: an HTTP/1.1 load generator (like wrk and wrk2) on cio's public
 * API. docs/cio-bench.md is its manual.
 *
 * Each thread runs its own loop (cio_run_parallel) with its share of the
 * connections as tasks. A task loops request -> whole response -> next
 * request. With --pipeline 1 (the default) a request is made with the cio
 * HTTP client (one client per thread, as many pooled connections as the
 * thread has tasks); with --pipeline N > 1 a task writes N requests at once
 * on its own cio_stream and parses the N responses with llhttp itself (the
 * client sends one request at a time per connection).
 *
 * Latency: a clock read when a response is complete, minus the send time
 * (or, with -R, the time the request was due: wrk2's correction for
 * coordinated omission), goes into a log-linear histogram of the thread's
 * (an array increment); the threads' histograms are merged at the end. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cio.h>
#include <cio/http_client.h>
#include <cjson/cJSON.h>
#include <llhttp.h>

static const char usage[] =
    "usage: cio-bench URL [-c CONNS] [-d SECONDS] [-t THREADS] [--pipeline N] [--raw]\n"
    "                 [-H 'Name: value']... [--method M] [--body FILE] [-n N] [-R RATE]\n"
    "                 [--timeout S] [--insecure] [--json] [--latency]\n"
    "\n"
    "Sends HTTP/1.1 requests to URL (http:// or https://) over keep-alive\n"
    "connections for a while and prints the request rate, the latency\n"
    "percentiles and the errors by kind.\n"
    "\n"
    "  -c, --connections N  connections kept open (default 10)\n"
    "  -d, --duration S     seconds to run (default 10; fractions allowed)\n"
    "  -t, --threads N      threads, one event loop each (default 1; at most -c)\n"
    "  --pipeline N         requests written at once per connection (default 1;\n"
    "                       N > 1 uses cio streams and llhttp, not the client)\n"
    "  --raw                streams and llhttp at depth 1 too (less client work)\n"
    "  -H, --header H       a header field 'Name: value' added to every request\n"
    "  --method M           the request method (default GET, POST with --body)\n"
    "  --body FILE          send FILE's contents as the body of every request\n"
    "  -n, --requests N     stop after N requests (answered or failed), or at -d\n"
    "  -R, --rate N         constant total rate, requests/s: latency is measured\n"
    "                       from when each request was due (no coordinated\n"
    "                       omission); default: as fast as the server answers\n"
    "  --timeout S          a request's whole budget, seconds (default 10)\n"
    "  -k, --insecure       https: verify neither certificate nor name\n"
    "  --json               print the results as one JSON object\n"
    "  --latency            print the detailed latency distribution too\n"
    "  -h, --help           this text\n"
    "\n"
    "A progress line (requests, rate, errors) is shown on stderr when it is a\n"
    "terminal. Exit status 0 after a run that got at least one response, 1 when\n"
    "none came (or the run could not start), 2 for bad arguments.\n";

/* ---- Latency histogram ----------------------------------------------------
 * Log-linear like HdrHistogram with 2 significant digits: values (ns) below
 * 256 have a bucket each; above, every power of two [2^e, 2^(e+1)) is split
 * into 128 buckets of width 2^(e-7), so a bucket is within 1/128 of its
 * values. 2^36 ns (about 69 s) and more go to the last bucket (the exact
 * max is kept aside). */
#define H_SUB_BITS 7
#define H_SUB (1u << H_SUB_BITS)
#define H_MAX_BITS 36
#define H_BUCKETS ((H_MAX_BITS - H_SUB_BITS) * H_SUB + H_SUB) /* 3840 */

typedef struct hist {
    uint64_t count[H_BUCKETS];
    uint64_t max, min; /* exact */
    uint64_t n;        /* h_finish: the count; mean and stdev from the buckets */
    double mean, stdev;
} hist;

static inline unsigned h_index(uint64_t v)
{
    if (v >= (UINT64_C(1) << H_MAX_BITS)) v = (UINT64_C(1) << H_MAX_BITS) - 1;
    if (v < 2 * H_SUB) return (unsigned)v;
    unsigned shift = (unsigned)(63 - __builtin_clzll(v)) - H_SUB_BITS;
    return shift * H_SUB + (unsigned)(v >> shift);
}

/* The highest value bucket i holds. */
static uint64_t h_value(unsigned i)
{
    if (i < 2 * H_SUB) return i;
    unsigned shift = i / H_SUB - 1;
    uint64_t low = (uint64_t)(i - shift * H_SUB) << shift;
    return low + (UINT64_C(1) << shift) - 1;
}

/* The hot path: an increment and two compares. */
static inline void h_record(hist *h, uint64_t ns)
{
    h->count[h_index(ns)]++;
    if (ns > h->max) h->max = ns;
    if (ns < h->min) h->min = ns;
}

static void h_merge(hist *into, const hist *h)
{
    for (unsigned i = 0; i < H_BUCKETS; i++) into->count[i] += h->count[i];
    if (h->max > into->max) into->max = h->max;
    if (h->min < into->min) into->min = h->min;
}

/* The middle of bucket i's values. */
static double h_mid(unsigned i)
{
    if (i < 2 * H_SUB) return i;
    unsigned shift = i / H_SUB - 1;
    return (double)((uint64_t)(i - shift * H_SUB) << shift) + (double)((UINT64_C(1) << shift) - 1) / 2;
}

/* Count, mean and standard deviation from the buckets (as HdrHistogram
 * does: each value taken at its bucket's middle, within 0.4 %). */
static void h_finish(hist *h)
{
    double sum = 0, sumsq = 0;
    h->n = 0;
    for (unsigned i = 0; i < H_BUCKETS; i++) {
        if (!h->count[i]) continue;
        double c = (double)h->count[i], v = h_mid(i);
        h->n += h->count[i];
        sum += c * v;
        sumsq += c * v * v;
    }
    if (!h->n) return;
    h->mean = sum / (double)h->n;
    double var = sumsq / (double)h->n - h->mean * h->mean;
    h->stdev = var > 0 ? sqrt(var) : 0;
}

/* The value at percentile p (0 < p <= 100), in ns; 0 when empty. */
static uint64_t h_percentile(const hist *h, double p)
{
    if (h->n == 0) return 0;
    /* The ceil of p% of n, with slack for p's binary rounding (99.9 % of
     * 1000 is the 999th value, not the 1000th). */
    uint64_t want = (uint64_t)ceil(p / 100.0 * (double)h->n * (1 - 1e-12));
    if (want < 1) want = 1;
    if (want >= h->n) return h->max;
    uint64_t seen = 0;
    for (unsigned i = 0; i < H_BUCKETS; i++) {
        seen += h->count[i];
        if (seen >= want) {
            uint64_t v = h_value(i);
            return v > h->max ? h->max : v < h->min ? h->min : v;
        }
    }
    return h->max;
}

/* ---- Configuration --------------------------------------------------------- */

struct config {
    const char *url;
    bool tls;
    char host[256];    /* without brackets */
    char hostport[300]; /* the Host field */
    uint16_t port;
    const char *path;  /* "/..." (points into url, or "/") */
    long conns, threads, pipeline;
    long nreq; /* -n: requests in all (0: no limit) */
    double duration, rate, timeout;
    cio_http_field *headers;
    size_t nheaders;
    bool has_host, has_content_length;
    const char *method;
    const char *body_file;
    char *body;
    size_t body_len;
    bool insecure, json, latency;
    bool raw; /* --raw, or --pipeline > 1: streams and llhttp, not the client */
};

static int bad(const char *fmt, const char *what)
{
    fprintf(stderr, "cio-bench: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\nTry 'cio-bench --help'.\n");
    return 2;
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

static bool is_tchar(unsigned char ch)
{
    return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* http[s]://host[:port][/path][?query]; no user info, no fragment. */
static int parse_url(const char *url, struct config *c)
{
    const char *p;
    if (strncasecmp(url, "http://", 7) == 0) {
        c->tls = false, c->port = 80, p = url + 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        c->tls = true, c->port = 443, p = url + 8;
    } else {
        return bad("'%s' is not an http:// or https:// URL", url);
    }
    size_t alen = strcspn(p, "/?#");
    const char *rest = p + alen;
    if (alen == 0) return bad("'%s': no host in the URL", url);
    if (memchr(p, '@', alen)) return bad("'%s': user information in URLs is not supported", url);
    const char *hend; /* end of the host part in p */
    const char *colon = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', alen);
        if (!rb || rb == p + 1) return bad("'%s': bad IPv6 address", url);
        if (rb + 1 < p + alen && rb[1] != ':') return bad("'%s': bad host", url);
        if (rb + 1 < p + alen) colon = rb + 1;
        if ((size_t)(rb - p - 1) >= sizeof c->host) return bad("'%s': host too long", url);
        memcpy(c->host, p + 1, (size_t)(rb - p - 1));
        c->host[rb - p - 1] = '\0';
        hend = rb + 1;
        for (const char *q = c->host; *q; q++)
            if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.')
                return bad("'%s': bad IPv6 address", url);
    } else {
        colon = memchr(p, ':', alen);
        hend = colon ? colon : p + alen;
        if (hend == p) return bad("'%s': no host in the URL", url);
        if ((size_t)(hend - p) >= sizeof c->host) return bad("'%s': host too long", url);
        memcpy(c->host, p, (size_t)(hend - p));
        c->host[hend - p] = '\0';
        for (const char *q = c->host; *q; q++)
            if (!isalnum((unsigned char)*q) && *q != '-' && *q != '.' && *q != '_')
                return bad("'%s': bad host name", url);
    }
    if (colon) {
        char num[8];
        size_t n = (size_t)(p + alen - colon - 1);
        long port;
        if (n == 0 || n >= sizeof num) return bad("'%s': bad port", url);
        memcpy(num, colon + 1, n);
        num[n] = '\0';
        for (size_t i = 0; i < n; i++)
            if (!isdigit((unsigned char)num[i])) return bad("'%s': bad port", url);
        if (!parse_long(num, 1, 65535, &port)) return bad("'%s': bad port", url);
        c->port = (uint16_t)port;
    }
    (void)hend;
    snprintf(c->hostport, sizeof c->hostport, "%.*s", (int)alen, p);
    if (*rest == '#' || strchr(rest, '#')) return bad("'%s': a fragment has no place in a request", url);
    for (const char *q = rest; *q; q++)
        if ((unsigned char)*q <= ' ' || *q == 0x7f) return bad("'%s': bad character in the path", url);
    c->path = *rest == '/' ? rest : NULL; /* "?q" without a path: "/?q" (made below) */
    if (!c->path) {
        static char buf[8192];
        if (strlen(rest) + 2 > sizeof buf) return bad("'%s': too long", url);
        snprintf(buf, sizeof buf, "/%s", rest);
        c->path = buf;
    }
    return 0;
}

static int parse_header(const char *h, struct config *c)
{
    const char *colon = strchr(h, ':');
    if (!colon || colon == h) return bad("-H '%s': not a 'Name: value' header", h);
    for (const char *q = h; q < colon; q++)
        if (!is_tchar((unsigned char)*q)) return bad("-H '%s': bad header name", h);
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t') v++;
    for (const char *q = v; *q; q++)
        if (*q == '\r' || *q == '\n' || *q == 0x7f || ((unsigned char)*q < ' ' && *q != '\t'))
            return bad("-H '%s': bad character in the header value", h);
    size_t vlen = strlen(v);
    while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) vlen--;
    char *name = strndup(h, (size_t)(colon - h));
    char *value = strndup(v, vlen);
    cio_http_field *nh = realloc(c->headers, (c->nheaders + 1) * sizeof *nh);
    if (!name || !value || !nh) {
        fprintf(stderr, "cio-bench: out of memory\n");
        exit(1);
    }
    c->headers = nh;
    c->headers[c->nheaders++] = (cio_http_field){name, value};
    if (strcasecmp(name, "host") == 0) c->has_host = true;
    if (strcasecmp(name, "content-length") == 0 || strcasecmp(name, "transfer-encoding") == 0)
        return bad("-H '%s': cio-bench sets the body's framing itself", h);
    return 0;
}

static int read_body(struct config *c)
{
    int fd = open(c->body_file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        return bad("--body: cannot read '%s' (a regular file)", c->body_file);
    }
    if (st.st_size > 64 * 1024 * 1024) {
        close(fd);
        return bad("--body: '%s' is over 64 MiB", c->body_file);
    }
    c->body_len = (size_t)st.st_size;
    c->body = malloc(c->body_len + 1);
    size_t got = 0;
    while (c->body && got < c->body_len) {
        ssize_t n = read(fd, c->body + got, c->body_len - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    if (!c->body || got != c->body_len) return bad("--body: cannot read '%s'", c->body_file);
    return 0;
}

/* Returns 0, or the exit status for a bad command line (-1: --help). */
static int parse_args(int argc, char **argv, struct config *c)
{
    *c = (struct config){.conns = 10, .threads = 1, .pipeline = 1, .duration = 10, .timeout = 10};
    bool threads_set = false;
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        char name[32];
        if (a[0] == '-' && a[1] == '-' && strchr(a, '=')) {
            size_t n = (size_t)(strchr(a, '=') - a);
            if (n >= sizeof name) return bad("unknown option '%s'", a);
            memcpy(name, a, n);
            name[n] = '\0';
            val = strchr(a, '=') + 1;
            a = name;
        }
#define IS(s, l) (strcmp(a, s) == 0 || strcmp(a, l) == 0)
#define VALUE()                                                                                    \
    do {                                                                                           \
        if (!val) {                                                                                \
            if (i + 1 >= argc) return bad("option '%s' needs a value", a);                         \
            val = argv[++i];                                                                       \
        }                                                                                          \
    } while (0)
        if (IS("-h", "--help")) {
            fputs(usage, stdout);
            return -1;
        } else if (IS("-c", "--connections")) {
            VALUE();
            if (!parse_long(val, 1, 100000, &c->conns))
                return bad("-c: '%s' is not a connection count (1..100000)", val);
        } else if (IS("-d", "--duration")) {
            VALUE();
            if (!parse_double(val, 0.001, 1e6, &c->duration))
                return bad("-d: '%s' is not a duration in seconds (0.001..1000000)", val);
        } else if (IS("-t", "--threads")) {
            VALUE();
            if (!parse_long(val, 1, 1024, &c->threads))
                return bad("-t: '%s' is not a thread count (1..1024)", val);
            threads_set = true;
        } else if (IS("--pipeline", "--pipeline")) {
            VALUE();
            if (!parse_long(val, 1, 1024, &c->pipeline))
                return bad("--pipeline: '%s' is not a depth (1..1024)", val);
        } else if (IS("-H", "--header")) {
            VALUE();
            if ((rc = parse_header(val, c))) return rc;
        } else if (IS("--method", "-m")) {
            VALUE();
            if (!*val) return bad("--method: '%s' is not a method (a token)", val);
            for (const char *q = val; *q; q++)
                if (!is_tchar((unsigned char)*q))
                    return bad("--method: '%s' is not a method (a token)", val);
            c->method = val;
        } else if (IS("--body", "-b")) {
            VALUE();
            c->body_file = val;
        } else if (IS("-n", "--requests")) {
            VALUE();
            if (!parse_long(val, 1, 1000000000000L, &c->nreq))
                return bad("-n: '%s' is not a request count (1..1000000000000)", val);
        } else if (IS("-R", "--rate")) {
            VALUE();
            if (!parse_double(val, 0.001, 1e9, &c->rate))
                return bad("-R: '%s' is not a rate in requests/s (0.001..1e9)", val);
        } else if (IS("--timeout", "-T")) {
            VALUE();
            if (!parse_double(val, 0.001, 1e6, &c->timeout))
                return bad("--timeout: '%s' is not a time in seconds (0.001..1000000)", val);
        } else if (IS("-k", "--insecure") && !val) {
            c->insecure = true;
        } else if (IS("--raw", "--raw") && !val) {
            c->raw = true;
        } else if (IS("--json", "--json") && !val) {
            c->json = true;
        } else if (IS("--latency", "-L") && !val) {
            c->latency = true;
        } else if (strcmp(a, "--") == 0 && !val) {
            if (i + 1 < argc && !c->url) c->url = argv[++i];
            if (i + 1 < argc) return bad("unexpected argument '%s'", argv[i + 1]);
        } else if (a[0] == '-' && a[1] != '\0') {
            return bad("unknown option '%s'", argv[i]);
        } else if (!c->url) {
            c->url = a;
        } else {
            return bad("unexpected argument '%s' (one URL only)", a);
        }
#undef VALUE
#undef IS
    }
    if (!c->url) return bad("%s", "no URL given");
    if ((rc = parse_url(c->url, c))) return rc;
    if (c->threads > c->conns) {
        if (threads_set) {
            char msg[96];
            snprintf(msg, sizeof msg, "-c %ld is fewer connections than -t %ld threads", c->conns,
                     c->threads);
            return bad("%s", msg);
        }
        c->threads = c->conns;
    }
    if (c->rate > 0 && c->pipeline > 1)
        return bad("%s", "-R and --pipeline > 1 do not go together");
    if (c->pipeline > 1) c->raw = true;
    if (c->body_file && (rc = read_body(c))) return rc;
    if (!c->method) c->method = c->body ? "POST" : "GET";
    return 0;
}

/* ---- Statistics -------------------------------------------------------------- */

enum err_kind { E_CONNECT, E_TIMEOUT, E_READ, E_PARSE, E_4XX, E_5XX, E_KINDS };
static const char *const err_names[E_KINDS] = {"connect", "timeout", "read",
                                               "parse", "status_4xx", "status_5xx"};

/* One per thread, written by its thread only; requests and errors are read
 * by the progress line of thread 0 (relaxed atomics: plain moves). */
struct wstats {
    _Atomic uint64_t requests, errors;
    uint64_t bytes;
    uint64_t err[E_KINDS];
    int first[E_KINDS]; /* the first error of each kind (for the text output) */
    uint64_t status[6]; /* by class: [1] 1xx .. [5] 5xx, [0] other */
    hist h;
    char pad[64];
};

static struct config cfg;
static struct wstats *stats; /* cfg.threads of them */
static double t_start, t_end; /* CLOCK_MONOTONIC seconds */
static char *req_buf;         /* the pipelined requests: pipeline copies of one */
static size_t req_len;        /* one request's bytes */

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void bump(_Atomic uint64_t *a)
{
    atomic_store_explicit(a, atomic_load_explicit(a, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* err: the error (-errno) or the status code. */
static void count_error(struct wstats *w, enum err_kind k, int err)
{
    if (w->err[k] == 0) w->first[k] = err;
    w->err[k]++;
    bump(&w->errors);
}

static void count_status(struct wstats *w, int status)
{
    int cls = status / 100;
    w->status[cls >= 1 && cls <= 5 ? cls : 0]++;
    if (cls == 4) count_error(w, E_4XX, status);
    else if (cls == 5) count_error(w, E_5XX, status);
}

/* Sorts an error of a request into a kind. */
static enum err_kind classify(int err)
{
    switch (-err) {
    case ETIMEDOUT:
        return E_TIMEOUT;
    case EPROTO:
    case EMSGSIZE:
    case EBADMSG:
    case ELOOP:
        return E_PARSE;
    case ECONNREFUSED:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EADDRNOTAVAIL:
    case EAFNOSUPPORT:
    case ENETDOWN:
    case EHOSTDOWN:
    case ENOENT:
    case ENODATA:
    case EKEYREJECTED:
    case EKEYEXPIRED:
        return E_CONNECT;
    default:
        return E_READ;
    }
}

/* ---- Per-thread run ------------------------------------------------------------ */

struct worker {
    int index;
    struct wstats *st;
    cio_http_client *client;
    cio_tls_config *tls;
    double loop_end; /* t_end on the loop clock */
    uint64_t start_ns, end_ns;
    long left; /* -n: requests this thread may still send (< 0: no limit) */
};

struct conn {
    struct worker *w;
    long global; /* 0..conns-1 */
};

/* A request's pacing with -R: connection k of C sends its i-th request at
 * start + (i + k / C) * C / R. Returns the due time (ns); sleeps until
 * then when early. Returns 0 when the run ends first. */
static uint64_t pace(struct conn *cn, uint64_t *seq, uint64_t start_ns)
{
    double interval = (double)cfg.conns / cfg.rate; /* s per request per connection */
    double off = ((double)*seq + (double)cn->global / (double)cfg.conns) * interval;
    uint64_t due = start_ns + (uint64_t)(off * 1e9);
    (*seq)++;
    if (due >= cn->w->end_ns) return 0;
    /* The loop's timers run on its cached clock, which can lag this one:
     * a sleep may end a little early, so sleep again for the rest. */
    for (uint64_t now; (now = now_ns()) < due;)
        if (cio_sleep((double)(due - now) / 1e9) != 0) return 0;
    return due;
}

/* Latency from t0 to now; 0 rather than a wrap-around should t0 be ahead. */
static inline uint64_t since(uint64_t t0)
{
    uint64_t now = now_ns();
    return now > t0 ? now - t0 : 0;
}

/* The client path: one request at a time with cio_http_client. */
static int conn_client(void *arg, void **result)
{
    (void)result;
    struct conn *cn = arg;
    struct worker *w = cn->w;
    struct wstats *st = w->st;
    char buf[16384];
    uint64_t seq = 0;
    cio_http_client_request rq = CIO_HTTP_CLIENT_REQUEST(
        .method = cfg.method, .url = cfg.url, .headers = cfg.headers, .nheaders = cfg.nheaders,
        .body = cfg.body, .body_len = cfg.body_len, .timeout = cfg.timeout, .max_redirects = -1);
    cio_scope run;
    cio_deadline_begin(&run, w->loop_end);
    for (;;) {
        if (w->left == 0) break;
        if (w->left > 0) w->left--;
        uint64_t t0 = cfg.rate > 0 ? pace(cn, &seq, w->start_ns) : now_ns();
        if (t0 == 0) break;
        cio_http_reply *r = NULL;
        int rc = cio_http_client_request_send(w->client, &rq, &r);
        ssize_t n = 0;
        if (rc == 0) {
            while ((n = cio_http_reply_read(r, buf, sizeof buf)) > 0) st->bytes += (size_t)n;
        }
        if (rc == 0 && n == 0) {
            h_record(&st->h, since(t0));
            bump(&st->requests);
            count_status(st, cio_http_reply_status(r));
            cio_http_reply_free(r);
            continue;
        }
        cio_http_reply_free(r);
        if (rc == 0) rc = (int)n;
        if (cio_scope_is_expired(&run) || rc == -ECANCELED) break;
        count_error(st, classify(rc), rc);
        /* A server that refuses connections would turn this loop into a
         * busy one: give the others a turn. */
        if (cio_yield() != 0) break;
    }
    cio_scope_end(&run);
    return 0;
}

/* ---- The pipelined path: cio streams and llhttp ---------------------------------- */

struct pconn {
    struct conn *cn;
    uint64_t seq; /* -R: requests scheduled so far */
    struct wstats *st;
    uint64_t sent_ns;
    long done;      /* responses complete in this batch */
    bool close;     /* the server closes after the last response */
    bool head;
};

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    (void)at;
    ((struct pconn *)p->data)->st->bytes += len;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    return ((struct pconn *)p->data)->head ? 1 : 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct pconn *pc = p->data;
    if (p->status_code >= 100 && p->status_code < 200 && p->status_code != 101)
        return 0; /* an interim answer: the response follows */
    h_record(&pc->st->h, since(pc->sent_ns));
    bump(&pc->st->requests);
    count_status(pc->st, p->status_code);
    pc->done++;
    if (!llhttp_should_keep_alive(p)) {
        pc->close = true;
        return HPE_PAUSED;
    }
    return 0;
}

/* Sends batches of cfg.pipeline requests and reads their responses on one
 * connection until it fails. Returns 1 when the run is over, 0 when the
 * server closed the connection after a response, else the error (counted
 * already). */
static int pipeline_conn(struct worker *w, cio_scope *run, struct pconn *pc,
                         const llhttp_settings_t *settings)
{
    cio_stream *s = NULL;
    cio_scope sc;
    /* -n: a connection attempt holds one request of the quota (a failed
     * connect is a request tried); a connection made gives it back to its
     * batches. Taken before the attempt, as other tasks run meanwhile. */
    if (w->left == 0) return 1;
    bool held = w->left > 0;
    if (held) w->left--;
    cio_timeout_begin(&sc, cfg.timeout);
    int rc = cio_stream_connect_name(cfg.host, cfg.port, NULL,
                                     &CIO_STREAM_OPTIONS(.tls = w->tls), &s);
    bool expired = cio_scope_end(&sc) == -ETIMEDOUT;
    if (rc < 0) {
        if (cio_scope_is_expired(run) || rc == -ECANCELED) return 1;
        count_error(w->st, expired || rc == -ETIMEDOUT ? E_TIMEOUT : E_CONNECT, rc);
        return rc;
    }
    if (held) w->left++;
    llhttp_t parser;
    llhttp_init(&parser, HTTP_RESPONSE, settings);
    parser.data = pc;
    pc->close = false;
    for (;;) {
        pc->done = 0;
        /* -n: this batch's size within what is left. */
        long k = cfg.pipeline;
        if (w->left >= 0) {
            if (w->left == 0) {
                rc = 1;
                break;
            }
            if (k > w->left) k = w->left;
            w->left -= k;
        }
        if (cfg.rate > 0) {
            /* -R (depth 1 only): wait for the request's due time; a run
             * that ends first ends the connection. */
            if ((pc->sent_ns = pace(pc->cn, &pc->seq, w->start_ns)) == 0) {
                rc = 1;
                break;
            }
        } else {
            pc->sent_ns = now_ns();
        }
        cio_timeout_begin(&sc, cfg.timeout);
        rc = cio_stream_write(s, req_buf, req_len * (size_t)k);
        while (rc == 0 && pc->done < k && !pc->close) {
            const void *data;
            size_t len;
            rc = cio_stream_peek(s, &data, &len);
            if (rc == -ENODATA || (rc == 0 && len == 0)) {
                /* The end of the stream: a body delimited by it ends here;
                 * anything else is a response cut short. */
                long before = pc->done;
                llhttp_errno_t e = llhttp_finish(&parser);
                if ((e == HPE_OK || e == HPE_PAUSED) && pc->done > before) {
                    rc = 0;
                    pc->close = true;
                } else {
                    rc = -ECONNRESET;
                }
                break;
            }
            if (rc < 0) break;
            llhttp_errno_t e = llhttp_execute(&parser, data, len);
            if (e == HPE_OK) {
                cio_stream_consume(s, len);
            } else if (e == HPE_PAUSED) {
                cio_stream_consume(s, (size_t)(llhttp_get_error_pos(&parser) - (const char *)data));
                llhttp_resume(&parser);
            } else {
                rc = -EPROTO;
            }
        }
        expired = cio_scope_end(&sc) == -ETIMEDOUT;
        if (rc < 0 || pc->close) break;
    }
    if (rc < 0) {
        if (cio_scope_is_expired(run) || rc == -ECANCELED) {
            rc = 1;
        } else {
            /* Connected: an end of stream or the like is a read error. */
            enum err_kind k = classify(rc);
            count_error(w->st, expired ? E_TIMEOUT : k == E_CONNECT ? E_READ : k, rc);
        }
    }
    cio_stream_abort(s);
    return rc;
}

static int conn_pipeline(void *arg, void **result)
{
    (void)result;
    struct conn *cn = arg;
    struct worker *w = cn->w;
    llhttp_settings_t settings;
    llhttp_settings_init(&settings);
    settings.on_body = on_body;
    settings.on_headers_complete = on_headers_complete;
    settings.on_message_complete = on_message_complete;
    struct pconn pc = {.cn = cn, .st = w->st, .head = strcmp(cfg.method, "HEAD") == 0};
    cio_scope run;
    cio_deadline_begin(&run, w->loop_end);
    while (!cio_scope_is_expired(&run)) {
        int rc = pipeline_conn(w, &run, &pc, &settings);
        if (rc == 1) break;
        if (rc < 0 && cio_yield() != 0) break;
    }
    cio_scope_end(&run);
    return 0;
}

/* ---- Progress line ------------------------------------------------------------- */

struct progress {
    uint64_t last_requests;
    double last_t;
};

static double mono(void)
{
    return (double)now_ns() / 1e9;
}

static void progress_tick(void *arg)
{
    struct progress *p = arg;
    uint64_t req = 0, err = 0;
    for (long i = 0; i < cfg.threads; i++) {
        req += atomic_load_explicit(&stats[i].requests, memory_order_relaxed);
        err += atomic_load_explicit(&stats[i].errors, memory_order_relaxed);
    }
    double t = mono();
    double rate = t > p->last_t ? (double)(req - p->last_requests) / (t - p->last_t) : 0;
    p->last_requests = req, p->last_t = t;
    fprintf(stderr, "\r[%5.0fs] %llu requests, %.0f requests/s, %llu errors\033[K",
            t - t_start, (unsigned long long)req, rate, (unsigned long long)err);
    fflush(stderr);
}

/* Every worker arrives here ready (ok) or not; the last to arrive starts
 * the clock. Returns 0 to run, -1 when a worker failed (or a stop came). */
static _Atomic long gate_ready;
static _Atomic int gate_state; /* 0 waiting, 1 go, -1 a worker failed */

static int start_gate(bool ok)
{
    if (!ok) {
        atomic_store(&gate_state, -1);
        return -1;
    }
    if (atomic_fetch_add(&gate_ready, 1) + 1 == cfg.threads) {
        t_start = mono();
        t_end = t_start + cfg.duration;
        atomic_store(&gate_state, 1); /* publishes t_start and t_end */
    }
    int st;
    while ((st = atomic_load(&gate_state)) == 0)
        if (cio_sleep(0.0005) != 0) return -1;
    return st == 1 ? 0 : -1;
}

static int worker_main(void *arg, void **result)
{
    (void)arg, (void)result;
    int idx = cio_parallel_index();
    if (idx < 0) idx = 0;
    struct worker w = {.index = idx, .st = &stats[idx]};
    long share = cfg.conns / cfg.threads + (idx < cfg.conns % cfg.threads ? 1 : 0);
    w.left = cfg.nreq ? cfg.nreq / cfg.threads + (idx < cfg.nreq % cfg.threads ? 1 : 0) : -1;
    long first = idx * (cfg.conns / cfg.threads) + (idx < cfg.conns % cfg.threads ? idx : cfg.conns % cfg.threads);
    cio_loop *loop = cio_current_loop();
    int rc = 0;
    /* A plain http:// run never speaks TLS (no redirect is followed), yet
     * a client without a configuration makes one that loads the system's
     * trust store (about 0.1 s of CPU): give it one that loads nothing. */
    if (cfg.tls || !cfg.raw) {
        rc = cio_tls_config_new(
            &CIO_TLS_OPTIONS(.alpn = "http/1.1", .insecure = cfg.insecure || !cfg.tls), &w.tls);
        if (rc < 0) fprintf(stderr, "cio-bench: TLS configuration: %s\n", cio_tls_last_error());
    }
    if (rc == 0 && !cfg.raw) {
        rc = cio_http_client_new(
            &CIO_HTTP_CLIENT_OPTIONS(.tls = w.tls, .max_connections = (size_t)share,
                                     .max_per_host = (size_t)share, .timeout = cfg.timeout,
                                     .connect_timeout = cfg.timeout, .read_timeout = cfg.timeout,
                                     .max_redirects = -1, .no_env_proxy = true,
                                     .no_decompress = true,
                                     .user_agent = "cio-bench/" CIO_VERSION_STRING),
            &w.client);
        if (rc < 0) fprintf(stderr, "cio-bench: cannot make the HTTP client: %s\n", cio_strerror(rc));
    }
    /* The clock starts once every thread is ready. */
    int g_rc = start_gate(rc == 0);
    if (rc < 0 || g_rc < 0) {
        if (w.client) cio_http_client_free(w.client);
        cio_tls_config_free(w.tls);
        return rc < 0 ? rc : 0;
    }
    w.start_ns = (uint64_t)(t_start * 1e9);
    w.end_ns = (uint64_t)(t_end * 1e9);
    /* The loop's cached time may be old by what the set-up took. */
    cio_loop_update_time(loop);
    w.loop_end = cio_loop_time(loop) + (t_end - mono());
    struct conn *conns = calloc((size_t)share, sizeof *conns);
    struct progress prog = {.last_t = t_start};
    cio_handle timer = 0;
    bool ticking = idx == 0 && isatty(STDERR_FILENO) &&
                   cio_call_every(loop, 1.0, 1.0, progress_tick, &prog, &timer) == 0;
    cio_task_group *g = NULL;
    if (!conns || (rc = cio_task_group_begin(&g)) < 0) {
        rc = rc < 0 ? rc : -ENOMEM;
    } else {
        for (long i = 0; i < share && rc == 0; i++) {
            conns[i] = (struct conn){.w = &w, .global = first + i};
            cio_task_fn fn = cfg.raw ? conn_pipeline : conn_client;
            rc = cio_task_group_spawn(g, NULL, fn, &conns[i], NULL);
        }
        if (rc < 0) cio_task_group_cancel(g);
        int e = cio_task_group_end(g);
        if (rc == 0 && e != -ECANCELED) rc = e;
    }
    if (ticking) {
        cio_timer_cancel(loop, timer);
        fprintf(stderr, "\r\033[K");
    }
    if (w.client) {
        int e = cio_http_client_free(w.client);
        if (e < 0) fprintf(stderr, "cio-bench: freeing the client: %s\n", cio_strerror(e));
    }
    cio_tls_config_free(w.tls);
    free(conns);
    return rc == -ECANCELED ? 0 : rc;
}

/* ---- Output --------------------------------------------------------------------- */

/* One request written out; the pipelined path sends `pipeline` copies. */
static int build_request(void)
{
    size_t cap = 512 + strlen(cfg.path) + strlen(cfg.hostport) + cfg.body_len;
    for (size_t i = 0; i < cfg.nheaders; i++)
        cap += strlen(cfg.headers[i].name) + strlen(cfg.headers[i].value) + 4;
    char *one = malloc(cap);
    if (!one) return -ENOMEM;
    size_t n = (size_t)snprintf(one, cap, "%s %s HTTP/1.1\r\n", cfg.method, cfg.path);
    if (!cfg.has_host) n += (size_t)snprintf(one + n, cap - n, "Host: %s\r\n", cfg.hostport);
    n += (size_t)snprintf(one + n, cap - n, "User-Agent: cio-bench/%s\r\n", CIO_VERSION_STRING);
    for (size_t i = 0; i < cfg.nheaders; i++)
        n += (size_t)snprintf(one + n, cap - n, "%s: %s\r\n", cfg.headers[i].name,
                              cfg.headers[i].value);
    if (cfg.body) n += (size_t)snprintf(one + n, cap - n, "Content-Length: %zu\r\n", cfg.body_len);
    n += (size_t)snprintf(one + n, cap - n, "\r\n");
    memcpy(one + n, cfg.body ? cfg.body : "", cfg.body_len);
    n += cfg.body_len;
    req_len = n;
    req_buf = malloc(n * (size_t)cfg.pipeline);
    if (!req_buf) {
        free(one);
        return -ENOMEM;
    }
    for (long i = 0; i < cfg.pipeline; i++) memcpy(req_buf + (size_t)i * n, one, n);
    free(one);
    return 0;
}

static const double pcts[] = {50, 90, 99, 99.9};
static const char *const pct_keys[] = {"p50", "p90", "p99", "p99_9"};
static const double dist_pcts[] = {50, 75, 90, 99, 99.9, 99.99, 99.999, 100};

static void print_text(const hist *h, const struct wstats *tot, double secs)
{
    uint64_t req = tot->requests;
    printf("cio-bench %s: %ld connection%s, %ld thread%s, %.2f s", cfg.url, cfg.conns,
           cfg.conns == 1 ? "" : "s", cfg.threads, cfg.threads == 1 ? "" : "s", secs);
    if (cfg.pipeline > 1) printf(", pipeline %ld", cfg.pipeline);
    else if (cfg.raw) printf(", raw");
    if (cfg.rate > 0) printf(", rate %.0f/s", cfg.rate);
    printf("\n");
    printf("  %llu requests in %.2f s, %.2f requests/s, %llu body bytes (%.2f MB/s)\n",
           (unsigned long long)req, secs, secs > 0 ? (double)req / secs : 0,
           (unsigned long long)tot->bytes, secs > 0 ? (double)tot->bytes / secs / 1e6 : 0);
    double mean = h->mean / 1e3;
    printf("  latency (us%s): min %.1f  mean %.1f  ", cfg.rate > 0 ? ", from when due" : "",
           h->n ? (double)h->min / 1e3 : 0, mean);
    for (size_t i = 0; i < sizeof pcts / sizeof *pcts; i++)
        printf("p%g %.1f  ", pcts[i], (double)h_percentile(h, pcts[i]) / 1e3);
    printf("max %.1f\n", (double)h->max / 1e3);
    if (cfg.latency) {
        printf("  latency distribution (us):\n");
        for (size_t i = 0; i < sizeof dist_pcts / sizeof *dist_pcts; i++)
            printf("    %8.3f%%  %12.1f\n", dist_pcts[i], (double)h_percentile(h, dist_pcts[i]) / 1e3);
    }
    uint64_t errs = tot->errors;
    printf("  errors: %llu", (unsigned long long)errs);
    for (int k = 0; k < E_KINDS; k++) printf(", %s %llu", err_names[k], (unsigned long long)tot->err[k]);
    for (int k = 0; k < E_KINDS; k++) {
        if (!tot->err[k]) continue;
        if (k == E_4XX || k == E_5XX)
            printf("\n    first %s: status %d", err_names[k], tot->first[k]);
        else
            printf("\n    first %s error: %s (%s)", err_names[k], cio_strerror(tot->first[k]),
                   cio_err_name(tot->first[k]));
    }
    printf("\n  status: 1xx %llu, 2xx %llu, 3xx %llu, 4xx %llu, 5xx %llu\n",
           (unsigned long long)tot->status[1], (unsigned long long)tot->status[2],
           (unsigned long long)tot->status[3], (unsigned long long)tot->status[4],
           (unsigned long long)tot->status[5]);
}

/* A number rounded to 3 decimals (nanoseconds in microseconds). */
static double r3(double x)
{
    return round(x * 1000) / 1000;
}

static int print_json(const hist *h, const struct wstats *tot, double secs)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return -ENOMEM;
    cJSON_AddStringToObject(o, "url", cfg.url);
    cJSON_AddNumberToObject(o, "connections", (double)cfg.conns);
    cJSON_AddNumberToObject(o, "threads", (double)cfg.threads);
    cJSON_AddNumberToObject(o, "pipeline", (double)cfg.pipeline);
    cJSON_AddBoolToObject(o, "client", !cfg.raw);
    cJSON_AddNumberToObject(o, "rate", cfg.rate);
    cJSON_AddNumberToObject(o, "duration", round(secs * 1e6) / 1e6);
    cJSON_AddNumberToObject(o, "requests", (double)tot->requests);
    cJSON_AddNumberToObject(o, "requests_per_s", r3(secs > 0 ? (double)tot->requests / secs : 0));
    cJSON_AddNumberToObject(o, "bytes", (double)tot->bytes);
    cJSON_AddNumberToObject(o, "bytes_per_s", r3(secs > 0 ? (double)tot->bytes / secs : 0));
    cJSON *lat = cJSON_AddObjectToObject(o, "latency_us");
    cJSON_AddNumberToObject(lat, "min", r3(h->n ? (double)h->min / 1e3 : 0));
    cJSON_AddNumberToObject(lat, "mean", r3(h->mean / 1e3));
    cJSON_AddNumberToObject(lat, "stdev", r3(h->stdev / 1e3));
    for (size_t i = 0; i < sizeof pcts / sizeof *pcts; i++)
        cJSON_AddNumberToObject(lat, pct_keys[i], r3((double)h_percentile(h, pcts[i]) / 1e3));
    cJSON_AddNumberToObject(lat, "max", r3((double)h->max / 1e3));
    if (cfg.latency) {
        cJSON *d = cJSON_AddArrayToObject(lat, "distribution");
        for (size_t i = 0; i < sizeof dist_pcts / sizeof *dist_pcts; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "percentile", dist_pcts[i]);
            cJSON_AddNumberToObject(e, "us", r3((double)h_percentile(h, dist_pcts[i]) / 1e3));
            cJSON_AddItemToArray(d, e);
        }
    }
    cJSON *err = cJSON_AddObjectToObject(o, "errors");
    cJSON_AddNumberToObject(err, "total", (double)tot->errors);
    for (int k = 0; k < E_KINDS; k++) cJSON_AddNumberToObject(err, err_names[k], (double)tot->err[k]);
    cJSON *stt = cJSON_AddObjectToObject(o, "status");
    static const char *const cls[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int k = 0; k < 6; k++) cJSON_AddNumberToObject(stt, cls[k], (double)tot->status[k]);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) return -ENOMEM;
    puts(text);
    cJSON_free(text);
    return 0;
}

int main(int argc, char **argv)
{
    int rc = parse_args(argc, argv, &cfg);
    if (rc == -1) return 0;
    if (rc) return rc;
    stats = aligned_alloc(64, ((sizeof *stats * (size_t)cfg.threads) + 63) & ~(size_t)63);
    hist *total_h = malloc(sizeof *total_h);
    if (!stats || !total_h || build_request() < 0) {
        fprintf(stderr, "cio-bench: out of memory\n");
        return 1;
    }
    memset(stats, 0, sizeof *stats * (size_t)cfg.threads);
    for (long i = 0; i < cfg.threads; i++) stats[i].h.min = UINT64_MAX;
    rc = cio_run_parallel(&CIO_PARALLEL_OPTIONS(.threads = (size_t)cfg.threads,
                                                .stop_on_signals = true),
                          worker_main, NULL);
    double stop = mono();
    double secs = atomic_load(&gate_state) == 1 ? (stop < t_end ? stop : t_end) - t_start : 0;
    if (rc < 0) fprintf(stderr, "cio-bench: %s\n", cio_strerror(rc));

    memset(total_h, 0, sizeof *total_h);
    total_h->min = UINT64_MAX;
    struct wstats tot;
    memset(&tot, 0, sizeof tot);
    for (long i = 0; i < cfg.threads; i++) {
        struct wstats *s = &stats[i];
        h_merge(total_h, &s->h);
        tot.requests += s->requests;
        tot.errors += s->errors;
        tot.bytes += s->bytes;
        for (int k = 0; k < E_KINDS; k++) {
            if (!tot.err[k]) tot.first[k] = s->first[k];
            tot.err[k] += s->err[k];
        }
        for (int k = 0; k < 6; k++) tot.status[k] += s->status[k];
    }
    h_finish(total_h);
    if (cfg.json) {
        if (print_json(total_h, &tot, secs) < 0) fprintf(stderr, "cio-bench: out of memory\n");
    } else {
        print_text(total_h, &tot, secs);
    }
    fflush(stdout);
    uint64_t nreq = tot.requests;
    for (size_t i = 0; i < cfg.nheaders; i++) {
        free((char *)cfg.headers[i].name);
        free((char *)cfg.headers[i].value);
    }
    free(cfg.headers);
    free(cfg.body);
    free(req_buf);
    free(total_h);
    free(stats);
    return rc < 0 || nreq == 0 ? 1 : 0;
}
