/* The load clients' key=value options (netload, tlsload): parsed from
 * argv[first..], each looked up by name, and any the mode did not use
 * refused. KV_PROG names the program in messages; define it first. */
#ifndef BENCH_CLIENT_KVOPTS_H
#define BENCH_CLIENT_KVOPTS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef KV_PROG
#error "define KV_PROG before including kvopts.h"
#endif

#define MAX_KEYS 16

static struct {
    const char *key[MAX_KEYS];
    const char *val[MAX_KEYS];
    bool used[MAX_KEYS];
    int n;
} opts;

/* Reads argv[first..argc) as key=value; returns false (after saying why)
 * on anything else. The values point into argv. */
static bool kv_parse(int first, int argc, char **argv)
{
    for (int i = first; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq || opts.n == MAX_KEYS) {
            fprintf(stderr, KV_PROG ": expected key=value, got %s\n", argv[i]);
            return false;
        }
        *eq = '\0';
        opts.key[opts.n] = argv[i];
        opts.val[opts.n++] = eq + 1;
    }
    return true;
}

static const char *opt_str(const char *key, const char *def)
{
    for (int i = 0; i < opts.n; i++)
        if (strcmp(opts.key[i], key) == 0) {
            opts.used[i] = true;
            return opts.val[i];
        }
    return def;
}

static double opt_num(const char *key, double def)
{
    const char *s = opt_str(key, NULL);
    if (!s)
        return def;
    char *end;
    double v = strtod(s, &end);
    if (*end != '\0' || v < 0) {
        fprintf(stderr, KV_PROG ": bad value for %s: %s\n", key, s);
        exit(2);
    }
    return v;
}

static void check_opts_used(void)
{
    for (int i = 0; i < opts.n; i++)
        if (!opts.used[i]) {
            fprintf(stderr, KV_PROG ": unknown option %s for this mode\n", opts.key[i]);
            exit(2);
        }
}

#endif
