/* cio_resolver_new's options: the servers grammar, timeout, tries, ndots,
 * search, the options struct's size rules; each check on its own. No
 * lookup is made (the servers named here are never asked). */
#include <math.h>

#include <cio.h>
#include <cio/dns.h>

#include "test.h"

static int make(const cio_resolver_options *o)
{
    cio_resolver *r = (cio_resolver *)1;
    int rc = cio_resolver_new(o, &r);
    if (rc == 0) {
        EXPECT_TRUE(r != NULL && r != (cio_resolver *)1);
        cio_resolver_free(r);
    } else {
        EXPECT_TRUE(r == NULL);
    }
    return rc;
}

static int servers_main(void *arg, void **res)
{
    (void)arg, (void)res;
    static const char *const good[] = {
        "127.0.0.1",      "127.0.0.1:53",      "127.0.0.1:65535",    "[::1]",
        "[::1]:5353",     "::1",               "fe80::1",            "10.0.0.1,[::1]:5,1.2.3.4",
        "127.0.0.1:1",    "[2001:db8::1]:53",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        int rc = make(&CIO_RESOLVER_OPTIONS(.servers = good[i]));
        if (rc != 0)
            FAIL("servers \"%s\": %s", good[i], cio_err_name(rc));
    }
    static const char *const bad[] = {
        "",           ",",           "127.0.0.1,",  ",127.0.0.1",  "127.0.0.1,,::1",
        "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:5x", "127.0.0.1:-1",
        "[::1",       "[::1]x",      "[::1]:",      "[127.0.0.1]", "dns.example",
        "1.2.3",      "127.0.0.1 ",  " 127.0.0.1",  "127.0.0.1:123456", "[]:53",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = make(&CIO_RESOLVER_OPTIONS(.servers = bad[i]));
        if (rc != -EINVAL)
            FAIL("servers \"%s\": expected EINVAL, got %s", bad[i], cio_err_name(rc));
    }
    return 0;
}
TEST(servers_grammar) { EXPECT_OK(cio_run(servers_main, NULL, NULL)); }

static int numbers_main(void *arg, void **res)
{
    (void)arg, (void)res;
    const char *s = "127.0.0.1:53";
    /* timeout: >= 0 and finite */
    EXPECT_OK(make(&CIO_RESOLVER_OPTIONS(.servers = s, .timeout = 0)));
    EXPECT_OK(make(&CIO_RESOLVER_OPTIONS(.servers = s, .timeout = 0.0001)));
    EXPECT_OK(make(&CIO_RESOLVER_OPTIONS(.servers = s, .timeout = 2.5)));
    EXPECT_ERR(-EINVAL, make(&CIO_RESOLVER_OPTIONS(.servers = s, .timeout = -1)));
    EXPECT_ERR(-EINVAL, make(&CIO_RESOLVER_OPTIONS(.servers = s, .timeout = NAN)));
    EXPECT_ERR(-EINVAL, make(&CIO_RESOLVER_OPTIONS(.servers = s, .timeout = INFINITY)));
    EXPECT_ERR(-EINVAL, make(&CIO_RESOLVER_OPTIONS(.servers = s, .timeout = 1e12)));
    /* tries, ndots: >= 0 */
    EXPECT_OK(make(&CIO_RESOLVER_OPTIONS(.servers = s, .tries = 0)));
    EXPECT_OK(make(&CIO_RESOLVER_OPTIONS(.servers = s, .tries = 7)));
    EXPECT_ERR(-EINVAL, make(&CIO_RESOLVER_OPTIONS(.servers = s, .tries = -1)));
    EXPECT_OK(make(&CIO_RESOLVER_OPTIONS(.servers = s, .ndots = 0)));
    EXPECT_OK(make(&CIO_RESOLVER_OPTIONS(.servers = s, .ndots = 5)));
    EXPECT_ERR(-EINVAL, make(&CIO_RESOLVER_OPTIONS(.servers = s, .ndots = -1)));
    /* search: domains separated by commas; "" none */
    EXPECT_OK(make(&CIO_RESOLVER_OPTIONS(.servers = s, .search = "")));
    EXPECT_OK(make(&CIO_RESOLVER_OPTIONS(.servers = s, .search = "a.example")));
    EXPECT_OK(make(&CIO_RESOLVER_OPTIONS(.servers = s, .search = "a.example,b.example")));
    EXPECT_ERR(-EINVAL, make(&CIO_RESOLVER_OPTIONS(.servers = s, .search = "a,,b")));
    EXPECT_ERR(-EINVAL, make(&CIO_RESOLVER_OPTIONS(.servers = s, .search = ",")));
    EXPECT_ERR(-EINVAL, make(&CIO_RESOLVER_OPTIONS(.servers = s, .search = "a.example,")));
    char longdom[300];
    memset(longdom, 'a', 299);
    longdom[299] = 0;
    EXPECT_ERR(-EINVAL, make(&CIO_RESOLVER_OPTIONS(.servers = s, .search = longdom)));
    /* flags */
    EXPECT_OK(make(&CIO_RESOLVER_OPTIONS(.servers = "127.0.0.1,127.0.0.2", .rotate = true,
                                         .no_hosts = true)));
    /* the defaults: resolv.conf's (never asked here) */
    EXPECT_OK(make(NULL));
    EXPECT_OK(make(&CIO_RESOLVER_OPTIONS(.search = "")));
    /* the struct's size */
    cio_resolver_options o = CIO_RESOLVER_OPTIONS_INIT;
    o.size = 0;
    EXPECT_ERR(-EINVAL, make(&o));
    o.size = 3;
    EXPECT_ERR(-EINVAL, make(&o));
    struct {
        cio_resolver_options o;
        char more[16];
    } big;
    memset(&big, 0, sizeof big);
    big.o.size = sizeof big;
    big.o.servers = s;
    EXPECT_OK(make(&big.o)); /* newer fields, all zero */
    big.more[3] = 1;
    EXPECT_ERR(-E2BIG, make(&big.o));
    EXPECT_ERR(-EINVAL, cio_resolver_new(NULL, NULL));
    return 0;
}
TEST(numbers_and_size) { EXPECT_OK(cio_run(numbers_main, NULL, NULL)); }

TEST(no_loop)
{
    cio_resolver *r = (cio_resolver *)1;
    EXPECT_ERR(-EPERM, cio_resolver_new(NULL, &r));
    EXPECT_TRUE(r == NULL);
    EXPECT_ERR(-EINVAL, cio_resolver_new(NULL, NULL));
    cio_resolver_free(NULL);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
