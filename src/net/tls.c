/* TLS over struct cio__conn (OpenSSL 3): configurations (cio/tls.h), the
 * TLS byte-moving ops that replace the plain ones, the handshake driven
 * from a task (cio__tls_handshake) or from the loop (transports), the
 * per-connection calls of cio/net.h's "TLS connections" section.
 *
 * The socket is OpenSSL's: SSL_set_fd makes a socket BIO, so kernel TLS
 * can take over where the kernel allows. Bytes a plain stream had already
 * buffered when it is upgraded (STARTTLS) are the peer's first TLS bytes:
 * a small read BIO serves them before the socket's, and is swapped for the
 * socket BIO once they are consumed.
 *
 * Readiness. An op that cannot go on returns -EAGAIN with c->rneed /
 * c->wneed naming the direction OpenSSL waits for (a read may need
 * writability, a write readability); while the handshake runs both name
 * its direction. A TLS read returns at most what decrypted records gave,
 * so a short read says nothing about the socket (c->notdrained); bytes
 * OpenSSL holds are reported by ops->pending.
 *
 * Errors. Every SSL call starts with an empty OpenSSL error queue
 * (ERR_clear_error), and the queue is emptied after it is read, so no
 * connection sees another's errors. A failure maps to the codes cio/tls.h
 * lists and leaves its text for cio_tls_last_error(). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cio/tls.h>

#include "../common/opts.h"
#include "conn.h"

/* The most plaintext one SSL_write is given: one full record. */
#define REC_MAX 16384

/* ---- Errors ------------------------------------------------------------- */

static _Thread_local char last_err[256];

static void set_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_err, sizeof last_err, fmt, ap);
    va_end(ap);
}

const char *cio_tls_last_error(void)
{
    return last_err;
}

/* OpenSSL's reason for the first error queued, "" if none. */
static const char *ossl_reason(void)
{
    unsigned long e = ERR_peek_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    return r ? r : "";
}

/* ---- Configurations ------------------------------------------------------ */

struct sess_ent {
    struct sess_ent *prev, *next;
    SSL_SESSION *sess;
    char key[];
};

struct cert_ent {
    SSL_CTX *ctx;
    char **names; /* lower-case DNS names of the certificate */
    size_t nnames;
};

struct cio_tls_config {
    atomic_uint refs;
    atomic_bool used;
    bool server, verify, no_tickets, ktls;
    double hs_timeout;
    unsigned char *alpn; /* wire format */
    unsigned alpn_len;
    SSL_CTX *ctx;
    struct cert_ent *certs; /* server: certs[0] is ctx's */
    char *ciphers, *ciphersuites; /* server: for the SNI certificates' SSL_CTXs */
    size_t ncerts;
    /* Client sessions for resumption: most recently used first. */
    pthread_mutex_t mu;
    struct sess_ent *head, *tail;
    size_t nsess, max_sess;
};

/* -ENOENT / -EACCES for a file that cannot be opened, with the text. */
static int check_file(const char *what, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        set_err("%s %s: %s", what, path, strerror(e));
        return e == ENOENT || e == EACCES ? -e : -EPROTO;
    }
    fclose(f);
    return 0;
}

/* The same for a directory (ca_dir: OpenSSL would take a missing one
 * silently, and then verify nothing). */
static int check_dir(const char *what, const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        int e = errno;
        set_err("%s %s: %s", what, path, strerror(e));
        return e == ENOENT || e == EACCES ? -e : -EPROTO;
    }
    closedir(d);
    return 0;
}

static int load_cert_key(SSL_CTX *ctx, const char *cert, const char *key)
{
    int rc = check_file("certificate", cert);
    if (!rc && key)
        rc = check_file("key", key);
    if (rc)
        return rc;
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        set_err("certificate %s: %s", cert, ossl_reason());
        ERR_clear_error();
        return -EPROTO;
    }
    const char *k = key ? key : cert;
    if (SSL_CTX_use_PrivateKey_file(ctx, k, SSL_FILETYPE_PEM) != 1) {
        set_err("key %s: %s", k, ossl_reason());
        ERR_clear_error();
        return -EPROTO;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        set_err("key %s does not match certificate %s: %s", k, cert, ossl_reason());
        ERR_clear_error();
        return -EPROTO;
    }
    return 0;
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* The DNS names of ctx's certificate (subjectAltName, else the CN). */
static int cert_names(struct cert_ent *ce)
{
    X509 *x = SSL_CTX_get0_certificate(ce->ctx);
    if (!x)
        return 0;
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int n = gens ? sk_GENERAL_NAME_num(gens) : 0;
    ce->names = calloc((size_t)n + 1, sizeof *ce->names);
    if (!ce->names) {
        GENERAL_NAMES_free(gens);
        return -ENOMEM;
    }
    for (int i = 0; i < n; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type != GEN_DNS)
            continue;
        const unsigned char *d = ASN1_STRING_get0_data(g->d.dNSName);
        int l = ASN1_STRING_length(g->d.dNSName);
        char *s = strndup((const char *)d, (size_t)l);
        if (!s) {
            GENERAL_NAMES_free(gens);
            return -ENOMEM;
        }
        lower(s);
        ce->names[ce->nnames++] = s;
    }
    GENERAL_NAMES_free(gens);
    if (!ce->nnames) {
        char cn[256];
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn) >
            0) {
            char *s = strdup(cn);
            if (!s)
                return -ENOMEM;
            lower(s);
            ce->names[ce->nnames++] = s;
        }
    }
    return 0;
}

/* RFC 6125: "*" may stand for the whole leftmost label only, and matches
 * exactly one label. Case-insensitive. */
static bool name_matches(const char *pat, const char *host)
{
    if (pat[0] == '*' && pat[1] == '.') {
        const char *dot = strchr(host, '.');
        if (!dot || dot == host)
            return false;
        return strcasecmp(pat + 1, dot) == 0 && strchr(pat + 2, '.') != NULL;
    }
    return strcasecmp(pat, host) == 0;
}

static int sni_cb(SSL *ssl, int *al, void *arg)
{
    (void)al;
    struct cio_tls_config *cfg = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name)
        return SSL_TLSEXT_ERR_OK;
    for (size_t i = 0; i < cfg->ncerts; i++) {
        struct cert_ent *ce = &cfg->certs[i];
        for (size_t j = 0; j < ce->nnames; j++) {
            if (name_matches(ce->names[j], name)) {
                if (i > 0)
                    SSL_set_SSL_CTX(ssl, ce->ctx);
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_OK; /* the first certificate */
}

/* The server's first protocol that the client offers. */
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    struct cio_tls_config *cfg = arg;
    for (unsigned i = 0; i < cfg->alpn_len; i += 1u + cfg->alpn[i]) {
        const unsigned char *p = cfg->alpn + i;
        for (unsigned j = 0; j < inlen; j += 1u + in[j]) {
            if (in[j] == p[0] && j + 1u + in[j] <= inlen && !memcmp(in + j + 1, p + 1, p[0])) {
                *out = p + 1;
                *outlen = p[0];
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL; /* no_application_protocol */
}

/* "h2,http/1.1" in wire format. */
static int parse_alpn(const char *s, unsigned char **out, unsigned *outlen)
{
    size_t l = strlen(s);
    unsigned char *w = malloc(l + 1);
    if (!w)
        return -ENOMEM;
    size_t n = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t nl = comma ? (size_t)(comma - p) : strlen(p);
        if (nl == 0 || nl > 255) {
            free(w);
            set_err("alpn: an empty or over-long protocol name");
            return -EINVAL;
        }
        w[n++] = (unsigned char)nl;
        memcpy(w + n, p, nl);
        n += nl;
        if (!comma)
            break;
        p = comma + 1;
    }
    *out = w;
    *outlen = (unsigned)n;
    return 0;
}

static void sess_unlink(struct cio_tls_config *cfg, struct sess_ent *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        cfg->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        cfg->tail = e->prev;
    e->prev = e->next = NULL;
}

static void sess_push(struct cio_tls_config *cfg, struct sess_ent *e)
{
    e->prev = NULL;
    e->next = cfg->head;
    if (cfg->head)
        cfg->head->prev = e;
    else
        cfg->tail = e;
    cfg->head = e;
}

struct tls;
static int new_session_cb(SSL *ssl, SSL_SESSION *sess);

static void cfg_destroy(struct cio_tls_config *cfg)
{
    for (size_t i = 0; i < cfg->ncerts; i++) {
        if (i > 0)
            SSL_CTX_free(cfg->certs[i].ctx);
        for (size_t j = 0; j < cfg->certs[i].nnames; j++)
            free(cfg->certs[i].names[j]);
        free(cfg->certs[i].names);
    }
    free(cfg->certs);
    SSL_CTX_free(cfg->ctx);
    for (struct sess_ent *e = cfg->head, *n; e; e = n) {
        n = e->next;
        SSL_SESSION_free(e->sess);
        free(e);
    }
    pthread_mutex_destroy(&cfg->mu);
    free(cfg->ciphers);
    free(cfg->ciphersuites);
    free(cfg->alpn);
    free(cfg);
}

static void cfg_unref(struct cio_tls_config *cfg)
{
    if (atomic_fetch_sub_explicit(&cfg->refs, 1, memory_order_acq_rel) == 1)
        cfg_destroy(cfg);
}

static int version_ok(int v)
{
    return v == CIO_TLS_1_2 || v == CIO_TLS_1_3;
}

int cio_tls_config_new(const cio_tls_options *opts, cio_tls_config **out)
{
    last_err[0] = 0;
    if (out)
        *out = NULL;
    if (!opts || !out)
        return -EINVAL;
    cio_tls_options o = {.size = sizeof o};
    int rc = cio__opts_copy(&o, sizeof o, opts);
    if (rc)
        return rc;
    int minv = o.min_version ? o.min_version : CIO_TLS_1_2;
    int maxv = o.max_version ? o.max_version : CIO_TLS_1_3;
    if (!version_ok(minv) || !version_ok(maxv) || maxv < minv) {
        set_err("bad TLS version range");
        return -EINVAL;
    }
    if (o.server && !o.cert_file) {
        set_err("a server needs cert_file");
        return -EINVAL;
    }
    if (o.client_cert < CIO_TLS_CLIENT_CERT_NONE || o.client_cert > CIO_TLS_CLIENT_CERT_REQUIRED ||
        (o.server && o.client_cert && !o.ca_file && !o.ca_dir)) {
        set_err("client_cert needs ca_file");
        return -EINVAL;
    }
    if (isnan(o.handshake_timeout) || o.handshake_timeout < 0) {
        set_err("bad handshake_timeout");
        return -EINVAL;
    }
    struct cio_tls_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return -ENOMEM;
    atomic_init(&cfg->refs, 1);
    atomic_init(&cfg->used, false);
    pthread_mutex_init(&cfg->mu, NULL);
    cfg->server = o.server;
    cfg->verify = !o.server && !o.insecure;
    cfg->no_tickets = o.no_tickets;
    cfg->ktls = o.ktls;
    cfg->hs_timeout = o.handshake_timeout > 0 ? o.handshake_timeout : 60.0;
    cfg->max_sess = o.session_cache ? o.session_cache : 256;
    if (o.alpn && (rc = parse_alpn(o.alpn, &cfg->alpn, &cfg->alpn_len)) != 0)
        goto fail;
    ERR_clear_error();
    SSL_CTX *ctx = cfg->ctx = SSL_CTX_new(o.server ? TLS_server_method() : TLS_client_method());
    if (!ctx) {
        rc = -ENOMEM;
        goto fail;
    }
    SSL_CTX_set_min_proto_version(ctx, minv);
    SSL_CTX_set_max_proto_version(ctx, maxv);
    uint64_t op = SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION;
    if (o.ktls)
        op |= SSL_OP_ENABLE_KTLS;
    if (o.server && o.no_tickets)
        op |= SSL_OP_NO_TICKET;
    SSL_CTX_set_options(ctx, op);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* Read ahead into a buffer of several records: one read(2) for up to
     * 64 KiB of records, not two per record. The buffer is taken only
     * while bytes are in it (RELEASE_BUFFERS; idle() below). */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, 65536);
    if (o.ciphers && SSL_CTX_set_cipher_list(ctx, o.ciphers) != 1) {
        set_err("ciphers \"%s\": %s", o.ciphers, ossl_reason());
        rc = -EPROTO;
        goto fail;
    }
    if (o.ciphersuites && SSL_CTX_set_ciphersuites(ctx, o.ciphersuites) != 1) {
        set_err("ciphersuites \"%s\": %s", o.ciphersuites, ossl_reason());
        rc = -EPROTO;
        goto fail;
    }
    if (o.groups && SSL_CTX_set1_groups_list(ctx, o.groups) != 1) {
        set_err("groups \"%s\": %s", o.groups, ossl_reason());
        rc = -EPROTO;
        goto fail;
    }
    if (o.server && ((o.ciphers && !(cfg->ciphers = strdup(o.ciphers))) ||
                     (o.ciphersuites && !(cfg->ciphersuites = strdup(o.ciphersuites))))) {
        rc = -ENOMEM;
        goto fail;
    }
    if (o.cert_file && (rc = load_cert_key(ctx, o.cert_file, o.key_file)) != 0)
        goto fail;
    if (o.ca_file && (rc = check_file("ca_file", o.ca_file)) != 0)
        goto fail;
    if (o.ca_dir && (rc = check_dir("ca_dir", o.ca_dir)) != 0)
        goto fail;
    bool want_ca = o.server ? o.client_cert != 0 : cfg->verify;
    if (want_ca) {
        if (o.ca_file || o.ca_dir) {
            if (SSL_CTX_load_verify_locations(ctx, o.ca_file, o.ca_dir) != 1) {
                set_err("trust anchors %s: %s", o.ca_file ? o.ca_file : o.ca_dir, ossl_reason());
                rc = -EPROTO;
                goto fail;
            }
        } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            set_err("the system's trust store: %s", ossl_reason());
            rc = -EPROTO;
            goto fail;
        }
    }
    static const unsigned char sid[] = "cio";
    if (o.server) {
        SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
        /* Resumption by (stateless) tickets needs no server cache. */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        if (o.no_tickets)
            SSL_CTX_set_num_tickets(ctx, 0);
        if (o.client_cert) {
            int mode = SSL_VERIFY_PEER;
            if (o.client_cert == CIO_TLS_CLIENT_CERT_REQUIRED)
                mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
            SSL_CTX_set_verify(ctx, mode, NULL);
            if (o.ca_file) {
                STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o.ca_file);
                if (names)
                    SSL_CTX_set_client_CA_list(ctx, names);
            }
        }
        cfg->certs = calloc(1, sizeof *cfg->certs);
        if (!cfg->certs) {
            rc = -ENOMEM;
            goto fail;
        }
        cfg->certs[0].ctx = ctx;
        cfg->ncerts = 1;
        if ((rc = cert_names(&cfg->certs[0])) != 0)
            goto fail;
        SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
        SSL_CTX_set_tlsext_servername_arg(ctx, cfg);
        if (cfg->alpn)
            SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, cfg);
    } else {
        SSL_CTX_set_verify(ctx, cfg->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
        if (cfg->alpn && SSL_CTX_set_alpn_protos(ctx, cfg->alpn, cfg->alpn_len) != 0) {
            rc = -ENOMEM;
            goto fail;
        }
        if (!o.no_tickets) {
            SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
                                                    SSL_SESS_CACHE_NO_INTERNAL_STORE);
            SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
        } else {
            SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        }
    }
    ERR_clear_error();
    *out = cfg;
    return 0;
fail:
    ERR_clear_error();
    cfg_destroy(cfg);
    return rc;
}

int cio_tls_config_add_cert(cio_tls_config *cfg, const char *cert_file, const char *key_file)
{
    last_err[0] = 0;
    if (!cfg || !cert_file || !cfg->server || atomic_load(&cfg->used))
        return -EINVAL;
    struct cert_ent *n = realloc(cfg->certs, (cfg->ncerts + 1) * sizeof *n);
    if (!n)
        return -ENOMEM;
    cfg->certs = n;
    struct cert_ent *ce = &cfg->certs[cfg->ncerts];
    memset(ce, 0, sizeof *ce);
    ERR_clear_error();
    ce->ctx = SSL_CTX_new(TLS_server_method());
    if (!ce->ctx)
        return -ENOMEM;
    /* The SNI callback switches a connection to this SSL_CTX: what OpenSSL
     * reads from the SSL_CTX after the switch must be the configuration's
     * (the ALPN choice, the trust store and CA names for client
     * certificates); the rest stays the SSL's own. */
    SSL_CTX *d = ce->ctx, *o = cfg->ctx;
    static const unsigned char sid[] = "cio";
    SSL_CTX_set_session_id_context(d, sid, sizeof sid - 1);
    SSL_CTX_set_options(d, SSL_CTX_get_options(o));
    SSL_CTX_set_mode(d, SSL_CTX_get_mode(o));
    SSL_CTX_set_verify(d, SSL_CTX_get_verify_mode(o), NULL);
    SSL_CTX_set1_cert_store(d, SSL_CTX_get_cert_store(o));
    STACK_OF(X509_NAME) *cas = SSL_CTX_get_client_CA_list(o);
    if (cas && sk_X509_NAME_num(cas) > 0) {
        STACK_OF(X509_NAME) *dup = SSL_dup_CA_list(cas);
        if (dup)
            SSL_CTX_set_client_CA_list(d, dup);
    }
    if (cfg->alpn)
        SSL_CTX_set_alpn_select_cb(d, alpn_cb, cfg);
    /* The cipher lists are read from the SSL_CTX when the server picks
     * its cipher, after the switch. */
    if ((cfg->ciphers && SSL_CTX_set_cipher_list(d, cfg->ciphers) != 1) ||
        (cfg->ciphersuites && SSL_CTX_set_ciphersuites(d, cfg->ciphersuites) != 1)) {
        ERR_clear_error();
        SSL_CTX_free(d);
        return -ENOMEM;
    }
    int rc = load_cert_key(ce->ctx, cert_file, key_file);
    if (!rc)
        rc = cert_names(ce);
    if (rc) {
        for (size_t j = 0; j < ce->nnames; j++)
            free(ce->names[j]);
        free(ce->names);
        SSL_CTX_free(ce->ctx);
        return rc;
    }
    cfg->ncerts++;
    return 0;
}

bool cio__tls_config_is_server(const cio_tls_config *cfg)
{
    return cfg->server;
}

void cio__tls_config_ref(const cio_tls_config *ccfg)
{
    struct cio_tls_config *cfg = (struct cio_tls_config *)ccfg;
    atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
}

void cio_tls_config_free(cio_tls_config *cfg)
{
    if (cfg)
        cfg_unref(cfg);
}

struct ssl_ctx_st *cio_tls_config_ssl_ctx(cio_tls_config *cfg)
{
    return cfg ? cfg->ctx : NULL;
}

/* ---- The connection's state ---------------------------------------------- */

enum { HS_RUN = 0, HS_DONE, HS_FAILED };

struct tls {
    SSL *ssl;
    struct cio_tls_config *cfg;
    uint8_t state;     /* HS_* */
    bool keyed;        /* the session-cache key was looked up */
    bool sent_shutdown;
    bool timer_on;
    int err;           /* the handshake's failure */
    int rerr, werr;    /* sticky errors found after some bytes moved */
    size_t clear_left; /* bytes of the write buffer to send in the clear first */
    size_t wretry;     /* an SSL_write to finish: its length */
    cio_handle timer;  /* transports: the handshake's bound */
    cio_future *fut;   /* cio_transport_start_tls's */
    char *server_name;
    char *key;         /* the session cache's */
    char *alpn;        /* the ALPN protocol chosen, made by tls_info */
    /* STARTTLS: bytes the plain stream had buffered, read before the
     * socket's. */
    char *pfx;
    size_t pfx_pos, pfx_len;
};

#define TLS(c) ((struct tls *)(c)->ops_ctx)

static const struct cio__conn_ops tls_ops;

static bool is_tls(const struct cio__conn *c)
{
    return c && c->ops == &tls_ops && c->ops_ctx;
}

bool cio__tls_handshaking(const struct cio__conn *c)
{
    return is_tls(c) && TLS(c)->state == HS_RUN;
}

static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    struct cio__conn *c = SSL_get_app_data(ssl);
    if (!c || !is_tls(c) || !TLS(c)->key)
        return 0;
    struct tls *t = TLS(c);
    struct cio_tls_config *cfg = t->cfg;
    pthread_mutex_lock(&cfg->mu);
    struct sess_ent *e = cfg->head;
    while (e && strcmp(e->key, t->key) != 0)
        e = e->next;
    if (e) {
        sess_unlink(cfg, e);
        SSL_SESSION_free(e->sess);
    } else {
        size_t kl = strlen(t->key) + 1;
        e = malloc(sizeof *e + kl);
        if (!e) {
            pthread_mutex_unlock(&cfg->mu);
            return 0;
        }
        memcpy(e->key, t->key, kl);
        cfg->nsess++;
    }
    e->sess = sess;
    sess_push(cfg, e);
    while (cfg->nsess > cfg->max_sess) {
        struct sess_ent *old = cfg->tail;
        sess_unlink(cfg, old);
        SSL_SESSION_free(old->sess);
        free(old);
        cfg->nsess--;
    }
    pthread_mutex_unlock(&cfg->mu);
    return 1; /* the cache keeps the reference */
}

/* Client: the session cache's key (server name, else the peer's address,
 * and the port), and a session to resume. */
static void session_lookup(struct cio__conn *c, struct tls *t, uint16_t port)
{
    t->keyed = true;
    if (t->cfg->server || t->cfg->no_tickets)
        return;
    char host[INET6_ADDRSTRLEN + 2];
    const char *h = t->server_name;
    /* No port given (STARTTLS, an adopted descriptor): the peer's. */
    if (!h || !port) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getpeername(c->nfd.fd, (struct sockaddr *)&ss, &sl) != 0)
            return;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            port = ntohs(a->sin6_port);
        } else if (!h) {
            return;
        }
        if (!h)
            h = host;
    }
    size_t kl = strlen(h) + 8;
    t->key = malloc(kl);
    if (!t->key)
        return;
    snprintf(t->key, kl, "%s:%u", h, (unsigned)port);
    struct cio_tls_config *cfg = t->cfg;
    SSL_SESSION *s = NULL;
    pthread_mutex_lock(&cfg->mu);
    for (struct sess_ent *e = cfg->head; e; e = e->next) {
        if (!strcmp(e->key, t->key)) {
            if (SSL_SESSION_is_resumable(e->sess)) {
                s = e->sess;
                sess_unlink(cfg, e);
                if (SSL_SESSION_get_protocol_version(s) == TLS1_3_VERSION) {
                    /* A TLS 1.3 ticket is used once (RFC 8446, C.4: reuse
                     * links connections); the server sends fresh ones on
                     * the new connection. The entry's reference moves to s. */
                    cfg->nsess--;
                    free(e);
                } else {
                    SSL_SESSION_up_ref(s);
                    sess_push(cfg, e);
                }
            }
            break;
        }
    }
    pthread_mutex_unlock(&cfg->mu);
    if (s) {
        SSL_set_session(t->ssl, s);
        SSL_SESSION_free(s);
    }
}

/* ---- The STARTTLS prefix BIO --------------------------------------------- */

static BIO_METHOD *pfx_meth;
static pthread_once_t pfx_once = PTHREAD_ONCE_INIT;

struct pfx_bio {
    struct tls *t;
    int fd;
};

static int pfx_read(BIO *b, char *buf, int len)
{
    struct pfx_bio *p = BIO_get_data(b);
    struct tls *t = p->t;
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (t->pfx_pos < t->pfx_len) {
        size_t n = t->pfx_len - t->pfx_pos;
        if (n > (size_t)len)
            n = (size_t)len;
        memcpy(buf, t->pfx + t->pfx_pos, n);
        t->pfx_pos += n;
        return (int)n;
    }
    ssize_t r;
    do
        r = read(p->fd, buf, (size_t)len);
    while (r < 0 && errno == EINTR);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_read(b);
    return (int)r;
}

static long pfx_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    struct pfx_bio *p = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_PENDING:
        return p ? (long)(p->t->pfx_len - p->t->pfx_pos) : 0;
    default:
        return 0;
    }
}

static int pfx_destroy(BIO *b)
{
    free(BIO_get_data(b));
    BIO_set_data(b, NULL);
    return 1;
}

static void pfx_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "cio-prefix");
    if (!m)
        return;
    BIO_meth_set_read(m, pfx_read);
    BIO_meth_set_ctrl(m, pfx_ctrl);
    BIO_meth_set_destroy(m, pfx_destroy);
    pfx_meth = m;
}

/* Once the prefix is consumed, the socket BIO reads too. */
static void pfx_check(struct tls *t)
{
    if (!t->pfx || t->pfx_pos < t->pfx_len)
        return;
    BIO *w = SSL_get_wbio(t->ssl);
    BIO_up_ref(w);
    SSL_set0_rbio(t->ssl, w);
    free(t->pfx);
    t->pfx = NULL;
    t->pfx_pos = t->pfx_len = 0;
}

/* ---- Failures ---------------------------------------------------------------- */

/* The direction an op waits for: the read side's, the write side's, or
 * (the handshake) both. */
enum { NEED_R = 1, NEED_W = 2, NEED_HS = 3 };

static void set_need(struct cio__conn *c, int side, int dir)
{
    if (side & NEED_R)
        c->rneed = (uint8_t)dir;
    if (side & NEED_W)
        c->wneed = (uint8_t)dir;
}

static bool verify_expired(long v)
{
    return v == X509_V_ERR_CERT_HAS_EXPIRED || v == X509_V_ERR_CERT_NOT_YET_VALID ||
           v == X509_V_ERR_CRL_HAS_EXPIRED || v == X509_V_ERR_CRL_NOT_YET_VALID ||
           v == X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD ||
           v == X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD;
}

/* The code and text of OpenSSL's queued error. */
static int map_ssl_error(struct tls *t, bool handshake)
{
    unsigned long e = ERR_peek_error();
    int reason = ERR_GET_REASON(e);
    int rc = -EPROTO;
    if (e && ERR_GET_LIB(e) == ERR_LIB_SSL) {
        switch (reason) {
        case SSL_R_CERTIFICATE_VERIFY_FAILED: {
            long v = SSL_get_verify_result(t->ssl);
            set_err("certificate verify failed: %s", X509_verify_cert_error_string(v));
            ERR_clear_error();
            return verify_expired(v) ? -EKEYEXPIRED : -EKEYREJECTED;
        }
        case SSL_R_NO_APPLICATION_PROTOCOL:
        case SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL:
            rc = -ENOPROTOOPT;
            break;
        case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
        case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
        case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
        case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
        case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
            rc = -EKEYREJECTED;
            break;
        case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
            rc = -EKEYEXPIRED;
            break;
        case SSL_R_UNEXPECTED_EOF_WHILE_READING:
            rc = handshake ? -ECONNRESET : 0;
            break;
        default:
            break;
        }
    }
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    set_err("%s", r ? r : "TLS failure");
    ERR_clear_error();
    return rc;
}

/* The outcome of an SSL call that returned ret <= 0: -EAGAIN (with the
 * direction noted), 0 (the end of the stream), or -errno. */
static int ssl_failed(struct cio__conn *c, struct tls *t, int ret, int side)
{
    bool handshake = side == NEED_HS;
    int en = errno;
    int se = SSL_get_error(t->ssl, ret);
    switch (se) {
    case SSL_ERROR_WANT_READ:
        ERR_clear_error();
        set_need(c, side, CIO_READABLE);
        return -EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        ERR_clear_error();
        set_need(c, side, CIO_WRITABLE);
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        if (handshake) {
            set_err("the peer closed the connection during the handshake");
            return -ECONNRESET;
        }
        return 0;
    case SSL_ERROR_SYSCALL:
        if (!ERR_peek_error()) {
            if (en && en != EAGAIN) {
                set_err("%s", strerror(en));
                return -en;
            }
            if (handshake) {
                set_err("the peer closed the connection during the handshake");
                return -ECONNRESET;
            }
            return 0;
        }
        return map_ssl_error(t, handshake);
    default:
        return map_ssl_error(t, handshake);
    }
}

/* ---- The handshake ------------------------------------------------------ */

static void timer_stop(struct cio__conn *c, struct tls *t)
{
    if (t->timer_on) {
        t->timer_on = false;
        cio_timer_cancel(c->nfd.loop, t->timer);
    }
}

static void hs_done(struct cio__conn *c, struct tls *t)
{
    t->state = HS_DONE;
    c->rneed = CIO_READABLE;
    c->wneed = CIO_WRITABLE;
    timer_stop(c, t);
    if (t->fut) {
        cio_future *f = t->fut;
        t->fut = NULL;
        if (!cio_future_is_done(f))
            cio_future_set_result(f, NULL, NULL);
        cio_future_unref(f);
    }
    if (c->mode == CIO__CONN_TRANSPORT)
        cio__transport_schedule(c, (c->flags & CIO__C_MADE) ? CIO__P_READ : CIO__P_MADE);
}

/* One step of the handshake: 0 once done, -EAGAIN (c->rneed/wneed: the
 * direction), or the failure (sticky). */
static int hs_step(struct cio__conn *c)
{
    struct tls *t = TLS(c);
    if (t->state == HS_DONE)
        return 0;
    if (t->state == HS_FAILED)
        return t->err;
    if (t->clear_left) {
        /* The clear bytes go first (from the write path); the write
         * buffer is non-empty only after the socket refused more. */
        set_need(c, NEED_HS, CIO_WRITABLE);
        return -EAGAIN;
    }
    if (!t->keyed)
        session_lookup(c, t, 0);
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        pfx_check(t);
        ERR_clear_error();
        hs_done(c, t);
        return 0;
    }
    /* (SSL_get_error reads the read BIO's retry flags: swap after it) */
    int e = ssl_failed(c, t, r, NEED_HS);
    pfx_check(t);
    if (e == -EAGAIN)
        return e;
    if (e == 0)
        e = -ECONNRESET;
    t->state = HS_FAILED;
    t->err = e;
    timer_stop(c, t);
    return e;
}

static void hs_timer_cb(void *arg)
{
    struct cio__conn *c = arg;
    struct tls *t = TLS(c);
    t->timer_on = false;
    if ((c->flags & CIO__C_CLOSED) || t->state != HS_RUN)
        return;
    set_err("the TLS handshake timed out");
    t->state = HS_FAILED;
    t->err = -ETIMEDOUT;
    if (c->mode == CIO__CONN_TRANSPORT)
        cio__transport_failed(c, -ETIMEDOUT); /* frees t */
}

int cio__tls_drive(struct cio__conn *c)
{
    if (!is_tls(c))
        return -EINVAL;
    struct tls *t = TLS(c);
    if (t->state == HS_RUN && !t->timer_on && isfinite(t->cfg->hs_timeout)) {
        if (cio_call_later(c->nfd.loop, t->cfg->hs_timeout, hs_timer_cb, c, &t->timer) == 0)
            t->timer_on = true;
    }
    return hs_step(c);
}

int cio__tls_handshake(struct cio__conn *c)
{
    if (!is_tls(c))
        return -EINVAL;
    struct tls *t = TLS(c);
    if (t->state == HS_DONE)
        return 0;
    if (t->state == HS_FAILED)
        return t->err;
    cio_scope sc;
    bool scoped = isfinite(t->cfg->hs_timeout);
    int rc;
    if (scoped && (rc = cio_timeout_begin(&sc, t->cfg->hs_timeout)) != 0)
        return rc;
    for (;;) {
        rc = hs_step(c);
        if (rc != -EAGAIN)
            break;
        cio__nfd_clear(&c->nfd, c->rneed);
        rc = cio__conn_wait_read(c);
        if (rc)
            break;
        if (!is_tls(c)) { /* closed meanwhile */
            rc = c->close_err ? c->close_err : -EBADF;
            break;
        }
    }
    if (scoped)
        cio_scope_end(&sc);
    if (rc == -ETIMEDOUT)
        set_err("the TLS handshake timed out");
    else if (rc == -ECANCELED)
        set_err("the TLS handshake was cancelled");
    if (rc && is_tls(c) && TLS(c)->state == HS_RUN) {
        TLS(c)->state = HS_FAILED;
        TLS(c)->err = rc;
    }
    return rc;
}

/* ---- The ops ------------------------------------------------------------------ */

/* Drained: the record buffers go (SSL_MODE_RELEASE_BUFFERS misses some,
 * such as the one the TLS 1.3 tickets came in); OpenSSL keeps any that
 * hold bytes. */
static void idle(struct tls *t)
{
    if (!t->wretry && !SSL_has_pending(t->ssl))
        SSL_free_buffers(t->ssl);
}

static ssize_t tls_read(struct cio__conn *c, void *buf, size_t len)
{
    struct tls *t = TLS(c);
    if (t->state != HS_DONE) {
        int r = hs_step(c);
        if (r)
            return r;
    }
    if (t->rerr)
        return t->rerr;
    size_t got = 0;
    while (got < len) {
        size_t n = 0;
        ERR_clear_error();
        int r = SSL_read_ex(t->ssl, (char *)buf + got, len - got, &n);
        if (r == 1) {
            if (t->pfx)
                pfx_check(t);
            got += n;
            continue;
        }
        int e = ssl_failed(c, t, 0, NEED_R);
        if (t->pfx)
            pfx_check(t);
        if (e == -EAGAIN)
            idle(t);
        if (!got)
            return e;
        if (e == -EAGAIN) {
            /* The socket said EAGAIN: its edge is used up, and the next
             * read waits for the direction OpenSSL named. */
            cio__nfd_clear(&c->nfd, c->rneed);
            return (ssize_t)got;
        }
        if (e < 0)
            t->rerr = e;
        break;
    }
    c->rneed = CIO_READABLE;
    return (ssize_t)got;
}

static _Thread_local unsigned char stage[REC_MAX];

static ssize_t tls_writev(struct cio__conn *c, const struct iovec *iov, int iovcnt)
{
    struct tls *t = TLS(c);
    if (t->clear_left) {
        /* STARTTLS: what was buffered before goes in the clear. */
        size_t n = iov[0].iov_len < t->clear_left ? iov[0].iov_len : t->clear_left;
        ssize_t r;
        do
            r = send(c->nfd.fd, iov[0].iov_base, n, MSG_NOSIGNAL);
        while (r < 0 && errno == EINTR);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                c->wneed = CIO_WRITABLE;
                return -EAGAIN;
            }
            return -errno;
        }
        t->clear_left -= (size_t)r;
        return r;
    }
    if (t->state != HS_DONE) {
        int r = hs_step(c);
        if (r)
            return r;
    }
    if (t->werr)
        return t->werr;
    size_t total = 0;
    int i = 0;
    size_t off = 0;
    for (;;) {
        while (i < iovcnt && off == iov[i].iov_len) {
            i++;
            off = 0;
        }
        if (i == iovcnt)
            break;
        const void *p;
        size_t n = iov[i].iov_len - off;
        if (n >= REC_MAX || i == iovcnt - 1) {
            p = (const char *)iov[i].iov_base + off;
            if (n > REC_MAX)
                n = REC_MAX;
        } else {
            /* Small pieces: one record, not one each. */
            n = 0;
            for (int j = i; j < iovcnt && n < REC_MAX; j++) {
                size_t from = j == i ? off : 0;
                size_t l = iov[j].iov_len - from;
                if (l > REC_MAX - n)
                    l = REC_MAX - n;
                memcpy(stage + n, (const char *)iov[j].iov_base + from, l);
                n += l;
            }
            p = stage;
        }
        size_t w = 0;
        ERR_clear_error();
        int r = SSL_write_ex(t->ssl, p, n, &w);
        if (r == 1) {
            t->wretry = 0;
            total += w;
            /* Advance over w bytes. */
            while (w) {
                size_t l = iov[i].iov_len - off;
                if (w < l) {
                    off += w;
                    w = 0;
                } else {
                    w -= l;
                    i++;
                    off = 0;
                }
            }
            continue;
        }
        int e = ssl_failed(c, t, 0, NEED_W);
        if (e == -EAGAIN) {
            t->wretry = n; /* OpenSSL holds the record: the same bytes come again */
            if (!total)
                return e;
            cio__nfd_clear(&c->nfd, c->wneed); /* and the next waits for c->wneed */
            return (ssize_t)total;
        }
        if (e == 0)
            e = -EPIPE;
        if (!total)
            return e;
        t->werr = e;
        break;
    }
    c->wneed = CIO_WRITABLE;
    return (ssize_t)total;
}

static int tls_shutdown(struct cio__conn *c)
{
    struct tls *t = TLS(c);
    if (t->state == HS_DONE && !t->sent_shutdown && !t->werr) {
        ERR_clear_error();
        int r = SSL_shutdown(t->ssl);
        if (r < 0) {
            int e = ssl_failed(c, t, r, NEED_W);
            if (e == -EAGAIN)
                return e;
        }
        ERR_clear_error();
        t->sent_shutdown = true;
        c->wneed = CIO_WRITABLE;
    }
    if (shutdown(c->nfd.fd, SHUT_WR) < 0 && errno != ENOTCONN)
        return -errno;
    return 0;
}

/* The ops of a closed TLS connection (no descriptor left): whether its
 * handshake was done still shows (cio__tls_unfinished). */
static ssize_t gone_read(struct cio__conn *c, void *buf, size_t len)
{
    (void)c, (void)buf, (void)len;
    return -EBADF;
}

static ssize_t gone_writev(struct cio__conn *c, const struct iovec *iov, int iovcnt)
{
    (void)c, (void)iov, (void)iovcnt;
    return -EBADF;
}

static int gone_shutdown(struct cio__conn *c)
{
    (void)c;
    return -EBADF;
}

static void gone_close(struct cio__conn *c, bool reset)
{
    (void)c, (void)reset;
}

static size_t gone_pending(const struct cio__conn *c)
{
    (void)c;
    return 0;
}

static const struct cio__conn_ops tls_gone_ops = {
    gone_read, gone_writev, gone_shutdown, gone_close, gone_pending,
};
static const struct cio__conn_ops tls_unfinished_ops = {
    gone_read, gone_writev, gone_shutdown, gone_close, gone_pending,
};

bool cio__tls_unfinished(const struct cio__conn *c)
{
    return c->ops == &tls_unfinished_ops || (is_tls(c) && TLS(c)->state != HS_DONE);
}

static void tls_free(struct cio__conn *c, int err)
{
    struct tls *t = TLS(c);
    timer_stop(c, t);
    if (t->fut) {
        if (!cio_future_is_done(t->fut))
            cio_future_set_error(t->fut, err);
        cio_future_unref(t->fut);
    }
    SSL_free(t->ssl);
    cfg_unref(t->cfg);
    free(t->server_name);
    free(t->key);
    free(t->alpn);
    free(t->pfx);
    bool done = t->state == HS_DONE;
    free(t);
    c->ops_ctx = NULL;
    c->ops = done ? &tls_gone_ops : &tls_unfinished_ops;
    ERR_clear_error();
}

static void tls_close(struct cio__conn *c, bool reset)
{
    struct tls *t = TLS(c);
    if (!reset && t->state == HS_DONE && !t->sent_shutdown && !t->werr && !t->wretry) {
        ERR_clear_error();
        SSL_shutdown(t->ssl); /* close_notify, best effort */
    }
    int err = t->state == HS_FAILED ? t->err : -ECONNABORTED;
    tls_free(c, err);
    cio__conn_sock_ops.close(c, reset);
}

static size_t tls_pending(const struct cio__conn *c)
{
    const struct tls *t = TLS(c);
    if (t->state != HS_DONE)
        return 0;
    int n = SSL_pending(t->ssl);
    if (n > 0)
        return (size_t)n;
    return SSL_has_pending(t->ssl) ? 1 : 0;
}

static const struct cio__conn_ops tls_ops = {
    tls_read, tls_writev, tls_shutdown, tls_close, tls_pending,
};

/* ---- Attaching ---------------------------------------------------------------- */

static bool ip_literal(const char *s)
{
    unsigned char b[16];
    return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

int cio__tls_attach(struct cio__conn *c, const cio_tls_config *ccfg, const char *server_name,
                    uint16_t port)
{
    last_err[0] = 0;
    struct cio_tls_config *cfg = (struct cio_tls_config *)ccfg;
    if (!c || !cfg || c->ops != &cio__conn_sock_ops || c->ops_ctx ||
        !(c->flags & CIO__C_SOCKET) || (c->flags & CIO__C_CLOSED))
        return -EINVAL;
    if (server_name && !*server_name)
        server_name = NULL;
    if (!cfg->server && server_name && strlen(server_name) > TLSEXT_MAXLEN_host_name) {
        set_err("server name longer than %d bytes", TLSEXT_MAXLEN_host_name);
        return -EINVAL;
    }
    if (cfg->verify && !server_name) {
        set_err("verifying the server needs a server name");
        return -EINVAL;
    }
    struct tls *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->cfg = cfg; /* its reference is taken on success */
    ERR_clear_error();
    t->ssl = SSL_new(cfg->ctx);
    if (!t->ssl)
        goto nomem;
    if (!cfg->server && server_name && !(t->server_name = strdup(server_name)))
        goto nomem;
    size_t have = cio__conn_rlen(c);
    if (have) {
        pthread_once(&pfx_once, pfx_init);
        struct pfx_bio *pb = malloc(sizeof *pb);
        BIO *rb = pfx_meth && pb ? BIO_new(pfx_meth) : NULL;
        BIO *wb = rb ? BIO_new_socket(c->nfd.fd, BIO_NOCLOSE) : NULL;
        t->pfx = wb ? malloc(have) : NULL;
        if (!t->pfx) {
            BIO_free(rb);
            BIO_free(wb);
            free(pb);
            goto nomem;
        }
        pb->t = t;
        pb->fd = c->nfd.fd;
        BIO_set_data(rb, pb);
        BIO_set_init(rb, 1);
        memcpy(t->pfx, c->rbuf + c->rpos, have);
        t->pfx_len = have;
        cio__conn_rconsume(c, have);
        SSL_set_bio(t->ssl, rb, wb);
    } else if (SSL_set_fd(t->ssl, c->nfd.fd) != 1) {
        goto nomem;
    }
    SSL_set_app_data(t->ssl, c);
    if (cfg->server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        if (server_name) {
            if (ip_literal(server_name)) {
                if (cfg->verify &&
                    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), server_name) != 1)
                    goto nomem;
            } else {
                if (SSL_set_tlsext_host_name(t->ssl, server_name) != 1)
                    goto nomem;
                if (cfg->verify && SSL_set1_host(t->ssl, server_name) != 1)
                    goto nomem;
                /* "f*.example.org" matches nothing (as Python's ssl) */
                SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            }
        }
        if (server_name)
            session_lookup(c, t, port);
    }
    atomic_store(&cfg->used, true);
    atomic_fetch_add_explicit(&cfg->refs, 1, memory_order_relaxed);
    t->clear_left = cio__conn_wlen(c);
    c->ops = &tls_ops;
    c->ops_ctx = t;
    c->notdrained = true;
    ERR_clear_error();
    return 0;
nomem:
    ERR_clear_error();
    SSL_free(t->ssl);
    free(t->server_name);
    free(t->key);
    free(t->pfx);
    free(t);
    return -ENOMEM;
}

int cio__tls_options(const cio_stream_options *opts, const cio_tls_config **tls,
                     const char **server_name)
{
    cio_stream_options o = {.size = sizeof o};
    int rc = cio__opts_copy(&o, sizeof o, opts);
    if (rc)
        return rc;
    *tls = o.tls;
    *server_name = o.server_name;
    return 0;
}

int cio__tls_set_future(struct cio__conn *c, cio_future *f)
{
    if (!is_tls(c))
        return -EINVAL;
    TLS(c)->fut = f;
    return 0;
}

bool cio__tls_ktls_send(const struct cio__conn *c)
{
    return is_tls(c) && TLS(c)->state == HS_DONE && BIO_get_ktls_send(SSL_get_wbio(TLS(c)->ssl));
}

ssize_t cio__tls_sendfile(struct cio__conn *c, int fd, off_t off, size_t n)
{
    struct tls *t = TLS(c);
    ERR_clear_error();
    ossl_ssize_t r = SSL_sendfile(t->ssl, fd, off, n, 0);
    if (r >= 0)
        return r;
    int e = ssl_failed(c, t, -1, NEED_W);
    return e ? e : -EPIPE;
}

/* ---- Per-connection calls ------------------------------------------------------ */

static int info(const struct cio__conn *c, cio_tls_info *out)
{
    if (!c || !out)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    if (!is_tls(c) || (c->flags & CIO__C_CLOSED) || TLS(c)->state != HS_DONE)
        return -ENOTCONN;
    struct tls *t = TLS(c);
    SSL *ssl = t->ssl;
    out->version = SSL_version(ssl);
    out->cipher = SSL_get_cipher_name(ssl);
    const unsigned char *a = NULL;
    unsigned al = 0;
    SSL_get0_alpn_selected(ssl, &a, &al);
    if (al) {
        if (!t->alpn)
            t->alpn = strndup((const char *)a, al);
        out->alpn = t->alpn;
    }
    out->server_name =
        t->cfg->server ? SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) : t->server_name;
    out->resumed = SSL_session_reused(ssl) == 1;
    out->peer_verified =
        SSL_get0_peer_certificate(ssl) && SSL_get_verify_result(ssl) == X509_V_OK;
    out->ktls_send = BIO_get_ktls_send(SSL_get_wbio(ssl)) > 0;
    out->ktls_recv = BIO_get_ktls_recv(SSL_get_rbio(ssl)) > 0;
    return 0;
}

int cio_stream_tls_info(const cio_stream *s, cio_tls_info *out)
{
    return info((const struct cio__conn *)s, out);
}

int cio_transport_tls_info(const cio_transport *t, cio_tls_info *out)
{
    return info((const struct cio__conn *)t, out);
}

struct ssl_st *cio_stream_ssl(const cio_stream *s)
{
    const struct cio__conn *c = (const struct cio__conn *)s;
    return is_tls(c) ? TLS(c)->ssl : NULL;
}

struct ssl_st *cio_transport_ssl(const cio_transport *t)
{
    return cio_stream_ssl((const cio_stream *)t);
}
