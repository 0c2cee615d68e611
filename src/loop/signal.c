/* Signals. One process-wide C handler per signal number marks the signal
 * pending on every loop that watches it and wakes those loops; each loop then
 * runs its own handler on its own thread, through the callback queue. The
 * handler does only async-signal-safe things: atomic operations and a
 * write(2) to the loop's eventfd.
 *
 * A loop that unregisters waits until no handler invocation is still
 * looking at it, so a loop can be freed right after its last removal even
 * while signals arrive on other threads. */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>

#include "internal.h"

#define MAX_LOOPS 256
#define MAX_SIGNO 64

static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static cio_loop *_Atomic sig_loops[MAX_LOOPS];
static _Atomic int handlers_running;
static int watchers[MAX_SIGNO + 1]; /* loops watching each signal */
static struct sigaction saved[MAX_SIGNO + 1];

static void on_signal(int signo)
{
    int saved_errno = errno;
    atomic_fetch_add(&handlers_running, 1);
    uint64_t bit = 1ull << (signo - 1);
    for (int i = 0; i < MAX_LOOPS; i++) {
        cio_loop *loop = atomic_load(&sig_loops[i]);
        if (!loop || !(atomic_load(&loop->sig_watch) & bit))
            continue;
        atomic_fetch_or(&loop->sig_pending, bit);
        atomic_store(&loop->remote_pending, 1);
        cio__loop_wake(loop);
    }
    atomic_fetch_sub(&handlers_running, 1);
    errno = saved_errno;
}

static void registry_add(cio_loop *loop)
{
    for (int i = 0; i < MAX_LOOPS; i++) {
        if (atomic_load(&sig_loops[i]) == loop)
            return;
    }
    for (int i = 0; i < MAX_LOOPS; i++) {
        cio_loop *expected = NULL;
        if (atomic_compare_exchange_strong(&sig_loops[i], &expected, loop))
            return;
    }
}

static void registry_remove(cio_loop *loop)
{
    for (int i = 0; i < MAX_LOOPS; i++) {
        if (atomic_load(&sig_loops[i]) == loop)
            atomic_store(&sig_loops[i], NULL);
    }
    while (atomic_load(&handlers_running) > 0)
        sched_yield();
}

static bool registry_full(void)
{
    for (int i = 0; i < MAX_LOOPS; i++) {
        if (!atomic_load(&sig_loops[i]))
            return false;
    }
    return true;
}

/* The synchronous fault signals: the kernel raises them on the faulting
 * instruction itself, and restarts that instruction when a handler returns.
 * Our handler only marks the signal pending and returns, so a real fault
 * would fault again forever, and cio's own stack-overflow handler (task
 * stacks) would lose its message. They cannot be handled on a loop. */
static bool fault_signal(int signo)
{
    return signo == SIGSEGV || signo == SIGBUS || signo == SIGILL || signo == SIGFPE;
}

int cio_loop_add_signal_handler(cio_loop *loop, int signo, cio_cb cb, void *arg)
{
    if (!loop || loop->closed || !cb || signo < 1 || signo > MAX_SIGNO || signo == SIGKILL ||
        signo == SIGSTOP || fault_signal(signo))
        return -EINVAL;
    int rc = cio__check_thread(loop, __func__);
    if (rc)
        return rc;
    uint64_t bit = 1ull << (signo - 1);
    loop->sig_cb[signo] = cb;
    loop->sig_arg[signo] = arg;
    if (atomic_load(&loop->sig_watch) & bit) {
        /* Replaced the handler. A user's handler for SIGUSR1 replaces debug
         * mode's task dump: the registration is the user's from now on (it
         * counts as live at close, and removing it is theirs to do). */
        if (signo == SIGUSR1)
            loop->internal_signals = 0;
        return 0;
    }
    pthread_mutex_lock(&sig_lock);
    if (loop->nsignals == 0) {
        if (registry_full()) {
            pthread_mutex_unlock(&sig_lock);
            return -ENOSPC;
        }
        registry_add(loop);
    }
    if (watchers[signo] == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART;
        sigfillset(&sa.sa_mask);
        if (sigaction(signo, &sa, &saved[signo]) < 0) {
            rc = -errno;
            if (loop->nsignals == 0)
                registry_remove(loop);
            pthread_mutex_unlock(&sig_lock);
            return rc == -EINVAL ? -EINVAL : rc;
        }
    }
    watchers[signo]++;
    atomic_fetch_or(&loop->sig_watch, bit);
    loop->nsignals++;
    pthread_mutex_unlock(&sig_lock);
    return 0;
}

int cio_loop_remove_signal_handler(cio_loop *loop, int signo)
{
    if (!loop || loop->closed || signo < 1 || signo > MAX_SIGNO)
        return -EINVAL;
    int rc = cio__check_thread(loop, __func__);
    if (rc)
        return rc;
    uint64_t bit = 1ull << (signo - 1);
    if (!(atomic_load(&loop->sig_watch) & bit))
        return -ENOENT;
    pthread_mutex_lock(&sig_lock);
    atomic_fetch_and(&loop->sig_watch, ~bit);
    atomic_fetch_and(&loop->sig_pending, ~bit);
    if (--watchers[signo] == 0)
        sigaction(signo, &saved[signo], NULL);
    if (--loop->nsignals == 0)
        registry_remove(loop);
    pthread_mutex_unlock(&sig_lock);
    loop->sig_cb[signo] = NULL;
    loop->sig_arg[signo] = NULL;
    if (signo == SIGUSR1)
        loop->internal_signals = 0; /* whoever removed it, it is gone */
    return 0;
}

void cio__signals_drain(cio_loop *loop)
{
    uint64_t bits = atomic_exchange(&loop->sig_pending, 0);
    while (bits) {
        int signo = __builtin_ctzll(bits) + 1;
        bits &= bits - 1;
        if (loop->sig_cb[signo])
            cio__ready_push(loop, loop->sig_cb[signo], loop->sig_arg[signo]);
    }
}

/* Called by close, which already refused while handlers were registered;
 * this only makes sure no signal handler can still see the loop. */
void cio__signals_close(cio_loop *loop)
{
    if (loop->nsignals == 0)
        return;
    pthread_mutex_lock(&sig_lock);
    registry_remove(loop);
    pthread_mutex_unlock(&sig_lock);
}
