/* echo_server, cio (coroutine style: a task per connection): the server of
 * echo_pingpong, echo_stream, idle_conns (echo mode) and accept_rate (accept
 * mode). See bench/client/server.h for the command line.
 *
 * cio_server_new on 127.0.0.1:PORT (backlog 511; TCP_NODELAY is cio's
 * default on accepted sockets) with handler tasks of 16 KiB stacks
 * (cio_server_options.stack_size; CIO__STACK_MIN, the smallest cio gives),
 * the streams' default marks (64 KiB high, 16 KiB low).
 *
 * echo: each handler loops cio_stream_read into a 64 KiB buffer, then
 * cio_stream_write of what it read. The buffer is one static slab for all
 * handlers, as the libuv peer's read slab: the read copies into it and the
 * write takes the bytes (sends them, or copies them into the stream's write
 * buffer) before the task can suspend again, so no other task touches the
 * slab in between, and an idle handler holds no buffer of its own (its
 * stream returns its read buffer to the loop's pool when empty). A 64 KiB
 * array on a 16 KiB stack would not fit anyway.
 *
 * accept: the handler writes one byte and returns; the server closes the
 * stream (cio_stream_close: flush, close) when its task ends. */
#include <cio.h>
#include <cio/net.h>

#include "../client/server.h"

static char slab[BENCH_READ_SIZE];
static bench_server_args args;

static int echo(cio_stream *s, void *arg)
{
    (void)arg;
    for (;;) {
        ssize_t n = cio_stream_read(s, slab, sizeof slab);
        if (n <= 0)
            return n < 0 ? (int)n : 0;
        int rc = cio_stream_write(s, slab, (size_t)n);
        if (rc != 0)
            return rc;
    }
}

static int accept_one(cio_stream *s, void *arg)
{
    (void)arg;
    return cio_stream_write(s, "x", 1); /* the server closes s when this returns */
}

static int serve(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_addr addr;
    BENCH_CHECK(cio_addr_ip("127.0.0.1", (uint16_t)args.port, &addr));
    cio_socket_options sopts = CIO_SOCKET_OPTIONS(.backlog = BENCH_BACKLOG);
    cio_server_options opts =
        CIO_SERVER_OPTIONS(.socket = &sopts, .stack_size = 16 * 1024, .name = "echo");
    cio_server *srv;
    BENCH_CHECK(cio_server_new(&addr, &opts, args.accept_mode ? accept_one : echo, NULL, &srv));
    bench_server_ready();
    /* Serve until SIGTERM (bench/run ends the server that way). */
    for (;;)
        BENCH_CHECK(cio_sleep(3600));
    return 0;
}

int main(int argc, char **argv)
{
    args = bench_server_parse(argc, argv);
    BENCH_CHECK(cio_run(serve, NULL, NULL));
    return 0;
}
