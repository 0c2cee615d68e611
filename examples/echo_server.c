/* An echo server, in either of cio's two styles:
 *
 *     echo_server [--protocol] [ADDR]
 *
 * ADDR is anything cio_addr_parse reads ("127.0.0.1:7000", "[::1]:0",
 * "unix:/tmp/echo.sock", "@echo"); the default is 127.0.0.1:0, a free
 * port. It prints "listening on ADDR" (the real address, with the port
 * chosen) and serves until SIGINT or SIGTERM, then closes gracefully:
 * no new connections, 5 s for the open ones to finish, then they are
 * cancelled. Exits 0, or 1 with a message on stderr.
 *
 * Coroutine style (the default): each connection runs echo() in a task of
 * its own, which reads and writes as blocking code would; the task
 * suspends instead of blocking the loop. Protocol style (--protocol): no
 * task per connection; cio calls the protocol's callbacks, asyncio's
 * Protocol model. Pair it with examples/echo_client.c. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <cio.h>
#include <cio/net.h>

/* ---- Coroutine style: one task per connection ---------------------------- */

static int echo(cio_stream *s, void *arg)
{
    (void)arg;
    char buf[16384];
    for (;;) {
        ssize_t n = cio_stream_read(s, buf, sizeof buf);
        if (n <= 0)
            return (int)n; /* 0: the client is done; the server closes s */
        int rc = cio_stream_write(s, buf, (size_t)n); /* waits only if the client lags */
        if (rc < 0)
            return rc;
    }
}

/* ---- Protocol style: callbacks ----------------------------------------------- */

static void echo_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    (void)ctx;
    cio_transport_write(t, data, len); /* never blocks: buffers what the socket won't take */
}

static const cio_protocol echo_protocol = {
    .data_received = echo_data,
    /* eof_received NULL: close when the client shuts its side down. */
};

/* ---- Main ------------------------------------------------------------------------ */

struct args {
    bool protocol;
    const char *addr;
};

static void on_signal(void *arg)
{
    cio_event_set(arg);
}

static int serve(void *arg, void **result)
{
    (void)result;
    const struct args *a = arg;
    cio_addr addr;
    if (cio_addr_parse(a->addr, &addr) < 0) {
        fprintf(stderr, "echo_server: bad address '%s'\n", a->addr);
        return -1;
    }
    cio_server *srv;
    int rc = a->protocol ? cio_server_new_protocol(&addr, NULL, &echo_protocol, NULL, &srv)
                         : cio_server_new(&addr, &CIO_SERVER_OPTIONS(.name = "echo"), echo, NULL,
                                          &srv);
    if (rc < 0) {
        fprintf(stderr, "echo_server: %s: %s\n", a->addr, cio_strerror(rc));
        return rc;
    }
    char text[CIO_ADDR_STRLEN];
    cio_server_addr(srv, &addr);
    cio_addr_format(&addr, text, sizeof text);
    printf("listening on %s\n", text);
    fflush(stdout);

    /* Serve until SIGINT or SIGTERM. */
    cio_event *stop;
    cio_loop *loop = cio_current_loop();
    if ((rc = cio_event_new(&stop)) < 0 ||
        (rc = cio_loop_add_signal_handler(loop, SIGINT, on_signal, stop)) < 0 ||
        (rc = cio_loop_add_signal_handler(loop, SIGTERM, on_signal, stop)) < 0) {
        fprintf(stderr, "echo_server: %s\n", cio_strerror(rc));
        return rc;
    }
    rc = cio_event_wait(stop);
    cio_loop_remove_signal_handler(loop, SIGINT);
    cio_loop_remove_signal_handler(loop, SIGTERM);
    cio_event_free(stop);
    int crc = cio_server_close(srv, 5.0);
    return rc < 0 ? rc : crc;
}

int main(int argc, char **argv)
{
    struct args a = {false, "127.0.0.1:0"};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--protocol") == 0) {
            a.protocol = true;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "usage: echo_server [--protocol] [ADDR]\n");
            return 1;
        } else {
            a.addr = argv[i];
        }
    }
    return cio_run(serve, &a, NULL) == 0 ? 0 : 1;
}
