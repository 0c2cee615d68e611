/* process_run.c: cio_process_run, asyncio's communicate(). Runs a shell
 * command and captures what it prints on stdout and stderr; feeds cat some
 * input and reads it back; then shows the limit (-EMSGSIZE, the child
 * killed) and a deadline (-ETIMEDOUT, the child killed). Every child is
 * reaped before cio_process_run returns.
 * Reference: docs/api/process.md. */
#define _POSIX_C_SOURCE 200809L
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
    cio_process_result res;

    /* Both outputs, and the exit code. */
    const char *sh[] = {"/bin/sh", "-c", "echo hello; echo oops >&2; exit 3", NULL};
    CHECK(cio_process_run(sh, NULL, NULL, 0, 4096, &res) == 0);
    printf("status %d, out \"%.*s\", err \"%.*s\"\n", res.status, (int)res.out_len - 1, res.out,
           (int)res.err_len - 1, res.err);
    CHECK(res.status == 3 && strcmp(res.out, "hello\n") == 0 && strcmp(res.err, "oops\n") == 0);
    cio_process_result_free(&res);

    /* Input, written while the output is read. */
    const char *cat[] = {"/bin/cat", NULL};
    const char input[] = "through cat\n";
    CHECK(cio_process_run(cat, NULL, input, strlen(input), 4096, &res) == 0);
    printf("cat gave back: %s", res.out);
    CHECK(strcmp(res.out, input) == 0);
    cio_process_result_free(&res);

    /* stderr into stdout, stdout found in PATH. */
    const char *both[] = {"sh", "-c", "echo one; echo two >&2", NULL};
    CHECK(cio_process_run(both,
                          &CIO_PROCESS_OPTIONS(.stderr_mode = CIO_PROCESS_STDOUT,
                                               .search_path = true),
                          NULL, 0, 4096, &res) == 0);
    CHECK(strcmp(res.out, "one\ntwo\n") == 0 && res.err == NULL);
    cio_process_result_free(&res);

    /* More output than allowed: the child is killed. */
    const char *yes[] = {"/usr/bin/yes", NULL};
    int rc = cio_process_run(yes, NULL, NULL, 0, 1 << 16, &res);
    printf("yes with a 64 KiB limit: %s\n", cio_err_name(rc));
    CHECK(rc == -EMSGSIZE);

    /* A deadline: the child is killed and reaped before the call returns. */
    const char *sleeper[] = {"/bin/sleep", "60", NULL};
    cio_scope scope;
    CHECK(cio_timeout_begin(&scope, 0.1) == 0);
    rc = cio_process_run(sleeper, NULL, NULL, 0, 4096, &res);
    cio_scope_end(&scope);
    printf("sleep 60 under a 0.1 s deadline: %s\n", cio_err_name(rc));
    CHECK(rc == -ETIMEDOUT);
    return 0;
}

int main(void)
{
    int rc = cio_run(main_task, NULL, NULL);
    if (rc)
        fprintf(stderr, "cio_run: %s\n", cio_strerror(rc));
    return rc ? 1 : 0;
}
