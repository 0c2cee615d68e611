/* http_run.c: cio_http_run serves an app until SIGTERM, then shuts down
 * gracefully and returns 0. Here the server listens on a Unix socket in a
 * temporary directory (a path the client knows in advance; a TCP address
 * would be served by one worker per CPU, sharing the port), and a client
 * thread asks it once, then sends the process SIGTERM.
 * Reference: docs/api/http_run.md. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cio.h>

static char path[64];
static int client_ok;

static int hello(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req, (void)arg;
    return cio_http_response_text(res, 200, "Hello, World!");
}

/* A plain blocking client: connects once the server listens (ten seconds
 * at most), asks for /, reads the answer, then stops the server. */
static void *client(void *arg)
{
    (void)arg;
    int fd = -1;
    for (int i = 0; i < 10000 && fd < 0; i++) {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        memcpy(sun.sun_path, path, strlen(path) + 1);
        if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
            close(fd);
            fd = -1;
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        }
    }
    if (fd >= 0) {
        const char req[] = "GET / HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n";
        char buf[1024];
        size_t got = 0;
        ssize_t n;
        if (write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1))
            while (got + 1 < sizeof buf && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
                got += (size_t)n;
        buf[got] = 0;
        client_ok = strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0 &&
                    strstr(buf, "\r\n\r\nHello, World!") != NULL;
        close(fd);
    }
    kill(getpid(), SIGTERM); /* a graceful shutdown of every worker */
    return NULL;
}

int main(void)
{
    char dir[] = "/tmp/cio-http-run-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%.40s/sock", dir);
    cio_addr addr;
    cio_http_app *app;
    if (cio_addr_unix(path, &addr) || cio_http_app_new(&app) ||
        cio_http_app_route(app, "GET", "/", hello, NULL))
        return 1;
    pthread_t t;
    if (pthread_create(&t, NULL, client, NULL))
        return 1;
    /* threads 0: one per CPU, but a Unix socket is served by one. */
    int rc = cio_http_run(app, &addr, &CIO_HTTP_SERVER_OPTIONS(.shutdown_grace = 5), 0);
    pthread_join(t, NULL);
    cio_http_app_free(app);
    unlink(path);
    rmdir(dir);
    printf("cio_http_run: %s, client %s\n", cio_err_name(rc), client_ok ? "ok" : "failed");
    return rc == 0 && client_ok ? 0 : 1;
}
