/* The demo app's file uploads (docs/demo.md).
 *
 * POST /upload takes a multipart/form-data body and streams each file part
 * to disk as it arrives (cio_http_request_next_part and
 * cio_http_part_read: memory stays fixed whatever the file's size),
 * hashing it with SHA-256 (OpenSSL's EVP interface) on the way; the answer
 * is the files' name, size and digest as JSON. GET /uploads lists every
 * file kept (the newest first), GET /uploads/{id} sends one back as a
 * download.
 *
 * A client's file name is shown, never used as a path: files are stored as
 * DIR/<id>, and the name only travels in JSON (escaped by cJSON) and in a
 * Content-Disposition filename*= (percent-encoded). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "app.h"

struct upload {
    struct upload *next; /* newer */
    unsigned id;
    uint64_t size;
    char sha256[65];
    char *name; /* for display: control bytes and invalid UTF-8 replaced */
    char *type; /* the part's Content-Type, or NULL */
    char path[4200];
};

struct demo_uploads {
    struct upload *oldest, *newest;
    size_t count;
    unsigned last_id;
};

#define CHUNK (64 * 1024)

int demo_uploads_new(struct demo *d)
{
    d->uploads = calloc(1, sizeof *d->uploads);
    return d->uploads ? 0 : -ENOMEM;
}

static void upload_free(struct upload *u, bool remove_file)
{
    if (remove_file) unlink(u->path);
    free(u->name);
    free(u->type);
    free(u);
}

void demo_uploads_free(struct demo *d)
{
    if (!d->uploads) return;
    for (struct upload *u = d->uploads->oldest, *next; u; u = next) {
        next = u->next;
        upload_free(u, true);
    }
    free(d->uploads);
    d->uploads = NULL;
    if (d->own_upload_dir && rmdir(d->upload_dir) != 0)
        fprintf(stderr, "cio-demo: could not remove %s\n", d->upload_dir);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80) return 1;
    size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (n == 0 || (s[0] & 0xf8) == 0xf8) return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    /* Overlong 3- and 4-byte forms, surrogates, beyond U+10FFFF. */
    if (n == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))) return 0;
    if (n == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))) return 0;
    return n;
}

/* The name to show: the last path segment (a browser sends only that, a
 * script may send more), at most 200 bytes, control characters as '_'
 * and bytes that are not UTF-8 as '?'. */
static char *display_name(const char *raw)
{
    const char *base = raw;
    for (const char *p = raw; *p; p++)
        if (*p == '/' || *p == '\\') base = p + 1;
    if (!*base) base = "unnamed";
    char *out = malloc(201);
    if (!out) return NULL;
    size_t o = 0;
    const unsigned char *s = (const unsigned char *)base;
    while (*s) {
        size_t n = utf8_len(s);
        if (n == 0) {
            if (o + 1 > 200) break;
            out[o++] = '?';
            s++;
        } else {
            if (o + n > 200) break;
            for (size_t i = 0; i < n; i++)
                out[o++] = (char)(s[i] < 0x20 || s[i] == 0x7f ? '_' : s[i]);
            s += n;
        }
    }
    out[o] = '\0';
    return out;
}

/* Streams one part to a new file, hashing it. */
static int save_part(struct demo *d, cio_http_part *part, unsigned char *buf, struct upload *u)
{
    snprintf(u->path, sizeof u->path, "%s/%u", d->upload_dir, u->id);
    cio_file *f = NULL;
    int rc = cio_file_open(u->path, O_WRONLY | O_CREAT | O_EXCL, 0600, &f);
    if (rc < 0) return rc;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) rc = -ENOMEM;
    while (rc == 0) {
        ssize_t n = cio_http_part_read(part, buf, CHUNK);
        if (n <= 0) {
            rc = (int)n;
            break;
        }
        if (EVP_DigestUpdate(md, buf, (size_t)n) != 1) {
            rc = -EIO;
            break;
        }
        ssize_t w = cio_file_write(f, buf, (size_t)n);
        if (w != n) {
            rc = w < 0 ? (int)w : -EIO;
            break;
        }
        u->size += (uint64_t)n;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned dlen = 0;
    if (rc == 0 && EVP_DigestFinal_ex(md, digest, &dlen) != 1) rc = -EIO;
    EVP_MD_CTX_free(md);
    for (unsigned i = 0; rc == 0 && i < dlen && i < 32; i++)
        snprintf(u->sha256 + 2 * i, 3, "%02x", digest[i]);
    int crc = cio_file_close(f);
    if (rc == 0) rc = crc;
    if (rc < 0) unlink(u->path);
    return rc;
}

static cJSON *upload_json(const struct upload *u)
{
    char url[32];
    snprintf(url, sizeof url, "/uploads/%u", u->id);
    cJSON *o = cJSON_CreateObject();
    if (o && cJSON_AddNumberToObject(o, "id", u->id) &&
        cJSON_AddStringToObject(o, "name", u->name) &&
        cJSON_AddNumberToObject(o, "size", (double)u->size) &&
        cJSON_AddStringToObject(o, "sha256", u->sha256) &&
        (u->type ? cJSON_AddStringToObject(o, "type", u->type)
                 : cJSON_AddNullToObject(o, "type")) &&
        cJSON_AddStringToObject(o, "url", url))
        return o;
    cJSON_Delete(o);
    return NULL;
}

/* Keeps u, the newest, and lets the oldest go past DEMO_MAX_UPLOADS. */
static void keep(struct demo_uploads *l, struct upload *u)
{
    if (l->newest)
        l->newest->next = u;
    else
        l->oldest = u;
    l->newest = u;
    if (++l->count > DEMO_MAX_UPLOADS) {
        struct upload *old = l->oldest;
        l->oldest = old->next;
        l->count--;
        upload_free(old, true);
    }
}

static int answer_error(cio_http_response *res, int rc)
{
    if (cio_http_response_is_started(res)) return rc;
    if (rc == -EBADMSG) return cio_http_response_error(res, 400, "expected multipart/form-data");
    if (rc == -EMSGSIZE) return cio_http_response_error(res, 413, "the upload limit is 64 MiB");
    if (rc == -ECANCELED || rc == -ETIMEDOUT || rc == -ECONNRESET || rc == -EPIPE) return rc;
    return cio_http_response_error(res, 500, cio_strerror(rc));
}

static int upload(cio_http_request *req, cio_http_response *res, void *arg)
{
    struct demo *d = arg;
    unsigned char *buf = malloc(CHUNK);
    cJSON *answer = cJSON_CreateObject();
    cJSON *files = answer ? cJSON_AddArrayToObject(answer, "files") : NULL;
    int rc = buf && files ? 0 : -ENOMEM;
    cio_http_part *part;
    while (rc == 0 && (rc = cio_http_request_next_part(req, &part)) == 0 && part) {
        const char *field = cio_http_part_name(part);
        const char *filename = cio_http_part_filename(part);
        /* Other fields, and a file input left empty (filename=""), are
         * skipped: next_part reads and drops what is left of them. */
        if (!field || strcmp(field, "file") != 0 || !filename || !*filename) continue;
        struct upload *u = calloc(1, sizeof *u);
        const char *type = cio_http_part_header(part, "Content-Type");
        if (!u || !(u->name = display_name(filename)) || (type && !(u->type = strdup(type)))) {
            if (u) upload_free(u, false);
            rc = -ENOMEM;
            break;
        }
        u->id = ++d->uploads->last_id;
        rc = save_part(d, part, buf, u);
        cJSON *o = rc == 0 ? upload_json(u) : NULL;
        if (rc == 0 && (!o || !cJSON_AddItemToArray(files, o))) {
            cJSON_Delete(o);
            rc = -ENOMEM;
        }
        if (rc < 0) {
            upload_free(u, false); /* save_part removed the file */
            break;
        }
        keep(d->uploads, u);
    }
    free(buf);
    if (rc == 0 && cJSON_GetArraySize(files) == 0)
        rc = cio_http_response_error(res, 400, "no file in the form (a file field named 'file')");
    else if (rc == 0)
        rc = cio_http_response_json(res, 200, answer);
    else
        rc = answer_error(res, rc);
    cJSON_Delete(answer);
    return rc;
}

static int list(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)req;
    struct demo *d = arg;
    cJSON *answer = cJSON_CreateObject();
    cJSON *files = answer ? cJSON_AddArrayToObject(answer, "files") : NULL;
    int rc = files ? 0 : -ENOMEM;
    /* The list runs oldest to newest; the answer shows the newest first. */
    for (struct upload *u = d->uploads->oldest; rc == 0 && u; u = u->next) {
        cJSON *o = upload_json(u);
        if (!o || !cJSON_InsertItemInArray(files, 0, o)) {
            cJSON_Delete(o);
            rc = -ENOMEM;
        }
    }
    if (rc == 0) rc = cio_http_response_json(res, 200, answer);
    cJSON_Delete(answer);
    return rc;
}

static int download(cio_http_request *req, cio_http_response *res, void *arg)
{
    struct demo *d = arg;
    const char *id_text = cio_http_request_param(req, "id");
    char *end;
    unsigned long id = strtoul(id_text, &end, 10);
    struct upload *u = NULL;
    if (*end == '\0' && *id_text >= '0' && *id_text <= '9')
        for (u = d->uploads->oldest; u && u->id != id; u = u->next)
            ;
    if (!u) return cio_http_response_error(res, 404, "no such upload");
    /* filename*=UTF-8''... (RFC 6266, RFC 8187): every byte but
     * letters, digits and a few marks percent-encoded. */
    char disp[40 + 3 * 200] = "attachment; filename*=UTF-8''";
    size_t o = strlen(disp);
    for (const unsigned char *s = (const unsigned char *)u->name; *s; s++) {
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
            strchr("!#$&+-.^_`|~", *s))
            disp[o++] = (char)*s;
        else
            o += (size_t)snprintf(disp + o, sizeof disp - o, "%%%02X", *s);
    }
    disp[o] = '\0';
    cio_http_response_set_header(res, "Content-Disposition", disp);
    cio_http_response_set_header(res, "X-Content-Type-Options", "nosniff");
    int rc = cio_http_response_file(req, res, u->path);
    if (rc < 0 && !cio_http_response_is_started(res))
        return cio_http_response_error(res, rc == -ENOENT ? 404 : 500, cio_strerror(rc));
    return rc;
}

int demo_uploads_routes(cio_http_app *app, struct demo *d)
{
    int rc;
    if ((rc = cio_http_app_route(app, "POST", "/upload", upload, d)) < 0 ||
        (rc = cio_http_app_route(app, "GET", "/uploads", list, d)) < 0 ||
        (rc = cio_http_app_route(app, "GET", "/uploads/{id}", download, d)) < 0)
        return rc;
    return 0;
}
