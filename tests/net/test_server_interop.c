/* Interop: a Python asyncio client (Debian's python3, started by the case
 * with `python3 -c`) talks to a cio server on a loopback port, in both
 * styles: it sends lines, reads each echo and prints it; the case reads
 * the client's output through a pipe and checks it. Skipped, saying so,
 * when there is no python3. */
#include <spawn.h>

#include "net/server_util.h"

extern char **environ;

static const char client_py[] =
    "import asyncio, sys\n"
    "async def main(port):\n"
    "    r, w = await asyncio.open_connection('127.0.0.1', port)\n"
    "    for i in range(20):\n"
    "        w.write(b'line %d from asyncio\\n' % i)\n"
    "        await w.drain()\n"
    "        got = await r.readline()\n"
    "        sys.stdout.write('echo: ' + got.decode())\n"
    "    w.write_eof()\n"
    "    rest = await r.read()\n"
    "    sys.stdout.write('rest: %d\\n' % len(rest))\n"
    "    w.close()\n"
    "    await w.wait_closed()\n"
    "    sys.stdout.write('done\\n')\n"
    "asyncio.run(main(int(sys.argv[1])))\n";

static bool have_python(void)
{
    return access("/usr/bin/python3", X_OK) == 0 || access("/usr/local/bin/python3", X_OK) == 0;
}

/* Runs the client against port; returns its output (malloc'd) and exit
 * status. */
static char *run_python_client(uint16_t port, int *status)
{
    int p[2];
    EXPECT_OK(pipe2(p, O_CLOEXEC));
    posix_spawn_file_actions_t fa;
    EXPECT_OK(posix_spawn_file_actions_init(&fa));
    EXPECT_OK(posix_spawn_file_actions_adddup2(&fa, p[1], 1));
    char portbuf[16];
    snprintf(portbuf, sizeof portbuf, "%u", (unsigned)port);
    char *argv[] = {"python3", "-c", (char *)client_py, portbuf, NULL};
    pid_t pid;
    EXPECT_OK(posix_spawnp(&pid, "python3", &fa, NULL, argv, environ));
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    EXPECT_TRUE(out != NULL);
    for (;;) {
        if (len + 1 == cap) {
            cap *= 2;
            out = realloc(out, cap);
            EXPECT_TRUE(out != NULL);
        }
        ssize_t n = cio_fd_read(p[0], out + len, cap - 1 - len);
        if (n < 0)
            FAIL("reading the client's output: %s", cio_err_name((int)n));
        if (n == 0)
            break;
        len += (size_t)n;
    }
    out[len] = 0;
    EXPECT_OK(cio_fd_close(p[0]));
    while (waitpid(pid, status, 0) < 0)
        if (errno != EINTR)
            FAIL("waitpid: %s", strerror(errno));
    return out;
}

static int interop_main(void *arg, void **res)
{
    (void)res;
    bool protocol = arg != NULL;
    strict_reports();
    cio_scope sc;
    EXPECT_OK(cio_timeout_begin(&sc, 60));
    cio_addr a = loopback4(), at;
    cio_server *srv;
    struct echo_proto_stats ps = {0};
    if (protocol)
        EXPECT_OK(cio_server_new_protocol(&a, NULL, &echo_protocol, &ps, &srv));
    else
        EXPECT_OK(cio_server_new(&a, NULL, echo_handler, NULL, &srv));
    EXPECT_OK(cio_server_addr(srv, &at));
    int status = -1;
    char *out = run_python_client(cio_addr_port(&at), &status);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        FAIL("python client failed (status %#x), output:\n%s", status, out);
    char expect[4096];
    size_t off = 0;
    for (int i = 0; i < 20; i++)
        off += (size_t)snprintf(expect + off, sizeof expect - off,
                                "echo: line %d from asyncio\n", i);
    snprintf(expect + off, sizeof expect - off, "rest: 0\ndone\n");
    EXPECT_STR_EQ(expect, out);
    free(out);
    EXPECT_OK(cio_server_close(srv, 5));
    if (protocol)
        EXPECT_EQ(1, ps.lost);
    EXPECT_OK(cio_scope_end(&sc));
    return 0;
}

TEST(python_asyncio_client_task_server)
{
    if (!have_python()) {
        fprintf(stderr, "SKIP: no python3\n");
        return;
    }
    int before = fd_count_warm();
    EXPECT_OK(cio_run(interop_main, NULL, NULL));
    EXPECT_FDS(before);
}

TEST(python_asyncio_client_protocol_server)
{
    if (!have_python()) {
        fprintf(stderr, "SKIP: no python3\n");
        return;
    }
    int before = fd_count_warm();
    EXPECT_OK(cio_run(interop_main, (void *)1, NULL));
    EXPECT_FDS(before);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
