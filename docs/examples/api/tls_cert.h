/* For the TLS examples: a self-signed certificate for "localhost" and
 * 127.0.0.1 (and a second one for another name), made at run time with
 * OpenSSL's API and written as PEM files into a temporary directory, so
 * that the examples need no file of their own. A real program loads its
 * certificate from where it is kept. */
#ifndef TLS_EXAMPLE_CERT_H
#define TLS_EXAMPLE_CERT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Writes DIR/NAME.pem and DIR/NAME.key: a self-signed certificate (its own
 * trust anchor) for cn, with the subjectAltName san. 0 or -1. */
static int make_cert(const char *dir, const char *name, const char *cn, const char *san)
{
    int ok = 0;
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (pk && x) {
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), -3600);
        X509_gmtime_adj(X509_getm_notAfter(x), 24L * 3600);
        X509_set_pubkey(x, pk);
        X509_NAME *n = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
        X509_set_issuer_name(x, n);
        X509V3_CTX v3;
        X509V3_set_ctx_nodb(&v3);
        X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
        X509_EXTENSION *e1 = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
        X509_EXTENSION *e2 = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "CA:TRUE");
        ok = e1 && e2 && X509_add_ext(x, e1, -1) && X509_add_ext(x, e2, -1) &&
             X509_sign(x, pk, EVP_sha256()) > 0;
        X509_EXTENSION_free(e1);
        X509_EXTENSION_free(e2);
    }
    char path[4096];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s.pem", dir, name);
    if (ok && (f = fopen(path, "w")) != NULL) {
        ok = PEM_write_X509(f, x);
        fclose(f);
    } else {
        ok = 0;
    }
    snprintf(path, sizeof path, "%s/%s.key", dir, name);
    if (ok && (f = fopen(path, "w")) != NULL) {
        ok = PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
        fclose(f);
    } else {
        ok = 0;
    }
    X509_free(x);
    EVP_PKEY_free(pk);
    return ok ? 0 : -1;
}

/* Removes what make_cert wrote, and the directory. */
static void remove_certs(const char *dir, const char *const *names, int n)
{
    char path[4096];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s.pem", dir, names[i]);
        unlink(path);
        snprintf(path, sizeof path, "%s/%s.key", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

#endif
