/* ws_load: the one load client of ws_echo. Plain C over raw epoll, no cio
 * and no WebSocket library, so that every server (cio's, libwebsockets,
 * python3-websockets, aiohttp) is driven by the very same code.
 *
 * usage: ws_load PORT [conns=100] [size=64] [window=1] [secs=5] [count=K]
 *                [path=/] [impl=NAME]
 *
 * Opens `conns` TCP connections (TCP_NODELAY), each sending the RFC 6455
 * opening handshake (GET path, Upgrade: websocket, a fixed
 * Sec-WebSocket-Key, Sec-WebSocket-Version: 13; no Sec-WebSocket-Extensions,
 * so no server can turn permessage-deflate on; no subprotocol) and checking
 * the answer: status 101 and the Sec-WebSocket-Accept of that key. When
 * every connection is open, each keeps `window` binary messages of `size`
 * bytes in flight: a message is one final binary frame, masked with a fresh
 * key per frame as a client must (RFC 6455 §5.3); every echo (one
 * unmasked binary frame from the server) is checked against the message
 * and answered with the next message, in one send per batch of echoes read
 * together. After `secs` seconds (or K messages in all) nothing new is sent,
 * the messages in flight are awaited and checked, and each connection
 * sends a close frame (1000) and closes.
 *
 * Prints messages_per_s (echoed messages from the first send to the last
 * echo) and messages (the op count: bench/run divides the server's CPU
 * time by it). Any failure (a refused connection, a bad handshake, a wrong
 * echo, an unexpected frame, a close) exits 1 with a message. */
#include "../common.h"

#include <unistd.h>

#define KV_PROG "ws_load"
#include "loadclient.h"

/* RFC 6455 §1.3's example key and its accept value. */
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

struct conn {
    int fd;
    int state;    /* 0 connecting, 1 handshake sent, 2 open */
    long busy;    /* messages sent and not yet echoed */
    size_t inlen; /* bytes in in[] */
    size_t outlen, outoff; /* bytes in out[] not yet sent (from outoff) */
    bool want_out; /* EPOLLOUT armed */
    unsigned char *in;
    unsigned char *out;
};

static size_t msg_size, frame_size, hdr_size, in_cap, out_cap;
static unsigned char *msg; /* the payload every message carries */
static bench_rng rng = BENCH_RNG_INIT;
static const char *impl_name = "ws_load";

/* Appends one masked binary frame carrying msg to c->out. */
static void put_frame(struct conn *c)
{
    if (c->outlen + frame_size > out_cap)
        fail("output buffer overflow (a bug)");
    unsigned char *p = c->out + c->outlen;
    p[0] = 0x82; /* FIN, binary */
    size_t h = 2;
    if (msg_size < 126) {
        p[1] = (unsigned char)(0x80 | msg_size);
    } else if (msg_size <= 0xffff) {
        p[1] = 0x80 | 126;
        p[2] = (unsigned char)(msg_size >> 8);
        p[3] = (unsigned char)msg_size;
        h = 4;
    } else {
        p[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            p[2 + i] = (unsigned char)((uint64_t)msg_size >> (56 - 8 * i));
        h = 10;
    }
    uint64_t r = bench_rng_next(&rng);
    unsigned char key[4] = {(unsigned char)(r >> 24), (unsigned char)(r >> 32),
                            (unsigned char)(r >> 40), (unsigned char)(r >> 48)};
    memcpy(p + h, key, 4);
    h += 4;
    for (size_t i = 0; i < msg_size; i++)
        p[h + i] = msg[i] ^ key[i & 3];
    c->outlen += frame_size;
}

static void arm(int ep, struct conn *c, long i, bool out)
{
    if (c->want_out == out)
        return;
    c->want_out = out;
    ep_ctl(ep, EPOLL_CTL_MOD, c->fd, EPOLLIN | (out ? EPOLLOUT : 0), (uint64_t)i);
}

/* Sends what c->out holds; arms EPOLLOUT for a rest. */
static void flush(int ep, struct conn *c, long i)
{
    while (c->outoff < c->outlen) {
        ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN)
                break;
            die("send");
        }
        c->outoff += (size_t)w;
    }
    if (c->outoff == c->outlen) {
        c->outoff = c->outlen = 0;
        arm(ep, c, i, false);
    } else {
        arm(ep, c, i, true);
    }
}

static void send_handshake(struct conn *c, int port, const char *path)
{
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: " WS_KEY "\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     path, port);
    if (n <= 0 || (size_t)n >= sizeof req)
        fail("path too long");
    if (send(c->fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        die("send (handshake)");
    c->state = 1;
}

static bool has_field(const char *head, const char *name, const char *value)
{
    size_t nl = strlen(name);
    for (const char *l = strstr(head, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
        const char *f = l + 2;
        if (strncasecmp(f, name, nl) == 0 && f[nl] == ':') {
            f += nl + 1;
            while (*f == ' ' || *f == '\t')
                f++;
            size_t vl = strlen(value);
            return strncasecmp(f, value, vl) == 0 && (f[vl] == '\r' || f[vl] == ' ');
        }
    }
    return false;
}

/* Reads the handshake's answer; true once the connection is open. */
static bool read_handshake(struct conn *c)
{
    ssize_t r = recv(c->fd, c->in + c->inlen, in_cap - c->inlen - 1, 0);
    if (r < 0) {
        if (errno == EAGAIN)
            return false;
        die("recv (handshake)");
    }
    if (r == 0)
        fail("the server closed a connection during the handshake");
    c->inlen += (size_t)r;
    c->in[c->inlen] = '\0';
    char *end = strstr((char *)c->in, "\r\n\r\n");
    if (!end) {
        if (c->inlen + 1 >= in_cap)
            fail("handshake answer too long");
        return false;
    }
    end[2] = '\0';
    if (strncmp((char *)c->in, "HTTP/1.1 101", 12) != 0) {
        fprintf(stderr, "ws_load: the server did not upgrade:\n%s\n", (char *)c->in);
        exit(1);
    }
    if (!has_field((char *)c->in, "Sec-WebSocket-Accept", WS_ACCEPT))
        fail("wrong or missing Sec-WebSocket-Accept");
    if (strcasestr((char *)c->in, "Sec-WebSocket-Extensions"))
        fail("the server agreed to an extension nobody offered");
    size_t used = (size_t)(end + 4 - (char *)c->in);
    memmove(c->in, c->in + used, c->inlen - used);
    c->inlen -= used;
    c->state = 2;
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !kv_parse(2, argc, argv)) {
        fprintf(stderr, "usage: ws_load PORT [conns=100] [size=64] [window=1] [secs=5] "
                        "[count=K] [path=/] [impl=NAME]\n");
        return 2;
    }
    long nconns = (long)opt_num("conns", 100);
    msg_size = (size_t)opt_num("size", 64);
    long window = (long)opt_num("window", 1);
    double secs = opt_num("secs", 5);
    long count = (long)opt_num("count", 0);
    const char *path = opt_str("path", "/");
    impl_name = opt_str("impl", impl_name);
    if (!set_server(argv[1]))
        return 2;
    check_opts_used();
    if (nconns < 1 || msg_size < 1 || window < 1)
        fail("conns, size and window must be at least 1");
    int port = ntohs(server_addr.sin_port);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    hdr_size = msg_size < 126 ? 2 : msg_size <= 0xffff ? 4 : 10;
    frame_size = hdr_size + 4 + msg_size;
    /* An echo arrives unmasked (hdr_size + msg_size); a read may hold the
     * window's echoes at once, and the handshake's answer first. */
    in_cap = (size_t)window * (hdr_size + msg_size) + 4096;
    out_cap = (size_t)window * frame_size + 16;
    msg = malloc(msg_size);
    struct conn *c = calloc((size_t)nconns, sizeof *c);
    if (!msg || !c)
        fail("out of memory");
    for (size_t i = 0; i < msg_size; i++)
        msg[i] = (unsigned char)('a' + i % 26);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    for (long i = 0; i < nconns; i++) {
        c[i].in = malloc(in_cap);
        c[i].out = malloc(out_cap);
        if (!c[i].in || !c[i].out)
            fail("out of memory");
        c[i].fd = start_connect();
        c[i].want_out = true;
        ep_ctl(ep, EPOLL_CTL_ADD, c[i].fd, EPOLLOUT, (uint64_t)i);
    }

    long open = 0, done = 0, busy = 0;
    bool sending = true;
    uint64_t t0 = 0;
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, 10000);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        if (n == 0)
            fail("no event for 10 s");
        for (int k = 0; k < n; k++) {
            long i = (long)evs[k].data.u64;
            struct conn *p = &c[i];
            if (p->state == 0) {
                check_connected(p->fd);
                send_handshake(p, port, path);
                p->want_out = false;
                ep_ctl(ep, EPOLL_CTL_MOD, p->fd, EPOLLIN, (uint64_t)i);
                continue;
            }
            if (p->state == 1) {
                if (read_handshake(p) && ++open == nconns) {
                    /* Every connection open: all start together. */
                    t0 = bench_now_ns();
                    for (long j = 0; j < nconns; j++) {
                        for (long w = 0; w < window && (!count || done + busy < count); w++) {
                            put_frame(&c[j]);
                            c[j].busy++;
                            busy++;
                        }
                        flush(ep, &c[j], j);
                    }
                }
                continue;
            }
            if ((evs[k].events & EPOLLOUT) && p->outoff < p->outlen)
                flush(ep, p, i);
            if (!(evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                continue;
            ssize_t r = recv(p->fd, p->in + p->inlen, in_cap - p->inlen, 0);
            if (r < 0) {
                if (errno == EAGAIN)
                    continue;
                die("recv");
            }
            if (r == 0)
                fail("the server closed a connection");
            p->inlen += (size_t)r;
            size_t off = 0;
            long echoed = 0;
            while (p->inlen - off >= 2) {
                unsigned char *f = p->in + off;
                if (f[1] & 0x80)
                    fail("a masked frame from the server");
                if (f[0] != 0x82) {
                    fprintf(stderr, "ws_load: unexpected frame 0x%02x (%s)\n", f[0],
                            (f[0] & 0x0f) == 8 ? "close" : "expected a final binary frame");
                    exit(1);
                }
                size_t len = f[1] & 0x7f, h = 2;
                if (len == 126) {
                    if (p->inlen - off < 4)
                        break;
                    len = (size_t)f[2] << 8 | f[3];
                    h = 4;
                } else if (len == 127) {
                    if (p->inlen - off < 10)
                        break;
                    len = 0;
                    for (int b = 0; b < 8; b++)
                        len = len << 8 | f[2 + b];
                    h = 10;
                }
                if (len != msg_size)
                    fail("an echo of the wrong length");
                if (p->inlen - off < h + len)
                    break;
                if (memcmp(f + h, msg, len) != 0)
                    fail("the echo differs from the message");
                off += h + len;
                echoed++;
            }
            if (off) {
                memmove(p->in, p->in + off, p->inlen - off);
                p->inlen -= off;
            }
            if (echoed > p->busy)
                fail("an echo nobody asked for");
            p->busy -= echoed;
            busy -= echoed;
            done += echoed;
            if (sending && secs > 0 && !count && elapsed_s(t0) >= secs)
                sending = false;
            for (long e = 0; e < echoed && sending; e++) {
                if (count && done + busy >= count) {
                    sending = false;
                    break;
                }
                put_frame(p);
                p->busy++;
                busy++;
            }
            if (p->outlen)
                flush(ep, p, i);
        }
        if (t0 && !sending && busy == 0)
            break;
    }
    double dt = elapsed_s(t0);
    static const unsigned char close_frame[] = {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8};
    for (long i = 0; i < nconns; i++) {
        (void)!send(c[i].fd, close_frame, sizeof close_frame, MSG_NOSIGNAL);
        close(c[i].fd);
        free(c[i].in);
        free(c[i].out);
    }
    close(ep);
    free(c);
    free(msg);
    bench_emit("ws_echo", impl_name, "messages_per_s", "1/s", done / dt, "higher");
    bench_emit("ws_echo", impl_name, "messages", "", (double)done, "higher");
    return 0;
}
