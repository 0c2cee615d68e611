/* cat: concatenates the files named on the command line to standard
 * output ("-", or no name at all, is standard input), like cat(1).
 *
 * Files are read with cio_file_* on the thread pool, so a slow disk never
 * blocks the loop; standard input and output are written and read with
 * cio_fd_read / cio_fd_write, which suspend the task while a pipe or
 * terminal is not ready. A file that cannot be read is reported and
 * skipped; the exit status is then 1, as with cat(1).
 *
 *   ./build/examples/cat README.md CHANGELOG.md | less */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cio.h>
#include <cio/net.h>

#define BUF_SIZE (128 * 1024)

struct cat {
    int argc;
    char **argv;
    char *buf;
};

/* Writes all of buf to standard output. 0 or -errno. */
static int put(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = cio_fd_write(STDOUT_FILENO, buf, len);
        if (n < 0)
            return (int)n;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Copies one file (or standard input) to standard output. Returns 0, a
 * negative errno of the input (reported by the caller), or 1 after a
 * write error (reported here: nothing more can be written). */
static int cat_one(const char *name, char *buf)
{
    bool std_in = strcmp(name, "-") == 0;
    cio_file *f = NULL;
    if (!std_in) {
        int err = cio_file_open(name, O_RDONLY, 0, &f);
        if (err)
            return err;
    }
    int rc = 0;
    for (;;) {
        ssize_t n = std_in ? cio_fd_read(STDIN_FILENO, buf, BUF_SIZE)
                           : cio_file_read(f, buf, BUF_SIZE);
        if (n <= 0) {
            rc = (int)n;
            break;
        }
        int err = put(buf, (size_t)n);
        if (err) {
            fprintf(stderr, "cat: write error: %s\n", cio_strerror(err));
            rc = 1;
            break;
        }
    }
    if (f) {
        int err = cio_file_close(f);
        if (rc == 0)
            rc = err;
    }
    return rc;
}

static int cat_main(void *arg, void **result)
{
    struct cat *c = arg;
    (void)result;
    int status = 0;
    char *dash[] = {"-"};
    char **names = c->argc > 1 ? c->argv + 1 : dash;
    int n = c->argc > 1 ? c->argc - 1 : 1;
    for (int i = 0; i < n; i++) {
        int rc = cat_one(names[i], c->buf);
        if (rc == 1) {
            status = 1;
            break; /* standard output is gone */
        }
        if (rc < 0) {
            fprintf(stderr, "cat: %s: %s\n", names[i], cio_strerror(rc));
            status = 1;
        }
    }
    /* The loop registered these descriptors for waiting: let them go
     * before the program ends (see cio_fd_forget). */
    cio_fd_forget(STDIN_FILENO);
    cio_fd_forget(STDOUT_FILENO);
    return status ? -EIO : 0;
}

int main(int argc, char **argv)
{
    static char buf[BUF_SIZE];
    struct cat c = {argc, argv, buf};
    /* cio_fd_read / cio_fd_write make the descriptors non-blocking, which
     * is shared with whoever else holds them (the shell, the next program
     * in a pipeline): put their flags back at the end. */
    int in_flags = fcntl(STDIN_FILENO, F_GETFL), out_flags = fcntl(STDOUT_FILENO, F_GETFL);
    int rc = cio_run(cat_main, &c, NULL);
    if (in_flags >= 0)
        fcntl(STDIN_FILENO, F_SETFL, in_flags);
    if (out_flags >= 0)
        fcntl(STDOUT_FILENO, F_SETFL, out_flags);
    return rc == 0 ? 0 : 1;
}
