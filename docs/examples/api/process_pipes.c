/* process_pipes.c: a child with its stdin and stdout as streams. Writes
 * three lines into `tr a-z A-Z` and reads them back line by line, closes
 * its input, waits for its exit; then stops a sleeping child with a signal
 * and another with cio_process_kill.
 * Reference: docs/api/process.md. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <cio.h>
#include <cio/net.h>

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
            return 1;                                                          \
        }                                                                      \
    } while (0)

static int main_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    const char *tr[] = {"/usr/bin/tr", "a-z", "A-Z", NULL};
    cio_process *p;
    CHECK(cio_process_new(tr,
                          &CIO_PROCESS_OPTIONS(.stdin_mode = CIO_PROCESS_PIPE,
                                               .stdout_mode = CIO_PROCESS_PIPE),
                          &p) == 0);
    printf("started tr as pid %ld\n", (long)cio_process_pid(p));
    cio_stream *in = cio_process_stdin(p), *out = cio_process_stdout(p);
    CHECK(cio_process_stderr(p) == NULL); /* inherited, not a pipe */
    const char *lines[] = {"one\n", "two\n", "three\n"};
    for (int i = 0; i < 3; i++)
        CHECK(cio_stream_write(in, lines[i], strlen(lines[i])) == 0);
    CHECK(cio_stream_shutdown(in) == 0); /* tr reads end of file */
    char line[64];
    ssize_t n;
    while ((n = cio_stream_read_line(out, line, sizeof line)) > 0)
        printf("tr says: %.*s", (int)n, line);
    int status;
    CHECK(cio_process_wait(p, &status) == 0);
    CHECK(cio_process_is_done(p) && cio_process_status(p) == 0);
    printf("tr exited with %d\n", status);
    CHECK(cio_process_free(p) == 0);

    /* Signals: -N is "killed by signal N". */
    const char *sleeper[] = {"/bin/sleep", "60", NULL};
    CHECK(cio_process_new(sleeper, NULL, &p) == 0);
    CHECK(cio_process_free(p) == -EBUSY); /* still running */
    CHECK(cio_process_signal(p, SIGTERM) == 0);
    CHECK(cio_process_wait(p, &status) == 0);
    printf("sleep after SIGTERM: %d\n", status);
    CHECK(status == -SIGTERM);
    CHECK(cio_process_signal(p, SIGTERM) == 0); /* reaped: a no-op */
    CHECK(cio_process_free(p) == 0);

    CHECK(cio_process_new(sleeper, NULL, &p) == 0);
    CHECK(cio_process_kill(p) == 0);
    CHECK(cio_process_wait(p, &status) == 0 && status == -SIGKILL);
    printf("sleep after cio_process_kill: %d\n", status);
    CHECK(cio_process_free(p) == 0);
    return 0;
}

int main(void)
{
    int rc = cio_run(main_task, NULL, NULL);
    if (rc)
        fprintf(stderr, "cio_run: %s\n", cio_strerror(rc));
    return rc ? 1 : 0;
}
