/* cio_transport_connect_name: the callback style connects by host name
 * ("localhost", from /etc/hosts) with no task of its own; the future says
 * when connection_made ran. The server is a protocol server of this
 * program on loopback. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include <cio.h>
#include <cio/net.h>

/* ---- The server: answers what it gets in upper case ---------------------- */

static void upper_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    (void)ctx;
    char buf[256];
    size_t n = len < sizeof buf ? len : sizeof buf;
    for (size_t i = 0; i < n; i++) {
        char c = ((const char *)data)[i];
        buf[i] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
    }
    cio_transport_write(t, buf, n);
}

static const cio_protocol upper_proto = {.data_received = upper_data};

/* ---- The client: sends a greeting, prints the answer, closes ------------- */

struct client {
    cio_event *done;
    char got[64];
    size_t len;
};

static int client_made(cio_transport *t, void *arg, void **ctx)
{
    (void)arg;
    (void)ctx;
    printf("client: connected\n");
    return cio_transport_write(t, "hello by name", 13);
}

static void client_data(cio_transport *t, const void *data, size_t len, void *ctx)
{
    struct client *c = ctx;
    if (len > sizeof c->got - c->len)
        len = sizeof c->got - c->len;
    memcpy(c->got + c->len, data, len);
    c->len += len;
    if (c->len >= 13)
        cio_transport_close(t);
}

static void client_lost(cio_transport *t, int error, void *ctx)
{
    (void)t;
    struct client *c = ctx;
    printf("client: got \"%.*s\", connection lost (%s)\n", (int)c->len, c->got,
           error ? cio_err_name(error) : "clean");
    cio_event_set(c->done);
}

static const cio_protocol client_proto = {
    .connection_made = client_made, .data_received = client_data, .connection_lost = client_lost};

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_addr addr;
    cio_addr_ip("127.0.0.1", 0, &addr);
    cio_server *srv;
    int rc = cio_server_new_protocol(&addr, NULL, &upper_proto, NULL, &srv);
    if (rc)
        return rc;
    uint16_t port = 0;
    cio_addr bound;
    if (cio_server_addr(srv, &bound) == 0)
        port = cio_addr_port(&bound);
    struct client c = {0};
    cio_event_new(&c.done);
    /* From a task here, but it would work the same from a callback. */
    cio_future *made;
    rc = cio_transport_connect_name(cio_current_loop(), "localhost", port, NULL, NULL,
                                    &client_proto, &c, &made);
    if (rc == 0) {
        rc = cio_await(made, NULL); /* 0 once connection_made ran */
        cio_future_unref(made);
    }
    if (rc == 0)
        rc = cio_event_wait(c.done);
    else
        fprintf(stderr, "connect: %s\n", cio_strerror(rc));
    cio_event_free(c.done);
    cio_server_close(srv, 1.0);
    return rc == 0 && c.len == 13 && memcmp(c.got, "HELLO BY NAME", 13) == 0 ? 0 : -1;
}

int main(void)
{
    return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1;
}
