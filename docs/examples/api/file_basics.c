/* file_basics.c: a file written, read back and closed through the thread
 * pool (docs/api/file.md): cio_file_open, cio_file_write, cio_file_pwrite,
 * cio_file_sync, cio_file_stat, cio_file_fd, cio_file_read,
 * cio_file_pread, cio_file_close. The loop keeps running other tasks while
 * each call runs on a pool thread. Exits 0 on success. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cio.h>
#include <cio/net.h>

#define CHECK(call)                                                                               \
    do {                                                                                          \
        long long rc_ = (long long)(call);                                                        \
        if (rc_ < 0) {                                                                            \
            fprintf(stderr, "%s: %s\n", #call, cio_strerror((int)rc_));                          \
            return (int)rc_;                                                                      \
        }                                                                                         \
    } while (0)

static int main_task(void *arg, void **result)
{
    const char *path = arg;
    (void)result;
    cio_file *f;
    CHECK(cio_file_open(path, O_RDWR | O_CREAT | O_TRUNC, 0600, &f));
    /* write: all of it, at the descriptor's position, which advances. */
    CHECK(cio_file_write(f, "hello, ", 7));
    CHECK(cio_file_write(f, "world\n", 6));
    /* pwrite: at an offset; the position stays where it was (13). */
    CHECK(cio_file_pwrite(f, "H", 1, 0));
    CHECK(cio_file_sync(f));
    struct stat st;
    CHECK(cio_file_stat(f, &st));
    printf("%lld bytes, position %lld\n", (long long)st.st_size,
           (long long)lseek(cio_file_fd(f), 0, SEEK_CUR));

    char buf[32] = {0};
    CHECK(cio_file_pread(f, buf, 5, 0)); /* "Hello" */
    printf("pread: %s\n", buf);
    lseek(cio_file_fd(f), 7, SEEK_SET); /* the descriptor is there for what cio does not wrap */
    ssize_t n = cio_file_read(f, buf, sizeof buf - 1);
    CHECK(n);
    buf[n] = 0;
    printf("read: %s", buf);                 /* "world\n" */
    CHECK(cio_file_read(f, buf, sizeof buf)); /* 0: the end */
    CHECK(cio_file_close(f));                 /* f is gone, whatever it returns */
    return strcmp(buf, "world\n") == 0 ? 0 : -EIO;
}

int main(void)
{
    char dir[] = "/tmp/cio-file-basics-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char path[64];
    snprintf(path, sizeof path, "%s/hello.txt", dir);
    /* Outside a task the suspending calls refuse. */
    cio_file *f;
    if (cio_file_open(path, O_RDONLY, 0, &f) != -EPERM)
        return 1;
    int rc = cio_run(main_task, path, NULL);
    unlink(path);
    rmdir(dir);
    return rc == 0 ? 0 : 1;
}
