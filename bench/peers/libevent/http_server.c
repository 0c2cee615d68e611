/* http_server, libevent: the evhttp peer of http_plain and http_pipelined.
 *
 * usage: libevent_http_server PORT
 *
 * Written as libevent's documentation and its sample/http-server.c show:
 * event_base_new, evhttp_new, evhttp_bind_socket_with_handle on
 * 127.0.0.1:PORT, evhttp_set_gencb with one callback for every request,
 * which adds "Hello, World!" to an evbuffer with evbuffer_add and answers
 * evhttp_send_reply(req, 200, "OK", buf). The one evbuffer is reused:
 * evhttp_send_reply moves its contents into the connection's output. The
 * response has the same fields as cio's: Content-Type
 * "text/plain; charset=utf-8" and Server (set here), Date and
 * Content-Length (evhttp adds them). Keep-alive is evhttp's default (no
 * cap on requests per connection). Prints "ready" on stdout once it
 * listens; bench/run ends it with SIGTERM. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "../../client/server.h"

static struct evbuffer *body;

static void hello(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Server", "evhttp");
    evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
    evbuffer_add(body, "Hello, World!", 13);
    evhttp_send_reply(req, 200, "OK", body);
}

int main(int argc, char **argv)
{
    bench_server_args a = bench_server_parse(argc, argv);
    struct event_base *base = event_base_new();
    struct evhttp *http = base ? evhttp_new(base) : NULL;
    body = evbuffer_new();
    if (!http || !body) {
        fprintf(stderr, "libevent http_server: out of memory\n");
        return 1;
    }
    evhttp_set_gencb(http, hello, NULL);
    if (!evhttp_bind_socket_with_handle(http, "127.0.0.1", (unsigned short)a.port)) {
        fprintf(stderr, "libevent http_server: cannot bind 127.0.0.1:%d\n", a.port);
        return 1;
    }
    bench_server_ready();
    event_base_dispatch(base);
    evhttp_free(http);
    evbuffer_free(body);
    event_base_free(base);
    return 0;
}
