/* tls_client: fetches a page over TLS with an HTTP/1.0 GET and prints the
 * response (headers and body) on stdout; what TLS negotiated goes to
 * stderr.
 *
 *   tls_client [--ca FILE] [--insecure] [--alpn LIST] [--name NAME] URL
 *   tls_client [options] HOST [PORT [PATH]]
 *
 * URL is https://HOST[:PORT][/PATH] (an IPv6 address in brackets); PORT
 * defaults to 443, PATH to "/". HOST may be a name (resolved, then Happy
 * Eyeballs: cio_stream_connect_name) or a numeric address
 * (cio_stream_connect). The server's certificate is verified against the
 * system's trust store, or --ca FILE, and its name (HOST, or --name);
 * --insecure verifies neither. A failure prints cio's error and OpenSSL's
 * reason ("certificate verify failed: certificate has expired") and exits
 * 1.
 *
 * Try it against a local OpenSSL test server:
 *   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
 *       -subj /CN=localhost -addext subjectAltName=DNS:localhost \
 *       -keyout key.pem -out cert.pem
 *   openssl s_server -accept 127.0.0.1:4433 -cert cert.pem -key key.pem -www &
 *   tls_client --ca cert.pem https://localhost:4433/ */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cio.h>
#include <cio/net.h>
#include <cio/tls.h>

struct args {
    const char *ca, *alpn, *name;
    int insecure;
    char host[256];
    unsigned port;
    char path[1024];
};

static int usage(void)
{
    fprintf(stderr, "usage: tls_client [--ca FILE] [--insecure] [--alpn LIST] [--name NAME] "
                    "https://HOST[:PORT][/PATH] | HOST [PORT [PATH]]\n");
    return 2;
}

/* https://HOST[:PORT][/PATH] */
static int parse_url(const char *url, struct args *a)
{
    const char *p = url + strlen("https://");
    const char *hend;
    if (*p == '[') {
        hend = strchr(p, ']');
        if (!hend)
            return -1;
        p++;
    } else {
        hend = p + strcspn(p, ":/");
    }
    size_t hl = (size_t)(hend - p);
    if (hl == 0 || hl >= sizeof a->host)
        return -1;
    memcpy(a->host, p, hl);
    a->host[hl] = 0;
    p = *hend == ']' ? hend + 1 : hend;
    if (*p == ':') {
        char *end;
        unsigned long port = strtoul(p + 1, &end, 10);
        if (end == p + 1 || port == 0 || port > 65535)
            return -1;
        a->port = (unsigned)port;
        p = end;
    }
    if (*p && *p != '/')
        return -1;
    snprintf(a->path, sizeof a->path, "%s", *p ? p : "/");
    return 0;
}

static int fetch(void *arg, void **result)
{
    (void)result;
    struct args *a = arg;
    cio_scope deadline;
    cio_timeout_begin(&deadline, 30); /* resolve, connect, handshake, page */
    cio_tls_config *tls;
    int rc = cio_tls_config_new(
        &CIO_TLS_OPTIONS(.ca_file = a->ca, .insecure = a->insecure != 0, .alpn = a->alpn), &tls);
    if (rc) {
        fprintf(stderr, "tls_client: configuration: %s: %s\n", cio_strerror(rc),
                cio_tls_last_error());
        cio_scope_end(&deadline);
        return rc;
    }
    const char *name = a->name ? a->name : a->host;
    cio_stream_options so = CIO_STREAM_OPTIONS(.tls = tls, .server_name = name);
    cio_stream *s = NULL;
    cio_addr addr;
    if (cio_addr_ip(a->host, (uint16_t)a->port, &addr) == 0)
        rc = cio_stream_connect(&addr, NULL, &so, &s); /* a numeric address */
    else
        rc = cio_stream_connect_name(a->host, (uint16_t)a->port, NULL, &so, &s);
    if (rc) {
        const char *why = cio_tls_last_error();
        fprintf(stderr, "tls_client: %s:%u: %s%s%s\n", a->host, a->port, cio_strerror(rc),
                *why ? ": " : "", why);
        cio_tls_config_free(tls);
        cio_scope_end(&deadline);
        return rc;
    }
    cio_tls_info info;
    if (cio_stream_tls_info(s, &info) == 0)
        fprintf(stderr, "tls_client: TLS %s, %s, ALPN %s, %s, %s\n",
                info.version == CIO_TLS_1_3 ? "1.3" : "1.2", info.cipher,
                info.alpn ? info.alpn : "none", info.peer_verified ? "verified" : "NOT verified",
                info.resumed ? "resumed" : "full handshake");
    char req[1400];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: cio-tls-client\r\n"
                     "Connection: close\r\n\r\n",
                     a->path, a->host);
    rc = cio_stream_write(s, req, (size_t)n);
    char buf[16384];
    while (rc == 0) {
        ssize_t got = cio_stream_read(s, buf, sizeof buf);
        if (got <= 0) {
            rc = (int)got;
            break;
        }
        fwrite(buf, 1, (size_t)got, stdout);
    }
    fflush(stdout);
    if (rc) {
        const char *why = cio_tls_last_error();
        fprintf(stderr, "tls_client: reading: %s%s%s\n", cio_strerror(rc), *why ? ": " : "",
                why);
    }
    cio_stream_close(s);
    cio_tls_config_free(tls);
    if (cio_scope_end(&deadline) == -ETIMEDOUT && !rc)
        rc = -ETIMEDOUT;
    return rc;
}

int main(int argc, char **argv)
{
    struct args a = {.port = 443};
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        if (!strcmp(argv[i], "--insecure")) {
            a.insecure = 1;
        } else if (i + 1 < argc && !strcmp(argv[i], "--ca")) {
            a.ca = argv[++i];
        } else if (i + 1 < argc && !strcmp(argv[i], "--alpn")) {
            a.alpn = argv[++i];
        } else if (i + 1 < argc && !strcmp(argv[i], "--name")) {
            a.name = argv[++i];
        } else {
            return usage();
        }
    }
    if (i >= argc || argc - i > 3)
        return usage();
    if (!strncmp(argv[i], "https://", 8)) {
        if (argc - i != 1 || parse_url(argv[i], &a) != 0)
            return usage();
    } else {
        if (strlen(argv[i]) >= sizeof a.host)
            return usage();
        snprintf(a.host, sizeof a.host, "%s", argv[i]);
        if (argc - i >= 2) {
            char *end;
            unsigned long port = strtoul(argv[i + 1], &end, 10);
            if (*end || port == 0 || port > 65535)
                return usage();
            a.port = (unsigned)port;
        }
        snprintf(a.path, sizeof a.path, "%s", argc - i == 3 ? argv[i + 2] : "/");
    }
    int rc = cio_run(fetch, &a, NULL);
    return rc ? 1 : 0;
}
