/* udp_batch.c: batches of datagrams with one system call per batch
 * (sendmmsg/recvmmsg; docs/api/udp.md): cio_udp_send_many,
 * cio_udp_recv_many. Exits 0 on success. */
#include <stdio.h>
#include <string.h>

#include <cio.h>
#include <cio/net.h>

enum { N = 32 };

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_addr any;
    cio_udp *rx = NULL, *tx = NULL;
    int err = cio_addr_ip("127.0.0.1", 0, &any);
    if (!err)
        err = cio_udp_new(&any, NULL, &rx);
    if (!err)
        err = cio_udp_new(&any, NULL, &tx);
    cio_addr to;
    if (!err)
        err = cio_udp_local(rx, &to);
    if (err) {
        cio_udp_close(rx);
        return err;
    }
    static char out[N][16], in[N][16];
    cio_datagram msgs[N];
    for (int i = 0; i < N; i++) {
        int len = snprintf(out[i], sizeof out[i], "datagram %d", i);
        msgs[i] = (cio_datagram){.data = out[i], .len = (size_t)len, .addr = to};
    }
    size_t sent = 0;
    err = cio_udp_send_many(tx, msgs, N, &sent); /* all 32, in order */

    /* recv_many waits for the first, then takes what is there (up to N). */
    size_t got = 0;
    for (int rounds = 0; !err && got < N && rounds < N; rounds++) {
        cio_datagram r[N];
        for (size_t i = 0; i < N - got; i++)
            r[i] = (cio_datagram){.data = in[got + i], .len = sizeof in[0]};
        size_t done = 0;
        err = cio_udp_recv_many(rx, r, N - got, &done);
        for (size_t i = 0; !err && i < done; i++)
            if (r[i].len != msgs[got + i].len || memcmp(in[got + i], out[got + i], r[i].len) != 0)
                err = -EIO;
        got += done;
    }
    if (!err)
        printf("sent %zu, received %zu in order\n", sent, got);
    cio_udp_close(rx);
    cio_udp_close(tx);
    return err ? err : got == N ? 0 : -EIO;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
