/* echo_task.c: a TCP echo server and its client in one program, coroutine
 * style (asyncio's start_server and open_connection). The server runs
 * echo() in a task of its own for every connection; the client is the
 * main task. Both read and write as blocking code would, and each call
 * suspends only its own task: the loop serves the other meanwhile. */
#include <stdio.h>
#include <string.h>

#include <cio.h>

/* A connection's task: echoes every line until the client is done. The
 * server closes the stream when it returns. */
static int echo(cio_stream *s, void *arg)
{
    (void)arg;
    char line[256];
    for (;;) {
        ssize_t n = cio_stream_read_line(s, line, sizeof line);
        if (n == -ENODATA || n == 0)
            return 0; /* the client shut its side down */
        if (n < 0)
            return (int)n;
        int err = cio_stream_write(s, line, (size_t)n); /* waits only if the client lags */
        if (err)
            return err;
    }
}

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_addr addr;
    cio_addr_parse("127.0.0.1:0", &addr); /* port 0: the system picks a free one */
    cio_server *srv;
    int err = cio_server_new(&addr, NULL, echo, NULL, &srv);
    if (err)
        return err;
    cio_server_addr(srv, &addr); /* now with the port chosen */
    printf("server listening on a free port of 127.0.0.1\n");

    cio_stream *s;
    err = cio_stream_connect(&addr, NULL, NULL, &s);
    if (!err) {
        const char *words[] = {"hello\n", "world\n"};
        char line[256];
        for (int i = 0; i < 2 && !err; i++) {
            err = cio_stream_write(s, words[i], strlen(words[i]));
            ssize_t n = err ? err : cio_stream_read_line(s, line, sizeof line - 1);
            if (n < 0)
                err = (int)n;
            else
                printf("client got: %.*s", (int)n, line);
        }
        printf("connections open: %zu\n", cio_server_connections(srv));
        if (!err)
            err = cio_stream_shutdown(s); /* "no more": the server's read ends */
        if (!err && cio_stream_read(s, line, sizeof line) == 0)
            printf("client: the server closed its side too\n");
        int cerr = cio_stream_close(s);
        if (!err)
            err = cerr;
    }
    cio_server_close(srv, 1.0); /* stop accepting; 1 s for handlers still running */
    printf("server closed\n");
    return err;
}

int main(void)
{
    int err = cio_run(main_task, NULL, NULL);
    if (err)
        fprintf(stderr, "echo_task: %s\n", cio_strerror(err));
    return err ? 1 : 0;
}
