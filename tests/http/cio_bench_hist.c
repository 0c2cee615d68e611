/* White-box test of cio-bench's latency histogram (tools/cio-bench.c,
 * compiled in with its main renamed): bucket indexes grow with the value,
 * every value lies in its bucket and within 1/128 of the bucket's highest
 * value, percentiles of known distributions, merging, the mean and
 * standard deviation from the buckets, values past the range. Built and
 * registered by tools/CMakeLists.txt (CTest http_cio_bench_hist): it needs
 * the tool's llhttp, which the test glob's programs do not link. */
#define main cio_bench_main
#include "../../tools/cio-bench.c"
#undef main

static int failures;
#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond);                             \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static hist *fresh(void)
{
    hist *h = calloc(1, sizeof *h);
    if (!h) abort();
    h->min = UINT64_MAX;
    return h;
}

/* |got - want| <= want * rel */
static bool near(double got, double want, double rel)
{
    return fabs(got - want) <= want * rel;
}

int main(void)
{
    /* Indexes: monotonic, in range, each value inside its bucket. */
    unsigned prev = 0;
    uint64_t top = UINT64_C(1) << H_MAX_BITS;
    for (uint64_t v = 0; v < top; v = v < 100000 ? v + 1 : v + v / 997 + 1) {
        unsigned i = h_index(v);
        EXPECT(i >= prev && i < H_BUCKETS, "v %llu index %u after %u", (unsigned long long)v, i,
               prev);
        prev = i;
        uint64_t hi = h_value(i);
        EXPECT(hi >= v && (double)(hi - v) <= (double)v / 128 + 1, "v %llu bucket top %llu",
               (unsigned long long)v, (unsigned long long)hi);
        EXPECT(i == 0 || h_value(i - 1) < v, "v %llu also in bucket %u", (unsigned long long)v,
               i - 1);
    }
    EXPECT(h_index(top - 1) == H_BUCKETS - 1, "last index %u", h_index(top - 1));
    EXPECT(h_index(top * 4) == H_BUCKETS - 1, "past the range: %u", h_index(top * 4));
    EXPECT(h_index(UINT64_MAX) == H_BUCKETS - 1, "UINT64_MAX: %u", h_index(UINT64_MAX));

    /* Uniform 1..100000 us: percentiles within 1 %, exact min and max. */
    hist *h = fresh();
    for (uint64_t k = 1; k <= 100000; k++) h_record(h, k * 1000);
    h_finish(h);
    EXPECT(h->n == 100000, "n %llu", (unsigned long long)h->n);
    EXPECT(h->min == 1000 && h->max == 100000000, "min %llu max %llu",
           (unsigned long long)h->min, (unsigned long long)h->max);
    const double ps[] = {50, 90, 99, 99.9};
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++) {
        double want = ps[i] * 1000 * 1000;
        double got = (double)h_percentile(h, ps[i]);
        EXPECT(near(got, want, 0.01) && got >= want, "p%g: %.0f, want %.0f", ps[i], got, want);
    }
    EXPECT(h_percentile(h, 100) == h->max, "p100 %llu", (unsigned long long)h_percentile(h, 100));
    EXPECT(near(h->mean, 50000500, 0.005), "mean %.0f", h->mean);
    EXPECT(near(h->stdev, 28867513, 0.01), "stdev %.0f", h->stdev);

    /* Merging two halves gives the whole. */
    hist *a = fresh(), *b = fresh(), *m = fresh();
    for (uint64_t k = 1; k <= 100000; k++) h_record(k % 2 ? a : b, k * 1000);
    h_merge(m, a);
    h_merge(m, b);
    h_finish(m);
    EXPECT(m->n == h->n && m->min == h->min && m->max == h->max, "merged n %llu",
           (unsigned long long)m->n);
    EXPECT(memcmp(m->count, h->count, sizeof m->count) == 0, "merged buckets differ");

    /* One slow request in 1000: p99.9 and max see it, p99 does not. */
    hist *t = fresh();
    for (int k = 0; k < 999; k++) h_record(t, 200000);
    h_record(t, 2000000000);
    h_finish(t);
    EXPECT(near((double)h_percentile(t, 99), 200000, 0.01), "p99 %llu",
           (unsigned long long)h_percentile(t, 99));
    EXPECT(h_percentile(t, 99.9) == 200000 || near((double)h_percentile(t, 99.9), 200000, 0.01),
           "p99.9 of 1000 is the 999th: %llu", (unsigned long long)h_percentile(t, 99.9));
    EXPECT(h_percentile(t, 99.95) == 2000000000, "p99.95 %llu",
           (unsigned long long)h_percentile(t, 99.95));
    EXPECT(t->max == 2000000000, "max %llu", (unsigned long long)t->max);

    /* A value past the range: counted in the last bucket, exact max kept. */
    hist *x = fresh();
    h_record(x, top * 3);
    h_finish(x);
    EXPECT(x->n == 1 && x->count[H_BUCKETS - 1] == 1 && x->max == top * 3, "past the range");
    EXPECT(h_percentile(x, 50) == top * 3, "p50 of one %llu", (unsigned long long)h_percentile(x, 50));

    /* Empty: zeros. */
    hist *e = fresh();
    h_finish(e);
    EXPECT(e->n == 0 && h_percentile(e, 99) == 0 && e->mean == 0, "empty");

    free(h), free(a), free(b), free(m), free(t), free(x), free(e);
    if (failures) {
        fprintf(stderr, "cio-bench histogram: %d failure(s)\n", failures);
        return 1;
    }
    printf("cio-bench histogram: all checks passed\n");
    return 0;
}
