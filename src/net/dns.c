/* Asynchronous name resolution: cio_resolver_*, cio_dns_* (c-ares).
 *
 * A resolver is one c-ares channel driven by its loop; no thread is used.
 *
 * Sockets. c-ares makes its sockets through our socket functions
 * (ares_set_socket_functions): non-blocking and close-on-exec from the
 * start. A socket c-ares reports through its state callback gets an edge
 * registration (struct cio__nfd, opened lazily: it enters the backend at
 * its first arm) kept for the socket's whole life:
 * the channel has ARES_FLAG_STAYOPEN, so its UDP socket is reused by
 * every query and the registration is made once. c-ares expects
 * level-triggered readiness; the registration is edge-triggered. So our
 * recvfrom/sendv wrappers clear a direction's ready bit when the kernel
 * says EAGAIN, and after every processing any socket c-ares wants that
 * is still marked ready (TCP: c-ares reads one piece per call) is
 * processed again. UDP is read until EAGAIN by c-ares itself.
 *
 * Live work. The sockets are armed, and the one loop timer (c-ares'
 * timeouts, re-armed from ares_timeout) runs, only while a lookup is
 * active, i.e. a task or a callback waits for it: an idle resolver does
 * not keep its loop alive, and its registrations cost nothing. A lookup
 * whose task gave up (deadline, cancellation) or whose callback was
 * cancelled is abandoned: its state stays with c-ares until the answer
 * comes, which is then dropped; once no lookup is active any more, the
 * abandoned ones are cancelled in c-ares (ares_cancel), which frees them.
 *
 * The timer. Every c-ares deadline is at least `timeout` seconds after
 * the query's send, so the timer armed for the earliest deadline stays
 * right while new queries come: it is re-armed only when it fired, or
 * when a query sent now could end before it (now + timeout < its time).
 * So a steady stream of lookups costs no timer work per lookup.
 *
 * Results. A task's lookup writes its addresses straight into the
 * caller's array (on the suspended task's stack) from c-ares' callback and
 * completes the task's future with the count; a lookup the task abandoned
 * has its pointers cleared first, so a late answer touches nothing of the
 * task's. A callback lookup's result waits on the resolver's done list
 * until the loop delivers it: right after the processing that produced
 * it, or from a queued callback when it completed inside a call of ours
 * (an /etc/hosts hit, a numeric host, a cancellation), never inside the
 * caller's call and never inside c-ares. Lookup states come from a free
 * list: no allocation per lookup beyond c-ares' own.
 *
 * What c-ares is not asked to do. It would read /etc/hosts at every
 * lookup and connect a UDP socket per address of every answer to sort
 * them (RFC 6724): nine system calls a lookup besides the query's two.
 * Here /etc/hosts is kept in memory (read again when it changed, looked
 * at once a second at most), c-ares gets lookups "b" and ARES_AI_NOSORT,
 * and answers of two addresses or more are sorted here, the same way. So
 * is "localhost" (RFC 6761), which c-ares 1.18 answers from the file only.
 * Reverse lookups send their PTR query with ares_query: ares_gethostbyaddr
 * reports every failure, a timeout too, as ARES_ENOTFOUND. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <ares.h>

#include <cio/dns.h>

#include "../common/opts.h"
#include "internal.h"

#define RW (CIO_READABLE | CIO_WRITABLE)

/* ---- Types ------------------------------------------------------------------- */

enum { Q_FREE, Q_ACTIVE, Q_ABANDONED, Q_DONE, Q_CANCELLED };
enum { K_TASK, K_CB, K_REVERSE };

struct cio_dns_query {
    struct cio_dns_query *next; /* the free list, or the done list */
    cio_resolver *r;
    uint8_t state, kind;
    uint16_t port;
    /* K_TASK / K_REVERSE: the waiting task's future and its buffers
     * (NULL once abandoned). */
    cio_future *fut;
    cio_addr *out;
    size_t max;
    char *name;
    size_t namelen;
    /* K_CB: the callback, and once done its result. */
    cio_dns_cb cb;
    void *arg;
    int status;
    struct ares_addrinfo *ai; /* kept until delivered */
    cio_addr two[2];          /* room for a short answer found without a query */
    cio_addr *res;            /* such an answer: two, or allocated */
};

/* A name of /etc/hosts and one of its addresses (port 0). */
struct hosts_ent {
    cio_addr a;
    size_t name; /* offset in hosts_text */
};

/* A socket of c-ares that it asked to be watched. */
struct dns_sock {
    struct cio__nfd n; /* on_event: sock_event; owner: the resolver */
    struct dns_sock *next;
    uint8_t want; /* what c-ares wants (its state callback) */
};

struct cio_resolver {
    cio_loop *loop;
    ares_channel ch;
    struct dns_sock *socks;
    struct cio_dns_query *free_q;
    struct cio_dns_query *done_head, *done_tail;
    cio_addr *scratch; /* callback delivery's array */
    size_t nscratch;
    unsigned active;   /* lookups a task or callback still waits for */
    unsigned inflight; /* lookups c-ares holds (active and abandoned) */
    int in_ares;       /* inside a call into c-ares */
    int draining;      /* inside deliver() */
    double timeout;    /* seconds: the first try's */
    double timer_at;   /* loop time the timer fires at */
    cio_handle timer;
    bool timer_on;
    bool queued;     /* kick() is in the loop's queue */
    bool dead;       /* cio_resolver_free (or the loop's end) was called */
    bool loop_gone;  /* the loop closed: no more loop calls */
    bool is_default; /* the loop's default (freed with it) */
    bool no_hosts;   /* skip /etc/hosts */
    bool freed;      /* not the default: cio_resolver_free was called */
    /* Not the default: on the loop's list (net->resolvers), so that the
     * loop's end ends it, until it is released. */
    cio_resolver *lnext, **lprev;
    /* /etc/hosts, read at the first lookup and again when it changed
     * (hosts_refresh): c-ares would read the file at every lookup. */
    struct hosts_ent *hosts;
    char *hosts_text;
    size_t nhosts;
    bool hosts_loaded;
    double hosts_checked; /* loop time of the last stat */
    ino_t hosts_ino;
    off_t hosts_size;
    struct timespec hosts_mtime;
};

static void settle(cio_resolver *r, bool may_deliver);

/* ---- Errors ----------------------------------------------------------------- */

static int map_status(int st)
{
    switch (st) {
    case ARES_SUCCESS:
        return 0;
    case ARES_ENODATA:
        return -ENODATA;
    case ARES_ENOTFOUND:
    case ARES_ENONAME:
        return -ENOENT;
    case ARES_ETIMEOUT:
        return -ETIMEDOUT;
    case ARES_ESERVFAIL:
        return -EAGAIN;
    case ARES_EREFUSED:
    case ARES_ECONNREFUSED:
        return -ECONNREFUSED;
    case ARES_EBADRESP:
    case ARES_EFORMERR:
    case ARES_ENOTIMP:
        return -EPROTO;
    case ARES_EBADNAME:
    case ARES_EBADFAMILY:
    case ARES_EBADFLAGS:
    case ARES_EBADHINTS:
    case ARES_EBADQUERY:
    case ARES_EBADSTR:
    case ARES_ESERVICE:
        return -EINVAL;
    case ARES_ENOMEM:
        return -ENOMEM;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
        return -ECANCELED;
    default:
        return -EIO;
    }
}

/* ---- Socket functions ---------------------------------------------------------- */

static struct dns_sock *sock_find(cio_resolver *r, int fd)
{
    for (struct dns_sock *s = r->socks; s; s = s->next)
        if (s->n.fd == fd)
            return s;
    return NULL;
}

static ares_socket_t s_socket(int domain, int type, int protocol, void *arg)
{
    (void)arg;
    int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    return fd < 0 ? ARES_SOCKET_BAD : fd;
}

static void sock_drop(cio_resolver *r, int fd)
{
    for (struct dns_sock **p = &r->socks; *p; p = &(*p)->next) {
        if ((*p)->n.fd == fd) {
            struct dns_sock *s = *p;
            *p = s->next;
            cio__nfd_close(&s->n);
            free(s);
            return;
        }
    }
}

static int s_close(ares_socket_t fd, void *arg)
{
    sock_drop(arg, fd);
    return close(fd);
}

static int s_connect(ares_socket_t fd, const struct sockaddr *sa, ares_socklen_t len, void *arg)
{
    (void)arg;
    return connect(fd, sa, len);
}

static ares_ssize_t s_recvfrom(ares_socket_t fd, void *buf, size_t len, int flags,
                               struct sockaddr *from, ares_socklen_t *fromlen, void *arg)
{
    ssize_t n = recvfrom(fd, buf, len, flags, from, fromlen);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        int e = errno;
        struct dns_sock *s = sock_find(arg, fd);
        if (s)
            cio__nfd_clear(&s->n, CIO_READABLE);
        errno = e;
    }
    return n;
}

static ares_ssize_t s_sendv(ares_socket_t fd, const struct iovec *iov, int n, void *arg)
{
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
    ssize_t rc = sendmsg(fd, &m, MSG_NOSIGNAL);
    if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        int e = errno;
        struct dns_sock *s = sock_find(arg, fd);
        if (s)
            cio__nfd_clear(&s->n, CIO_WRITABLE);
        errno = e;
    }
    return rc;
}

static const struct ares_socket_functions sock_funcs = {
    .asocket = s_socket,
    .aclose = s_close,
    .aconnect = s_connect,
    .arecvfrom = s_recvfrom,
    .asendv = s_sendv,
};

/* ---- Driving c-ares -------------------------------------------------------------- */

/* Runs c-ares on rfd/wfd (ARES_SOCKET_BAD: none; both: timeouts only),
 * then again on every socket it wants that is still ready, then settles. */
static void process(cio_resolver *r, int rfd, int wfd)
{
    r->in_ares++;
    ares_process_fd(r->ch, rfd, wfd);
    for (int round = 0; round < 16; round++) {
        struct dns_sock *s;
        int go = 0;
        for (s = r->socks; s; s = s->next)
            if ((go = s->want & s->n.ready & RW) != 0)
                break;
        if (!s)
            break;
        int fd = s->n.fd;
        ares_process_fd(r->ch, (go & CIO_READABLE) ? fd : ARES_SOCKET_BAD,
                        (go & CIO_WRITABLE) ? fd : ARES_SOCKET_BAD);
    }
    r->in_ares--;
    settle(r, true);
}

static void sock_event(struct cio__nfd *n, int events)
{
    struct dns_sock *s = (struct dns_sock *)n;
    cio_resolver *r = n->owner;
    if (r->dead)
        return;
    int fd = n->fd;
    int rfd = (events & (CIO_READABLE | CIO_IOERR)) ? fd : ARES_SOCKET_BAD;
    int wfd = (events & (CIO_WRITABLE | CIO_IOERR)) && (s->want & CIO_WRITABLE) ? fd
                                                                               : ARES_SOCKET_BAD;
    if (rfd == ARES_SOCKET_BAD && wfd == ARES_SOCKET_BAD)
        return;
    process(r, rfd, wfd); /* may close s */
}

static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    cio_resolver *r = data;
    struct dns_sock *s = sock_find(r, fd);
    uint8_t want = (uint8_t)((readable ? CIO_READABLE : 0) | (writable ? CIO_WRITABLE : 0));
    if (!s) {
        if (!want || r->loop_gone)
            return;
        s = calloc(1, sizeof *s);
        if (!s)
            return; /* its queries time out */
        s->n.on_event = sock_event;
        s->n.owner = r;
        cio__nfd_open_lazy(&s->n, r->loop, fd);
        s->next = r->socks;
        r->socks = s;
    }
    s->want = want; /* armed by settle() */
}

static void timer_fired(void *arg)
{
    cio_resolver *r = arg;
    r->timer_on = false;
    process(r, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

static void timer_stop(cio_resolver *r)
{
    if (r->timer_on) {
        r->timer_on = false;
        if (!r->loop_gone)
            cio_timer_cancel(r->loop, r->timer);
    }
}

static void timer_update(cio_resolver *r)
{
    if (!r->active) {
        timer_stop(r);
        return;
    }
    double now = cio_loop_time(r->loop);
    if (r->timer_on && now + r->timeout >= r->timer_at)
        return; /* nothing sent since can end before it */
    struct timeval tv, *t = ares_timeout(r->ch, NULL, &tv);
    timer_stop(r);
    if (!t)
        return;
    double delay = (double)t->tv_sec + (double)t->tv_usec / 1e6;
    if (cio_call_later(r->loop, delay, timer_fired, r, &r->timer) == 0) {
        r->timer_on = true;
        r->timer_at = now + delay;
    }
}

static void arm_all(cio_resolver *r)
{
    for (struct dns_sock *s = r->socks; s; s = s->next)
        cio__nfd_arm(&s->n, r->active ? s->want : 0);
}

static void deliver(cio_resolver *r);
static void resolver_release(cio_resolver *r);

/* The queued callback: processes sockets c-ares wants that are ready (a
 * TCP write c-ares asked for on a socket already writable) and delivers
 * callback results. */
static void kick(void *arg)
{
    cio_resolver *r = arg;
    r->queued = false;
    if (r->dead)
        settle(r, true); /* delivers what is left, then frees r */
    else
        process(r, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

static void queue_kick(cio_resolver *r)
{
    if (r->queued || r->loop_gone)
        return;
    if (cio_call_soon(r->loop, kick, r) == 0)
        r->queued = true;
}

/* After every call into c-ares from outside it: drops the abandoned
 * lookups once nothing is active, sets the timer and the arms, and
 * delivers callback results (may_deliver: from the loop) or queues their
 * delivery. */
static void settle(cio_resolver *r, bool may_deliver)
{
    if (r->in_ares)
        return;
    bool pending = false;
    if (!r->dead) {
        if (!r->active && r->inflight) {
            r->in_ares++;
            ares_cancel(r->ch); /* only abandoned ones are left: frees them */
            r->in_ares--;
        }
        timer_update(r);
        arm_all(r);
        /* Still ready after process()'s bounded rounds (a TCP socket
         * holding more answers than they read: no new edge will come for
         * them), or writable when c-ares asked: go on from the loop. */
        if (r->active)
            for (struct dns_sock *s = r->socks; s; s = s->next)
                if (s->want & s->n.ready & RW)
                    pending = true;
    }
    if (r->done_head && may_deliver && !r->draining)
        deliver(r); /* may free the resolver from a callback: r->dead */
    if (r->done_head && !r->draining)
        pending = true;
    if (pending)
        queue_kick(r);
    if (r->dead)
        resolver_release(r); /* unless still queued or delivering */
}

/* ---- RFC 6724: the order to try addresses in ------------------------------------- */

/* The policy table's precedence and label of an address (IPv4 as
 * ::ffff:a.b.c.d), and its scope (RFC 6724 sections 2.1 and 3.2). */
struct sort_key {
    int precedence, label, scope;
};

static struct sort_key addr_key(const cio_addr *a)
{
    if (a->u.sa.sa_family == AF_INET) {
        uint32_t ip = ntohl(a->u.in4.sin_addr.s_addr);
        bool link = (ip >> 24) == 127 || (ip >> 16) == 0xa9fe; /* loopback, 169.254/16 */
        return (struct sort_key){35, 4, link ? 2 : 14};
    }
    const unsigned char *b = a->u.in6.sin6_addr.s6_addr;
    struct sort_key k = {40, 1, 14};
    if (b[0] == 0xff)
        k.scope = b[1] & 15;
    else if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
        k.scope = 2;
    else if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
        k.scope = 5;
    static const unsigned char zero12[12];
    if (IN6_IS_ADDR_LOOPBACK(&a->u.in6.sin6_addr)) {
        k = (struct sort_key){50, 0, 2};
    } else if (IN6_IS_ADDR_V4MAPPED(&a->u.in6.sin6_addr)) {
        k.precedence = 35, k.label = 4;
    } else if (b[0] == 0x20 && b[1] == 0x02) {
        k.precedence = 30, k.label = 2; /* 6to4 */
    } else if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0) {
        k.precedence = 5, k.label = 5; /* Teredo */
    } else if ((b[0] & 0xfe) == 0xfc) {
        k.precedence = 3, k.label = 13; /* ULA */
    } else if (memcmp(b, zero12, 12) == 0) {
        k.precedence = 1, k.label = 3; /* IPv4-compatible */
    } else if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) {
        k.precedence = 1, k.label = 11; /* site-local */
    } else if (b[0] == 0x3f && b[1] == 0xfe) {
        k.precedence = 1, k.label = 12; /* 6bone */
    }
    return k;
}

struct sort_elem {
    cio_addr dst, src;
    bool has_src;
    size_t index;
    struct sort_key d, s;
};

static int common_prefix(const struct in6_addr *a, const struct in6_addr *b)
{
    int n = 0;
    for (int i = 0; i < 16; i++) {
        unsigned char x = a->s6_addr[i] ^ b->s6_addr[i];
        if (!x) {
            n += 8;
            continue;
        }
        while (!(x & 0x80)) {
            x <<= 1;
            n++;
        }
        break;
    }
    return n;
}

/* Rules 1, 2, 5, 6, 8, 9, 10 of RFC 6724 section 6 (c-ares' and glibc's
 * set: the others need what a host cannot see from here). */
static int sort_cmp(const void *pa, const void *pb)
{
    const struct sort_elem *a = pa, *b = pb;
    if (a->has_src != b->has_src)
        return a->has_src ? -1 : 1;
    if (a->has_src) {
        bool ma = a->d.scope == a->s.scope, mb = b->d.scope == b->s.scope;
        if (ma != mb)
            return ma ? -1 : 1;
        ma = a->d.label == a->s.label, mb = b->d.label == b->s.label;
        if (ma != mb)
            return ma ? -1 : 1;
    }
    if (a->d.precedence != b->d.precedence)
        return a->d.precedence > b->d.precedence ? -1 : 1;
    if (a->d.scope != b->d.scope)
        return a->d.scope < b->d.scope ? -1 : 1;
    if (a->has_src && b->has_src && a->dst.u.sa.sa_family == AF_INET6 &&
        b->dst.u.sa.sa_family == AF_INET6) {
        int pa6 = common_prefix(&a->dst.u.in6.sin6_addr, &a->src.u.in6.sin6_addr);
        int pb6 = common_prefix(&b->dst.u.in6.sin6_addr, &b->src.u.in6.sin6_addr);
        if (pa6 != pb6)
            return pa6 > pb6 ? -1 : 1;
    }
    return a->index < b->index ? -1 : a->index > b->index;
}

/* Sorts a[0..n) into the order to try them. The source address the
 * kernel would pick for each is learnt by connecting a UDP socket to it
 * (no packet is sent): four system calls an address, so a single address
 * (the common answer) is left alone. */
static void sort_addrs(cio_addr *a, size_t n)
{
    if (n < 2)
        return;
    struct sort_elem stack[8], *e = n <= 8 ? stack : malloc(n * sizeof *e);
    if (!e)
        return; /* their order as received */
    for (size_t i = 0; i < n; i++) {
        e[i].dst = a[i];
        e[i].index = i;
        e[i].has_src = false;
        e[i].d = addr_key(&a[i]);
        int s = socket(a[i].u.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
        if (s >= 0) {
            cio_addr to = a[i];
            if (to.u.sa.sa_family == AF_INET)
                to.u.in4.sin_port = htons(9);
            else
                to.u.in6.sin6_port = htons(9);
            socklen_t len = sizeof e[i].src.u.storage;
            if (connect(s, &to.u.sa, to.len) == 0 &&
                getsockname(s, &e[i].src.u.sa, &len) == 0) {
                e[i].src.len = len;
                e[i].has_src = true;
                e[i].s = addr_key(&e[i].src);
            }
            close(s);
        }
    }
    qsort(e, n, sizeof *e, sort_cmp);
    for (size_t i = 0; i < n; i++)
        a[i] = e[i].dst;
    if (e != stack)
        free(e);
}

/* ---- /etc/hosts, kept in memory ---------------------------------------------------- */

#define HOSTS_PATH "/etc/hosts"

/* Reads /etc/hosts again if it changed (looked at once a second at
 * most: a lookup costs no system call for it). */
static void hosts_refresh(cio_resolver *r)
{
    double now = r->loop_gone ? 0 : cio_loop_time(r->loop);
    if (r->hosts_loaded && now - r->hosts_checked < 1.0 && now >= r->hosts_checked)
        return;
    r->hosts_checked = now;
    struct stat st;
    bool ok = stat(HOSTS_PATH, &st) == 0;
    if (r->hosts_loaded && ok && st.st_ino == r->hosts_ino && st.st_size == r->hosts_size &&
        st.st_mtim.tv_sec == r->hosts_mtime.tv_sec && st.st_mtim.tv_nsec == r->hosts_mtime.tv_nsec)
        return;
    free(r->hosts);
    free(r->hosts_text);
    r->hosts = NULL;
    r->hosts_text = NULL;
    r->nhosts = 0;
    r->hosts_loaded = true;
    if (!ok)
        return;
    r->hosts_ino = st.st_ino;
    r->hosts_size = st.st_size;
    r->hosts_mtime = st.st_mtim;
    FILE *f = fopen(HOSTS_PATH, "re");
    if (!f)
        return;
    size_t cap = 0, len = 0, n = 0, ncap = 0;
    char *text = NULL, line[1024];
    struct hosts_ent *v = NULL;
    while (fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *save = NULL, *ip = strtok_r(line, " \t\r\n", &save);
        cio_addr a;
        if (!ip || cio_addr_ip(ip, 0, &a) != 0)
            continue;
        for (char *name; (name = strtok_r(NULL, " \t\r\n", &save)) != NULL;) {
            size_t k = strlen(name) + 1;
            if (len + k > cap) {
                size_t c = cap ? cap * 2 : 4096;
                while (c < len + k)
                    c *= 2;
                char *t = realloc(text, c);
                if (!t)
                    goto out;
                text = t;
                cap = c;
            }
            if (n == ncap) {
                size_t c = ncap ? ncap * 2 : 16;
                struct hosts_ent *t = realloc(v, c * sizeof *t);
                if (!t)
                    goto out;
                v = t;
                ncap = c;
            }
            memcpy(text + len, name, k);
            v[n].a = a;
            v[n].name = len; /* an offset until the text stops moving */
            len += k;
            n++;
        }
    }
out:
    fclose(f);
    r->hosts = v;
    r->hosts_text = text;
    r->nhosts = n;
}

static const char *hosts_name(const cio_resolver *r, size_t i)
{
    return r->hosts_text + r->hosts[i].name;
}

/* The addresses /etc/hosts gives host for family, sorted, with port, in
 * r->scratch: their count (0: none, or no memory). */
static size_t hosts_find(cio_resolver *r, const char *host, uint16_t port, int family)
{
    hosts_refresh(r);
    size_t hl = strlen(host);
    if (hl && host[hl - 1] == '.')
        hl--;
    size_t n = 0;
    for (size_t i = 0; i < r->nhosts; i++) {
        const cio_addr *a = &r->hosts[i].a;
        const char *name = hosts_name(r, i);
        if ((family != AF_UNSPEC && a->u.sa.sa_family != family) || strlen(name) != hl ||
            strncasecmp(name, host, hl) != 0)
            continue;
        bool dup = false; /* ports are all 0 until the end */
        for (size_t j = 0; j < n && !dup; j++)
            dup = cio_addr_is_equal(&r->scratch[j], a);
        if (dup)
            continue;
        if (n == r->nscratch) {
            size_t c = r->nscratch ? r->nscratch * 2 : 8;
            cio_addr *p = realloc(r->scratch, c * sizeof *p);
            if (!p)
                return 0;
            r->scratch = p;
            r->nscratch = c;
        }
        r->scratch[n++] = *a;
    }
    for (size_t j = 0; j < n; j++) {
        if (r->scratch[j].u.sa.sa_family == AF_INET)
            r->scratch[j].u.in4.sin_port = htons(port);
        else
            r->scratch[j].u.in6.sin6_port = htons(port);
    }
    sort_addrs(r->scratch, n);
    return n;
}

/* The first name /etc/hosts gives the address ip (family) into host:
 * 1 found, 0 not, -ENAMETOOLONG. */
static int hosts_reverse(cio_resolver *r, int family, const void *ip, char *host, size_t len)
{
    hosts_refresh(r);
    for (size_t i = 0; i < r->nhosts; i++) {
        const cio_addr *a = &r->hosts[i].a;
        if (a->u.sa.sa_family != family)
            continue;
        const void *b = family == AF_INET ? (const void *)&a->u.in4.sin_addr
                                          : (const void *)&a->u.in6.sin6_addr;
        if (memcmp(b, ip, family == AF_INET ? 4 : 16) != 0)
            continue;
        const char *name = hosts_name(r, i);
        size_t n = strlen(name);
        if (n >= len)
            return -ENAMETOOLONG;
        memcpy(host, name, n + 1);
        return 1;
    }
    return 0;
}

/* ---- Lookup states ----------------------------------------------------------------- */

static struct cio_dns_query *q_get(cio_resolver *r)
{
    struct cio_dns_query *q = r->free_q;
    if (q)
        r->free_q = q->next;
    else if (!(q = malloc(sizeof *q)))
        return NULL;
    q->next = NULL;
    q->r = r;
    q->fut = NULL;
    q->out = NULL;
    q->name = NULL;
    q->cb = NULL;
    q->ai = NULL;
    q->res = NULL;
    q->status = 0;
    return q;
}

static void q_put(cio_resolver *r, struct cio_dns_query *q)
{
    if (q->res && q->res != q->two)
        free(q->res);
    q->res = NULL;
    q->state = Q_FREE;
    q->next = r->free_q;
    r->free_q = q;
}

static void done_push(cio_resolver *r, struct cio_dns_query *q)
{
    q->next = NULL;
    if (r->done_tail)
        r->done_tail->next = q;
    else
        r->done_head = q;
    r->done_tail = q;
}

/* The addresses of ai with port set, at most max of them, into out. */
static size_t convert(const struct ares_addrinfo *ai, uint16_t port, cio_addr *out, size_t max)
{
    size_t n = 0;
    for (const struct ares_addrinfo_node *p = ai ? ai->nodes : NULL; p && n < max; p = p->ai_next) {
        cio_addr *a = &out[n];
        if (p->ai_family == AF_INET && p->ai_addrlen >= sizeof(struct sockaddr_in)) {
            memset(a, 0, sizeof *a);
            memcpy(&a->u.in4, p->ai_addr, sizeof a->u.in4);
            a->u.in4.sin_port = htons(port);
            a->len = sizeof a->u.in4;
            n++;
        } else if (p->ai_family == AF_INET6 && p->ai_addrlen >= sizeof(struct sockaddr_in6)) {
            memset(a, 0, sizeof *a);
            memcpy(&a->u.in6, p->ai_addr, sizeof a->u.in6);
            a->u.in6.sin6_port = htons(port);
            a->len = sizeof a->u.in6;
            n++;
        }
    }
    return n;
}

static size_t count_nodes(const struct ares_addrinfo *ai)
{
    size_t n = 0;
    for (const struct ares_addrinfo_node *p = ai ? ai->nodes : NULL; p; p = p->ai_next)
        n++;
    return n;
}

/* RFC 6761: "localhost" and the names under it are the loopback
 * addresses, also when /etc/hosts does not say so; they are never sent to
 * a server (c-ares 1.18 would not send them either, and fail). ::1 first,
 * as RFC 6724 sorts them. */
static size_t loopback(int family, uint16_t port, cio_addr *out, size_t max)
{
    size_t n = 0;
    if (family != AF_INET && n < max) {
        memset(&out[n], 0, sizeof out[n]);
        out[n].u.in6.sin6_family = AF_INET6;
        out[n].u.in6.sin6_addr = in6addr_loopback;
        out[n].u.in6.sin6_port = htons(port);
        out[n].len = sizeof out[n].u.in6;
        n++;
    }
    if (family != AF_INET6 && n < max) {
        memset(&out[n], 0, sizeof out[n]);
        out[n].u.in4.sin_family = AF_INET;
        out[n].u.in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        out[n].u.in4.sin_port = htons(port);
        out[n].len = sizeof out[n].u.in4;
        n++;
    }
    return n;
}

static bool is_localhost(const char *name)
{
    size_t n = strlen(name);
    if (n && name[n - 1] == '.')
        n--;
    static const char lh[] = "localhost";
    size_t k = sizeof lh - 1;
    if (n < k || strncasecmp(name + n - k, lh, k) != 0)
        return false;
    return n == k || name[n - k - 1] == '.';
}

/* r->scratch holds at least n addresses (false: no memory). */
static bool scratch_room(cio_resolver *r, size_t n)
{
    if (n <= r->nscratch)
        return true;
    cio_addr *p = realloc(r->scratch, n * sizeof *p);
    if (!p)
        return false;
    r->scratch = p;
    r->nscratch = n;
    return true;
}

static void complete(cio_future *f, int n)
{
    if (n < 0)
        cio_future_set_error(f, n);
    else
        cio_future_set_result(f, (void *)(intptr_t)n, NULL);
}

/* c-ares' answer to a forward lookup. */
static void ai_done(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
    (void)timeouts;
    struct cio_dns_query *q = arg;
    cio_resolver *r = q->r;
    r->inflight--;
    if (q->state != Q_ACTIVE) { /* abandoned */
        if (ai)
            ares_freeaddrinfo(ai);
        q_put(r, q);
        return;
    }
    r->active--;
    int rc = map_status(status);
    if (q->kind == K_TASK) {
        if (rc == 0) {
            size_t total = count_nodes(ai), n;
            if (total <= q->max) {
                n = convert(ai, q->port, q->out, q->max);
                sort_addrs(q->out, n);
            } else if (scratch_room(r, total)) {
                n = convert(ai, q->port, r->scratch, total);
                sort_addrs(r->scratch, n);
                n = n < q->max ? n : q->max;
                memcpy(q->out, r->scratch, n * sizeof *q->out);
            } else {
                n = convert(ai, q->port, q->out, q->max); /* unsorted */
            }
            rc = n ? (int)n : -ENODATA;
        }
        if (ai)
            ares_freeaddrinfo(ai);
        if (!r->loop_gone)
            complete(q->fut, rc);
        q_put(r, q);
        return;
    }
    if (rc == 0) {
        size_t n = count_nodes(ai);
        rc = n ? (n > INT32_MAX ? INT32_MAX : (int)n) : -ENODATA;
    }
    q->status = rc;
    if (rc < 0 && ai) {
        ares_freeaddrinfo(ai);
        ai = NULL;
    }
    q->ai = ai;
    q->state = Q_DONE;
    done_push(r, q);
}

/* c-ares' answer to a reverse lookup's PTR query (ares_query, not
 * ares_gethostbyaddr, which turns every failure into ARES_ENOTFOUND). */
static void ptr_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    struct cio_dns_query *q = arg;
    cio_resolver *r = q->r;
    r->inflight--;
    if (q->state != Q_ACTIVE) {
        q_put(r, q);
        return;
    }
    r->active--;
    int rc = map_status(status);
    if (rc == 0) {
        struct hostent *h = NULL;
        int st = ares_parse_ptr_reply(abuf, alen, NULL, 0, AF_INET, &h);
        if (st != ARES_SUCCESS) {
            rc = map_status(st);
        } else if (!h || !h->h_name || !h->h_name[0]) {
            rc = -ENOENT;
        } else {
            size_t n = strlen(h->h_name);
            if (n >= q->namelen)
                rc = -ENAMETOOLONG;
            else
                memcpy(q->name, h->h_name, n + 1);
        }
        if (h)
            ares_free_hostent(h);
    }
    if (!r->loop_gone)
        complete(q->fut, rc);
    q_put(r, q);
}

/* Calls the callbacks of the lookups on the done list, from the loop. */
static void deliver(cio_resolver *r)
{
    r->draining++;
    struct cio_dns_query *q;
    while ((q = r->done_head) != NULL) {
        r->done_head = q->next;
        if (!r->done_head)
            r->done_tail = NULL;
        if (q->state == Q_DONE) {
            q->state = Q_FREE; /* cio_dns_cancel from the callback: too late */
            int st = q->status;
            const cio_addr *addrs = NULL;
            size_t n = 0;
            if (st > 0 && q->ai) {
                size_t want = count_nodes(q->ai);
                n = scratch_room(r, want) ? convert(q->ai, q->port, r->scratch, want) : 0;
                sort_addrs(r->scratch, n);
                st = n ? (int)n : -ENOMEM;
                addrs = n ? r->scratch : NULL;
            } else if (st > 0) {
                addrs = q->res;
                n = (size_t)st;
            } else if (st == 0) {
                st = -ENODATA;
            }
            if (st < 0) {
                addrs = NULL;
                n = 0;
            }
            if (q->ai)
                ares_freeaddrinfo(q->ai);
            q->ai = NULL;
            /* addrs stay valid during the call: q (off every list, and
             * Q_FREE) is put back after it, and the scratch array is
             * taken from the resolver meanwhile (a lookup the callback
             * starts may use a new one). */
            cio_addr *buf = NULL;
            size_t nbuf = 0;
            if (addrs && addrs == r->scratch) {
                buf = r->scratch;
                nbuf = r->nscratch;
                r->scratch = NULL;
                r->nscratch = 0;
            }
            q->cb(st, addrs, n, q->arg);
            if (buf) {
                if (r->nscratch < nbuf) {
                    free(r->scratch);
                    r->scratch = buf;
                    r->nscratch = nbuf;
                } else {
                    free(buf);
                }
            }
            q_put(r, q);
        } else {
            if (q->ai)
                ares_freeaddrinfo(q->ai);
            q->ai = NULL;
            q_put(r, q);
        }
    }
    r->draining--;
}

/* ---- Resolvers ---------------------------------------------------------------------- */

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_status;

static void lib_init(void) { lib_status = ares_library_init(ARES_LIB_INIT_ALL); }

/* Parses "1.2.3.4", "1.2.3.4:53", "[::1]", "[::1]:53", "::1" into a
 * c-ares server node. */
static int parse_server(const char *s, size_t len, struct ares_addr_port_node *nd)
{
    char buf[INET6_ADDRSTRLEN + 16];
    if (len == 0 || len >= sizeof buf)
        return -EINVAL;
    memcpy(buf, s, len);
    buf[len] = 0;
    char *host = buf, *port = NULL;
    if (buf[0] == '[') {
        char *end = strchr(buf, ']');
        if (!end)
            return -EINVAL;
        *end = 0;
        host = buf + 1;
        if (end[1] == ':')
            port = end + 2;
        else if (end[1] != 0)
            return -EINVAL;
        if (inet_pton(AF_INET6, host, &nd->addr.addr6) != 1)
            return -EINVAL;
        nd->family = AF_INET6;
    } else if (inet_pton(AF_INET6, buf, &nd->addr.addr6) == 1) {
        nd->family = AF_INET6; /* bare IPv6, no port */
    } else {
        char *colon = strchr(buf, ':');
        if (colon) {
            *colon = 0;
            port = colon + 1;
        }
        if (inet_pton(AF_INET, host, &nd->addr.addr4) != 1)
            return -EINVAL;
        nd->family = AF_INET;
    }
    int p = 53;
    if (port) {
        if (!*port || strlen(port) > 5)
            return -EINVAL;
        p = 0;
        for (const char *c = port; *c; c++) {
            if (*c < '0' || *c > '9')
                return -EINVAL;
            p = p * 10 + (*c - '0');
        }
        if (p < 1 || p > 65535)
            return -EINVAL;
    }
    nd->udp_port = nd->tcp_port = p;
    nd->next = NULL;
    return 0;
}

static int parse_servers(const char *list, struct ares_addr_port_node **out)
{
    *out = NULL;
    struct ares_addr_port_node *head = NULL, **tail = &head;
    int rc = 0;
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        struct ares_addr_port_node *nd = calloc(1, sizeof *nd);
        if (!nd) {
            rc = -ENOMEM;
            break;
        }
        *tail = nd;
        tail = &nd->next;
        if ((rc = parse_server(p, len, nd)) != 0)
            break;
        if (!end)
            break;
        p = end + 1;
    }
    if (rc) {
        while (head) {
            struct ares_addr_port_node *n = head->next;
            free(head);
            head = n;
        }
        return rc;
    }
    *out = head;
    return 0;
}

static void free_servers(struct ares_addr_port_node *n)
{
    while (n) {
        struct ares_addr_port_node *next = n->next;
        free(n);
        n = next;
    }
}

/* Splits "a.example,b.example" into domains (one allocation: the
 * pointers, then the text). "" gives none. */
static int parse_search(const char *list, char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    if (!*list)
        return 0;
    size_t len = strlen(list);
    int count = 1;
    for (const char *c = list; *c; c++)
        if (*c == ',')
            count++;
    char **v = malloc((size_t)count * sizeof *v + len + 1);
    if (!v)
        return -ENOMEM;
    char *text = (char *)(v + count);
    memcpy(text, list, len + 1);
    int i = 0;
    for (char *s = text;;) {
        char *end = strchr(s, ',');
        if (end)
            *end = 0;
        if (!*s || strlen(s) > 253) {
            free(v);
            return -EINVAL;
        }
        v[i++] = s;
        if (!end)
            break;
        s = end + 1;
    }
    *out = v;
    *n = count;
    return 0;
}

static int resolver_make(cio_loop *loop, const cio_resolver_options *opts, bool is_default,
                         cio_resolver **out)
{
    cio_resolver_options o = {.size = sizeof o};
    int rc = cio__opts_copy(&o, sizeof o, opts);
    if (rc)
        return rc;
    if (!(o.timeout >= 0) || isinf(o.timeout) || o.timeout > 86400.0 || o.tries < 0 ||
        o.ndots < 0)
        return -EINVAL;
    struct ares_addr_port_node *servers = NULL;
    if (o.servers && (rc = parse_servers(o.servers, &servers)) != 0)
        return rc;
    char **domains = NULL;
    int ndomains = 0;
    if (o.search && (rc = parse_search(o.search, &domains, &ndomains)) != 0) {
        free_servers(servers);
        return rc;
    }
    pthread_once(&lib_once, lib_init);
    if (lib_status != ARES_SUCCESS) {
        rc = map_status(lib_status);
        goto out;
    }
    cio_resolver *r = calloc(1, sizeof *r);
    if (!r) {
        rc = -ENOMEM;
        goto out;
    }
    r->loop = loop;
    r->is_default = is_default;
    r->no_hosts = o.no_hosts;
    struct ares_options ao;
    memset(&ao, 0, sizeof ao);
    int mask = ARES_OPT_FLAGS | ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS;
    ao.flags = ARES_FLAG_STAYOPEN;
    ao.sock_state_cb = sock_state;
    ao.sock_state_cb_data = r;
    ao.lookups = (char *)"b"; /* /etc/hosts is read here (hosts_find) */
    if (o.timeout > 0) {
        double ms = ceil(o.timeout * 1000.0);
        ao.timeout = ms < 1 ? 1 : (int)ms;
        mask |= ARES_OPT_TIMEOUTMS;
    }
    if (o.tries > 0) {
        ao.tries = o.tries;
        mask |= ARES_OPT_TRIES;
    }
    if (o.ndots > 0) {
        ao.ndots = o.ndots;
        mask |= ARES_OPT_NDOTS;
    }
    if (o.search) {
        ao.domains = domains;
        ao.ndomains = ndomains;
        mask |= ARES_OPT_DOMAINS;
    }
    if (o.rotate)
        mask |= ARES_OPT_ROTATE;
    int st = ares_init_options(&r->ch, &ao, mask);
    if (st != ARES_SUCCESS) {
        rc = st == ARES_EFILE ? -EIO : map_status(st);
        free(r);
        goto out;
    }
    ares_set_socket_functions(r->ch, &sock_funcs, r);
    if (servers && (st = ares_set_servers_ports(r->ch, servers)) != ARES_SUCCESS) {
        rc = map_status(st);
        ares_destroy(r->ch);
        free(r);
        goto out;
    }
    /* c-ares 1.18 answers a server's SERVFAIL, REFUSED or NOTIMP by trying
     * the next server, and once all failed reports ARES_ECONNREFUSED
     * whatever they said. With one server there is no other to try: its
     * answer is then passed on as it is (-EAGAIN for SERVFAIL). */
    struct ares_addr_port_node *list = NULL;
    if (ares_get_servers_ports(r->ch, &list) == ARES_SUCCESS) {
        int nservers = 0;
        for (struct ares_addr_port_node *p = list; p; p = p->next)
            nservers++;
        ares_free_data(list);
        if (nservers == 1) {
            ares_destroy(r->ch);
            r->ch = NULL;
            ao.flags |= ARES_FLAG_NOCHECKRESP;
            st = ares_init_options(&r->ch, &ao, mask);
            if (st == ARES_SUCCESS) {
                ares_set_socket_functions(r->ch, &sock_funcs, r);
                if (servers)
                    st = ares_set_servers_ports(r->ch, servers);
            }
            if (st != ARES_SUCCESS) {
                rc = map_status(st);
                if (r->ch)
                    ares_destroy(r->ch);
                free(r);
                goto out;
            }
        }
    }
    /* The first try's timeout, for the timer (timer_update). */
    struct ares_options saved;
    int smask = 0;
    r->timeout = 0.001;
    if (ares_save_options(r->ch, &saved, &smask) == ARES_SUCCESS) {
        if (smask & ARES_OPT_TIMEOUTMS)
            r->timeout = saved.timeout / 1000.0;
        else if (smask & ARES_OPT_TIMEOUT)
            r->timeout = saved.timeout;
        ares_destroy_options(&saved);
    }
    if (!is_default) {
        struct cio__net *net = cio__net_get(loop);
        if (!net) {
            ares_destroy(r->ch);
            free(r);
            rc = -ENOMEM;
            goto out;
        }
        r->lnext = net->resolvers;
        if (r->lnext)
            r->lnext->lprev = &r->lnext;
        r->lprev = &net->resolvers;
        net->resolvers = r;
    }
    *out = r;
    rc = 0;
out:
    free_servers(servers);
    free(domains);
    return rc;
}

int cio_resolver_new(const cio_resolver_options *opts, cio_resolver **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    cio_loop *loop = cio__running_loop();
    if (!loop)
        return -EPERM;
    cio__net_init_process();
    return resolver_make(loop, opts, false, out);
}

static void list_remove(cio_resolver *r)
{
    if (!r->lprev)
        return;
    *r->lprev = r->lnext;
    if (r->lnext)
        r->lnext->lprev = r->lprev;
    r->lprev = NULL;
    r->lnext = NULL;
}

static void resolver_release(cio_resolver *r)
{
    if (r->draining || r->queued || r->done_head)
        return;
    if (!r->is_default && !r->freed)
        return; /* ended with its loop: its cio_resolver_free frees it */
    list_remove(r);
    while (r->free_q) {
        struct cio_dns_query *q = r->free_q;
        r->free_q = q->next;
        free(q);
    }
    free(r->scratch);
    free(r->hosts);
    free(r->hosts_text);
    free(r);
}

/* Ends every lookup (-ECANCELED) and the channel. */
static void resolver_kill(cio_resolver *r)
{
    r->dead = true;
    if (r->ch) {
        r->in_ares++;
        ares_cancel(r->ch);
        ares_destroy(r->ch);
        r->in_ares--;
        r->ch = NULL;
    }
    timer_stop(r);
    /* ares_destroy closed every socket (s_close dropped them). */
    while (r->socks)
        sock_drop(r, r->socks->n.fd);
}

void cio_resolver_free(cio_resolver *r)
{
    if (!r || r->is_default || r->freed)
        return;
    r->freed = true;
    if (r->dead) {
        /* Ended with its loop already (cio__dns_loop_end). */
        if (!r->draining)
            resolver_release(r);
        return;
    }
    resolver_kill(r);
    if (r->done_head && !r->draining) {
        queue_kick(r);
        if (!r->queued)
            deliver(r); /* no memory to queue it: deliver now */
    }
    if (!r->draining)
        resolver_release(r); /* else the delivery's settle() does */
}

void cio__dns_loop_end(struct cio_resolver *r)
{
    if (!r)
        return;
    list_remove(r); /* the loop's list goes with it */
    r->loop_gone = true;
    r->queued = false; /* the loop dropped what it had queued */
    resolver_kill(r);
    deliver(r); /* the loop is gone: from its end */
    resolver_release(r); /* a resolver of the caller's not yet freed stays */
}

/* The resolver to use on the running loop: r, or the loop's default. */
static int pick_on(cio_loop *loop, cio_resolver **rp)
{
    if (!loop)
        return -EPERM;
    if (*rp) {
        if ((*rp)->loop != loop || (*rp)->dead)
            return -EINVAL;
        return 0;
    }
    if (cio__loop_closed(loop))
        return -EINVAL;
    struct cio__net *net = cio__net_get(loop);
    if (!net)
        return -ENOMEM;
    if (!net->dns) {
        cio__net_init_process();
        int rc = resolver_make(loop, NULL, true, &net->dns);
        if (rc)
            return rc;
    }
    *rp = net->dns;
    return 0;
}

/* The resolver to use on the running loop: r, or the loop's default. */
static int pick(cio_resolver **rp) { return pick_on(cio__running_loop(), rp); }

/* ---- Lookups ---------------------------------------------------------------------------- */

/* A name c-ares may be given: 1 to 253 characters (a final dot aside),
 * labels of 1 to 63. */
static bool name_ok(const char *host)
{
    size_t n = strlen(host);
    if (n && host[n - 1] == '.')
        n--;
    if (n == 0 || n > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        if (host[i] == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (++label > 63 || (unsigned char)host[i] <= ' ') {
            return false;
        }
    }
    return label > 0;
}

static bool family_ok(int family)
{
    return family == AF_UNSPEC || family == AF_INET || family == AF_INET6;
}

/* A numeric host: 1 (*a set), 0 (not numeric), or -ENODATA (another
 * family than asked). */
static int numeric(const char *host, uint16_t port, int family, cio_addr *a)
{
    if (cio_addr_ip(host, port, a) != 0)
        return 0;
    if (family != AF_UNSPEC && family != a->u.sa.sa_family)
        return -ENODATA;
    return 1;
}

/* Starts a forward lookup of q in c-ares. */
static void start_ai(cio_resolver *r, struct cio_dns_query *q, const char *host, int family)
{
    struct ares_addrinfo_hints h;
    memset(&h, 0, sizeof h);
    h.ai_family = family;
    h.ai_flags = ARES_AI_NOSORT; /* sorted here, when there is more than one */
    q->state = Q_ACTIVE;
    r->active++;
    r->inflight++;
    r->in_ares++;
    ares_getaddrinfo(r->ch, host, NULL, &h, ai_done, q);
    r->in_ares--;
}

int cio_dns_resolve(cio_resolver *r, const char *host, uint16_t port, int family, cio_addr *out,
                    size_t max)
{
    if (!host || !out || max == 0 || !family_ok(family))
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    int rc = pick(&r);
    if (rc)
        return rc;
    if ((rc = numeric(host, port, family, out)) != 0)
        return rc;
    if (!name_ok(host))
        return -EINVAL;
    /* Answered without a query, without suspending: /etc/hosts, then
     * localhost's rule. */
    size_t n = r->no_hosts ? 0 : hosts_find(r, host, port, family);
    if (n) {
        n = n < max ? n : max;
        memcpy(out, r->scratch, n * sizeof *out);
        return (int)n;
    }
    if (is_localhost(host))
        return (int)loopback(family, port, out, max);
    struct cio_dns_query *q = q_get(r);
    if (!q)
        return -ENOMEM;
    cio_future *f;
    if ((rc = cio_future_new(r->loop, &f)) != 0) {
        q_put(r, q);
        return rc;
    }
    q->kind = K_TASK;
    q->fut = f;
    q->out = out;
    q->max = max;
    q->port = port;
    start_ai(r, q, host, family);
    settle(r, false);
    void *res = NULL;
    rc = cio_await(f, &res);
    if (!cio_future_is_done(f)) {
        /* Gave up (deadline, cancellation): q and r are still alive (an
         * answer or the resolver's end would have completed f). */
        q->fut = NULL;
        q->out = NULL;
        q->state = Q_ABANDONED;
        r->active--;
        settle(r, false);
    } else if (rc == 0) {
        rc = (int)(intptr_t)res;
    }
    cio_future_unref(f);
    return rc;
}

int cio_dns_resolve_cb(cio_resolver *r, const char *host, uint16_t port, int family,
                       cio_dns_cb cb, void *arg, cio_dns_query **out)
{
    /* r's loop, or the running one's default (r NULL). */
    cio_loop *loop = r ? r->loop : cio__running_loop();
    return cio__dns_resolve_cb_on(loop, r, host, port, family, cb, arg, out);
}

int cio__dns_resolve_cb_on(cio_loop *loop, cio_resolver *r, const char *host, uint16_t port,
                           int family, cio_dns_cb cb, void *arg, cio_dns_query **out)
{
    if (out)
        *out = NULL;
    if (!host || !cb || !family_ok(family))
        return -EINVAL;
    int rc = pick_on(loop, &r);
    if (rc)
        return rc;
    struct cio_dns_query *q = q_get(r);
    if (!q)
        return -ENOMEM;
    q->kind = K_CB;
    q->cb = cb;
    q->arg = arg;
    q->port = port;
    rc = numeric(host, port, family, &q->two[0]);
    if (rc == 0 && !name_ok(host)) {
        q_put(r, q);
        return -EINVAL;
    }
    if (rc == 0) {
        /* /etc/hosts, then localhost's rule. */
        size_t n = r->no_hosts ? 0 : hosts_find(r, host, port, family);
        if (n) {
            cio_addr *res = n <= 2 ? q->two : malloc(n * sizeof *res);
            if (!res) {
                q_put(r, q);
                return -ENOMEM;
            }
            memcpy(res, r->scratch, n * sizeof *res);
            q->res = res;
            rc = n > INT32_MAX ? INT32_MAX : (int)n;
        } else if (is_localhost(host)) {
            rc = (int)loopback(family, port, q->two, 2);
        }
    }
    if (rc != 0) {
        /* Answered without a query, delivered from the loop. */
        if (!q->res)
            q->res = q->two;
        q->status = rc;
        q->state = Q_DONE;
        done_push(r, q);
    } else {
        start_ai(r, q, host, family);
    }
    if (out)
        *out = q;
    settle(r, false);
    if (q->state == Q_DONE && !r->queued && !r->draining && r->done_head == q &&
        r->done_tail == q) {
        /* Could not queue its delivery (no memory): undo. */
        r->done_head = r->done_tail = NULL;
        if (q->ai)
            ares_freeaddrinfo(q->ai);
        q_put(r, q);
        if (out)
            *out = NULL;
        return -ENOMEM;
    }
    return 0;
}

int cio_dns_cancel(cio_dns_query *q)
{
    if (!q)
        return -EINVAL;
    cio_resolver *r = q->r;
    if (q->state == Q_ACTIVE) {
        q->state = Q_ABANDONED;
        q->cb = NULL;
        r->active--;
        settle(r, false);
    } else if (q->state == Q_DONE) {
        q->state = Q_CANCELLED; /* deliver() frees it */
    }
    return 0;
}

/* The PTR name of ip: "4.3.2.1.in-addr.arpa" or 32 nibbles ".ip6.arpa". */
static void ptr_name(int family, const unsigned char *ip, char *out, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    if (family == AF_INET) {
        snprintf(out, len, "%u.%u.%u.%u.in-addr.arpa", ip[3], ip[2], ip[1], ip[0]);
        return;
    }
    char *p = out;
    for (int i = 15; i >= 0; i--) {
        *p++ = hex[ip[i] & 15];
        *p++ = '.';
        *p++ = hex[ip[i] >> 4];
        *p++ = '.';
    }
    memcpy(p, "ip6.arpa", sizeof "ip6.arpa");
}

int cio_dns_reverse(cio_resolver *r, const cio_addr *addr, char *host, size_t len)
{
    if (!addr || !host || len == 0)
        return -EINVAL;
    int family = addr->len ? addr->u.sa.sa_family : AF_UNSPEC;
    const void *ip;
    if (family == AF_INET && addr->len >= sizeof(struct sockaddr_in))
        ip = &addr->u.in4.sin_addr;
    else if (family == AF_INET6 && addr->len >= sizeof(struct sockaddr_in6))
        ip = &addr->u.in6.sin6_addr;
    else
        return -EINVAL;
    if (!cio_current_task())
        return -EPERM;
    int rc = pick(&r);
    if (rc)
        return rc;
    if (!r->no_hosts && (rc = hosts_reverse(r, family, ip, host, len)) != 0)
        return rc < 0 ? rc : 0;
    char name[80];
    ptr_name(family, ip, name, sizeof name);
    struct cio_dns_query *q = q_get(r);
    if (!q)
        return -ENOMEM;
    cio_future *f;
    if ((rc = cio_future_new(r->loop, &f)) != 0) {
        q_put(r, q);
        return rc;
    }
    q->kind = K_REVERSE;
    q->fut = f;
    q->name = host;
    q->namelen = len;
    q->state = Q_ACTIVE;
    r->active++;
    r->inflight++;
    r->in_ares++;
    ares_query(r->ch, name, 1 /* C_IN */, 12 /* T_PTR */, ptr_done, q);
    r->in_ares--;
    settle(r, false);
    rc = cio_await(f, NULL);
    if (!cio_future_is_done(f)) {
        q->fut = NULL;
        q->name = NULL;
        q->state = Q_ABANDONED;
        r->active--;
        settle(r, false);
    }
    cio_future_unref(f);
    return rc;
}
