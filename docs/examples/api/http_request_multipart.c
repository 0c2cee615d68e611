/* A multipart/form-data upload read as it arrives: each part's name, file
 * name and type, its body counted in pieces (never held whole); a part
 * left unread is skipped. A server and its client in one program, over
 * loopback. */
#define _POSIX_C_SOURCE 200809L
#include <cio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int upload(cio_http_request *req, cio_http_response *res, void *arg)
{
    (void)arg;
    char report[1024];
    size_t used = 0;
    cio_http_part *part;
    int rc;
    while ((rc = cio_http_request_next_part(req, &part)) == 0 && part) {
        const char *name = cio_http_part_name(part);
        if (name && strcmp(name, "ignored") == 0)
            continue; /* drained by the next call */
        const char *file = cio_http_part_filename(part);
        const char *type = cio_http_part_header(part, "Content-Type");
        size_t total = 0;
        char buf[4096];
        ssize_t n;
        while ((n = cio_http_part_read(part, buf, sizeof buf)) > 0)
            total += (size_t)n; /* a real handler would write it to a file */
        if (n < 0) {
            rc = (int)n;
            break;
        }
        used += (size_t)snprintf(report + used, sizeof report - used, "%s file=%s type=%s %zu bytes\n",
                                 name ? name : "?", file ? file : "-", type ? type : "-", total);
        if (used >= sizeof report)
            used = sizeof report - 1;
    }
    if (rc == -EBADMSG)
        return cio_http_response_error(res, 400, "a multipart/form-data body, please");
    if (rc)
        return rc;
    return cio_http_response_text(res, 200, report);
}

static const char body[] =
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"title\"\r\n\r\n"
    "holiday\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"ignored\"\r\n\r\n"
    "not read\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"photo\"; filename=\"beach.jpg\"; "
    "filename*=UTF-8''pl%C3%A4ge.jpg\r\n"
    "Content-Type: image/jpeg\r\n\r\n"
    "\xff\xd8\xff\xe0 pretend this is a JPEG\r\n"
    "--XyZ--\r\n";

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cio_http_app *app;
    if (cio_http_app_new(&app) || cio_http_app_route(app, "POST", "/upload", upload, NULL))
        return -1;
    cio_addr addr;
    cio_addr_ip("127.0.0.1", 0, &addr);
    cio_http_server *srv;
    int rc = cio_http_server_new(app, &addr, NULL, &srv);
    if (rc)
        return rc;
    cio_http_server_addr(srv, &addr);
    cio_stream *s;
    if ((rc = cio_stream_connect(&addr, NULL, NULL, &s)) == 0) {
        char head[256];
        int n = snprintf(head, sizeof head,
                         "POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                         "Content-Type: multipart/form-data; boundary=XyZ\r\n"
                         "Content-Length: %zu\r\n\r\n",
                         sizeof body - 1);
        char *resp = NULL;
        size_t len;
        if ((rc = cio_stream_write(s, head, (size_t)n)) == 0 &&
            (rc = cio_stream_write(s, body, sizeof body - 1)) == 0)
            rc = cio_stream_read_all(s, 65536, (void **)&resp, &len);
        cio_stream_close(s);
        const char *want = "title file=- type=- 7 bytes\n"
                           "photo file=pl\xc3\xa4ge.jpg type=image/jpeg 27 bytes\n";
        const char *got = resp ? strstr(resp, "\r\n\r\n") : NULL;
        if (!rc && got && strcmp(got + 4, want) == 0)
            printf("%s", got + 4);
        else {
            fprintf(stderr, "unexpected: %s\n", resp ? resp : cio_strerror(rc));
            rc = -1;
        }
        free(resp);
    }
    cio_http_server_close(srv, 1);
    cio_http_app_free(app);
    return rc;
}

int main(void) { return cio_run(main_task, NULL, NULL) == 0 ? 0 : 1; }
