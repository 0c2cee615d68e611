/* Task names in reports: an unnamed task is task-N, N its own id, for as
 * long as its future lives (also after it ended, when its running state is
 * gone): never its address, never a task-0 shared by every ended task. */
#include "task/task_util.h"

#define HOUR 3600.0

static int returns_at_once(void *arg, void **result) { return 0; }

static int fails_with(void *arg, void **result)
{
    int rc = cio_sleep(HOUR); /* cancelled by the group, or not */
    (void)rc;
    return (int)(intptr_t)arg;
}

static int fails_at_once(void *arg, void **result) { return (int)(intptr_t)arg; }

/* True if s names a task as task-N with N > 0 and nothing else after. */
static int is_task_n(const char *s)
{
    char *end = NULL;
    if (!s || strncmp(s, "task-", 5) != 0)
        return 0;
    unsigned long long n = strtoull(s + 5, &end, 10);
    return n > 0 && end != s + 5 && *end == 0;
}

static int main_names_after_end(void *arg, void **result)
{
    capture_reports_here();
    cio_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = spawn(returns_at_once, NULL);
    for (int i = 0; i < 3; i++)
        EXPECT_OK(cio_await(t[i], NULL)); /* ended before anyone asked its name */
    for (int i = 0; i < 3; i++)
        EXPECT_TRUE(is_task_n(cio_task_name(t[i])));
    EXPECT_TRUE(strcmp(cio_task_name(t[0]), cio_task_name(t[1])) != 0);
    EXPECT_TRUE(strcmp(cio_task_name(t[1]), cio_task_name(t[2])) != 0);
    for (int i = 0; i < 3; i++)
        cio_future_unref(t[i]);
    return 0;
}

TEST(unnamed_tasks_keep_distinct_names_after_they_end)
{
    EXPECT_OK(cio_run(main_names_after_end, NULL, NULL));
    EXPECT_NO_REPORTS();
}

static char second_bare[32], second_name[64];

static int main_group_names(void *arg, void **result)
{
    capture_reports_here();
    cio_task_group *g = NULL;
    EXPECT_OK(cio_task_group_begin(&g));
    cio_task *second = NULL;
    EXPECT_OK(cio_task_group_spawn(g, NULL, fails_with, V(-ENOENT), &second));
    EXPECT_OK(cio_task_group_spawn(g, NULL, fails_at_once, V(-EIO), NULL));
    EXPECT_ERR(-EIO, cio_task_group_end(g));
    snprintf(second_bare, sizeof second_bare, "%s", cio_task_name(second));
    snprintf(second_name, sizeof second_name, "task %s also failed", second_bare);
    cio_future_unref(second);
    return 0;
}

TEST(group_report_names_an_unnamed_child_by_its_id)
{
    EXPECT_OK(cio_run(main_group_names, NULL, NULL));
    EXPECT_TRUE(is_task_n(second_bare));
    EXPECT_REPORTS(1);
    const char *want = second_name;
    EXPECT_REPORT(want, "ENOENT");
}

static int main_unretrieved(void *arg, void **result)
{
    capture_reports_here();
    /* nobody keeps a reference or awaits it: its error is reported when its
     * future goes, after the task's state is gone */
    EXPECT_OK(cio_spawn(fails_at_once, V(-EPROTO), NULL));
    EXPECT_OK(cio_yield());
    EXPECT_OK(cio_yield());
    return 0;
}

TEST(unretrieved_error_names_an_unnamed_task_not_its_address)
{
    EXPECT_OK(cio_run(main_unretrieved, NULL, NULL));
    EXPECT_REPORTS(1);
    EXPECT_REPORT("task task-", "never retrieved");
    EXPECT_TRUE(find_report("0x", NULL) < 0);
    EXPECT_TRUE(find_report("task-0:", NULL) < 0);
}

int main(int argc, char **argv) { return test_main(argc, argv); }
