/* callback.c: a callback is a function handed to another function, which
 * calls it with the result. C's closure is the void *arg beside it. */
#include <stdio.h>

typedef void (*result_cb)(int result, void *arg);

static void add(int x, int y, result_cb callback, void *arg)
{
    callback(x + y, arg);
}

static void call_back(int result, void *arg)
{
    printf("%s %d\n", (const char *)arg, result);
}

int main(void)
{
    add(2, 3, call_back, "The result is:");
    return 0;
}
