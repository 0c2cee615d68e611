/* cio_dns_resolve, cio_dns_resolve_cb, cio_dns_cancel, cio_dns_reverse and
 * cio_resolver_new/free against a dnsmasq the test starts on 127.0.0.1 and
 * a port of its own (tests/net/dnsmasq_util.h). Every resolver here gets
 * servers = that dnsmasq and no search domains unless the case is about
 * them: never the outside network, never the system's DNS servers. Runs
 * on both backends (the harness runs the program once per backend). */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cio.h>
#include <cio/dns.h>

#include "test.h"
#include "net/dnsmasq_util.h"
#include "loop/internal.h" /* cio__io_ctl_count */
#include "net/internal.h"  /* cio__dns_resolve_cb_on */

static struct test_dnsmasq dns;

static const char *const records[] = {
    "--host-record=four.test,127.0.0.5",
    "--host-record=six.test,::5",
    "--host-record=both.test,127.0.0.6,::6",
    "--host-record=two.test,127.0.0.7",
    "--host-record=two.test,127.0.0.8",
    "--host-record=short.example.test,127.0.0.9",
    "--host-record=lo.test,127.0.0.1,::1",
    "--host-record=ula.test,127.0.0.7,fd00::7",
    NULL,
};

/* A resolver on the local dnsmasq, no search list; a lost datagram is
 * sent again after a second. */
static cio_resolver *local_resolver(void)
{
    cio_resolver *r = NULL;
    EXPECT_OK(cio_resolver_new(
        &CIO_RESOLVER_OPTIONS(.servers = dns.servers, .search = "", .timeout = 1, .tries = 10),
        &r));
    EXPECT_TRUE(r != NULL);
    return r;
}

static void expect_addr(const cio_addr *a, const char *text)
{
    char buf[CIO_ADDR_STRLEN];
    EXPECT_OK(cio_addr_format(a, buf, sizeof buf));
    EXPECT_STR_EQ(text, buf);
}

/* Runs main under cio_run; dnsmasq started before and stopped after, the
 * descriptor count back to its baseline. */
static void run(cio_task_fn main, const char *const *extra)
{
    const char *args[32];
    int n = 0;
    for (int i = 0; records[i]; i++)
        args[n++] = records[i];
    for (int i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    memset(&dns, 0, sizeof dns);
    test_dnsmasq_start(&dns, args);
    int before = test_fd_baseline();
    int rc = cio_run(main, NULL, NULL);
    test_dnsmasq_stop(&dns);
    if (rc != 0)
        FAIL("main returned %s", cio_err_name(rc));
    EXPECT_EQ(before, test_fd_count());
}

/* ---- forward lookups ---------------------------------------------------- */

static int families_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_resolver *r = local_resolver();
    cio_addr a[8];
    /* A only */
    EXPECT_EQ(1, cio_dns_resolve(r, "four.test", 80, AF_UNSPEC, a, 8));
    expect_addr(&a[0], "127.0.0.5:80");
    EXPECT_EQ(1, cio_dns_resolve(r, "four.test", 81, AF_INET, a, 8));
    expect_addr(&a[0], "127.0.0.5:81");
    EXPECT_ERR(-ENODATA, cio_dns_resolve(r, "four.test", 80, AF_INET6, a, 8));
    /* AAAA only */
    EXPECT_EQ(1, cio_dns_resolve(r, "six.test", 443, AF_UNSPEC, a, 8));
    expect_addr(&a[0], "[::5]:443");
    EXPECT_EQ(1, cio_dns_resolve(r, "six.test", 443, AF_INET6, a, 8));
    expect_addr(&a[0], "[::5]:443");
    EXPECT_ERR(-ENODATA, cio_dns_resolve(r, "six.test", 80, AF_INET, a, 8));
    /* both, in RFC 6724's order: 127.0.0.6 before ::6 (an IPv4-compatible
     * address, precedence 1, when it is reachable at all) */
    EXPECT_EQ(2, cio_dns_resolve(r, "both.test", 7, AF_UNSPEC, a, 8));
    expect_addr(&a[0], "127.0.0.6:7");
    bool v4 = false, v6 = false;
    for (int i = 0; i < 2; i++) {
        char buf[CIO_ADDR_STRLEN];
        cio_addr_format(&a[i], buf, sizeof buf);
        v4 |= strcmp(buf, "127.0.0.6:7") == 0;
        v6 |= strcmp(buf, "[::6]:7") == 0;
    }
    EXPECT_TRUE(v4 && v6);
    EXPECT_EQ(1, cio_dns_resolve(r, "both.test", 7, AF_INET, a, 8));
    expect_addr(&a[0], "127.0.0.6:7");
    EXPECT_EQ(1, cio_dns_resolve(r, "both.test", 7, AF_INET6, a, 8));
    expect_addr(&a[0], "[::6]:7");
    /* RFC 6724: ::1 (precedence 50) before 127.0.0.1 (35) when this host
     * can reach ::1; a ULA with no route after 127.0.0.7 either way. */
    EXPECT_EQ(2, cio_dns_resolve(r, "lo.test", 1, AF_UNSPEC, a, 8));
    int s6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 lo6 = {.sin6_family = AF_INET6, .sin6_port = htons(9),
                               .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool v6ok = s6 >= 0 && connect(s6, (struct sockaddr *)&lo6, sizeof lo6) == 0;
    if (s6 >= 0)
        close(s6);
    expect_addr(&a[0], v6ok ? "[::1]:1" : "127.0.0.1:1");
    expect_addr(&a[1], v6ok ? "127.0.0.1:1" : "[::1]:1");
    EXPECT_EQ(2, cio_dns_resolve(r, "ula.test", 1, AF_UNSPEC, a, 8));
    expect_addr(&a[0], "127.0.0.7:1");
    expect_addr(&a[1], "[fd00::7]:1");
    /* max drops the rest, after sorting */
    EXPECT_EQ(1, cio_dns_resolve(r, "lo.test", 1, AF_UNSPEC, a, 1));
    expect_addr(&a[0], v6ok ? "[::1]:1" : "127.0.0.1:1");
    EXPECT_EQ(1, cio_dns_resolve(r, "both.test", 7, AF_UNSPEC, a, 1));
    /* two A records */
    EXPECT_EQ(2, cio_dns_resolve(r, "two.test", 1, AF_INET, a, 8));
    /* NXDOMAIN */
    EXPECT_ERR(-ENOENT, cio_dns_resolve(r, "nothere.test", 80, AF_UNSPEC, a, 8));
    EXPECT_ERR(-ENOENT, cio_dns_resolve(r, "nothere.test", 80, AF_INET, a, 8));
    cio_resolver_free(r);
    return 0;
}
TEST(resolve_families) { run(families_main, NULL); }

/* ---- callback form ---------------------------------------------------- */

struct cbres {
    int calls;
    int status;
    char first[CIO_ADDR_STRLEN];
    bool inside;
};

static void on_answer(int status, const cio_addr *addrs, size_t n, void *arg)
{
    struct cbres *c = arg;
    EXPECT_FALSE(c->inside);
    c->calls++;
    c->status = status;
    if (status > 0) {
        EXPECT_EQ(status, n);
        cio_addr_format(&addrs[0], c->first, sizeof c->first);
    } else {
        EXPECT_EQ(0, n);
        EXPECT_TRUE(addrs == NULL);
    }
}

static int cb_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_resolver *r = local_resolver();
    struct cbres c1 = {0}, c2 = {0}, c3 = {0}, c4 = {0};
    cio_dns_query *q = NULL;
    c1.inside = c2.inside = c3.inside = c4.inside = true;
    EXPECT_OK(cio_dns_resolve_cb(r, "four.test", 99, AF_INET, on_answer, &c1, &q));
    EXPECT_TRUE(q != NULL);
    EXPECT_OK(cio_dns_resolve_cb(r, "nothere.test", 99, AF_UNSPEC, on_answer, &c2, NULL));
    EXPECT_OK(cio_dns_resolve_cb(r, "127.0.0.1", 5, AF_UNSPEC, on_answer, &c3, NULL));
    EXPECT_OK(cio_dns_resolve_cb(r, "::1", 5, AF_INET, on_answer, &c4, NULL));
    c1.inside = c2.inside = c3.inside = c4.inside = false;
    for (int i = 0; i < 1000 && !(c1.calls && c2.calls && c3.calls && c4.calls); i++)
        EXPECT_OK(cio_sleep(0.005));
    EXPECT_EQ(1, c1.calls);
    EXPECT_EQ(1, c1.status);
    EXPECT_STR_EQ("127.0.0.5:99", c1.first);
    EXPECT_ERR(-ENOENT, c2.status);
    EXPECT_EQ(1, c3.status);
    EXPECT_STR_EQ("127.0.0.1:5", c3.first);
    EXPECT_ERR(-ENODATA, c4.status);
    cio_resolver_free(r);
    return 0;
}
TEST(resolve_callback) { run(cb_main, NULL); }

/* ---- a server that never answers -------------------------------------- */

/* A UDP socket bound on 127.0.0.1 that nobody reads: queries to it get no
 * answer (and no ICMP error). *servers gets its "127.0.0.1:PORT". */
static int silent_server(char *servers, size_t len)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT_TRUE(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    EXPECT_OK(bind(s, (struct sockaddr *)&a, sizeof a));
    EXPECT_OK(getsockname(s, (struct sockaddr *)&a, &alen));
    snprintf(servers, len, "127.0.0.1:%d", ntohs(a.sin_port));
    return s;
}

static int deadline_main(void *arg, void **res)
{
    (void)arg, (void)res;
    char servers[32];
    int s = silent_server(servers, sizeof servers);
    /* The task's deadline first (the resolver would wait a minute). */
    cio_resolver *r = NULL;
    EXPECT_OK(cio_resolver_new(
        &CIO_RESOLVER_OPTIONS(.servers = servers, .search = "", .timeout = 30, .tries = 2), &r));
    cio_addr a[4];
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 0.05));
    EXPECT_ERR(-ETIMEDOUT, cio_dns_resolve(r, "four.test", 80, AF_UNSPEC, a, 4));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&sc));
    /* Abandoned, and the resolver works on. */
    EXPECT_OK(cio_addr_ip("127.0.0.5", 0, &a[0]));
    EXPECT_OK(cio_timeout_begin(&sc, 0.05));
    EXPECT_ERR(-ETIMEDOUT, cio_dns_reverse(r, &a[0], (char[64]){0}, 64));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&sc));
    EXPECT_EQ(1, cio_dns_resolve(r, "127.0.0.3", 80, AF_UNSPEC, a, 4));
    cio_resolver_free(r);
    /* The resolver's own timeout and tries. */
    EXPECT_OK(cio_resolver_new(
        &CIO_RESOLVER_OPTIONS(.servers = servers, .search = "", .timeout = 0.05, .tries = 1),
        &r));
    EXPECT_ERR(-ETIMEDOUT, cio_dns_resolve(r, "four.test", 80, AF_UNSPEC, a, 4));
    EXPECT_ERR(-ETIMEDOUT, cio_dns_resolve(r, "four.test", 80, AF_INET6, a, 4));
    EXPECT_OK(cio_addr_ip("127.0.0.5", 0, &a[0]));
    char name[64];
    EXPECT_ERR(-ETIMEDOUT, cio_dns_reverse(r, &a[0], name, sizeof name));
    cio_resolver_free(r);
    close(s);
    return 0;
}
TEST(resolve_timeouts) { run(deadline_main, NULL); }

/* ---- many at once -------------------------------------------------------- */

enum { MANY = 1000 };

struct many {
    cio_resolver *r;
    int i;
    int ok;
};

static int many_task(void *arg, void **res)
{
    (void)res;
    struct many *m = arg;
    char name[32], want[32];
    snprintf(name, sizeof name, "n%d.test", m->i);
    snprintf(want, sizeof want, "127.1.%d.%d:%d", m->i / 256, m->i % 256, m->i);
    cio_addr a[4];
    int n = cio_dns_resolve(m->r, name, (uint16_t)m->i, AF_INET, a, 4);
    if (n != 1)
        FAIL("%s: %s", name, cio_err_name(n));
    char buf[CIO_ADDR_STRLEN];
    EXPECT_OK(cio_addr_format(&a[0], buf, sizeof buf));
    EXPECT_STR_EQ(want, buf);
    m->ok = 1;
    return 0;
}

static int many_main(void *arg, void **res)
{
    (void)arg, (void)res;
    /* Lost datagrams (a burst larger than the server's socket buffer) are
     * retried: a short timeout, many tries. */
    cio_resolver *r = NULL;
    EXPECT_OK(cio_resolver_new(
        &CIO_RESOLVER_OPTIONS(.servers = dns.servers, .search = "", .timeout = 0.5, .tries = 20),
        &r));
    static struct many m[MANY];
    cio_task *t[MANY];
    for (int i = 0; i < MANY; i++) {
        m[i] = (struct many){r, i, 0};
        EXPECT_OK(cio_spawn(many_task, &m[i], &t[i]));
    }
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 120));
    EXPECT_OK(cio_gather(t, MANY, 0, NULL));
    EXPECT_OK(cio_scope_end(&sc));
    for (int i = 0; i < MANY; i++) {
        EXPECT_TRUE(m[i].ok);
        cio_future_unref(t[i]);
    }
    cio_resolver_free(r);
    return 0;
}
TEST_T(resolve_many, 200)
{
    memset(&dns, 0, sizeof dns);
    test_dnsmasq_init(&dns);
    static char text[MANY * 40];
    size_t off = 0;
    for (int i = 0; i < MANY; i++)
        off += (size_t)snprintf(text + off, sizeof text - off, "127.1.%d.%d n%d.test\n", i / 256,
                                i % 256, i);
    static char arg[160];
    snprintf(arg, sizeof arg, "--addn-hosts=%s", test_dnsmasq_hosts_file(&dns, "hosts", text));
    const char *extra[] = {arg, NULL};
    const char *args[32];
    int n = 0;
    for (int i = 0; records[i]; i++)
        args[n++] = records[i];
    args[n++] = extra[0];
    args[n] = NULL;
    test_dnsmasq_start(&dns, args);
    int before = test_fd_baseline();
    int rc = cio_run(many_main, NULL, NULL);
    test_dnsmasq_stop(&dns);
    EXPECT_OK(rc);
    EXPECT_EQ(before, test_fd_count());
}

/* ---- a large answer: truncated over UDP, asked again over TCP ---------------- */

enum { BIG = 60 };

static int big_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_resolver *r = local_resolver();
    cio_addr a[BIG + 4];
    /* 60 A records do not fit in 512 bytes: c-ares gets a truncated
     * answer and asks again over TCP (its socket: connect, write, read). */
    for (int round = 0; round < 3; round++) {
        EXPECT_EQ(BIG, cio_dns_resolve(r, "big.test", 5, AF_INET, a, BIG + 4));
        bool seen[BIG] = {false};
        for (int i = 0; i < BIG; i++) {
            EXPECT_EQ(AF_INET, cio_addr_family(&a[i]));
            uint32_t ip = ntohl(a[i].u.in4.sin_addr.s_addr);
            EXPECT_EQ(0x7f020000u, ip & 0xffffff00u);
            EXPECT_TRUE((ip & 0xff) < BIG);
            seen[ip & 0xff] = true;
        }
        for (int i = 0; i < BIG; i++)
            EXPECT_TRUE(seen[i]);
        /* fewer asked than there are: the first ones in the order to try */
        EXPECT_EQ(3, cio_dns_resolve(r, "big.test", 5, AF_INET, a, 3));
    }
    /* The callback form, several at once. */
    struct cbres c[4] = {{0}};
    for (int i = 0; i < 4; i++)
        EXPECT_OK(cio_dns_resolve_cb(r, "big.test", 6, AF_UNSPEC, on_answer, &c[i], NULL));
    for (int i = 0; i < 2000 && !(c[0].calls && c[1].calls && c[2].calls && c[3].calls); i++)
        EXPECT_OK(cio_sleep(0.005));
    for (int i = 0; i < 4; i++) {
        EXPECT_EQ(1, c[i].calls);
        EXPECT_EQ(BIG, c[i].status);
    }
    cio_resolver_free(r);
    return 0;
}
TEST(truncated_answer_over_tcp)
{
    memset(&dns, 0, sizeof dns);
    test_dnsmasq_init(&dns);
    char text[BIG * 32];
    size_t off = 0;
    for (int i = 0; i < BIG; i++)
        off += (size_t)snprintf(text + off, sizeof text - off, "127.2.0.%d big.test\n", i);
    static char arg[160];
    snprintf(arg, sizeof arg, "--addn-hosts=%s", test_dnsmasq_hosts_file(&dns, "big", text));
    const char *args[] = {arg, NULL};
    test_dnsmasq_start(&dns, args);
    int before = test_fd_baseline();
    int rc = cio_run(big_main, NULL, NULL);
    test_dnsmasq_stop(&dns);
    EXPECT_OK(rc);
    EXPECT_EQ(before, test_fd_count());
}

/* ---- cancellation ---------------------------------------------------------- */

static int lookup_task(void *arg, void **res)
{
    (void)res;
    cio_resolver *r = arg;
    cio_addr a[2];
    return cio_dns_resolve(r, "four.test", 80, AF_UNSPEC, a, 2);
}

static void never(int status, const cio_addr *addrs, size_t n, void *arg)
{
    (void)status, (void)addrs, (void)n, (void)arg;
    FAIL("a cancelled lookup's callback was called");
}

static int cancel_main(void *arg, void **res)
{
    (void)arg, (void)res;
    char servers[32];
    int s = silent_server(servers, sizeof servers);
    cio_resolver *r = NULL;
    EXPECT_OK(cio_resolver_new(
        &CIO_RESOLVER_OPTIONS(.servers = servers, .search = "", .timeout = 30, .tries = 1), &r));
    /* A task cancelled mid-lookup. */
    cio_task *t;
    EXPECT_OK(cio_spawn(lookup_task, r, &t));
    EXPECT_OK(cio_yield()); /* it starts its lookup and waits */
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    cio_future_unref(t);
    /* Callback lookups cancelled: in flight, and answered (a numeric
     * host's answer waits for the loop) but not yet delivered. */
    cio_dns_query *q1, *q2;
    EXPECT_OK(cio_dns_resolve_cb(r, "four.test", 80, AF_UNSPEC, never, NULL, &q1));
    EXPECT_OK(cio_dns_resolve_cb(r, "::1", 80, AF_UNSPEC, never, NULL, &q2));
    EXPECT_OK(cio_dns_cancel(q1));
    EXPECT_OK(cio_dns_cancel(q2));
    EXPECT_ERR(-EINVAL, cio_dns_cancel(NULL));
    EXPECT_OK(cio_sleep(0.02));
    /* The resolver keeps working on a real server after all that. */
    cio_resolver_free(r);
    r = local_resolver();
    EXPECT_OK(cio_dns_resolve_cb(r, "four.test", 80, AF_UNSPEC, never, NULL, &q1));
    EXPECT_OK(cio_dns_cancel(q1));
    cio_addr a[2];
    EXPECT_EQ(1, cio_dns_resolve(r, "four.test", 80, AF_UNSPEC, a, 2));
    EXPECT_OK(cio_sleep(0.02));
    cio_resolver_free(r);
    close(s);
    return 0;
}
TEST(resolve_cancel) { run(cancel_main, NULL); }

/* ---- cio_resolver_free with lookups in flight ------------------------------ */

static int free_main(void *arg, void **res)
{
    (void)arg, (void)res;
    char servers[32];
    int s = silent_server(servers, sizeof servers);
    cio_resolver *r = NULL;
    EXPECT_OK(cio_resolver_new(
        &CIO_RESOLVER_OPTIONS(.servers = servers, .search = "", .timeout = 30, .tries = 1), &r));
    cio_task *t[3];
    for (int i = 0; i < 3; i++)
        EXPECT_OK(cio_spawn(lookup_task, r, &t[i]));
    struct cbres c = {0};
    EXPECT_OK(cio_dns_resolve_cb(r, "four.test", 80, AF_UNSPEC, on_answer, &c, NULL));
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_yield());
    c.inside = true;
    cio_resolver_free(r); /* the callback comes from the loop, not from here */
    c.inside = false;
    EXPECT_EQ(0, c.calls);
    for (int i = 0; i < 3; i++) {
        EXPECT_ERR(-ECANCELED, cio_await(t[i], NULL));
        cio_future_unref(t[i]);
    }
    for (int i = 0; i < 100 && !c.calls; i++)
        EXPECT_OK(cio_yield());
    EXPECT_EQ(1, c.calls);
    EXPECT_ERR(-ECANCELED, c.status);
    cio_resolver_free(NULL);
    close(s);
    return 0;
}
TEST(resolver_free_in_flight) { run(free_main, NULL); }

/* ---- reverse lookups -------------------------------------------------------- */

/* Whether /etc/hosts maps ip to name first (the reverse lookup's answer). */
static bool hosts_has(const char *ip, const char *name)
{
    FILE *f = fopen("/etc/hosts", "r");
    if (!f)
        return false;
    char line[512];
    bool found = false, seen = false;
    while (!seen && fgets(line, sizeof line, f)) {
        char a[128], n[256];
        if (line[0] == '#' || sscanf(line, "%127s %255s", a, n) != 2)
            continue;
        if (strcmp(a, ip) == 0) {
            seen = true; /* the first line for ip gives the reverse answer */
            found = strcmp(n, name) == 0;
        }
    }
    fclose(f);
    return found;
}

static const char *const reverse_zones[] = {"--local=/in-addr.arpa/", "--local=/ip6.arpa/", NULL};

static int reverse_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_resolver *r = local_resolver();
    cio_addr a;
    char name[256];
    EXPECT_OK(cio_addr_ip("127.0.0.5", 80, &a));
    EXPECT_OK(cio_dns_reverse(r, &a, name, sizeof name));
    EXPECT_STR_EQ("four.test", name);
    EXPECT_ERR(-ENAMETOOLONG, cio_dns_reverse(r, &a, name, 9)); /* "four.test" + NUL is 10 */
    EXPECT_OK(cio_dns_reverse(r, &a, name, 10));
    EXPECT_OK(cio_addr_ip("::5", 80, &a));
    EXPECT_OK(cio_dns_reverse(r, &a, name, sizeof name));
    EXPECT_STR_EQ("six.test", name);
    EXPECT_OK(cio_addr_ip("127.0.0.200", 80, &a));
    EXPECT_ERR(-ENOENT, cio_dns_reverse(r, &a, name, sizeof name));
    /* /etc/hosts first (no query: the answer is the file's). */
    EXPECT_OK(cio_addr_ip("127.0.0.1", 0, &a));
    if (hosts_has("127.0.0.1", "localhost")) {
        EXPECT_OK(cio_dns_reverse(r, &a, name, sizeof name));
        EXPECT_STR_EQ("localhost", name);
        EXPECT_ERR(-ENAMETOOLONG, cio_dns_reverse(r, &a, name, 9));
    }
    /* Argument checks. */
    EXPECT_ERR(-EINVAL, cio_dns_reverse(r, NULL, name, sizeof name));
    EXPECT_ERR(-EINVAL, cio_dns_reverse(r, &a, NULL, sizeof name));
    EXPECT_ERR(-EINVAL, cio_dns_reverse(r, &a, name, 0));
    cio_addr u;
    EXPECT_OK(cio_addr_unix("/tmp/x", &u));
    EXPECT_ERR(-EINVAL, cio_dns_reverse(r, &u, name, sizeof name));
    cio_addr none = {0};
    EXPECT_ERR(-EINVAL, cio_dns_reverse(r, &none, name, sizeof name));
    cio_resolver_free(r);
    /* no_hosts: the server's answer only. */
    EXPECT_OK(cio_resolver_new(&CIO_RESOLVER_OPTIONS(.servers = dns.servers, .search = "",
                                                     .no_hosts = true),
                               &r));
    EXPECT_OK(cio_addr_ip("127.0.0.6", 0, &a));
    EXPECT_OK(cio_dns_reverse(r, &a, name, sizeof name));
    EXPECT_STR_EQ("both.test", name);
    cio_resolver_free(r);
    return 0;
}
TEST(reverse) { run(reverse_main, reverse_zones); }

/* ---- /etc/hosts and the search list ------------------------------------------ */

/* A name of /etc/hosts with an IPv4 address, not localhost's: its
 * address into ip (empty if none). dnsmasq is told another address for
 * it, so the answer shows who gave it. */
static char hosts_name[128], hosts_ip[64], hosts_arg[200];

static void pick_hosts_name(void)
{
    hosts_name[0] = hosts_ip[0] = 0;
    FILE *f = fopen("/etc/hosts", "r");
    if (!f)
        return;
    char line[512];
    while (!hosts_name[0] && fgets(line, sizeof line, f)) {
        char a[64], n[128];
        struct in_addr in;
        if (line[0] == '#' || sscanf(line, "%63s %127s", a, n) != 2 ||
            inet_pton(AF_INET, a, &in) != 1 || strstr(n, "localhost") || strchr(n, '.'))
            continue;
        strcpy(hosts_name, n);
        strcpy(hosts_ip, a);
    }
    fclose(f);
}

static int hosts_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_addr a[4];
    char want[96];
    cio_resolver *r = NULL;
    if (hosts_name[0]) {
        /* /etc/hosts first, unless no_hosts. */
        r = local_resolver();
        EXPECT_EQ(1, cio_dns_resolve(r, hosts_name, 1, AF_INET, a, 4));
        snprintf(want, sizeof want, "%s:1", hosts_ip);
        expect_addr(&a[0], want);
        cio_resolver_free(r);
        EXPECT_OK(cio_resolver_new(&CIO_RESOLVER_OPTIONS(.servers = dns.servers, .search = "",
                                                         .no_hosts = true),
                                   &r));
        EXPECT_EQ(1, cio_dns_resolve(r, hosts_name, 1, AF_INET, a, 4));
        expect_addr(&a[0], "127.0.0.42:1");
        cio_resolver_free(r);
    }
    if (hosts_has("127.0.0.1", "localhost")) {
        r = local_resolver();
        EXPECT_EQ(1, cio_dns_resolve(r, "localhost", 2, AF_INET, a, 4));
        expect_addr(&a[0], "127.0.0.1:2");
        cio_resolver_free(r);
    }
    /* localhost is the loopback addresses whatever the file and the
     * servers say (RFC 6761). */
    EXPECT_OK(cio_resolver_new(&CIO_RESOLVER_OPTIONS(.servers = dns.servers, .search = "",
                                                     .no_hosts = true),
                               &r));
    EXPECT_EQ(1, cio_dns_resolve(r, "localhost", 3, AF_INET, a, 4));
    expect_addr(&a[0], "127.0.0.1:3");
    EXPECT_EQ(1, cio_dns_resolve(r, "LocalHost.", 3, AF_INET6, a, 4));
    expect_addr(&a[0], "[::1]:3");
    EXPECT_EQ(2, cio_dns_resolve(r, "a.localhost", 3, AF_UNSPEC, a, 4));
    expect_addr(&a[0], "[::1]:3");
    expect_addr(&a[1], "127.0.0.1:3");
    struct cbres c = {0};
    EXPECT_OK(cio_dns_resolve_cb(r, "localhost", 4, AF_UNSPEC, on_answer, &c, NULL));
    for (int i = 0; i < 100 && !c.calls; i++)
        EXPECT_OK(cio_sleep(0.001));
    EXPECT_EQ(2, c.status);
    EXPECT_STR_EQ("[::1]:4", c.first);
    /* Not a name under localhost. */
    EXPECT_ERR(-ENOENT, cio_dns_resolve(r, "notlocalhost.test", 3, AF_INET, a, 4));
    cio_resolver_free(r);
    return 0;
}
TEST(etc_hosts)
{
    pick_hosts_name();
    snprintf(hosts_arg, sizeof hosts_arg, "--address=/%s/127.0.0.42",
             hosts_name[0] ? hosts_name : "unused.test");
    const char *extra[] = {hosts_arg, NULL};
    run(hosts_main, extra);
}

static int search_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_addr a[4];
    cio_resolver *r = NULL;
    /* "short" has fewer dots than ndots (1): the search domains first, in
     * order; the first one has no such name. */
    EXPECT_OK(cio_resolver_new(&CIO_RESOLVER_OPTIONS(.servers = dns.servers,
                                                     .search = "nope.test,example.test"),
                               &r));
    EXPECT_EQ(1, cio_dns_resolve(r, "short", 3, AF_INET, a, 4));
    expect_addr(&a[0], "127.0.0.9:3");
    /* A name with enough dots is tried as given first. */
    EXPECT_EQ(1, cio_dns_resolve(r, "four.test", 3, AF_INET, a, 4));
    expect_addr(&a[0], "127.0.0.5:3");
    /* A final dot: as given only. */
    EXPECT_ERR(-ENOENT, cio_dns_resolve(r, "short.test.", 3, AF_INET, a, 4));
    cio_resolver_free(r);
    /* ndots 3: "short.example" is searched first too. */
    EXPECT_OK(cio_resolver_new(&CIO_RESOLVER_OPTIONS(.servers = dns.servers, .search = "test",
                                                     .ndots = 3),
                               &r));
    EXPECT_EQ(1, cio_dns_resolve(r, "short.example", 4, AF_INET, a, 4));
    expect_addr(&a[0], "127.0.0.9:4");
    cio_resolver_free(r);
    /* No search list: "short" alone is not a name. */
    r = local_resolver();
    EXPECT_TRUE(cio_dns_resolve(r, "short", 3, AF_INET, a, 4) < 0);
    cio_resolver_free(r);
    return 0;
}
TEST(search_list) { run(search_main, NULL); }

/* ---- numeric hosts: no query ------------------------------------------------ */

static int numeric_main(void *arg, void **res)
{
    (void)arg, (void)res;
    /* A port nobody listens on: every query would be refused. */
    char servers[32];
    int s = silent_server(servers, sizeof servers);
    close(s);
    cio_resolver *r = NULL;
    EXPECT_OK(cio_resolver_new(
        &CIO_RESOLVER_OPTIONS(.servers = servers, .search = "", .timeout = 5, .tries = 2), &r));
    cio_addr a[2];
    EXPECT_EQ(1, cio_dns_resolve(r, "::1", 8080, AF_UNSPEC, a, 2));
    expect_addr(&a[0], "[::1]:8080");
    EXPECT_EQ(1, cio_dns_resolve(r, "::1", 8080, AF_INET6, a, 2));
    EXPECT_EQ(1, cio_dns_resolve(r, "127.0.0.1", 53, AF_INET, a, 2));
    expect_addr(&a[0], "127.0.0.1:53");
    EXPECT_ERR(-ENODATA, cio_dns_resolve(r, "127.0.0.1", 53, AF_INET6, a, 2));
    EXPECT_ERR(-ENODATA, cio_dns_resolve(r, "::1", 53, AF_INET, a, 2));
    /* A name does need the server: refused. */
    EXPECT_ERR(-ECONNREFUSED, cio_dns_resolve(r, "four.test", 80, AF_INET, a, 2));
    cio_resolver_free(r);
    return 0;
}
TEST(numeric_without_query) { run(numeric_main, NULL); }

/* ---- the answer codes, from a server of the test's own ------------------------ */

struct fake {
    cio_udp *u;
    int rcode; /* the answer's RCODE; -1: a malformed answer (one answer
                * announced, none there) */
};

static int fake_server(void *arg, void **res)
{
    (void)res;
    struct fake *f = arg;
    for (;;) {
        unsigned char buf[512];
        cio_addr from;
        ssize_t n = cio_udp_recv(f->u, buf, sizeof buf, &from);
        if (n < 0)
            return (int)n; /* -ECANCELED: the case is over */
        if (n < 12 || n > (ssize_t)sizeof buf)
            continue;
        buf[2] |= 0x80; /* QR: an answer */
        if (f->rcode >= 0) {
            buf[3] = (unsigned char)((buf[3] & 0xf0) | f->rcode);
        } else {
            buf[6] = 0;
            buf[7] = 1; /* ANCOUNT 1, and no answer follows */
        }
        buf[10] = buf[11] = 0; /* no additional records (EDNS) */
        cio_udp_send(f->u, buf, (size_t)n, &from);
    }
}

static int rcode_main(void *arg, void **res)
{
    (void)arg, (void)res;
    static const struct {
        int rcode, err;
    } cases[] = {{2, -EAGAIN}, {5, -ECONNREFUSED}, {1, -EPROTO}, {-1, -EPROTO}, {3, -ENOENT}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct fake f = {NULL, cases[i].rcode};
        cio_addr any, local;
        EXPECT_OK(cio_addr_ip("127.0.0.1", 0, &any));
        EXPECT_OK(cio_udp_new(&any, NULL, &f.u));
        EXPECT_OK(cio_udp_local(f.u, &local));
        char servers[CIO_ADDR_STRLEN];
        EXPECT_OK(cio_addr_format(&local, servers, sizeof servers));
        cio_task *t;
        EXPECT_OK(cio_spawn(fake_server, &f, &t));
        cio_resolver *r = NULL;
        EXPECT_OK(cio_resolver_new(&CIO_RESOLVER_OPTIONS(.servers = servers, .search = "",
                                                         .timeout = 10, .tries = 1),
                                   &r));
        cio_addr a[2];
        int rc = cio_dns_resolve(r, "x.test", 80, AF_INET, a, 2);
        if (rc != cases[i].err)
            FAIL("rcode %d: expected %s, got %s", cases[i].rcode, cio_err_name(cases[i].err),
                 cio_err_name(rc));
        cio_resolver_free(r);
        EXPECT_OK(cio_future_cancel(t));
        EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
        cio_future_unref(t);
        EXPECT_OK(cio_udp_close(f.u));
    }
    return 0;
}
TEST(answer_codes) { run(rcode_main, NULL); }

/* ---- several servers: the next one is asked when one fails --------------------- */

static struct fake *fake_start(const char *ip, int rcode, cio_task **t, char *addr, size_t len)
{
    static struct fake fakes[4];
    static int nf;
    struct fake *f = &fakes[nf++ % 4];
    *f = (struct fake){NULL, rcode};
    cio_addr any, local;
    EXPECT_OK(cio_addr_ip(ip, 0, &any));
    if (cio_udp_new(&any, NULL, &f->u) != 0)
        return NULL; /* no IPv6 here */
    EXPECT_OK(cio_udp_local(f->u, &local));
    EXPECT_OK(cio_addr_format(&local, addr, len));
    EXPECT_OK(cio_spawn(fake_server, f, t));
    return f;
}

static void fake_stop(struct fake *f, cio_task *t)
{
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    cio_future_unref(t);
    EXPECT_OK(cio_udp_close(f->u));
}

static int failover_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_addr a[2];
    char dead[32], servers[2 * CIO_ADDR_STRLEN + 8], f1[CIO_ADDR_STRLEN], f2[CIO_ADDR_STRLEN];
    close(silent_server(dead, sizeof dead)); /* nobody listens: refused */
    cio_resolver *r = NULL;
    /* A refused server first, then dnsmasq. */
    snprintf(servers, sizeof servers, "%s,%s", dead, dns.servers);
    EXPECT_OK(cio_resolver_new(&CIO_RESOLVER_OPTIONS(.servers = servers, .search = "",
                                                     .timeout = 5, .tries = 2),
                               &r));
    EXPECT_EQ(1, cio_dns_resolve(r, "four.test", 1, AF_INET, a, 2));
    expect_addr(&a[0], "127.0.0.5:1");
    cio_resolver_free(r);
    /* A server answering SERVFAIL first, then dnsmasq. */
    cio_task *t1, *t2;
    struct fake *s1 = fake_start("127.0.0.1", 2, &t1, f1, sizeof f1);
    snprintf(servers, sizeof servers, "%s,%s", f1, dns.servers);
    EXPECT_OK(cio_resolver_new(&CIO_RESOLVER_OPTIONS(.servers = servers, .search = "",
                                                     .timeout = 5, .tries = 2),
                               &r));
    EXPECT_EQ(1, cio_dns_resolve(r, "four.test", 1, AF_INET, a, 2));
    expect_addr(&a[0], "127.0.0.5:1");
    cio_resolver_free(r);
    /* Two servers answering SERVFAIL: c-ares 1.18 says refused. */
    struct fake *s2 = fake_start("127.0.0.1", 2, &t2, f2, sizeof f2);
    snprintf(servers, sizeof servers, "%s,%s", f1, f2);
    EXPECT_OK(cio_resolver_new(&CIO_RESOLVER_OPTIONS(.servers = servers, .search = "",
                                                     .timeout = 5, .tries = 1),
                               &r));
    EXPECT_ERR(-ECONNREFUSED, cio_dns_resolve(r, "four.test", 1, AF_INET, a, 2));
    cio_resolver_free(r);
    fake_stop(s2, t2);
    fake_stop(s1, t1);
    /* An IPv6 server ("[::1]:PORT"), if this host has IPv6. */
    struct fake *s6 = fake_start("::1", 3, &t1, f1, sizeof f1);
    if (s6) {
        EXPECT_TRUE(f1[0] == '[');
        EXPECT_OK(cio_resolver_new(&CIO_RESOLVER_OPTIONS(.servers = f1, .search = "",
                                                         .timeout = 5, .tries = 1),
                                   &r));
        EXPECT_ERR(-ENOENT, cio_dns_resolve(r, "four.test", 1, AF_INET6, a, 2));
        cio_resolver_free(r);
        fake_stop(s6, t1);
    }
    return 0;
}
TEST(several_servers) { run(failover_main, NULL); }

/* ---- a late answer to an abandoned lookup, while another is active --------- */

struct holder {
    cio_udp *u;
    cio_event *go; /* answer what was held */
    int held;
};

/* Holds two queries, then, once told, answers both with NXDOMAIN. */
static int hold_server(void *arg, void **res)
{
    (void)res;
    struct holder *h = arg;
    unsigned char q[2][512];
    size_t len[2];
    cio_addr from[2];
    while (h->held < 2) {
        ssize_t n = cio_udp_recv(h->u, q[h->held], sizeof q[0], &from[h->held]);
        if (n < 0)
            return (int)n;
        if (n < 12 || n > 512)
            continue;
        len[h->held++] = (size_t)n;
    }
    int rc = cio_event_wait(h->go);
    if (rc)
        return rc;
    for (int i = 0; i < 2; i++) {
        q[i][2] |= 0x80;
        q[i][3] = (unsigned char)((q[i][3] & 0xf0) | 3);
        q[i][10] = q[i][11] = 0;
        cio_udp_send(h->u, q[i], len[i], &from[i]);
    }
    return 0;
}

static int slow_lookup(void *arg, void **res)
{
    (void)res;
    cio_addr a[2];
    return cio_dns_resolve(arg, "late.test", 80, AF_INET, a, 2);
}

static int late_main(void *arg, void **res)
{
    (void)arg, (void)res;
    struct holder h = {0};
    cio_addr any, local;
    EXPECT_OK(cio_addr_ip("127.0.0.1", 0, &any));
    EXPECT_OK(cio_udp_new(&any, NULL, &h.u));
    EXPECT_OK(cio_udp_local(h.u, &local));
    EXPECT_OK(cio_event_new(&h.go));
    char servers[CIO_ADDR_STRLEN];
    EXPECT_OK(cio_addr_format(&local, servers, sizeof servers));
    cio_task *srv, *b;
    EXPECT_OK(cio_spawn(hold_server, &h, &srv));
    cio_resolver *r = NULL;
    EXPECT_OK(cio_resolver_new(
        &CIO_RESOLVER_OPTIONS(.servers = servers, .search = "", .timeout = 30, .tries = 1), &r));
    /* B's lookup stays active throughout. */
    EXPECT_OK(cio_spawn(slow_lookup, r, &b));
    /* A's gives up once the server holds both queries. */
    cio_addr a[2];
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_task *t;
    EXPECT_OK(cio_spawn(slow_lookup, r, &t));
    for (int i = 0; i < 10000 && h.held < 2; i++)
        EXPECT_OK(cio_sleep(0.001));
    EXPECT_EQ(2, h.held);
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, cio_await(t, NULL));
    cio_future_unref(t);
    /* Both answers come: A's is dropped (its task is gone), B's ends B. */
    cio_event_set(h.go);
    EXPECT_ERR(-ENOENT, cio_await(b, NULL));
    cio_future_unref(b);
    EXPECT_OK(cio_await(srv, NULL));
    cio_future_unref(srv);
    EXPECT_OK(cio_scope_end(&sc));
    /* The resolver works on. */
    EXPECT_EQ(1, cio_dns_resolve(r, "127.0.0.1", 1, AF_INET, a, 2));
    cio_resolver_free(r);
    EXPECT_OK(cio_udp_close(h.u));
    EXPECT_OK(cio_event_free(h.go));
    return 0;
}
TEST(late_answer_after_abandon) { run(late_main, NULL); }

/* ---- argument checks, the default resolver ------------------------------------- */

static void on_numeric(int status, const cio_addr *addrs, size_t n, void *arg)
{
    int *got = arg;
    EXPECT_EQ(1, status);
    EXPECT_EQ(1, n);
    char buf[CIO_ADDR_STRLEN];
    EXPECT_OK(cio_addr_format(&addrs[0], buf, sizeof buf));
    EXPECT_STR_EQ("[::1]:7", buf);
    (*got)++;
}

static int args_main(void *arg, void **res)
{
    (void)arg, (void)res;
    cio_resolver *r = local_resolver();
    cio_addr a[2];
    EXPECT_ERR(-EINVAL, cio_dns_resolve(r, NULL, 80, AF_UNSPEC, a, 2));
    EXPECT_ERR(-EINVAL, cio_dns_resolve(r, "four.test", 80, AF_UNSPEC, NULL, 2));
    EXPECT_ERR(-EINVAL, cio_dns_resolve(r, "four.test", 80, AF_UNSPEC, a, 0));
    EXPECT_ERR(-EINVAL, cio_dns_resolve(r, "four.test", 80, AF_UNIX, a, 2));
    EXPECT_ERR(-EINVAL, cio_dns_resolve(r, "", 80, AF_UNSPEC, a, 2));
    EXPECT_ERR(-EINVAL, cio_dns_resolve(r, "a..test", 80, AF_UNSPEC, a, 2));
    EXPECT_ERR(-EINVAL, cio_dns_resolve(r, ".", 80, AF_UNSPEC, a, 2));
    EXPECT_ERR(-EINVAL, cio_dns_resolve(r, "a b.test", 80, AF_UNSPEC, a, 2));
    char label[80];
    memset(label, 'x', 64);
    strcpy(label + 64, ".test");
    EXPECT_ERR(-EINVAL, cio_dns_resolve(r, label, 80, AF_UNSPEC, a, 2));
    char longname[300];
    for (int i = 0; i < 290; i += 2)
        memcpy(longname + i, "a.", 2);
    strcpy(longname + 290, "test");
    EXPECT_ERR(-EINVAL, cio_dns_resolve(r, longname, 80, AF_UNSPEC, a, 2));
    EXPECT_ERR(-EINVAL, cio_dns_resolve_cb(r, NULL, 80, AF_UNSPEC, on_numeric, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_dns_resolve_cb(r, "four.test", 80, AF_UNSPEC, NULL, NULL, NULL));
    EXPECT_ERR(-EINVAL, cio_dns_resolve_cb(r, "four.test", 80, 12345, on_numeric, NULL, NULL));
    cio_dns_query *q = (cio_dns_query *)1;
    EXPECT_ERR(-EINVAL, cio_dns_resolve_cb(r, "a..b", 80, AF_UNSPEC, on_numeric, NULL, &q));
    EXPECT_TRUE(q == NULL);
    cio_resolver_free(r);
    /* The loop's default: numeric hosts and /etc/hosts need no server
     * (nothing here may reach the system's servers). */
    EXPECT_EQ(1, cio_dns_resolve(NULL, "127.0.0.1", 5, AF_UNSPEC, a, 2));
    expect_addr(&a[0], "127.0.0.1:5");
    int got = 0;
    EXPECT_OK(cio_dns_resolve_cb(NULL, "::1", 7, AF_UNSPEC, on_numeric, &got, NULL));
    EXPECT_EQ(0, got); /* never from inside the call */
    for (int i = 0; i < 100 && !got; i++)
        EXPECT_OK(cio_yield());
    EXPECT_EQ(1, got);
    if (hosts_has("127.0.0.1", "localhost")) {
        EXPECT_EQ(1, cio_dns_resolve(NULL, "localhost", 9, AF_INET, a, 2));
        expect_addr(&a[0], "127.0.0.1:9");
        char name[64];
        EXPECT_OK(cio_dns_reverse(NULL, &a[0], name, sizeof name));
        EXPECT_STR_EQ("localhost", name);
    }
    cio_resolver_free(NULL); /* no-op */
    return 0;
}
TEST(arguments_and_default)
{
    run(args_main, NULL);
    /* Outside a task / a loop. */
    cio_addr a[2];
    char name[16];
    EXPECT_ERR(-EPERM, cio_dns_resolve(NULL, "::1", 1, AF_UNSPEC, a, 2));
    EXPECT_ERR(-EPERM, cio_dns_resolve_cb(NULL, "::1", 1, AF_UNSPEC, on_numeric, NULL, NULL));
    EXPECT_OK(cio_addr_ip("::1", 0, &a[0]));
    EXPECT_ERR(-EPERM, cio_dns_reverse(NULL, &a[0], name, sizeof name));
    cio_resolver *r = (cio_resolver *)1;
    EXPECT_ERR(-EPERM, cio_resolver_new(NULL, &r));
    EXPECT_TRUE(r == NULL);
}

/* ---- the loop's work: an idle resolver keeps nothing alive; one registration -- */

static int idle_task(void *arg, void **res)
{
    (void)res;
    cio_resolver **rp = arg;
    EXPECT_OK(cio_resolver_new(
        &CIO_RESOLVER_OPTIONS(.servers = dns.servers, .search = "", .timeout = 2, .tries = 3),
        rp));
    cio_addr a[2];
    cio_loop *loop = cio_current_loop();
    EXPECT_EQ(1, cio_dns_resolve(*rp, "four.test", 80, AF_INET, a, 2));
    uint64_t c0 = cio__io_ctl_count(loop);
    for (int i = 0; i < 20; i++)
        EXPECT_EQ(2, cio_dns_resolve(*rp, "both.test", 80, AF_UNSPEC, a, 2));
    EXPECT_EQ(c0, cio__io_ctl_count(loop)); /* the socket and its registration are kept */
    return 0;
}

TEST(idle_resolver_not_live)
{
    memset(&dns, 0, sizeof dns);
    test_dnsmasq_start(&dns, records);
    int before = test_fd_baseline();
    cio_loop *loop = test_strict_loop_new();
    cio_resolver *r = NULL;
    cio_task *t;
    EXPECT_OK(cio_task_new(loop, NULL, idle_task, &r, &t));
    EXPECT_OK(cio_loop_run_until_complete(loop, t));
    cio_future_unref(t);
    /* Nothing live: the resolver's socket is registered but not armed. */
    test_drain(loop);
    EXPECT_EQ(0, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    /* The callback form on a resolver whose loop is not running (from
     * plain code on its thread), and on a given loop's default. */
    struct cbres c = {0}, d = {0};
    c.inside = d.inside = true;
    EXPECT_OK(cio_dns_resolve_cb(r, "four.test", 8, AF_INET, on_answer, &c, NULL));
    EXPECT_OK(cio__dns_resolve_cb_on(loop, NULL, "::1", 9, AF_UNSPEC, on_answer, &d, NULL));
    EXPECT_ERR(-EPERM, cio__dns_resolve_cb_on(NULL, NULL, "::1", 9, AF_UNSPEC, on_answer, &d,
                                              NULL));
    EXPECT_ERR(-EPERM, cio_dns_resolve_cb(NULL, "::1", 9, AF_UNSPEC, on_answer, &d, NULL));
    c.inside = d.inside = false;
    for (int i = 0; i < 100000 && !(c.calls && d.calls); i++)
        EXPECT_TRUE(cio_loop_run_once(loop, 0) >= 0);
    EXPECT_EQ(1, c.status);
    EXPECT_STR_EQ("127.0.0.5:8", c.first);
    EXPECT_EQ(1, d.status);
    EXPECT_STR_EQ("[::1]:9", d.first);
    test_drain(loop);
    EXPECT_EQ(0, cio_loop_run_once(loop, CIO_RUN_NOWAIT));
    cio_resolver_free(r);
    CLOSE_LOOP(loop);
    test_dnsmasq_stop(&dns);
    EXPECT_EQ(before, test_fd_count());
}

int main(int argc, char **argv) { return test_main(argc, argv); }
