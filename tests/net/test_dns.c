/* cio_dns_resolve, cio_dns_resolve_cb, cio_dns_cancel, cio_dns_reverse and
 * cio_resolver_new/free against a dnsmasq the test starts on 127.0.0.1 and
 * a port of its own (tests/net/dnsmasq_util.h). Every resolver here gets
 * servers = that dnsmasq and no search domains unless the case is about
 * them: never the outside network, never the system's DNS servers. Runs
 * on both backends (the harness runs the program once per backend). */
#include <math.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cio.h>
#include <cio/dns.h>

#include "test.h"
#include "net/dnsmasq_util.h"

static struct test_dnsmasq dns;

static const char *const records[] = {
    "--host-record=four.test,127.0.0.5",
    "--host-record=six.test,::5",
    "--host-record=both.test,127.0.0.6,::6",
    "--host-record=two.test,127.0.0.7",
    "--host-record=two.test,127.0.0.8",
    "--host-record=short.example.test,127.0.0.9",
    NULL,
};

/* A resolver on the local dnsmasq, no search list, small timeouts. */
static cio_resolver *local_resolver(void)
{
    cio_resolver *r = NULL;
    EXPECT_OK(cio_resolver_new(
        &CIO_RESOLVER_OPTIONS(.servers = dns.servers, .search = "", .timeout = 2, .tries = 3),
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
    /* both */
    EXPECT_EQ(2, cio_dns_resolve(r, "both.test", 7, AF_UNSPEC, a, 8));
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
    /* max drops the rest */
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

int main(int argc, char **argv) { return test_main(argc, argv); }
