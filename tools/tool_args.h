/* What the command-line tools (cio-serve, cio-bench) share for their
 * arguments: the usage error and a bounded integer. Each tool defines
 * TOOL_NAME before including this. */
#ifndef CIO_TOOL_ARGS_H
#define CIO_TOOL_ARGS_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

/* Prints "TOOL: " fmt (with what) and the hint to --help; returns 2, the
 * exit status of a usage error. */
static int bad(const char *fmt, const char *what)
{
    fprintf(stderr, TOOL_NAME ": ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\nTry '" TOOL_NAME " --help'.\n");
    return 2;
}

/* s as a decimal integer in lo..hi, nothing else in it. */
static bool parse_long(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

#endif
