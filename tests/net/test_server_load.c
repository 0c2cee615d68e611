/* A server under 1,000 concurrent clients, in both styles: the clients are
 * tasks of the same process over 127.0.0.1, all connected at once (each
 * holds its connection until every client has done its first round trip),
 * then each does more round trips and closes. Two descriptors per
 * connection: the soft RLIMIT_NOFILE is raised to the hard limit first,
 * and the case is skipped (saying so) only if that is below 2,200. */
#include "net/server_util.h"

#define CLIENTS 1000
#define ROUNDS 5

struct load_ctx {
    cio_addr addr;
    int connected, done, failed, first_err;
    cio_event *all_connected;
    struct echo_proto_stats ps;
    int max_conns;
    cio_server *srv;
};

static int load_client(void *arg, void **res)
{
    (void)res;
    struct load_ctx *c = arg;
    cio_stream *s;
    int rc = cio_stream_connect(&c->addr, NULL, NULL, &s);
    if (rc == 0) {
        rc = echo_round(s, "first\n");
        if (rc == 0) {
            size_t n = cio_server_connections(c->srv);
            if ((int)n > c->max_conns)
                c->max_conns = (int)n;
            if (++c->connected == CLIENTS)
                cio_event_set(c->all_connected);
            rc = cio_event_wait(c->all_connected);
        }
        for (int i = 0; i < ROUNDS && rc == 0; i++) {
            char line[64];
            snprintf(line, sizeof line, "round %d from %p\n", i, (void *)s);
            rc = echo_round(s, line);
        }
        int crc = cio_stream_close(s);
        if (rc == 0)
            rc = crc;
    }
    if (rc == 0) {
        c->done++;
    } else {
        if (!c->failed++)
            c->first_err = rc;
        if (c->connected + c->failed == CLIENTS)
            cio_event_set(c->all_connected); /* let the others finish */
    }
    return 0;
}

static int load_main(void *arg, void **res)
{
    (void)res;
    bool protocol = arg != NULL;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 120));
    struct load_ctx c = {.connected = 0};
    EXPECT_OK(cio_event_new(&c.all_connected));
    cio_addr a = loopback4();
    cio_socket_options so = CIO_SOCKET_OPTIONS(.backlog = 2048);
    cio_server_options o = CIO_SERVER_OPTIONS(.socket = &so, .name = "load",
                                              .stack_size = 64 * 1024);
    if (protocol)
        EXPECT_OK(cio_server_new_protocol(&a, &o, &echo_protocol, &c.ps, &c.srv));
    else
        EXPECT_OK(cio_server_new(&a, &o, echo_handler, NULL, &c.srv));
    EXPECT_OK(cio_server_addr(c.srv, &c.addr));
    cio_task_group *g;
    EXPECT_OK(cio_task_group_begin(&g));
    for (int i = 0; i < CLIENTS; i++)
        EXPECT_OK(cio_task_group_spawn(g, &CIO_TASK_OPTIONS(.stack_size = 64 * 1024), load_client,
                                       &c, NULL));
    EXPECT_OK(cio_task_group_end(g));
    if (c.failed)
        FAIL("%d clients failed, the first with %s", c.failed, cio_err_name(c.first_err));
    EXPECT_EQ(CLIENTS, c.done);
    /* Every connection was open at once. */
    EXPECT_EQ(CLIENTS, c.max_conns);
    uint64_t st[4];
    cio__server_stats(c.srv, st);
    EXPECT_EQ(CLIENTS, st[ST_ACCEPTED]);
    EXPECT_EQ(0, st[ST_SHED]);
    EXPECT_OK(cio_server_close(c.srv, 10));
    if (protocol) {
        EXPECT_EQ(CLIENTS, c.ps.made);
        EXPECT_EQ(CLIENTS, c.ps.lost);
    }
    EXPECT_OK(cio_event_free(c.all_connected));
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

static bool enough_descriptors(void)
{
    rlim_t n = raise_nofile();
    if (n < 2200) {
        fprintf(stderr, "SKIP: RLIMIT_NOFILE hard limit %llu is below 2,200: a server under "
                        "1,000 clients needs 2 descriptors per connection\n",
                (unsigned long long)n);
        return false;
    }
    return true;
}

TEST_T(thousand_clients_task_per_connection, 240)
{
    if (!enough_descriptors())
        return;
    int before = fd_count_warm();
    EXPECT_OK(cio_run(load_main, NULL, NULL));
    EXPECT_FDS(before);
}

TEST_T(thousand_clients_protocol, 240)
{
    if (!enough_descriptors())
        return;
    int before = fd_count_warm();
    EXPECT_OK(cio_run(load_main, (void *)1, NULL));
    EXPECT_FDS(before);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
