/* tls_echo_server, libevent: the TLS echo server of tls_stream (and a third
 * server of tls_handshake), with OpenSSL bufferevents as the libevent book
 * has them. See bench/client/tls_server.h for the command line.
 *
 * One SSL_CTX (TLS 1.3 only, X25519, the harness's ECDSA P-256 certificate,
 * no session tickets: SSL_OP_NO_TICKET and no TLS 1.3 tickets at all, no
 * session cache). An evconnlistener accepts; each connection gets SSL_new
 * and bufferevent_openssl_socket_new(..., BUFFEREVENT_SSL_ACCEPTING,
 * BEV_OPT_CLOSE_ON_FREE), reading at most 64 KiB at a time (as the plain
 * libevent echo server: bufferevent_set_max_single_read/_write). The read
 * callback moves the input to the output (bufferevent_write_buffer, which
 * is evbuffer_add_buffer: no copy); above 64 KiB of output reading is
 * disabled until the write callback (low-water mark 16 KiB) sees it drained.
 * At the client's end of stream (its close_notify: BEV_EVENT_EOF) or an
 * error the server sends its own close_notify (SSL_shutdown: libevent's
 * free does not) and frees the bufferevent, which closes the socket. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "../../client/tls_server.h"

static SSL_CTX *ctx;

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        SSL *ssl = bufferevent_openssl_get_ssl(bev);
        if (what & BEV_EVENT_EOF)
            SSL_shutdown(ssl);
        bufferevent_free(bev);
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    (void)arg;
    struct evbuffer *out = bufferevent_get_output(bev);
    bufferevent_write_buffer(bev, bufferevent_get_input(bev));
    if (evbuffer_get_length(out) > BENCH_HIGH_WATER)
        bufferevent_disable(bev, EV_READ);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    (void)arg;
    if (!(bufferevent_get_enabled(bev) & EV_READ))
        bufferevent_enable(bev, EV_READ);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    (void)sa;
    (void)len;
    (void)arg;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    SSL *ssl = SSL_new(ctx);
    BENCH_CHECK(ssl == NULL);
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        evconnlistener_get_base(l), fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    BENCH_CHECK(bev == NULL);
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    bufferevent_set_max_single_read(bev, BENCH_READ_SIZE);
    bufferevent_set_max_single_write(bev, BENCH_READ_SIZE);
    bufferevent_setwatermark(bev, EV_WRITE, BENCH_LOW_WATER, 0);
    bufferevent_setcb(bev, on_read, on_write, on_event, NULL);
    bufferevent_enable(bev, EV_READ);
}

int main(int argc, char **argv)
{
    bench_tls_server_args a = bench_tls_server_parse(argc, argv);
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set1_groups_list(ctx, "X25519") ||
        SSL_CTX_use_certificate_chain_file(ctx, a.cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, a.key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    struct event_base *base = event_base_new();
    BENCH_CHECK(base == NULL);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)a.port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct evconnlistener *l = evconnlistener_new_bind(
        base, on_accept, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
        BENCH_BACKLOG, (struct sockaddr *)&addr, sizeof addr);
    if (!l) {
        perror("libevent tls_echo_server: evconnlistener_new_bind");
        return 1;
    }
    bench_server_ready();
    return event_base_dispatch(base) < 0;
}
