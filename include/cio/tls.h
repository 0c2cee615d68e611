/* cio: TLS over streams and transports (OpenSSL 3).
 *
 * A connection speaks TLS when its cio_stream_options name a TLS
 * configuration: the same streams, servers and protocol/transport API as
 * plain TCP, the same flow control, the same errors. A configuration
 * (cio_tls_config: certificates, trust anchors, ALPN, versions) is made
 * once and shared by any number of connections, on any number of loops and
 * threads; each connection keeps a reference while it lives.
 *
 *     cio_tls_config *tls;
 *     cio_tls_config_new(&CIO_TLS_OPTIONS(.alpn = "http/1.1"), &tls);
 *     cio_stream *s;
 *     cio_stream_connect_name("example.org", 443, NULL,
 *                             &CIO_STREAM_OPTIONS(.tls = tls), &s);
 *
 * Clients verify the server's certificate against the system's trust
 * store (or ca_file) and its name (the server name: SNI and the name
 * checked; an IP literal is checked against the certificate's IP
 * addresses and sent without SNI) unless the configuration says insecure.
 *
 * Handshakes run before the user sees the connection: cio_stream_connect*
 * return a stream whose handshake is done; a server's handler task starts
 * after its connection's handshake; a transport's connection_made comes
 * after it. Every handshake is bounded by the configuration's
 * handshake_timeout (and, in a task, by the task's deadline), so a peer
 * that stalls mid-handshake holds nothing for longer.
 *
 * Errors. A TLS failure returns one of these codes, and the text of
 * OpenSSL's reason is kept per thread for cio_tls_last_error():
 *   -EKEYEXPIRED   the peer's certificate (or one in its chain) expired or
 *                  is not yet valid
 *   -EKEYREJECTED  the peer's certificate failed verification otherwise
 *                  (unknown CA, name mismatch, self-signed, bad purpose), or
 *                  a server required a client certificate none was given
 *                  (TLS 1.3: the client learns it at its first read, since
 *                  its side of the handshake ends first; TLS 1.2 clients
 *                  get -EPROTO, the alert being a generic one)
 *   -ENOPROTOOPT   no ALPN protocol in common (both sides: the client from
 *                  the server's no_application_protocol alert)
 *   -EPROTO        any other TLS failure (handshake failure, bad record,
 *                  an alert from the peer, a version or cipher mismatch)
 *   -ECONNRESET    the peer closed the connection during the handshake
 * An end of stream without the peer's close_notify reads as an ordinary
 * end of stream (Python's suppress_ragged_eofs; HTTP frames its bodies).
 *
 * Not provided: TLS 1.0/1.1, renegotiation (refused: TLS 1.3 has none and
 * key updates are handled), DTLS, QUIC. */
#ifndef CIO_TLS_H
#define CIO_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"
#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* OpenSSL's SSL_CTX, for the escape hatch (no OpenSSL header needed). */
struct ssl_ctx_st;

/* Protocol versions (min_version, max_version, cio_tls_info.version). */
enum { CIO_TLS_1_2 = 0x0303, CIO_TLS_1_3 = 0x0304 };

/* Client certificates a server asks for. */
enum {
    CIO_TLS_CLIENT_CERT_NONE = 0, /* not asked for (the default) */
    CIO_TLS_CLIENT_CERT_OPTIONAL, /* asked for; verified if given */
    CIO_TLS_CLIENT_CERT_REQUIRED, /* asked for and required (-EKEYREJECTED without) */
};

/* A configuration's settings. Zero is every default. File names are read
 * by cio_tls_config_new and not kept. */
typedef struct cio_tls_options {
    size_t size;           /* sizeof(cio_tls_options) as compiled: the macros */
    bool server;           /* a server's configuration; default: a client's */
    const char *cert_file; /* PEM certificate, then its chain. Server: required
                              (more by name: cio_tls_config_add_cert). Client:
                              the client certificate offered, optional */
    const char *key_file;  /* PEM private key of cert_file; NULL: in cert_file */
    const char *ca_file;   /* PEM trust anchors. Client: NULL is the system's
                              store. Server: the CAs client certificates are
                              verified against (required for client_cert) */
    const char *ca_dir;    /* an OpenSSL hashed directory of trust anchors */
    bool insecure;         /* client: verify neither certificate nor name
                              (tests against self-signed servers only) */
    int client_cert;       /* server: CIO_TLS_CLIENT_CERT_* */
    const char *alpn;      /* ALPN protocols, comma-separated, preferred first
                              ("h2,http/1.1"). Client: offered. Server: the
                              first of its list the client offers is chosen;
                              a client offering ALPN with none in common fails
                              with -ENOPROTOOPT. NULL: no ALPN */
    int min_version;       /* CIO_TLS_1_2 (the default) or CIO_TLS_1_3 */
    int max_version;       /* 0: the newest (TLS 1.3) */
    const char *ciphers;   /* TLS 1.2 cipher list, OpenSSL syntax; NULL: OpenSSL's */
    const char *ciphersuites; /* TLS 1.3 suites; NULL: OpenSSL's */
    const char *groups;    /* key exchange groups ("X25519:P-256"); NULL: OpenSSL's */
    bool no_tickets;       /* server: issue no session tickets. Client: keep
                              no sessions for resumption */
    size_t session_cache;  /* client: sessions kept for resumption, by server
                              name and port (or address); 0: 256 */
    double handshake_timeout; /* seconds a handshake may take; 0: 60;
                                 INFINITY: no limit but the task's deadline */
    bool ktls;             /* kernel TLS offload where the kernel and the
                              cipher allow it (cio_tls_info says if used);
                              sendfile then goes straight from the file */
} cio_tls_options;

#define CIO_TLS_OPTIONS_INIT {.size = sizeof(cio_tls_options)}
#define CIO_TLS_OPTIONS(...) ((cio_tls_options){.size = sizeof(cio_tls_options), __VA_ARGS__})

/* A shareable TLS configuration (an OpenSSL SSL_CTX and cio's settings). */
typedef struct cio_tls_config cio_tls_config;

/* Makes a configuration: loads the certificate, key, and trust anchors, and
 * checks that the key matches the certificate. On error *out is NULL and
 * cio_tls_last_error() says why (the file and OpenSSL's reason). Returns
 * 0, -EINVAL (NULL options or out, a server without cert_file, client_cert
 * without ca_file, a bad version, an alpn list with an empty or over-long
 * (> 255 bytes) name, options not made with the macros), -E2BIG (options
 * from a newer header), -ENOENT / -EACCES (a file), -EPROTO (a file that
 * is not PEM of the right kind, a key not matching its certificate, a
 * cipher list or group OpenSSL does not know), -ENOMEM. Never suspends;
 * reads files (call it at start-up, not per connection). Any thread. */
CIO_API int cio_tls_config_new(const cio_tls_options *opts, cio_tls_config **out);

/* Server: adds a certificate (and key) chosen for clients whose SNI names
 * one of the certificate's DNS names (subjectAltName, "*.example.org"
 * wildcards as RFC 6125 allows them). Clients naming no known host get the
 * configuration's first certificate. Call it before the configuration is
 * used by a connection. Returns 0, -EINVAL (NULL, a client configuration,
 * a configuration in use), the errors of cio_tls_config_new for the files.
 * Never suspends. */
CIO_API int cio_tls_config_add_cert(cio_tls_config *cfg, const char *cert_file,
                                    const char *key_file);

/* Drops the caller's reference; the configuration goes when the last
 * connection using it closes. NULL is a no-op. Never suspends. */
CIO_API void cio_tls_config_free(cio_tls_config *cfg);

/* The OpenSSL SSL_CTX underneath, for settings cio does not wrap (change
 * them before the first connection uses it). Never suspends. */
CIO_API struct ssl_ctx_st *cio_tls_config_ssl_ctx(cio_tls_config *cfg);

/* The text of the last TLS failure a cio call returned on this thread
 * ("certificate verify failed: certificate has expired"), "" if none; valid
 * until the next cio TLS call on the thread. Never suspends. */
CIO_API const char *cio_tls_last_error(void);

/* The per-connection calls (cio_stream_tls_info, cio_stream_ssl,
 * cio_stream_start_tls and their transport forms) are in cio/net.h, with
 * the other stream and transport functions. */

#ifdef __cplusplus
}
#endif

#endif
