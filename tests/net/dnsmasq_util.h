/* A dnsmasq for tests: started on 127.0.0.1 and a port of its own, with
 * the records the test gives, never forwarding anything (no upstream
 * servers, no /etc/hosts, no /etc/resolv.conf); its names are under
 * ".test", a domain it answers for alone (unknown names: NXDOMAIN).
 *
 *   struct test_dnsmasq d;
 *   const char *recs[] = {"--host-record=a.test,127.0.0.5", NULL};
 *   test_dnsmasq_start(&d, recs);     fails the case if it cannot start
 *   ... resolver with .servers = d.servers ...
 *   test_dnsmasq_stop(&d);            kills and reaps it
 *
 * Extra arguments are dnsmasq options: --host-record=NAME,IPV4[,IPV6]
 * (also answers the PTR), --address=/NAME/IP, --addn-hosts=FILE (a hosts
 * file; test_dnsmasq_hosts_file writes one in the helper's temporary
 * directory), ...
 *
 * dnsmasq runs in the foreground (--keep-in-foreground) and serves TCP in
 * children of its own, which end when their client closes.
 *
 * The server dies with the test: it is killed with SIGKILL when the
 * process that started it dies (PR_SET_PDEATHSIG; dnsmasq keeps running
 * as root, --user=root, so the setting survives), so a case that fails
 * half-way leaves no dnsmasq behind. Readiness is an answered query (a
 * probe name), polled with a bound, never a sleep. Needs dnsmasq
 * (Debian's dnsmasq-base: /usr/sbin/dnsmasq). */
#ifndef CIO_TEST_DNSMASQ_UTIL_H
#define CIO_TEST_DNSMASQ_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

struct test_dnsmasq {
    pid_t pid;
    int port;
    char servers[32];  /* "127.0.0.1:PORT", for cio_resolver_options.servers */
    char dir[64];      /* a temporary directory of its own */
};

static inline const char *test_dnsmasq_path(void)
{
    static const char *const paths[] = {"/usr/sbin/dnsmasq", "/usr/bin/dnsmasq",
                                        "/sbin/dnsmasq"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

/* A free UDP port on 127.0.0.1 (bound and released: the caller retries if
 * another process takes it meanwhile). */
static inline int test_dnsmasq_free_port(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        FAIL("socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0)
        FAIL("bind: %s", strerror(errno));
    close(s);
    return ntohs(a.sin_port);
}

/* Sends one query for "probe.test" A to port and waits up to wait_ms for
 * any answer: 1 answered, 0 not. */
static inline int test_dnsmasq_probe(int port, int wait_ms)
{
    static const unsigned char q[] = {
        0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* header */
        5,    'p',  'r',  'o',  'b',  'e',  4,    't',  'e',  's',  't',  0,    /* name */
        0x00, 0x01, 0x00, 0x01};                                                /* A, IN */
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        FAIL("socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = 0;
    if (sendto(s, q, sizeof q, 0, (struct sockaddr *)&a, sizeof a) == (ssize_t)sizeof q) {
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (poll(&p, 1, wait_ms) == 1) {
            unsigned char buf[512];
            ssize_t n = recv(s, buf, sizeof buf, MSG_DONTWAIT);
            ok = n >= 12 && buf[0] == 0x12 && buf[1] == 0x34;
        }
    }
    close(s);
    return ok;
}

/* Writes a hosts file named name in d's directory (lines "ADDR NAME...")
 * and returns its path (static storage, valid until the next call). */
static inline const char *test_dnsmasq_hosts_file(struct test_dnsmasq *d, const char *name,
                                                  const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", d->dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        FAIL("fopen %s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
    return path;
}

/* Makes d's temporary directory (before test_dnsmasq_hosts_file). Called
 * by test_dnsmasq_start if not done yet. */
static inline void test_dnsmasq_init(struct test_dnsmasq *d)
{
    if (d->dir[0])
        return;
    snprintf(d->dir, sizeof d->dir, "/tmp/cio-dnsmasq-XXXXXX");
    if (!mkdtemp(d->dir))
        FAIL("mkdtemp: %s", strerror(errno));
}

static inline void test_dnsmasq_print_log(struct test_dnsmasq *d)
{
    char path[128], line[256];
    snprintf(path, sizeof path, "%s/dnsmasq.log", d->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f))
        fprintf(stderr, "dnsmasq log: %s", line);
    fclose(f);
}

static inline void test_dnsmasq_stop(struct test_dnsmasq *d)
{
    if (d->pid > 0) {
        kill(d->pid, SIGKILL);
        int st;
        while (waitpid(d->pid, &st, 0) < 0 && errno == EINTR) {
        }
        d->pid = 0;
    }
    if (d->dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->dir);
        if (system(cmd) != 0) {
        }
        d->dir[0] = 0;
    }
}

/* Starts dnsmasq with the extra arguments (NULL-terminated; NULL: none)
 * and waits until it answers (bounded: 20 s). Fails the case if it cannot.
 * d must be zeroed, or prepared by test_dnsmasq_init. */
static inline void test_dnsmasq_start(struct test_dnsmasq *d, const char *const *extra)
{
    const char *bin = test_dnsmasq_path();
    if (!bin)
        FAIL("dnsmasq is not installed (Debian: apt-get install dnsmasq-base)");
    test_dnsmasq_init(d);
    for (int attempt = 0; attempt < 20; attempt++) {
        int port = test_dnsmasq_free_port();
        char portarg[32];
        snprintf(portarg, sizeof portarg, "--port=%d", port);
        const char *argv[64];
        int n = 0;
        argv[n++] = bin;
        /* In the foreground, but not --no-daemon: that debug mode serves
         * TCP in the main process, which then blocks on a client's idle
         * TCP connection (c-ares keeps its own open) and answers no UDP. */
        argv[n++] = "--keep-in-foreground";
        argv[n++] = "--conf-file=/dev/null";
        argv[n++] = "--no-resolv";
        argv[n++] = "--no-hosts";
        argv[n++] = "--no-poll";
        argv[n++] = "--listen-address=127.0.0.1";
        argv[n++] = "--bind-interfaces";
        argv[n++] = "--user=root";
        argv[n++] = "--group=root";
        argv[n++] = "--pid-file=";
        argv[n++] = "--local=/test/";
        argv[n++] = "--cache-size=0";
        argv[n++] = "--host-record=probe.test,127.0.0.99";
        argv[n++] = "--log-facility=/dev/null";
        argv[n++] = portarg;
        for (int i = 0; extra && extra[i] && n < 63; i++)
            argv[n++] = extra[i];
        argv[n] = NULL;
        char logpath[128];
        snprintf(logpath, sizeof logpath, "%s/dnsmasq.log", d->dir);
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0)
            FAIL("fork: %s", strerror(errno));
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent)
                _exit(127);
            /* Its messages go to a log in its directory (printed if it
             * fails to start), not to the case's stderr. */
            int null = open("/dev/null", O_RDWR);
            int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (null >= 0) {
                dup2(null, 0);
                dup2(null, 1);
            }
            if (log >= 0)
                dup2(log, 2);
            execv(bin, (char *const *)argv);
            _exit(127);
        }
        d->pid = pid;
        d->port = port;
        snprintf(d->servers, sizeof d->servers, "127.0.0.1:%d", port);
        for (int i = 0; i < 200; i++) {
            if (test_dnsmasq_probe(port, 100))
                return;
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                d->pid = 0; /* exited: the port was taken meanwhile? try another */
                break;
            }
        }
        if (d->pid) {
            test_dnsmasq_stop(d);
            FAIL("dnsmasq did not answer on port %d", port);
        }
    }
    test_dnsmasq_print_log(d);
    FAIL("dnsmasq could not start");
}

#endif
