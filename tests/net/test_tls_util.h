/* Helpers for the cio-to-cio TLS tests (tests/net/test_tls*.c): the
 * certificates (made once per program by tls-certs.sh in a temporary
 * directory, removed at the end), configurations, a loopback listener. */
#ifndef CIO_TEST_TLS_UTIL_H
#define CIO_TEST_TLS_UTIL_H

#include <limits.h>
#include <sys/socket.h>

#include <cio.h>
#include <cio/net.h>
#include <cio/tls.h>

#include "net/server_util.h"

static char tls_dir[PATH_MAX];

/* A file of the certificate directory (a static buffer per call slot). */
static inline const char *tls_path(const char *name)
{
    static char bufs[8][PATH_MAX + 64];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, PATH_MAX + 64, "%s/%s", tls_dir, name);
    return b;
}

/* Makes the certificates; the directory goes at exit. */
static inline void tls_rm_dir(void)
{
    if (!tls_dir[0])
        return;
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tls_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tls_dir);
}

static inline void tls_make_certs(void)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tls_dir, sizeof tls_dir, "%s/cio-tls-XXXXXX", tmp);
    if (!mkdtemp(tls_dir))
        FAIL("mkdtemp: %s", strerror(errno));
    atexit(tls_rm_dir);
    /* The script is next to this header. */
    char script[PATH_MAX];
    snprintf(script, sizeof script, "%s", __FILE__);
    char *slash = strrchr(script, '/');
    if (slash)
        snprintf(slash + 1, sizeof script - (size_t)(slash + 1 - script), "tls-certs.sh");
    else
        snprintf(script, sizeof script, "tls-certs.sh");
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "sh '%s' '%s' >/dev/null", script, tls_dir);
    if (system(cmd) != 0)
        FAIL("%s failed", cmd);
}

/* A server configuration with server.pem (plus options). */
static inline cio_tls_config *tls_server_cfg(cio_tls_options o)
{
    o.server = true;
    if (!o.cert_file) {
        o.cert_file = tls_path("server.pem");
        o.key_file = tls_path("server.key");
    }
    cio_tls_config *cfg = NULL;
    int rc = cio_tls_config_new(&o, &cfg);
    if (rc)
        FAIL("server config: %s: %s", cio_err_name(rc), cio_tls_last_error());
    return cfg;
}

/* A client configuration trusting the test CA (plus options). */
static inline cio_tls_config *tls_client_cfg(cio_tls_options o)
{
    if (!o.ca_file && !o.insecure)
        o.ca_file = tls_path("ca.pem");
    cio_tls_config *cfg = NULL;
    int rc = cio_tls_config_new(&o, &cfg);
    if (rc)
        FAIL("client config: %s: %s", cio_err_name(rc), cio_tls_last_error());
    return cfg;
}

static inline cio_addr tls_loopback(void)
{
    cio_addr a;
    EXPECT_OK(cio_addr_ip("127.0.0.1", 0, &a));
    return a;
}

#endif
