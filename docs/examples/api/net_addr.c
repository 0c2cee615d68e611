/* net_addr.c: addresses. Parses the forms cio reads, formats them back,
 * builds them from parts and from a system address, and compares them.
 * Needs no loop. Reference: docs/api/net.md. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include <cio.h>

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
            return 1;                                                          \
        }                                                                      \
    } while (0)

int main(void)
{
    static const char *const texts[] = {"127.0.0.1:8080", "[::1]:443", "/tmp/app.sock",
                                        "unix:@app"};
    cio_addr a, b;
    char buf[CIO_ADDR_STRLEN];
    size_t i;
    for (i = 0; i < sizeof texts / sizeof *texts; i++) {
        CHECK(cio_addr_parse(texts[i], &a) == 0);
        CHECK(cio_addr_format(&a, buf, sizeof buf) == 0);
        printf("%-16s -> %-16s family %s, port %u\n", texts[i], buf,
               cio_addr_family(&a) == AF_INET    ? "AF_INET"
               : cio_addr_family(&a) == AF_INET6 ? "AF_INET6"
                                                 : "AF_UNIX",
               (unsigned)cio_addr_port(&a));
    }
    /* Rejections say why: a port is required, and must fit 16 bits. */
    CHECK(cio_addr_parse("127.0.0.1", &a) == -EINVAL);
    CHECK(cio_addr_parse("127.0.0.1:65536", &a) == -EINVAL);
    /* From parts. */
    CHECK(cio_addr_ip("127.0.0.1", 8080, &a) == 0);
    CHECK(cio_addr_parse("127.0.0.1:8080", &b) == 0);
    CHECK(cio_addr_is_equal(&a, &b));
    CHECK(cio_addr_unix("@app", &a) == 0);
    CHECK(cio_addr_parse("unix:@app", &b) == 0);
    CHECK(cio_addr_is_equal(&a, &b));
    /* From what a system call returned (here: made by hand). */
    CHECK(cio_addr_parse("[::1]:443", &b) == 0);
    CHECK(cio_addr_from_sockaddr(&b.u.sa, b.len, &a) == 0);
    CHECK(cio_addr_is_equal(&a, &b));
    return 0;
}
