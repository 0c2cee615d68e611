/* A cookie jar on its own: cookies stored as if servers had sent them,
 * then the Cookie field requests would carry. (A client given the jar in
 * cio_http_client_options.jar does both by itself.) */
#include <cio.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    cio_http_jar *jar;
    if (cio_http_jar_new(&jar) != 0)
        return 1;
    /* A session cookie for shop.example only, one for every host under
     * example.com, one limited to /cart, and one for HTTPS only. */
    cio_http_jar_set(jar, "http://shop.example.com/", "session=abc123; HttpOnly");
    cio_http_jar_set(jar, "http://shop.example.com/", "lang=en; Domain=example.com; Max-Age=3600");
    cio_http_jar_set(jar, "http://shop.example.com/cart/view", "cart=42; Path=/cart");
    cio_http_jar_set(jar, "https://shop.example.com/", "token=t0k; Secure; SameSite=Strict");
    /* Refused: a Domain the host is not in, a Secure cookie over http. */
    int rc = cio_http_jar_set(jar, "http://shop.example.com/", "x=1; Domain=other.example");
    printf("foreign domain: %s\n", cio_err_name(rc));
    rc = cio_http_jar_set(jar, "http://shop.example.com/", "y=1; Secure");
    printf("secure over http: %s\n", cio_err_name(rc));
    printf("%zu cookies\n", cio_http_jar_count(jar));

    const char *urls[] = {"http://shop.example.com/cart/add", "https://shop.example.com/",
                          "http://www.example.com/", "http://other.example/"};
    char field[256];
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        ssize_t n = cio_http_jar_header(jar, urls[i], field, sizeof field);
        if (n < 0)
            return 1;
        printf("%-34s Cookie: %s\n", urls[i], n ? field : "(none)");
    }
    /* Too small a buffer says so. */
    char tiny[8];
    if (cio_http_jar_header(jar, urls[0], tiny, sizeof tiny) != -ENOSPC)
        return 1;
    /* A server deletes a cookie with Max-Age=0. */
    cio_http_jar_set(jar, "http://shop.example.com/", "session=; Max-Age=0");
    printf("after logout: %zu cookies\n", cio_http_jar_count(jar));
    cio_http_jar_clear(jar);
    if (cio_http_jar_count(jar) != 0)
        return 1;
    cio_http_jar_free(jar);
    return 0;
}
