/* server_task.c: a server with a task per connection (docs/api/server.md).
 * cio_server_new runs handler(stream, arg) in a task of its own for every
 * connection; cio_server_addr tells the port picked for port 0;
 * cio_server_connections counts the open ones; cio_server_close stops
 * accepting, lets handlers finish (here: up to 5 s), cancels the rest and
 * frees the server. Exits 0 on success. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include <cio.h>
#include <cio/net.h>

/* Upper-cases each line it reads and writes it back, until the client is
 * done. It leaves the stream open: the server closes it. */
static int shout(cio_stream *s, void *arg)
{
    (void)arg;
    char line[256];
    ssize_t n;
    while ((n = cio_stream_read_line(s, line, sizeof line)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (line[i] >= 'a' && line[i] <= 'z')
                line[i] = (char)(line[i] - 'a' + 'A');
        int err = cio_stream_write(s, line, (size_t)n);
        if (err)
            return err;
    }
    return n == -ENODATA ? 0 : (int)n; /* -ENODATA: ended without a newline */
}

static int run(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_addr addr;
    cio_server *srv;
    int err = cio_addr_parse("127.0.0.1:0", &addr);
    if (!err)
        err = cio_server_new(&addr, &CIO_SERVER_OPTIONS(.name = "shout"), shout, NULL, &srv);
    if (err)
        return err;
    cio_server_addr(srv, &addr); /* now with the port the system chose */
    char text[CIO_ADDR_STRLEN];
    cio_addr_format(&addr, text, sizeof text);

    cio_stream *client;
    char reply[64];
    ssize_t n = 0;
    err = cio_stream_connect(&addr, NULL, NULL, &client);
    if (!err)
        err = cio_stream_write(client, "hello\n", 6);
    if (!err) {
        n = cio_stream_read_line(client, reply, sizeof reply);
        err = n < 0 ? (int)n : 0;
    }
    if (!err) {
        /* The handler's task is still running, waiting for the next line. */
        printf("%s answered %.*s(%zu open)\n", text, (int)n, reply, cio_server_connections(srv));
        err = cio_stream_close(client);
    }
    int cerr = cio_server_close(srv, 5.0);
    return err ? err : cerr;
}

int main(void)
{
    int err = cio_run(run, NULL, NULL);
    if (err) {
        fprintf(stderr, "server_task: %s\n", cio_strerror(err));
        return 1;
    }
    return 0;
}
