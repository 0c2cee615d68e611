/* Addresses: the parser's grammar (every accepted form and every
 * rejection, *out untouched on error), the constructors, conversion from
 * system addresses, formatting (round trips, -ENOSPC), family, port and
 * equality. No loop needed. */
#include <arpa/inet.h>
#include <net/if.h>
#include <stddef.h>

#include "test.h"

#define SUN_OFF offsetof(struct sockaddr_un, sun_path)

static cio_addr parse_ok(const char *text)
{
    cio_addr a;
    memset(&a, 0x5a, sizeof a);
    int rc = cio_addr_parse(text, &a);
    if (rc != 0)
        FAIL("cio_addr_parse(\"%s\"): %s", text, cio_err_name(rc));
    return a;
}

static void format_is(const cio_addr *a, const char *want)
{
    char buf[CIO_ADDR_STRLEN];
    EXPECT_OK(cio_addr_format(a, buf, sizeof buf));
    EXPECT_STR_EQ(want, buf);
}

/* Parses text, formats it back as `canon`, and parses that again to the
 * same address. */
static void round_trip(const char *text, const char *canon)
{
    cio_addr a = parse_ok(text);
    format_is(&a, canon);
    cio_addr b = parse_ok(canon);
    EXPECT_TRUE(cio_addr_is_equal(&a, &b));
}

TEST(addr_parse_ipv4)
{
    cio_addr a = parse_ok("127.0.0.1:8080");
    EXPECT_EQ(AF_INET, cio_addr_family(&a));
    EXPECT_EQ(8080, cio_addr_port(&a));
    EXPECT_EQ(sizeof(struct sockaddr_in), a.len);
    EXPECT_EQ(htonl(INADDR_LOOPBACK), a.u.in4.sin_addr.s_addr);
    round_trip("127.0.0.1:8080", "127.0.0.1:8080");
    round_trip("0.0.0.0:0", "0.0.0.0:0");
    round_trip("255.255.255.255:65535", "255.255.255.255:65535");
    round_trip("10.1.2.3:00080", "10.1.2.3:80"); /* leading zeros in the port */
}

TEST(addr_parse_ipv6)
{
    cio_addr a = parse_ok("[::1]:443");
    EXPECT_EQ(AF_INET6, cio_addr_family(&a));
    EXPECT_EQ(443, cio_addr_port(&a));
    EXPECT_EQ(sizeof(struct sockaddr_in6), a.len);
    EXPECT_TRUE(IN6_IS_ADDR_LOOPBACK(&a.u.in6.sin6_addr));
    round_trip("[::1]:443", "[::1]:443");
    round_trip("[::]:0", "[::]:0");
    round_trip("[2001:DB8:0:0:0:0:0:1]:80", "[2001:db8::1]:80");
    round_trip("[::ffff:127.0.0.1]:9", "[::ffff:127.0.0.1]:9");
    /* A scope by number, and by the loopback interface's name. */
    a = parse_ok("[fe80::1%1]:80");
    EXPECT_EQ(1, a.u.in6.sin6_scope_id);
    unsigned lo = if_nametoindex("lo");
    if (lo) {
        a = parse_ok("[fe80::1%lo]:80");
        EXPECT_EQ(lo, a.u.in6.sin6_scope_id);
        format_is(&a, "[fe80::1%lo]:80");
    }
}

TEST(addr_parse_unix)
{
    cio_addr a = parse_ok("/tmp/sock");
    EXPECT_EQ(AF_UNIX, cio_addr_family(&a));
    EXPECT_EQ(0, cio_addr_port(&a));
    EXPECT_STR_EQ("/tmp/sock", a.u.un.sun_path);
    EXPECT_EQ(SUN_OFF + strlen("/tmp/sock") + 1, a.len);
    round_trip("/tmp/sock", "unix:/tmp/sock");
    round_trip("unix:/tmp/sock", "unix:/tmp/sock");
    round_trip("./rel", "unix:./rel");
    round_trip("unix:rel/sock", "unix:rel/sock");
    /* Abstract names. */
    a = parse_ok("@cio-test");
    EXPECT_EQ(AF_UNIX, cio_addr_family(&a));
    EXPECT_EQ(0, a.u.un.sun_path[0]);
    EXPECT_EQ(0, memcmp(a.u.un.sun_path + 1, "cio-test", 8));
    EXPECT_EQ(SUN_OFF + 1 + 8, a.len);
    round_trip("@cio-test", "unix:@cio-test");
    round_trip("unix:@cio-test", "unix:@cio-test");
    round_trip("unix:@a@b", "unix:@a@b"); /* '@' inside a name is a byte like any */
    /* The longest path and name that fit. */
    char path[200];
    memset(path, 'p', sizeof path);
    path[0] = '/';
    path[107] = 0;
    a = parse_ok(path);
    EXPECT_EQ(SUN_OFF + 108, a.len);
    path[0] = '@';
    a = parse_ok(path);
    EXPECT_EQ(SUN_OFF + 107, a.len);
}

/* Each rejected text: the error, and *out untouched. */
static void rejected(const char *text, int err)
{
    cio_addr a, before;
    memset(&a, 0x5a, sizeof a);
    before = a;
    int rc = cio_addr_parse(text, &a);
    if (rc != err)
        FAIL("cio_addr_parse(\"%s\"): expected %s, got %s", text, cio_err_name(err),
             cio_err_name(rc));
    EXPECT_EQ(0, memcmp(&a, &before, sizeof a));
}

TEST(addr_parse_rejections)
{
    /* Missing or bad ports. */
    rejected("127.0.0.1", -EINVAL);
    rejected("127.0.0.1:", -EINVAL);
    rejected("127.0.0.1:65536", -EINVAL);
    rejected("127.0.0.1:99999", -EINVAL);
    rejected("127.0.0.1:123456", -EINVAL);
    rejected("127.0.0.1:+80", -EINVAL);
    rejected("127.0.0.1:-1", -EINVAL);
    rejected("127.0.0.1: 80", -EINVAL);
    rejected("127.0.0.1:80 ", -EINVAL);
    rejected("127.0.0.1:0x50", -EINVAL);
    rejected("127.0.0.1:80a", -EINVAL);
    rejected(":80", -EINVAL);
    /* Bad hosts. */
    rejected("localhost:80", -EINVAL); /* names are the next issue's (DNS) */
    rejected("1.2.3:80", -EINVAL);
    rejected("1.2.3.256:80", -EINVAL);
    rejected("1.2.3.4.5:80", -EINVAL);
    rejected(" 1.2.3.4:80", -EINVAL);
    rejected("::1:80", -EINVAL); /* IPv6 needs brackets */
    rejected("[::1]", -EINVAL);  /* no port */
    rejected("[::1]:", -EINVAL);
    rejected("[::1]80", -EINVAL);
    rejected("[::1]:65536", -EINVAL);
    rejected("[::1]:+80", -EINVAL);
    rejected("[]:80", -EINVAL);
    rejected("[::1:80", -EINVAL);
    rejected("[127.0.0.1]:80", -EINVAL); /* brackets are for IPv6 */
    rejected("[::g]:80", -EINVAL);
    rejected("[fe80::1%]:80", -EINVAL);
    rejected("[fe80::1%no-such-interface0]:80", -EINVAL);
    rejected("[fe80::1%99999999999]:80", -EINVAL);
    /* Garbage. */
    rejected("", -EINVAL);
    rejected("garbage", -EINVAL);
    rejected("unix", -EINVAL);
    rejected("http://127.0.0.1:80", -EINVAL);
    rejected("127.0.0.1:80:80", -EINVAL);
    /* Unix: empty, unnamed or too long. */
    rejected("unix:", -EINVAL);
    rejected("@", -EINVAL);
    rejected("unix:@", -EINVAL);
    char path[200];
    memset(path, 'p', sizeof path);
    path[0] = '/';
    path[108] = 0; /* 108 bytes: no room for the NUL */
    rejected(path, -ENAMETOOLONG);
    path[0] = '@';
    path[108] = 'p';
    path[109] = 0; /* a 108-byte abstract name: one too many */
    rejected(path, -ENAMETOOLONG);
    char upath[220] = "unix:";
    memset(upath + 5, 'u', 150);
    upath[155] = 0;
    rejected(upath, -ENAMETOOLONG);
    /* NULLs. */
    cio_addr a;
    EXPECT_ERR(-EINVAL, cio_addr_parse(NULL, &a));
    EXPECT_ERR(-EINVAL, cio_addr_parse("127.0.0.1:1", NULL));
}

TEST(addr_ip_and_unix)
{
    cio_addr a, b;
    EXPECT_OK(cio_addr_ip("127.0.0.1", 80, &a));
    b = parse_ok("127.0.0.1:80");
    EXPECT_TRUE(cio_addr_is_equal(&a, &b));
    EXPECT_OK(cio_addr_ip("::1", 0, &a));
    EXPECT_EQ(AF_INET6, cio_addr_family(&a));
    EXPECT_OK(cio_addr_ip("fe80::1%1", 9, &a));
    EXPECT_EQ(1, a.u.in6.sin6_scope_id);
    memset(&b, 0x5a, sizeof b);
    cio_addr before = b;
    EXPECT_ERR(-EINVAL, cio_addr_ip("[::1]", 80, &b));
    EXPECT_ERR(-EINVAL, cio_addr_ip("localhost", 80, &b));
    EXPECT_ERR(-EINVAL, cio_addr_ip("", 80, &b));
    EXPECT_ERR(-EINVAL, cio_addr_ip("1.2.3.4:80", 80, &b));
    EXPECT_ERR(-EINVAL, cio_addr_ip(NULL, 80, &b));
    EXPECT_ERR(-EINVAL, cio_addr_ip("::1", 80, NULL));
    EXPECT_EQ(0, memcmp(&b, &before, sizeof b));

    EXPECT_OK(cio_addr_unix("/tmp/x", &a));
    b = parse_ok("unix:/tmp/x");
    EXPECT_TRUE(cio_addr_is_equal(&a, &b));
    EXPECT_OK(cio_addr_unix("rel", &a)); /* any path, relative too */
    format_is(&a, "unix:rel");
    EXPECT_OK(cio_addr_unix("@name", &a));
    b = parse_ok("@name");
    EXPECT_TRUE(cio_addr_is_equal(&a, &b));
    EXPECT_ERR(-EINVAL, cio_addr_unix("", &a));
    EXPECT_ERR(-EINVAL, cio_addr_unix("@", &a));
    EXPECT_ERR(-EINVAL, cio_addr_unix(NULL, &a));
    EXPECT_ERR(-EINVAL, cio_addr_unix("/x", NULL));
    char path[200];
    memset(path, 'p', sizeof path);
    path[150] = 0;
    EXPECT_ERR(-ENAMETOOLONG, cio_addr_unix(path, &a));
}

TEST(addr_from_sockaddr)
{
    cio_addr a, b;
    struct sockaddr_in in4 = {.sin_family = AF_INET, .sin_port = htons(7)};
    in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_OK(cio_addr_from_sockaddr((struct sockaddr *)&in4, sizeof in4, &a));
    b = parse_ok("127.0.0.1:7");
    EXPECT_TRUE(cio_addr_is_equal(&a, &b));
    EXPECT_ERR(-EINVAL, cio_addr_from_sockaddr((struct sockaddr *)&in4, sizeof in4 - 1, &a));
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(8)};
    in6.sin6_addr = in6addr_loopback;
    EXPECT_OK(cio_addr_from_sockaddr((struct sockaddr *)&in6, sizeof in6, &a));
    b = parse_ok("[::1]:8");
    EXPECT_TRUE(cio_addr_is_equal(&a, &b));
    EXPECT_ERR(-EINVAL, cio_addr_from_sockaddr((struct sockaddr *)&in6, sizeof in6 - 4, &a));
    /* A path whose length leaves out the NUL compares equal to one with it. */
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    strcpy(un.sun_path, "/tmp/p");
    EXPECT_OK(cio_addr_from_sockaddr((struct sockaddr *)&un, (socklen_t)(SUN_OFF + 6), &a));
    b = parse_ok("/tmp/p");
    EXPECT_TRUE(cio_addr_is_equal(&a, &b));
    EXPECT_EQ(b.len, a.len);
    /* Unnamed. */
    EXPECT_OK(cio_addr_from_sockaddr((struct sockaddr *)&un, (socklen_t)SUN_OFF, &a));
    format_is(&a, "unix:");
    EXPECT_ERR(-EINVAL, cio_addr_from_sockaddr((struct sockaddr *)&un, sizeof un + 1, &a));
    /* Other families, NULLs, a length too short for any. */
    struct sockaddr other = {.sa_family = AF_APPLETALK};
    EXPECT_ERR(-EINVAL, cio_addr_from_sockaddr(&other, sizeof other, &a));
    EXPECT_ERR(-EINVAL, cio_addr_from_sockaddr(NULL, sizeof in4, &a));
    EXPECT_ERR(-EINVAL, cio_addr_from_sockaddr((struct sockaddr *)&in4, sizeof in4, NULL));
    EXPECT_ERR(-EINVAL, cio_addr_from_sockaddr((struct sockaddr *)&in4, 1, &a));
}

TEST(addr_format_errors)
{
    cio_addr a = parse_ok("[2001:db8::1]:65535");
    char buf[CIO_ADDR_STRLEN];
    size_t need = strlen("[2001:db8::1]:65535") + 1;
    memset(buf, 'x', sizeof buf);
    EXPECT_ERR(-ENOSPC, cio_addr_format(&a, buf, need - 1));
    EXPECT_STR_EQ("", buf);
    EXPECT_OK(cio_addr_format(&a, buf, need));
    EXPECT_STR_EQ("[2001:db8::1]:65535", buf);
    EXPECT_ERR(-ENOSPC, cio_addr_format(&a, NULL, 0));
    EXPECT_ERR(-EINVAL, cio_addr_format(&a, NULL, 10));
    cio_addr empty;
    memset(&empty, 0, sizeof empty);
    EXPECT_ERR(-EINVAL, cio_addr_format(&empty, buf, sizeof buf));
    EXPECT_STR_EQ("", buf);
    EXPECT_ERR(-EINVAL, cio_addr_format(NULL, buf, sizeof buf));
    cio_addr bad = a;
    bad.len = 3;
    EXPECT_ERR(-EINVAL, cio_addr_format(&bad, buf, sizeof buf));
    /* The longest form fits CIO_ADDR_STRLEN. */
    char path[200];
    memset(path, 'n', sizeof path);
    path[0] = '@';
    path[108] = 0;
    a = parse_ok(path);
    EXPECT_OK(cio_addr_format(&a, buf, sizeof buf));
    EXPECT_EQ(6 + 107, strlen(buf));
}

TEST(addr_family_port_equal)
{
    EXPECT_EQ(AF_UNSPEC, cio_addr_family(NULL));
    cio_addr z;
    memset(&z, 0, sizeof z);
    EXPECT_EQ(AF_UNSPEC, cio_addr_family(&z));
    EXPECT_EQ(0, cio_addr_port(NULL));
    EXPECT_EQ(0, cio_addr_port(&z));
    cio_addr a = parse_ok("127.0.0.1:1"), b = parse_ok("127.0.0.1:2"), c = parse_ok("127.0.0.2:1");
    cio_addr d = parse_ok("[::1]:1"), e = parse_ok("[::1%1]:1"), f = parse_ok("@x"), g = parse_ok("/x");
    EXPECT_TRUE(cio_addr_is_equal(&a, &a));
    EXPECT_FALSE(cio_addr_is_equal(&a, &b));
    EXPECT_FALSE(cio_addr_is_equal(&a, &c));
    EXPECT_FALSE(cio_addr_is_equal(&a, &d));
    EXPECT_FALSE(cio_addr_is_equal(&d, &e)); /* scopes differ */
    EXPECT_FALSE(cio_addr_is_equal(&f, &g)); /* abstract "x" is not path "x" */
    EXPECT_TRUE(cio_addr_is_equal(&g, &g));
    EXPECT_TRUE(cio_addr_is_equal(NULL, NULL));
    EXPECT_TRUE(cio_addr_is_equal(&z, NULL));
    EXPECT_FALSE(cio_addr_is_equal(&a, NULL));
}

int main(int argc, char **argv) { return test_main(argc, argv); }
