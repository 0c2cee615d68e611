/* subprocess: runs a command and streams its output line by line as it
 * comes, each line numbered and marked with the stream it came on, then
 * prints how the command ended. asyncio's
 *
 *     proc = await asyncio.create_subprocess_exec(*argv, stdout=PIPE, stderr=PIPE)
 *     async for line in proc.stdout: ...
 *     status = await proc.wait()
 *
 * with stdout and stderr read at once, each by a task of its own (reading
 * one to its end first could leave the child blocked writing the other).
 *
 *     usage: subprocess [command [args...]]
 *
 * Without arguments it runs a small shell script that writes on both
 * streams. Lines longer than 4 KiB are cut into pieces. Exits 0 when the
 * command ran (whatever its status), 1 when it could not be started. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include <cio.h>
#include <cio/net.h>

struct reader {
    const char *name; /* "out" or "err" */
    cio_stream *s;
    int lines;
};

static int read_lines(void *arg, void **result)
{
    (void)result;
    struct reader *r = arg;
    char line[4096];
    for (;;) {
        ssize_t n = cio_stream_read_line(r->s, line, sizeof line);
        if (n == -EMSGSIZE || n == -ENODATA) {
            /* A longer line, or a last line without '\n': take what is
             * there in one piece. */
            n = cio_stream_read(r->s, line, sizeof line);
        }
        if (n == 0)
            return 0; /* end of the stream */
        if (n < 0)
            return (int)n;
        int len = (int)n - (line[n - 1] == '\n');
        printf("%s %d: %.*s\n", r->name, ++r->lines, len, line);
        fflush(stdout);
    }
}

static int main_task(void *arg, void **result)
{
    (void)result;
    const char *const *argv = arg;
    cio_process *p;
    int rc = cio_process_new(argv,
                             &CIO_PROCESS_OPTIONS(.stdout_mode = CIO_PROCESS_PIPE,
                                                  .stderr_mode = CIO_PROCESS_PIPE,
                                                  .search_path = true),
                             &p);
    if (rc) {
        fprintf(stderr, "subprocess: cannot run %s: %s\n", argv[0], cio_strerror(rc));
        return rc;
    }
    printf("started %s, pid %ld\n", argv[0], (long)cio_process_pid(p));
    struct reader out = {"out", cio_process_stdout(p), 0};
    struct reader err = {"err", cio_process_stderr(p), 0};
    cio_task *t;
    rc = cio_spawn(read_lines, &err, &t);
    int rc_out = rc ? rc : read_lines(&out, NULL);
    int rc_err = rc ? rc : cio_await(t, NULL);
    if (!rc)
        cio_future_unref(t);
    if (rc_out || rc_err) {
        fprintf(stderr, "subprocess: reading: %s\n", cio_strerror(rc_out ? rc_out : rc_err));
        cio_process_kill(p);
    }
    int status;
    rc = cio_process_wait(p, &status);
    if (rc == 0) {
        if (status >= 0)
            printf("exit status %d (%d lines on stdout, %d on stderr)\n", status, out.lines,
                   err.lines);
        else
            printf("killed by signal %d\n", -status);
    }
    cio_process_free(p);
    return rc;
}

int main(int argc, char **argv)
{
    const char *script[] = {"/bin/sh", "-c",
                            "echo hello from the child; echo a warning >&2; "
                            "for i in 1 2 3; do echo line $i; done; exit 2",
                            NULL};
    const char *const *cmd = argc > 1 ? (const char *const *)argv + 1 : script;
    int rc = cio_run(main_task, (void *)cmd, NULL);
    return rc ? 1 : 0;
}
