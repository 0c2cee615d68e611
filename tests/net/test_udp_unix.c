/* Unix datagram sockets through cio_udp (the family comes from the
 * address): paths in a temporary directory and abstract names, ping-pong
 * with the sender's address, unnamed senders, connected sockets, batches,
 * truncation, and the errors of a missing or dead peer. */
#include "net/test_udp.h"

struct names {
    char dir[64];
    char a[96], b[96];
};

static void names_make(struct names *n, bool abstract)
{
    if (abstract) {
        n->dir[0] = 0;
        snprintf(n->a, sizeof n->a, "@cio-test-udp-%d-a", (int)getpid());
        snprintf(n->b, sizeof n->b, "@cio-test-udp-%d-b", (int)getpid());
        return;
    }
    snprintf(n->dir, sizeof n->dir, "/tmp/cio-udp-XXXXXX");
    EXPECT_TRUE(mkdtemp(n->dir) != NULL);
    snprintf(n->a, sizeof n->a, "%s/a", n->dir);
    snprintf(n->b, sizeof n->b, "%s/b", n->dir);
}

static void names_clean(struct names *n)
{
    if (!n->dir[0])
        return;
    unlink(n->a);
    unlink(n->b);
    EXPECT_OK(rmdir(n->dir));
}

static cio_udp *unix_bound(const char *name, cio_addr *addr)
{
    EXPECT_OK(cio_addr_unix(name, addr));
    cio_udp *u = NULL;
    EXPECT_OK(cio_udp_new(addr, NULL, &u));
    return u;
}

enum { ROUNDS = 100 };

static int echo(void *arg, void **result)
{
    cio_udp *u = arg;
    char buf[64];
    for (int i = 0; i < ROUNDS; i++) {
        cio_addr from;
        ssize_t n = cio_udp_recv(u, buf, sizeof buf, &from);
        EXPECT_TRUE(n > 0);
        EXPECT_EQ(AF_UNIX, cio_addr_family(&from));
        EXPECT_EQ(n, cio_udp_send(u, buf, (size_t)n, &from));
    }
    return 0;
}

static int pingpong_main(void *arg, void **result)
{
    struct names n;
    names_make(&n, arg != NULL);
    cio_addr aa, ba;
    cio_udp *a = unix_bound(n.a, &aa), *b = unix_bound(n.b, &ba);
    /* the local address reads back as it was given */
    cio_addr la;
    EXPECT_OK(cio_udp_local(a, &la));
    EXPECT_TRUE(cio_addr_is_equal(&la, &aa));
    char text[CIO_ADDR_STRLEN];
    EXPECT_OK(cio_addr_format(&la, text, sizeof text));
    EXPECT_TRUE(strstr(text, n.a + (arg ? 1 : 0)) != NULL);

    cio_task *t = udp_spawn(echo, a);
    for (int i = 0; i < ROUNDS; i++) {
        char out[32], in[64];
        int len = snprintf(out, sizeof out, "ping %d", i);
        EXPECT_EQ(len, cio_udp_send(b, out, (size_t)len, &aa));
        cio_addr from;
        EXPECT_EQ(len, cio_udp_recv(b, in, sizeof in, &from));
        EXPECT_TRUE(memcmp(in, out, (size_t)len) == 0);
        EXPECT_TRUE(cio_addr_is_equal(&from, &aa));
    }
    EXPECT_OK(udp_join(t));

    /* batches */
    cio_datagram d[4] = {{"w", 1, aa}, {"xx", 2, aa}, {"yyy", 3, aa}, {"zzzz", 4, aa}};
    size_t done = 0;
    EXPECT_OK(cio_udp_send_many(b, d, 4, &done));
    EXPECT_EQ(4, done);
    char bufs[4][8];
    cio_datagram r[4];
    for (int i = 0; i < 4; i++)
        r[i] = (cio_datagram){bufs[i], sizeof bufs[i], {.len = 0}};
    size_t got = 0;
    for (int rounds = 0; got < 4 && rounds < 4; rounds++) {
        EXPECT_OK(cio_udp_recv_many(a, r + got, 4 - got, &done));
        got += done;
    }
    EXPECT_EQ(4, got);
    for (int i = 0; i < 4; i++) {
        EXPECT_EQ(i + 1, r[i].len);
        EXPECT_TRUE(cio_addr_is_equal(&r[i].addr, &ba));
    }

    /* truncation: the full length (Unix datagram sockets report it too) */
    static char big[500];
    char small[5];
    EXPECT_EQ(500, cio_udp_send(b, big, sizeof big, &aa));
    EXPECT_EQ(500, cio_udp_recv(a, small, sizeof small, NULL));

    EXPECT_OK(cio_udp_close(a));
    EXPECT_OK(cio_udp_close(b));
    names_clean(&n);
    return 0;
}

TEST(udp_unix_path_pingpong) { udp_run(pingpong_main, NULL); }
TEST(udp_unix_abstract_pingpong) { udp_run(pingpong_main, (void *)1); }

static int unnamed_main(void *arg, void **result)
{
    struct names n;
    names_make(&n, arg != NULL);
    cio_addr aa;
    cio_udp *a = unix_bound(n.a, &aa);
    /* connected, unnamed: sends with to == NULL; the receiver sees no
     * address (and could not answer) */
    cio_udp *c = NULL;
    EXPECT_OK(cio_udp_new(NULL, &CIO_UDP_OPTIONS(.remote = &aa), &c));
    EXPECT_EQ(5, cio_udp_send(c, "hello", 5, NULL));
    char buf[16];
    cio_addr from;
    memset(&from, 0xab, sizeof from);
    EXPECT_EQ(5, cio_udp_recv(a, buf, sizeof buf, &from));
    EXPECT_EQ(0, from.len);
    EXPECT_EQ(AF_UNSPEC, cio_addr_family(&from));
    /* an unconnected unnamed socket of the family from the options */
    cio_udp *u = NULL;
    EXPECT_OK(cio_udp_new(NULL, &CIO_UDP_OPTIONS(.family = AF_UNIX), &u));
    EXPECT_EQ(2, cio_udp_send(u, "hi", 2, &aa));
    EXPECT_EQ(2, cio_udp_recv(a, buf, sizeof buf, &from));
    EXPECT_EQ(0, from.len);
    EXPECT_OK(cio_udp_close(u));
    EXPECT_OK(cio_udp_close(c));
    EXPECT_OK(cio_udp_close(a));
    names_clean(&n);
    return 0;
}

TEST(udp_unix_unnamed_sender_path) { udp_run(unnamed_main, NULL); }
TEST(udp_unix_unnamed_sender_abstract) { udp_run(unnamed_main, (void *)1); }

static int errors_main(void *arg, void **result)
{
    struct names n;
    names_make(&n, false);
    cio_addr aa, ba;
    cio_udp *a = unix_bound(n.a, &aa);
    EXPECT_OK(cio_addr_unix(n.b, &ba));
    /* no socket at that path */
    EXPECT_ERR(-ENOENT, cio_udp_send(a, "x", 1, &ba));
    cio_udp *c = NULL;
    EXPECT_ERR(-ENOENT, cio_udp_new(NULL, &CIO_UDP_OPTIONS(.remote = &ba), &c));
    EXPECT_PTR_EQ(NULL, c);
    /* a socket file nobody has open any more */
    cio_udp *b = unix_bound(n.b, &ba);
    EXPECT_OK(cio_udp_close(b));
    EXPECT_ERR(-ECONNREFUSED, cio_udp_send(a, "x", 1, &ba));
    /* the path is taken by the file left behind */
    EXPECT_ERR(-EADDRINUSE, cio_udp_new(&ba, NULL, &b));
    /* an IP destination on a Unix socket */
    cio_addr ip = udp_ip("127.0.0.1", 9);
    EXPECT_ERR(-EINVAL, cio_udp_new(&aa, &CIO_UDP_OPTIONS(.remote = &ip), &c));
    EXPECT_OK(cio_udp_close(a));
    names_clean(&n);
    return 0;
}

TEST(udp_unix_errors) { udp_run(errors_main, NULL); }

int main(int argc, char **argv) { return test_main(argc, argv); }
