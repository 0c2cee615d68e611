/* Queues: FIFO / LIFO / priority order (stable for equal keys), bounded
 * puts that block and resume in order, nowait forms, task_done / join,
 * 3.13 shutdown (drain, immediate), cancellation and deadlines of waiting
 * getters and putters with no lost item or slot, -EPERM outside a task,
 * -EBUSY on free with waiters, and a model check of the storage. */
#include "sync/sync_util.h"

static cio_queue *Q;

/* ---- order -------------------------------------------------------------------- */

static int order_main(void *arg, void **result)
{
    for (int i = 1; i <= 5; i++)
        EXPECT_OK(cio_queue_put(Q, V(i)));
    EXPECT_EQ(5, cio_queue_size(Q));
    for (int i = 0; i < 5; i++) {
        void *item;
        EXPECT_OK(cio_queue_get(Q, &item));
        LOG("%d", (int)U(item));
    }
    EXPECT_TRUE(cio_queue_is_empty(Q));
    return 0;
}

TEST(queue_fifo_and_lifo_order)
{
    EXPECT_OK(cio_queue_new(CIO_QUEUE_FIFO, 0, NULL, &Q));
    RUN(order_main, NULL);
    EXPECT_OK(cio_queue_free(Q));
    LOG("|");
    EXPECT_OK(cio_queue_new(CIO_QUEUE_LIFO, 0, NULL, &Q));
    RUN(order_main, NULL);
    EXPECT_OK(cio_queue_free(Q));
    EXPECT_LOG("12345|54321");
}

struct prio_item {
    int key, id;
};

static int prio_cmp(const void *a, const void *b)
{
    const struct prio_item *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}

TEST(queue_priority_order_is_stable)
{
    EXPECT_OK(cio_queue_new(CIO_QUEUE_PRIORITY, 0, prio_cmp, &Q));
    /* keys with many ties, put out of order: equal keys come out by id */
    enum { N = 200 };
    static struct prio_item items[N];
    for (int i = 0; i < N; i++) {
        items[i].key = (i * 7919) % 5;
        items[i].id = i;
        EXPECT_OK(cio_queue_put_nowait(Q, &items[i]));
    }
    struct prio_item *prev = NULL;
    for (int i = 0; i < N; i++) {
        void *p;
        EXPECT_OK(cio_queue_get_nowait(Q, &p));
        struct prio_item *it = p;
        if (prev)
            EXPECT_TRUE(prev->key < it->key || (prev->key == it->key && prev->id < it->id));
        prev = it;
    }
    void *p;
    EXPECT_ERR(-EAGAIN, cio_queue_get_nowait(Q, &p));
    EXPECT_OK(cio_queue_free(Q));
    EXPECT_ERR(-EINVAL, cio_queue_new(CIO_QUEUE_PRIORITY, 0, NULL, &Q));
    EXPECT_ERR(-EINVAL, cio_queue_new((cio_queue_kind)7, 0, NULL, &Q));
}

TEST(queue_nowait_and_sizes)
{
    EXPECT_OK(cio_queue_new(CIO_QUEUE_FIFO, 2, NULL, &Q));
    EXPECT_EQ(2, cio_queue_maxsize(Q));
    EXPECT_TRUE(cio_queue_is_empty(Q));
    EXPECT_FALSE(cio_queue_is_full(Q));
    void *item = V(99);
    EXPECT_ERR(-EAGAIN, cio_queue_get_nowait(Q, &item));
    EXPECT_PTR_EQ(V(99), item);
    EXPECT_OK(cio_queue_put_nowait(Q, V(1)));
    EXPECT_OK(cio_queue_put_nowait(Q, V(2)));
    EXPECT_TRUE(cio_queue_is_full(Q));
    EXPECT_ERR(-EAGAIN, cio_queue_put_nowait(Q, V(3)));
    EXPECT_EQ(2, cio_queue_size(Q));
    EXPECT_OK(cio_queue_get_nowait(Q, &item));
    EXPECT_PTR_EQ(V(1), item);
    /* outside a task, waits are -EPERM and change nothing */
    EXPECT_ERR(-EPERM, cio_queue_put(Q, V(4)));
    EXPECT_ERR(-EPERM, cio_queue_get(Q, &item));
    EXPECT_PTR_EQ(V(1), item);
    EXPECT_ERR(-EPERM, cio_queue_join(Q));
    EXPECT_EQ(1, cio_queue_size(Q));
    EXPECT_OK(cio_queue_free(Q));

    EXPECT_OK(cio_queue_new(CIO_QUEUE_FIFO, 0, NULL, &Q));
    EXPECT_EQ(0, cio_queue_maxsize(Q));
    for (int i = 0; i < 100000; i++)
        EXPECT_OK(cio_queue_put_nowait(Q, V(i)));
    EXPECT_FALSE(cio_queue_is_full(Q)); /* unbounded: never full */
    for (int i = 0; i < 100000; i++) {
        EXPECT_OK(cio_queue_get_nowait(Q, &item));
        EXPECT_EQ(i, U(item));
    }
    EXPECT_OK(cio_queue_free(Q));
    EXPECT_OK(cio_queue_free(NULL));
    /* The getters and predicates of NULL: 0 and false (docs/api/README.md). */
    EXPECT_EQ(0, cio_queue_size(NULL));
    EXPECT_EQ(0, cio_queue_maxsize(NULL));
    EXPECT_FALSE(cio_queue_is_empty(NULL));
    EXPECT_FALSE(cio_queue_is_full(NULL));
}

/* ---- blocking put / get ------------------------------------------------------------ */

static int putter(void *arg, void **result)
{
    int rc = cio_queue_put(Q, arg);
    LOG("p%d:%s;", (int)U(arg), rc ? cio_err_name(rc) : "ok");
    return rc;
}

static int getter(void *arg, void **result)
{
    void *item = NULL;
    int rc = cio_queue_get(Q, &item);
    if (rc)
        LOG("g%d:%s;", (int)U(arg), cio_err_name(rc));
    else
        LOG("g%d:%d;", (int)U(arg), (int)U(item));
    return rc;
}

static int producer(void *arg, void **result)
{
    for (int i = 1; i <= 6; i++) {
        EXPECT_OK(cio_queue_put(Q, V(i)));
        LOG("put%d;", i);
    }
    return 0;
}

static int bounded_main(void *arg, void **result)
{
    cio_task *p = spawn(producer, NULL);
    yield_n(2); /* 2 fit, the third put waits */
    LOG("|");
    EXPECT_TRUE(cio_queue_is_full(Q));
    for (int i = 1; i <= 6; i++) {
        void *item;
        EXPECT_OK(cio_queue_get(Q, &item));
        EXPECT_EQ(i, U(item));
        LOG("get%d;", i);
        if (i == 1) {
            /* the freed slot is promised to the waiting putter */
            EXPECT_TRUE(cio_queue_is_full(Q));
            EXPECT_ERR(-EAGAIN, cio_queue_put_nowait(Q, V(100)));
        }
        EXPECT_OK(cio_yield());
    }
    EXPECT_OK(join_task(p));
    return 0;
}

TEST(queue_bounded_put_blocks_then_resumes)
{
    EXPECT_OK(cio_queue_new(CIO_QUEUE_FIFO, 2, NULL, &Q));
    RUN(bounded_main, NULL);
    EXPECT_LOG("put1;put2;|get1;put3;get2;put4;get3;put5;get4;put6;get5;get6;");
    EXPECT_OK(cio_queue_free(Q));
}

static int putters_fifo_main(void *arg, void **result)
{
    EXPECT_OK(cio_queue_put(Q, V(0)));
    cio_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = spawn(putter, V(i + 1));
    yield_n(2);
    EXPECT_ERR(-EBUSY, cio_queue_free(Q));
    EXPECT_OK(cio_future_cancel(t[1])); /* 2 gives up while queued */
    for (int i = 0; i < 3; i++) {       /* 0, then 3 and 4 */
        void *item;
        EXPECT_OK(cio_queue_get(Q, &item));
        LOG("get%d;", (int)U(item));
        if (i == 0) {
            EXPECT_OK(cio_future_cancel(t[0])); /* 1 had its slot reserved */
        }
        yield_n(2);
    }
    EXPECT_ERR(-ECANCELED, join_task(t[0]));
    EXPECT_ERR(-ECANCELED, join_task(t[1]));
    EXPECT_OK(join_task(t[2]));
    EXPECT_OK(join_task(t[3]));
    EXPECT_TRUE(cio_queue_is_empty(Q));
    return 0;
}

TEST(queue_putters_fifo_and_cancelled_putter_passes_slot_on)
{
    EXPECT_OK(cio_queue_new(CIO_QUEUE_FIFO, 1, NULL, &Q));
    RUN(putters_fifo_main, NULL);
    EXPECT_LOG("get0;p2:ECANCELED;p1:ECANCELED;p3:ok;get3;p4:ok;get4;");
    EXPECT_OK(cio_queue_free(Q));
}

static int getters_fifo_main(void *arg, void **result)
{
    cio_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = spawn(getter, V(i + 1));
    yield_n(2);
    EXPECT_ERR(-EBUSY, cio_queue_free(Q));
    EXPECT_OK(cio_future_cancel(t[1])); /* 2 gives up while queued */
    yield_n(2);
    EXPECT_OK(cio_queue_put(Q, V(10))); /* handed to 1 ... */
    EXPECT_TRUE(cio_queue_is_empty(Q));    /* ... so not in the queue */
    EXPECT_OK(cio_future_cancel(t[0])); /* 1 gives up: 3 gets 10 */
    /* 1 passes 10 on when it runs; a put before that goes to 3 first (the
     * getters' order holds, the items' order bends: nothing is lost) */
    yield_n(1);
    EXPECT_OK(cio_queue_put(Q, V(20)));
    EXPECT_OK(join_task(t[2]));
    EXPECT_OK(join_task(t[3]));
    EXPECT_ERR(-ECANCELED, join_task(t[0]));
    EXPECT_ERR(-ECANCELED, join_task(t[1]));
    return 0;
}

TEST(queue_getters_fifo_and_cancelled_getter_passes_item_on)
{
    EXPECT_OK(cio_queue_new(CIO_QUEUE_FIFO, 0, NULL, &Q));
    RUN(getters_fifo_main, NULL);
    EXPECT_LOG("g2:ECANCELED;g1:ECANCELED;g3:10;g4:20;");
    EXPECT_OK(cio_queue_free(Q));
}

static int give_back_main(void *arg, void **result)
{
    /* The only getter is handed an item and gives up: the item goes back
     * where the oldest item goes. */
    cio_task *t = spawn(getter, V(1));
    yield_n(2);
    EXPECT_OK(cio_queue_put(Q, V(1))); /* handed to the getter */
    EXPECT_OK(cio_queue_put(Q, V(2)));
    EXPECT_OK(cio_queue_put(Q, V(3)));
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, join_task(t));
    EXPECT_EQ(3, cio_queue_size(Q));
    for (int i = 0; i < 3; i++) {
        void *item;
        EXPECT_OK(cio_queue_get(Q, &item));
        LOG("%d", (int)U(item));
    }
    return 0;
}

TEST(queue_item_given_back_keeps_order)
{
    EXPECT_OK(cio_queue_new(CIO_QUEUE_FIFO, 0, NULL, &Q));
    RUN(give_back_main, NULL);
    EXPECT_OK(cio_queue_free(Q));
    EXPECT_LOG("g1:ECANCELED;123");
    order_len = 0;
    EXPECT_OK(cio_queue_new(CIO_QUEUE_LIFO, 0, NULL, &Q));
    RUN(give_back_main, NULL);
    EXPECT_OK(cio_queue_free(Q));
    EXPECT_LOG("g1:ECANCELED;321");
}

static struct prio_item pitems[3] = {{1, 0}, {1, 1}, {0, 2}};

static int prio_give_back_main(void *arg, void **result)
{
    cio_task *t = spawn(getter, V(1));
    yield_n(2);
    EXPECT_OK(cio_queue_put(Q, &pitems[0])); /* handed over, then given back */
    EXPECT_OK(cio_queue_put(Q, &pitems[1]));
    EXPECT_OK(cio_queue_put(Q, &pitems[2]));
    EXPECT_OK(cio_future_cancel(t));
    EXPECT_ERR(-ECANCELED, join_task(t));
    for (int i = 0; i < 3; i++) {
        void *item;
        EXPECT_OK(cio_queue_get(Q, &item));
        LOG("%d", ((struct prio_item *)item)->id);
    }
    return 0;
}

TEST(queue_priority_item_given_back_keeps_put_order)
{
    EXPECT_OK(cio_queue_new(CIO_QUEUE_PRIORITY, 0, prio_cmp, &Q));
    RUN(prio_give_back_main, NULL);
    EXPECT_OK(cio_queue_free(Q));
    EXPECT_LOG("g1:ECANCELED;201");
}

static int timeout_main(void *arg, void **result)
{
    void *item = V(7);
    cio_scope s;
    EXPECT_OK(cio_timeout_begin(&s, 0.001));
    EXPECT_ERR(-ETIMEDOUT, cio_queue_get(Q, &item));
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&s));
    /* nobody waits any more: the next put is queued, not lost */
    EXPECT_OK(cio_queue_put(Q, V(1)));
    EXPECT_EQ(1, cio_queue_size(Q));
    EXPECT_OK(cio_timeout_begin(&s, 0.001));
    EXPECT_ERR(-ETIMEDOUT, cio_queue_put(Q, V(2))); /* maxsize 1: full */
    EXPECT_ERR(-ETIMEDOUT, cio_scope_end(&s));
    EXPECT_OK(cio_queue_get(Q, &item));
    EXPECT_PTR_EQ(V(1), item);
    EXPECT_TRUE(cio_queue_is_empty(Q));
    EXPECT_FALSE(cio_queue_is_full(Q));
    EXPECT_OK(cio_queue_put_nowait(Q, V(3)));
    EXPECT_OK(cio_queue_get(Q, &item));
    EXPECT_PTR_EQ(V(3), item);
    return 0;
}

TEST(queue_timeout_while_waiting)
{
    EXPECT_OK(cio_queue_new(CIO_QUEUE_FIFO, 1, NULL, &Q));
    RUN(timeout_main, NULL);
    EXPECT_OK(cio_queue_free(Q));
}

/* ---- task_done and join --------------------------------------------------------------- */

static int joiner(void *arg, void **result)
{
    int rc = cio_queue_join(Q);
    LOG("j%d:%s;", (int)U(arg), rc ? cio_err_name(rc) : "ok");
    return rc;
}

static int join_main(void *arg, void **result)
{
    EXPECT_ERR(-EINVAL, cio_queue_task_done(Q));
    EXPECT_OK(cio_queue_join(Q)); /* nothing put: at once */
    EXPECT_OK(cio_queue_put(Q, V(1)));
    EXPECT_OK(cio_queue_put(Q, V(2)));
    cio_task *j[2] = {spawn(joiner, V(1)), spawn(joiner, V(2))};
    yield_n(2);
    void *item;
    EXPECT_OK(cio_queue_get(Q, &item));
    EXPECT_OK(cio_queue_get(Q, &item));
    LOG("got;");
    yield_n(2); /* empty is not enough: items are not done */
    LOG("done1;");
    EXPECT_OK(cio_queue_task_done(Q));
    yield_n(2);
    EXPECT_ERR(-EBUSY, cio_queue_free(Q));
    LOG("done2;");
    EXPECT_OK(cio_queue_task_done(Q));
    EXPECT_ERR(-EINVAL, cio_queue_task_done(Q)); /* one more than put */
    EXPECT_OK(join_task(j[0]));
    EXPECT_OK(join_task(j[1]));
    /* a cancelled joiner leaves quietly */
    EXPECT_OK(cio_queue_put_nowait(Q, V(3)));
    cio_task *jc = spawn(joiner, V(3));
    yield_n(2);
    EXPECT_OK(cio_future_cancel(jc));
    EXPECT_ERR(-ECANCELED, join_task(jc));
    EXPECT_OK(cio_queue_get_nowait(Q, &item));
    EXPECT_OK(cio_queue_task_done(Q));
    return 0;
}

TEST(queue_task_done_and_join)
{
    EXPECT_OK(cio_queue_new(CIO_QUEUE_FIFO, 0, NULL, &Q));
    RUN(join_main, NULL);
    EXPECT_LOG("got;done1;done2;j1:ok;j2:ok;j3:ECANCELED;");
    EXPECT_OK(cio_queue_free(Q));
}

/* ---- shutdown ------------------------------------------------------------------------------ */

static int shutdown_main(void *arg, void **result)
{
    /* waiting getters fail at shutdown (the queue is empty) */
    cio_task *g = spawn(getter, V(1));
    yield_n(2);
    cio_queue_shutdown(Q, false);
    EXPECT_ERR(-ESHUTDOWN, join_task(g));
    cio_queue_free(Q);
    EXPECT_OK(cio_queue_new(CIO_QUEUE_FIFO, 2, NULL, &Q));

    /* waiting putters fail, the items queued drain, then gets fail */
    EXPECT_OK(cio_queue_put(Q, V(1)));
    EXPECT_OK(cio_queue_put(Q, V(2)));
    cio_task *p[2] = {spawn(putter, V(3)), spawn(putter, V(4))};
    yield_n(2);
    LOG("shutdown;");
    cio_queue_shutdown(Q, false);
    EXPECT_ERR(-ESHUTDOWN, join_task(p[0]));
    EXPECT_ERR(-ESHUTDOWN, join_task(p[1]));
    EXPECT_ERR(-ESHUTDOWN, cio_queue_put(Q, V(5)));
    EXPECT_ERR(-ESHUTDOWN, cio_queue_put_nowait(Q, V(5)));
    void *item;
    EXPECT_OK(cio_queue_get(Q, &item));
    EXPECT_PTR_EQ(V(1), item);
    EXPECT_OK(cio_queue_get_nowait(Q, &item));
    EXPECT_PTR_EQ(V(2), item);
    EXPECT_ERR(-ESHUTDOWN, cio_queue_get(Q, &item));
    EXPECT_ERR(-ESHUTDOWN, cio_queue_get_nowait(Q, &item));
    /* join after shutdown: still waits for task_done */
    cio_task *j = spawn(joiner, V(1));
    yield_n(2);
    LOG("done;");
    EXPECT_OK(cio_queue_task_done(Q));
    EXPECT_OK(cio_queue_task_done(Q));
    EXPECT_OK(join_task(j));
    return 0;
}

TEST(queue_shutdown_drains_then_fails)
{
    EXPECT_OK(cio_queue_new(CIO_QUEUE_FIFO, 0, NULL, &Q));
    RUN(shutdown_main, NULL);
    EXPECT_LOG("g1:ESHUTDOWN;shutdown;p3:ESHUTDOWN;p4:ESHUTDOWN;done;j1:ok;");
    EXPECT_OK(cio_queue_free(Q));
}

static int shutdown_reserved_main(void *arg, void **result)
{
    /* A putter woken with a reserved slot that runs after the shutdown
     * fails too; the getter that was handed an item before it keeps it. */
    EXPECT_OK(cio_queue_put(Q, V(1)));
    cio_task *p = spawn(putter, V(2));
    yield_n(2);
    void *item;
    EXPECT_OK(cio_queue_get(Q, &item)); /* reserves the slot for p */
    cio_queue_shutdown(Q, false);
    EXPECT_ERR(-ESHUTDOWN, join_task(p));
    EXPECT_TRUE(cio_queue_is_empty(Q));
    EXPECT_OK(cio_queue_task_done(Q));
    EXPECT_ERR(-EINVAL, cio_queue_task_done(Q));
    return 0;
}

TEST(queue_shutdown_with_reserved_slot)
{
    EXPECT_OK(cio_queue_new(CIO_QUEUE_FIFO, 1, NULL, &Q));
    RUN(shutdown_reserved_main, NULL);
    EXPECT_LOG("p2:ESHUTDOWN;");
    EXPECT_OK(cio_queue_free(Q));
}

static int immediate_main(void *arg, void **result)
{
    for (int i = 1; i <= 3; i++)
        EXPECT_OK(cio_queue_put(Q, V(i)));
    cio_task *p = spawn(putter, V(4));
    cio_task *j = spawn(joiner, V(1));
    yield_n(2);
    LOG("shutdown;");
    cio_queue_shutdown(Q, true);
    EXPECT_TRUE(cio_queue_is_empty(Q));
    EXPECT_OK(join_task(j)); /* the dropped items count as done */
    EXPECT_ERR(-ESHUTDOWN, join_task(p));
    void *item;
    EXPECT_ERR(-ESHUTDOWN, cio_queue_get(Q, &item));
    EXPECT_ERR(-ESHUTDOWN, cio_queue_get_nowait(Q, &item));
    EXPECT_ERR(-ESHUTDOWN, cio_queue_put(Q, V(5)));
    EXPECT_ERR(-EINVAL, cio_queue_task_done(Q));
    EXPECT_OK(cio_queue_join(Q));
    return 0;
}

TEST(queue_shutdown_immediate)
{
    EXPECT_OK(cio_queue_new(CIO_QUEUE_FIFO, 3, NULL, &Q));
    RUN(immediate_main, NULL);
    EXPECT_LOG("shutdown;j1:ok;p4:ESHUTDOWN;"); /* asyncio: joiners first */
    EXPECT_OK(cio_queue_free(Q));
}

static int immediate_getters_main(void *arg, void **result)
{
    cio_task *g[2] = {spawn(getter, V(1)), spawn(getter, V(2))};
    yield_n(2);
    /* one got an item taken but not done: join waits for it */
    EXPECT_OK(cio_queue_put(Q, V(9)));
    void *item;
    EXPECT_OK(join_task(g[0]));
    cio_task *j = spawn(joiner, V(1));
    yield_n(2);
    LOG("shutdown;");
    cio_queue_shutdown(Q, true);
    EXPECT_ERR(-ESHUTDOWN, join_task(g[1]));
    yield_n(2);
    LOG("done;");
    EXPECT_OK(cio_queue_task_done(Q));
    EXPECT_OK(join_task(j));
    EXPECT_ERR(-ESHUTDOWN, cio_queue_get(Q, &item));
    return 0;
}

TEST(queue_shutdown_immediate_fails_getters)
{
    EXPECT_OK(cio_queue_new(CIO_QUEUE_LIFO, 0, NULL, &Q));
    RUN(immediate_getters_main, NULL);
    EXPECT_LOG("g1:9;shutdown;g2:ESHUTDOWN;done;j1:ok;");
    EXPECT_OK(cio_queue_free(Q));
}

/* ---- many tasks, and a model check ---------------------------------------------------------- */

static int int_cmp(const void *a, const void *b)
{
    long x = (long)U(a) >> 16, y = (long)U(b) >> 16;
    return (x > y) - (x < y);
}

enum { NPROD = 4, NCONS = 3, PER = 2000 };
static long consumed_sum, consumed_n;

static int mp_producer(void *arg, void **result)
{
    for (int i = 0; i < PER; i++)
        EXPECT_OK(cio_queue_put(Q, V(U(arg) * PER + i + 1)));
    return 0;
}

static int mp_consumer(void *arg, void **result)
{
    /* per producer, items arrive in the order they were put */
    int last[NPROD] = {0};
    for (;;) {
        void *item;
        int rc = cio_queue_get(Q, &item);
        if (rc == -ESHUTDOWN)
            return 0;
        EXPECT_OK(rc);
        long v = (long)U(item) - 1;
        int prod = (int)(v / PER), idx = (int)(v % PER) + 1;
        if (arg) /* FIFO: per producer, in put order */
            EXPECT_TRUE(idx > last[prod]);
        last[prod] = idx;
        consumed_sum += v + 1;
        consumed_n++;
        EXPECT_OK(cio_queue_task_done(Q));
        if (idx % 7 == 0)
            EXPECT_OK(cio_yield());
    }
}

static int mp_main(void *arg, void **result)
{
    cio_task *c[NCONS], *p[NPROD];
    consumed_n = consumed_sum = 0;
    for (int i = 0; i < NCONS; i++)
        c[i] = spawn(mp_consumer, arg);
    for (int i = 0; i < NPROD; i++)
        p[i] = spawn(mp_producer, V(i));
    for (int i = 0; i < NPROD; i++)
        EXPECT_OK(join_task(p[i]));
    EXPECT_OK(cio_queue_join(Q));
    cio_queue_shutdown(Q, false);
    for (int i = 0; i < NCONS; i++)
        EXPECT_OK(join_task(c[i]));
    long n = NPROD * PER;
    EXPECT_EQ(n, consumed_n);
    EXPECT_EQ(n * (n + 1) / 2, consumed_sum);
    return 0;
}

TEST(queue_many_producers_and_consumers)
{
    EXPECT_OK(cio_queue_new(CIO_QUEUE_FIFO, 5, NULL, &Q));
    RUN(mp_main, V(1));
    EXPECT_OK(cio_queue_free(Q));
    EXPECT_OK(cio_queue_new(CIO_QUEUE_LIFO, 3, NULL, &Q));
    RUN(mp_main, NULL);
    EXPECT_OK(cio_queue_free(Q));
    EXPECT_OK(cio_queue_new(CIO_QUEUE_PRIORITY, 4, int_cmp, &Q));
    RUN(mp_main, NULL);
    EXPECT_OK(cio_queue_free(Q));
}

static unsigned long long rng = 88172645463325252ull;
static unsigned long long next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Random nowait puts and gets against a plain-array model: ring wrap and
 * growth, LIFO, and a priority heap with many equal keys. */
static void model_check(cio_queue_kind kind, size_t maxsize)
{
    EXPECT_OK(cio_queue_new(kind, maxsize, kind == CIO_QUEUE_PRIORITY ? int_cmp : NULL, &Q));
    static uintptr_t model[70000];
    size_t n = 0;
    uintptr_t serial = 0;
    for (int step = 0; step < 200000; step++) {
        /* phases that favour puts, then gets, so the size swings widely */
        bool put = (next_rand() % 100) < ((step / 5000) % 2 ? 30u : 70u);
        if (put) {
            uintptr_t v = ((next_rand() % 8) << 16) | (++serial & 0xffff);
            int rc = cio_queue_put_nowait(Q, V(v));
            if (maxsize && n == maxsize) {
                EXPECT_ERR(-EAGAIN, rc);
                continue;
            }
            EXPECT_OK(rc);
            model[n++] = v;
        } else {
            void *item;
            int rc = cio_queue_get_nowait(Q, &item);
            if (n == 0) {
                EXPECT_ERR(-EAGAIN, rc);
                continue;
            }
            EXPECT_OK(rc);
            size_t at;
            if (kind == CIO_QUEUE_FIFO) {
                at = 0;
            } else if (kind == CIO_QUEUE_LIFO) {
                at = n - 1;
            } else {
                at = 0; /* smallest key, earliest put among equals */
                for (size_t i = 1; i < n; i++)
                    if ((model[i] >> 16) < (model[at] >> 16))
                        at = i;
            }
            EXPECT_EQ(model[at], U(item));
            memmove(model + at, model + at + 1, (n - at - 1) * sizeof *model);
            n--;
        }
        EXPECT_EQ(n, cio_queue_size(Q));
        if (serial >= 0xffff)
            serial = 0; /* keeps values unique within the live window */
    }
    EXPECT_OK(cio_queue_free(Q));
}

TEST(queue_model_check)
{
    model_check(CIO_QUEUE_FIFO, 0);
    model_check(CIO_QUEUE_FIFO, 100);
    model_check(CIO_QUEUE_FIFO, 4096);
    model_check(CIO_QUEUE_LIFO, 0);
    model_check(CIO_QUEUE_LIFO, 37);
    model_check(CIO_QUEUE_PRIORITY, 0);
    model_check(CIO_QUEUE_PRIORITY, 50);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv);
}
