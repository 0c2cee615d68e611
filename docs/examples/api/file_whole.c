/* file_whole.c: whole files (docs/api/file.md): cio_file_write_atomic
 * replaces a configuration file so that a reader sees the old or the new
 * one, never half of it; cio_file_read_all reads it back, with and without
 * a size limit; cio_file_stat_path looks at it. Exits 0 on success. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cio.h>
#include <cio/net.h>

static int main_task(void *arg, void **result)
{
    const char *path = arg;
    (void)result;
    const char *v1 = "port = 8080\n", *v2 = "port = 8081\nworkers = 4\n";
    int err = cio_file_write_atomic(path, v1, strlen(v1), 0644);
    if (!err)
        err = cio_file_write_atomic(path, v2, strlen(v2), 0644); /* replaces it whole */
    if (err) {
        fprintf(stderr, "write_atomic: %s\n", cio_strerror(err));
        return err;
    }
    struct stat st;
    if ((err = cio_file_stat_path(path, &st)) != 0)
        return err;
    printf("%lld bytes, mode %o\n", (long long)st.st_size, (unsigned)(st.st_mode & 0777));

    void *data;
    size_t len;
    if ((err = cio_file_read_all(path, 0, &data, &len)) != 0) /* 0: no limit */
        return err;
    printf("%s", (char *)data); /* NUL-terminated for text */
    free(data);
    /* A limit below the size: -EMSGSIZE, nothing to free. */
    err = cio_file_read_all(path, 10, &data, &len);
    printf("with a 10-byte limit: %s\n", cio_err_name(err));
    if (err != -EMSGSIZE)
        return -EIO;
    /* A directory that does not exist: the error, and no file anywhere. */
    err = cio_file_write_atomic("/nonexistent-cio-dir/x", v1, strlen(v1), 0644);
    printf("into a missing directory: %s\n", cio_err_name(err));
    return err == -ENOENT ? 0 : -EIO;
}

int main(void)
{
    char dir[] = "/tmp/cio-file-whole-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char path[64];
    snprintf(path, sizeof path, "%s/app.conf", dir);
    umask(022);
    int rc = cio_run(main_task, path, NULL);
    unlink(path);
    rmdir(dir);
    return rc == 0 ? 0 : 1;
}
