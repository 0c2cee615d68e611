/* cio-serve: serves a directory over HTTP (or HTTPS), like
 * `python3 -m http.server`, on cio's HTTP framework and its public API
 * only. docs/cio-serve.md is its manual.
 *
 * The default address is 127.0.0.1, not 0.0.0.0: a command typed to look
 * at a folder in a browser should not publish the folder to the whole
 * network; --bind 0.0.0.0 (or ::) says so on purpose. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TOOL_NAME "cio-serve"
#include "tool_args.h"

#include <cio.h>

#define DEFAULT_PORT 8000

static const char usage[] =
    "usage: cio-serve [DIR] [--port N] [--bind ADDR] [--threads N]\n"
    "                 [--tls-cert FILE --tls-key FILE] [--no-listing] [--index NAME]\n"
    "                 [--log common|combined] [--quiet]\n"
    "\n"
    "Serves the files under DIR (default: the current directory) over HTTP/1.1.\n"
    "\n"
    "  --port N           port to listen on (default 8000; 0: any free port)\n"
    "  --bind ADDR        address to listen on (default 127.0.0.1; 0.0.0.0 or ::\n"
    "                     to serve other machines)\n"
    "  --threads N        event loops, one per thread (default: one per CPU)\n"
    "  --tls-cert FILE    serve HTTPS with this PEM certificate (chain) ...\n"
    "  --tls-key FILE     ... and this PEM private key\n"
    "  --no-listing       answer 403 for a directory without an index file\n"
    "                     (default: an HTML listing, as python3 -m http.server)\n"
    "  --index NAME       the index file of a directory (default index.html)\n"
    "  --log FORMAT       access log on stdout: combined (default) or common\n"
    "  --quiet            no access log\n"
    "  -h, --help         this text\n"
    "\n"
    "Prints \"Serving DIR at URL\" once listening, then one access log line per\n"
    "request. SIGINT (Ctrl-C) or SIGTERM: graceful shutdown. Exit status 0 after\n"
    "a shutdown, 1 when serving fails, 2 for bad arguments.\n";

struct config {
    const char *dir;
    const char *bind;
    long port;
    long threads; /* 0: one per CPU */
    const char *cert, *key, *index;
    bool listing, quiet;
    cio_http_log_format log;
};

/* Returns 0, or the exit status for a bad command line (-1: --help). */
static int parse_args(int argc, char **argv, struct config *c)
{
    *c = (struct config){
        .bind = "127.0.0.1", .port = DEFAULT_PORT, .listing = true, .log = CIO_HTTP_LOG_COMBINED};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        /* "--opt=value" and "--opt value" both work. */
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
#define VALUE()                                                                                    \
    do {                                                                                           \
        if (!val) {                                                                                \
            if (i + 1 >= argc) return bad("option '%s' needs a value", a);                         \
            val = argv[++i];                                                                       \
        }                                                                                          \
    } while (0)
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return -1;
        } else if (strcmp(a, "--port") == 0 || strcmp(a, "-p") == 0) {
            VALUE();
            if (!parse_long(val, 0, 65535, &c->port))
                return bad("--port: '%s' is not a port number (0..65535)", val);
        } else if (strcmp(a, "--bind") == 0 || strcmp(a, "-b") == 0) {
            VALUE();
            c->bind = val;
        } else if (strcmp(a, "--threads") == 0 || strcmp(a, "-t") == 0) {
            VALUE();
            if (!parse_long(val, 0, 1024, &c->threads))
                return bad("--threads: '%s' is not a count (0..1024; 0: one per CPU)", val);
        } else if (strcmp(a, "--tls-cert") == 0) {
            VALUE();
            c->cert = val;
        } else if (strcmp(a, "--tls-key") == 0) {
            VALUE();
            c->key = val;
        } else if (strcmp(a, "--index") == 0) {
            VALUE();
            if (!*val || strchr(val, '/') || strchr(val, '\\') || strcmp(val, ".") == 0 ||
                strcmp(val, "..") == 0 || strlen(val) > NAME_MAX)
                return bad("--index: '%s' is not a file name", val);
            c->index = val;
        } else if (strcmp(a, "--log") == 0) {
            VALUE();
            if (strcmp(val, "combined") == 0)
                c->log = CIO_HTTP_LOG_COMBINED;
            else if (strcmp(val, "common") == 0)
                c->log = CIO_HTTP_LOG_COMMON;
            else
                return bad("--log: '%s' is neither combined nor common", val);
        } else if (strcmp(a, "--no-listing") == 0 && !val) {
            c->listing = false;
        } else if (strcmp(a, "--quiet") == 0 && !val) {
            c->quiet = true;
        } else if (strcmp(a, "--") == 0 && !val) {
            if (i + 1 < argc && !c->dir) c->dir = argv[++i];
            if (i + 1 < argc) return bad("unexpected argument '%s'", argv[i + 1]);
        } else if (a[0] == '-' && a[1] != '\0') {
            return bad("unknown option '%s'", argv[i]);
        } else if (!c->dir) {
            c->dir = a;
        } else {
            return bad("unexpected argument '%s' (one directory only)", a);
        }
#undef VALUE
    }
    if (!c->dir) c->dir = ".";
    if (!c->cert != !c->key) return bad("%s", "--tls-cert and --tls-key go together");
    return 0;
}

/* Binds a socket without SO_REUSEPORT to addr and closes it: fails with
 * EADDRINUSE when anything holds the port, even another cio-serve (whose
 * SO_REUSEPORT would otherwise let a second one share the port silently).
 * Port 0 becomes the free port the kernel chose. */
static int probe_port(cio_addr *addr)
{
    int fd = socket(cio_addr_family(addr), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    /* SO_REUSEADDR: connections of an earlier server in TIME_WAIT do not
     * hold the port; a listening socket does. */
    int one = 1;
    int rc = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
                     bind(fd, &addr->u.sa, addr->len) == 0
                 ? 0
                 : -errno;
    cio_addr bound;
    if (rc == 0 && (rc = cio_socket_local(fd, &bound)) == 0) *addr = bound;
    close(fd);
    return rc;
}

/* Then binds (without listening) a socket with SO_REUSEPORT to that port
 * and keeps it while serving: the port is ours before the URL is printed,
 * and the loops of cio_http_run join it (a bound socket that does not
 * listen takes no connections). Returns the descriptor or a negative
 * errno. */
static int reserve_port(cio_addr *addr)
{
    int rc = probe_port(addr);
    if (rc < 0) return rc;
    int fd = socket(cio_addr_family(addr), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        bind(fd, &addr->u.sa, addr->len) != 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

/* The URL clients use: an unspecified bind address is reached on the
 * loopback; IPv6 literals go in brackets. */
static void print_url(const struct config *c, const cio_addr *bound)
{
    char host[INET6_ADDRSTRLEN + 16];
    if (cio_addr_format(bound, host, sizeof host) != 0) snprintf(host, sizeof host, "?");
    /* cio_addr_format writes "host:port" ("[v6]:port"): cut the port off. */
    char *colon = strrchr(host, ':');
    if (colon) *colon = '\0';
    if (strcmp(host, "0.0.0.0") == 0) snprintf(host, sizeof host, "127.0.0.1");
    if (strcmp(host, "[::]") == 0) snprintf(host, sizeof host, "[::1]");
    printf("Serving %s at %s://%s:%u/\n", c->dir, c->cert ? "https" : "http", host,
           (unsigned)cio_addr_port(bound));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct config cfg;
    int rc = parse_args(argc, argv, &cfg);
    if (rc == -1) return 0;
    if (rc) return rc;
    cio_addr addr;
    if (cio_addr_ip(cfg.bind, (uint16_t)cfg.port, &addr) != 0)
        return bad("--bind: '%s' is not an IPv4 or IPv6 address", cfg.bind);
    signal(SIGPIPE, SIG_IGN);

    cio_tls_config *tls = NULL;
    if (cfg.cert) {
        rc = cio_tls_config_new(&CIO_TLS_OPTIONS(.server = true, .cert_file = cfg.cert,
                                                 .key_file = cfg.key, .alpn = "http/1.1"),
                                &tls);
        if (rc < 0) {
            fprintf(stderr, "cio-serve: TLS certificate %s / key %s: %s\n", cfg.cert, cfg.key,
                    cio_strerror(rc));
            return 2;
        }
    }
    cio_http_app *app = NULL;
    rc = cio_http_app_new(&app);
    if (rc == 0)
        rc = cio_http_app_static(
            app, "/", cfg.dir,
            &CIO_HTTP_STATIC_OPTIONS(.index = cfg.index, .listing = cfg.listing));
    if (rc < 0) {
        fprintf(stderr, "cio-serve: %s: %s\n", cfg.dir, cio_strerror(rc));
        cio_http_app_free(app);
        cio_tls_config_free(tls);
        return rc == -ENOENT || rc == -ENOTDIR || rc == -EACCES ? 2 : 1;
    }
    int hold = reserve_port(&addr);
    if (hold < 0) {
        fprintf(stderr, "cio-serve: cannot listen on %s port %ld: %s\n", cfg.bind, cfg.port,
                cio_strerror(hold));
        cio_http_app_free(app);
        cio_tls_config_free(tls);
        return 1;
    }
    print_url(&cfg, &addr);
    /* Every core (or --threads loops); SIGINT and SIGTERM shut down
     * gracefully, and cio_http_run returns 0 then. */
    rc = cio_http_run(app, &addr,
                      &CIO_HTTP_SERVER_OPTIONS(.tls = tls, .access_log_fd = cfg.quiet ? 0 : 1,
                                               .access_log_format = cfg.log),
                      (size_t)cfg.threads);
    close(hold);
    if (rc < 0) fprintf(stderr, "cio-serve: %s\n", cio_strerror(rc));
    cio_http_app_free(app);
    cio_tls_config_free(tls);
    return rc < 0 ? 1 : 0;
}
