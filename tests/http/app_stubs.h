/* Weak stand-ins for the connection code's functions (src/http/server.c,
 * response.c) that app.c and middleware.c call, so that the router's
 * lookup tests link before the connection code exists. Never called by
 * those tests (each aborts); the library's own definitions replace them
 * whenever the program links the connection code. */
#ifndef CIO_TEST_HTTP_APP_STUBS_H
#define CIO_TEST_HTTP_APP_STUBS_H
#include <stdlib.h>
#include "http/internal.h"
#define STUB(ret, name, params) __attribute__((weak)) ret name params { abort(); }
STUB(void *, cio__http_alloc, (cio_http_request *r, size_t n))
STUB(char *, cio__http_strndup, (cio_http_request *r, const char *s, size_t n))
STUB(int, cio__http_on_end, (cio_http_request *r, void (*fn)(void *), void *a))
STUB(void **, cio__http_slot, (cio_http_request *r, enum cio__http_slot s))
STUB(const char *, cio__http_raw_path, (const cio_http_request *r))
STUB(bool, cio__http_shutting_down, (const cio_http_request *r))
STUB(double, cio__http_start_time, (const cio_http_request *r))
STUB(uint64_t, cio__http_bytes_sent, (const cio_http_response *r))
STUB(cio_http_request *, cio__http_request_of, (cio_http_response *r))
STUB(int, cio__http_push_filter, (cio_http_response *r, struct cio__http_filter *f))
STUB(int, cio__http_filter_write_next, (struct cio__http_filter *f, cio_http_response *r, const void *d, size_t n))
STUB(const char *, cio_http_request_header, (const cio_http_request *r, const char *n))
STUB(size_t, cio_http_request_headers, (const cio_http_request *r, const char *n, const char **v, size_t m))
STUB(const char *, cio_http_request_method, (const cio_http_request *r))
STUB(const char *, cio_http_request_path, (const cio_http_request *r))
STUB(int, cio_http_response_error, (cio_http_response *r, int s, const char *d))
STUB(const char *, cio_http_response_get_header, (const cio_http_response *r, const char *n))
STUB(int, cio_http_response_get_status, (const cio_http_response *r))
STUB(int, cio_http_response_header, (cio_http_response *r, const char *n, const char *v))
STUB(bool, cio_http_response_is_started, (const cio_http_response *r))
STUB(int, cio_http_response_send, (cio_http_response *r, int s, const char *t, const void *b, size_t n))
STUB(int, cio_http_response_set_header, (cio_http_response *r, const char *n, const char *v))
STUB(int, cio_http_response_text, (cio_http_response *r, int s, const char *t))
#undef STUB
#endif
