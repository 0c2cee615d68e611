/* Interop with Python's asyncio: cio's stream and transport clients against
 * an asyncio server, and an asyncio client against cio's stream and protocol
 * servers. Each Python program runs as `python3 -c ...` on a loopback port,
 * bounded by its own 60 s wait_for; the port comes back on its stdout,
 * which the test reads through a cio_stream over the pipe. */
#include <sys/wait.h>

#include "net/conn.h"
#include "net/test_stream_util.h"

static const char py_server[] =
    "import asyncio\n"
    "async def main():\n"
    "    done = asyncio.Event()\n"
    "    count = 0\n"
    "    async def handle(r, w):\n"
    "        nonlocal count\n"
    "        while True:\n"
    "            d = await r.read(65536)\n"
    "            if not d:\n"
    "                break\n"
    "            w.write(d)\n"
    "            await w.drain()\n"
    "        w.close()\n"
    "        count += 1\n"
    "        if count == 2:\n"
    "            done.set()\n"
    "    s = await asyncio.start_server(handle, '127.0.0.1', 0)\n"
    "    print(s.sockets[0].getsockname()[1], flush=True)\n"
    "    await asyncio.wait_for(done.wait(), 60)\n"
    "    s.close()\n"
    "    print('served', count, flush=True)\n"
    "asyncio.run(main())\n";

static const char py_client[] =
    "import asyncio, sys\n"
    "async def main(port):\n"
    "    r, w = await asyncio.open_connection('127.0.0.1', port)\n"
    "    for i in range(100):\n"
    "        line = ('py %d ' % i).encode() + b'x' * i + b'\\n'\n"
    "        w.write(line)\n"
    "        await w.drain()\n"
    "        back = await r.readline()\n"
    "        assert back == line, (back, line)\n"
    "    big = bytes(range(256)) * 4096\n"
    "    w.write(big)\n"
    "    w.write_eof()\n"
    "    got = await r.read()\n"
    "    assert got == big, len(got)\n"
    "    w.close()\n"
    "    await w.wait_closed()\n"
    "    print('ok', flush=True)\n"
    "asyncio.run(asyncio.wait_for(main(int(sys.argv[1])), 60))\n";

static bool have_python(void)
{
    return system("python3 -c 'import asyncio' >/dev/null 2>&1") == 0;
}

/* Starts python3 -c code [arg]; *out is the read end of its stdout. */
static pid_t spawn_py(const char *code, const char *arg, int *out)
{
    int p[2];
    EXPECT_EQ(0, pipe2(p, O_CLOEXEC));
    fflush(NULL);
    pid_t pid = fork();
    EXPECT_TRUE(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        execlp("python3", "python3", "-c", code, arg, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    *out = p[0];
    return pid;
}

static int wait_child(pid_t pid)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            FAIL("waitpid");
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- cio clients, asyncio server ----------------------------------------- */

struct tclient {
    size_t got;
    size_t want;
    bool lost;
    int err;
};

static int tc_made(cio_transport *t, void *arg, void **ctx)
{
    (void)ctx;
    struct tclient *c = arg;
    static char msg[100000];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (char)(i % 97);
    c->want = sizeof msg;
    EXPECT_OK(cio_transport_write(t, msg, sizeof msg));
    return 0;
}

static void tc_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    struct tclient *c = ctx;
    const char *p = data;
    for (size_t i = 0; i < len; i++)
        if (p[i] != (char)((c->got + i) % 97))
            FAIL("byte %zu differs", c->got + i);
    c->got += len;
    if (c->got == c->want)
        EXPECT_OK(cio_transport_write_eof(t));
}

static void tc_lost(cio_transport *t, int err, void *ctx)
{
    (void)t;
    struct tclient *c = ctx;
    c->lost = true;
    c->err = err;
}

static const cio_protocol tc_proto = {
    .connection_made = tc_made,
    .data_received = tc_data,
    .connection_lost = tc_lost,
};

static int clients_main(void *arg, void **res)
{
    (void)arg;
    (void)res;
    int out;
    pid_t pid = spawn_py(py_server, NULL, &out);
    cio_stream *po;
    EXPECT_OK(cio_stream_new(out, NULL, &po));
    char line[64] = {0};
    ssize_t n = cio_stream_read_line(po, line, sizeof line - 1);
    EXPECT_TRUE(n > 1);
    cio_addr addr;
    EXPECT_OK(cio_addr_ip("127.0.0.1", (uint16_t)atoi(line), &addr));

    /* a stream, lines and a bulk transfer */
    cio_stream *s;
    EXPECT_OK(cio_stream_connect(&addr, NULL, NULL, &s));
    char msg[128], back[128];
    for (int i = 0; i < 100; i++) {
        int len = snprintf(msg, sizeof msg, "cio %d\n", i);
        EXPECT_OK(cio_stream_write(s, msg, (size_t)len));
        EXPECT_EQ(len, cio_stream_read_line(s, back, sizeof back));
        EXPECT_TRUE(memcmp(msg, back, (size_t)len) == 0);
    }
    EXPECT_OK(cio_stream_shutdown(s));
    EXPECT_EQ(0, cio_stream_read(s, back, sizeof back));
    EXPECT_OK(cio_stream_close(s));

    /* a protocol through cio_transport_connect */
    static struct tclient tc;
    cio_future *f;
    EXPECT_OK(cio_transport_connect(cio_current_loop(), &addr, NULL, NULL, &tc_proto, &tc, &f));
    EXPECT_OK(cio_await(f, NULL));
    cio_future_unref(f);
    for (int i = 0; i < 100000 && !tc.lost; i++)
        EXPECT_OK(cio_sleep(0.001));
    EXPECT_TRUE(tc.lost);
    EXPECT_EQ(0, tc.err);
    EXPECT_EQ(tc.want, tc.got);

    n = cio_stream_read_line(po, line, sizeof line - 1);
    EXPECT_TRUE(n > 0);
    line[n] = 0;
    EXPECT_STR_EQ("served 2\n", line);
    EXPECT_OK(cio_stream_close(po));
    EXPECT_EQ(0, wait_child(pid));
    return 0;
}

TEST(cio_clients_asyncio_server)
{
    if (!have_python()) {
        fprintf(stderr, "skipped: no python3\n");
        return;
    }
    st_run(clients_main, NULL);
}

/* ---- asyncio client, cio servers ------------------------------------------- */

static int stream_echo(cio_stream *s)
{
    char buf[65536];
    ssize_t n;
    while ((n = cio_stream_read(s, buf, sizeof buf)) > 0)
        EXPECT_OK(cio_stream_write(s, buf, (size_t)n));
    EXPECT_EQ(0, n);
    return cio_stream_close(s);
}

struct pecho {
    bool lost;
};

static void pe_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    (void)ctx;
    EXPECT_OK(cio_transport_write(t, data, len));
}

static void pe_lost(cio_transport *t, int err, void *ctx)
{
    (void)t;
    EXPECT_OK(err);
    ((struct pecho *)ctx)->lost = true;
}

static const cio_protocol pe_proto = {.data_received = pe_data, .connection_lost = pe_lost};

static int server_main(void *arg, void **res)
{
    (void)res;
    bool protocol = arg != NULL;
    cio_addr addr;
    int lfd = st_listen_tcp(&addr);
    char port[16];
    snprintf(port, sizeof port, "%u", cio_addr_port(&addr));
    int out;
    pid_t pid = spawn_py(py_client, port, &out);
    int fd;
    EXPECT_OK(cio_socket_accept(lfd, &fd, NULL));
    cio_fd_close(lfd);
    static struct pecho pe;
    if (protocol) {
        cio_transport *t;
        EXPECT_OK(cio_transport_new(cio_current_loop(), fd, NULL, &pe_proto, &pe, &t));
    } else {
        cio_stream *s;
        EXPECT_OK(cio_stream_new(fd, NULL, &s));
        EXPECT_OK(stream_echo(s));
    }
    cio_stream *po;
    EXPECT_OK(cio_stream_new(out, NULL, &po));
    char line[64] = {0};
    ssize_t n = cio_stream_read_line(po, line, sizeof line - 1);
    EXPECT_EQ(3, n);
    EXPECT_STR_EQ("ok\n", line);
    EXPECT_OK(cio_stream_close(po));
    EXPECT_EQ(0, wait_child(pid));
    if (protocol)
        for (int i = 0; i < 100000 && !pe.lost; i++)
            EXPECT_OK(cio_sleep(0.001));
    EXPECT_TRUE(!protocol || pe.lost);
    return 0;
}

TEST(asyncio_client_cio_stream_server)
{
    if (!have_python()) {
        fprintf(stderr, "skipped: no python3\n");
        return;
    }
    st_run(server_main, NULL);
}

TEST(asyncio_client_cio_protocol_server)
{
    if (!have_python()) {
        fprintf(stderr, "skipped: no python3\n");
        return;
    }
    st_run(server_main, (void *)1);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv);
}
