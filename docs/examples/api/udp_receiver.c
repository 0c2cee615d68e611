/* udp_receiver.c: the callback style (docs/api/udp.md): a receiver called
 * on the loop's thread for every datagram, answering with
 * cio_udp_send_nowait; no task at all. cio_udp_set_receiver. Exits 0 on
 * success. */
#include <stdio.h>
#include <string.h>

#include <cio.h>
#include <cio/net.h>

static cio_udp *server, *client;
static int answers;

/* The server echoes whatever arrives. */
static void on_server(cio_udp *u, const void *data, size_t len, const cio_addr *from, void *arg)
{
    (void)arg;
    cio_udp_send_nowait(u, data, len, from);
}

/* The client counts the answers and stops the loop after the third. */
static void on_client(cio_udp *u, const void *data, size_t len, const cio_addr *from, void *arg)
{
    (void)from;
    printf("answer %d: %.*s\n", ++answers, (int)len, (const char *)data);
    if (answers < 3) {
        cio_udp_send_nowait(u, "again", 5, NULL);
        return;
    }
    cio_udp_set_receiver(u, NULL, NULL); /* stops it */
    cio_loop_stop(arg);
}

static void start(void *arg)
{
    cio_loop *loop = arg;
    cio_addr any, srv_addr;
    int err = cio_addr_ip("127.0.0.1", 0, &any);
    if (!err)
        err = cio_udp_new(&any, NULL, &server);
    if (!err)
        err = cio_udp_local(server, &srv_addr);
    if (!err)
        err = cio_udp_new(NULL, &CIO_UDP_OPTIONS(.remote = &srv_addr), &client);
    if (!err)
        err = cio_udp_set_receiver(server, on_server, NULL);
    if (!err)
        err = cio_udp_set_receiver(client, on_client, loop);
    if (!err && cio_udp_send_nowait(client, "hello", 5, NULL) != 5)
        err = -EIO;
    if (err) {
        fprintf(stderr, "udp_receiver: %s\n", cio_strerror(err));
        cio_loop_stop(loop);
    }
}

int main(void)
{
    cio_loop *loop;
    if (cio_loop_new(NULL, &loop) != 0)
        return 1;
    cio_call_soon(loop, start, loop);
    cio_loop_run_forever(loop);
    cio_udp_close(client);
    cio_udp_close(server);
    int ok = cio_loop_close(loop) == 0 && answers == 3;
    cio_loop_free(loop);
    return ok ? 0 : 1;
}
