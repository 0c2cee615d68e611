/* An echo client, in both of cio's styles:
 *
 *   echo_client ADDR [COUNT]             a task with a cio_stream
 *   echo_client --protocol ADDR [COUNT]  a cio_protocol, connected with
 *                                        cio_transport_connect, no task
 *
 * Connects to ADDR ("127.0.0.1:7000", "[::1]:7000", "unix:/path"), sends
 * COUNT lines (default 100), checks that each comes back unchanged, prints
 * "ok COUNT" and exits 0 (1 on any error). Run it against
 * examples/echo_server. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cio.h>
#include <cio/net.h>

struct client {
    cio_addr addr;
    int count;
};

/* ---- Coroutine style: a task reads and writes a stream ---------------- */

static int stream_main(void *arg, void **result)
{
    (void)result;
    struct client *c = arg;
    cio_stream *s;
    int rc = cio_stream_connect(&c->addr, NULL, NULL, &s);
    if (rc) {
        fprintf(stderr, "connect: %s\n", cio_strerror(rc));
        return rc;
    }
    char line[64], back[64];
    for (int i = 0; i < c->count; i++) {
        int len = snprintf(line, sizeof line, "line %d\n", i);
        rc = cio_stream_write(s, line, (size_t)len);
        if (rc)
            break;
        ssize_t n = cio_stream_read_line(s, back, sizeof back);
        if (n < 0) {
            rc = (int)n;
            break;
        }
        if (n != len || memcmp(line, back, (size_t)len) != 0) {
            fprintf(stderr, "line %d came back different\n", i);
            rc = -EPROTO;
            break;
        }
    }
    int crc = cio_stream_close(s);
    if (!rc)
        rc = crc;
    if (rc)
        fprintf(stderr, "echo: %s\n", cio_strerror(rc));
    else
        printf("ok %d\n", c->count);
    return rc;
}

/* ---- Callback style: a protocol on a transport ----------------------- */

struct proto_state {
    struct client *c;
    int sent, checked;
    char line[64];   /* the line last sent */
    size_t line_len;
    char in[64];     /* the echo so far */
    size_t in_len;
    int error;
    cio_loop *loop;
};

static void send_next(cio_transport *t, struct proto_state *p)
{
    p->line_len = (size_t)snprintf(p->line, sizeof p->line, "line %d\n", p->sent++);
    int rc = cio_transport_write(t, p->line, p->line_len);
    if (rc) {
        p->error = rc;
        cio_transport_abort(t);
    }
}

static int on_made(cio_transport *t, void *arg, void **ctx)
{
    (void)ctx;
    struct proto_state *p = arg;
    if (p->c->count == 0)
        return cio_transport_close(t);
    send_next(t, p);
    return 0;
}

static void on_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    struct proto_state *p = ctx;
    const char *d = data;
    for (size_t i = 0; i < len && !p->error; i++) {
        if (p->in_len == sizeof p->in) {
            p->error = -EPROTO;
            break;
        }
        p->in[p->in_len++] = d[i];
        if (d[i] != '\n')
            continue;
        if (p->in_len != p->line_len || memcmp(p->in, p->line, p->line_len) != 0) {
            fprintf(stderr, "line %d came back different\n", p->checked);
            p->error = -EPROTO;
            break;
        }
        p->in_len = 0;
        if (++p->checked == p->c->count)
            cio_transport_close(t); /* connection_lost follows */
        else
            send_next(t, p);
    }
    if (p->error)
        cio_transport_abort(t);
}

static void on_lost(cio_transport *t, int error, void *ctx)
{
    (void)t;
    struct proto_state *p = ctx;
    if (error && !p->error)
        p->error = error;
    cio_loop_stop(p->loop);
}

static const cio_protocol echo_protocol = {
    .connection_made = on_made,
    .data_received = on_data,
    .connection_lost = on_lost,
};

/* The connect future: on an error connection_made never runs. */
static void on_connected(cio_future *f, void *arg)
{
    struct proto_state *p = arg;
    int rc = cio_future_error(f);
    if (rc) {
        p->error = rc;
        cio_loop_stop(p->loop);
    }
}

static int protocol_main(struct client *c)
{
    cio_loop *loop;
    int rc = cio_loop_new(NULL, &loop);
    if (rc)
        return rc;
    struct proto_state p = {.c = c, .loop = loop};
    cio_future *f;
    rc = cio_transport_connect(loop, &c->addr, NULL, NULL, &echo_protocol, &p, &f);
    if (!rc) {
        cio_future_add_done_callback(f, on_connected, &p);
        cio_loop_run_forever(loop);
        cio_future_unref(f);
        rc = p.error;
    }
    cio_loop_free(loop);
    if (rc)
        fprintf(stderr, "echo: %s\n", cio_strerror(rc));
    else
        printf("ok %d\n", p.checked);
    return rc;
}

int main(int argc, char **argv)
{
    int i = 1;
    int protocol = 0;
    if (i < argc && strcmp(argv[i], "--protocol") == 0) {
        protocol = 1;
        i++;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: echo_client [--protocol] ADDR [COUNT]\n");
        return 2;
    }
    struct client c = {.count = 100};
    if (cio_addr_parse(argv[i], &c.addr) != 0) {
        fprintf(stderr, "echo_client: bad address %s\n", argv[i]);
        return 2;
    }
    if (i + 1 < argc)
        c.count = atoi(argv[i + 1]);
    if (c.count < 0)
        return 2;
    int rc = protocol ? protocol_main(&c) : cio_run(stream_main, &c, NULL);
    fflush(stdout);
    return rc ? 1 : 0;
}
