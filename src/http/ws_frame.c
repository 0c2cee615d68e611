/* The WebSocket codec: frame headers, masking, UTF-8 validation and
 * permessage-deflate.
 *
 * Why not libwslay (Debian's libwslay-dev): its event API queues whole
 * messages and pulls bytes through its own recv/send callbacks, which
 * duplicates the cio_stream's buffering and flow control (a receiver that
 * stops reading must stop the socket reads, a sender must wait on the
 * stream's high-water mark, not on a library queue), and it has no
 * permessage-deflate. The codec is small, so it is written here: headers
 * are parsed in place from the bytes cio_stream_peek shows, payloads are
 * unmasked while they are copied into the message buffer (a word at a
 * time), text is validated as it arrives. */
#include "ws_frame.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- Frame headers ---------------------------------------------------------- */

int cio__ws_header_parse(const uint8_t *p, size_t n, struct cio__ws_header *h)
{
    if (n < 2)
        return 0;
    h->fin = p[0] & 0x80;
    h->rsv1 = p[0] & 0x40;
    h->rsv2 = p[0] & 0x20;
    h->rsv3 = p[0] & 0x10;
    h->opcode = p[0] & 0x0f;
    h->masked = p[1] & 0x80;
    uint64_t len = p[1] & 0x7f;
    size_t hl = 2;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = (uint64_t)p[2] << 8 | p[3];
        hl = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | p[2 + i];
        if (len >> 63)
            return -1;
        hl = 10;
    }
    if (h->masked) {
        if (n < hl + 4)
            return 0;
        memcpy(h->key, p + hl, 4);
        hl += 4;
    }
    h->len = len;
    h->hlen = hl;
    return 1;
}

size_t cio__ws_header_write(uint8_t *out, int opcode, bool fin, bool rsv1, uint64_t len,
                            const uint8_t *key)
{
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0f));
    uint8_t m = key ? 0x80 : 0;
    size_t hl;
    if (len < 126) {
        out[1] = (uint8_t)(m | len);
        hl = 2;
    } else if (len <= 0xffff) {
        out[1] = m | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        hl = 4;
    } else {
        out[1] = m | 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        hl = 10;
    }
    if (key) {
        memcpy(out + hl, key, 4);
        hl += 4;
    }
    return hl;
}

void cio__ws_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4],
                  uint64_t off)
{
    uint8_t k[4];
    for (int j = 0; j < 4; j++)
        k[j] = key[(off + (uint64_t)j) & 3];
    size_t i = 0;
    /* Bytes up to dst's 8-byte alignment one by one, so the word loop's
     * stores are aligned; the pattern is the key rotated to where the word
     * loop starts (8 is a multiple of 4: one pattern serves every word). */
    while (i < len && ((uintptr_t)(dst + i) & 7)) {
        dst[i] = src[i] ^ k[i & 3];
        i++;
    }
    uint8_t pat[8];
    for (int j = 0; j < 8; j++)
        pat[j] = k[(i + (size_t)j) & 3];
    uint64_t w;
    memcpy(&w, pat, 8);
    for (; i + 32 <= len; i += 32) {
        uint64_t x[4];
        memcpy(x, src + i, 32);
        x[0] ^= w;
        x[1] ^= w;
        x[2] ^= w;
        x[3] ^= w;
        memcpy(dst + i, x, 32);
    }
    for (; i + 8 <= len; i += 8) {
        uint64_t x;
        memcpy(&x, src + i, 8);
        x ^= w;
        memcpy(dst + i, &x, 8);
    }
    for (; i < len; i++)
        dst[i] = src[i] ^ k[i & 3];
}

/* ---- UTF-8 ------------------------------------------------------------------- */

/* A DFA over byte classes. States: 0 a boundary; 1, 2, 3 that many
 * continuation bytes (80..BF) still due; 4 after E0 (next A0..BF: no
 * overlong three-byte form); 5 after ED (next 80..9F: no surrogate); 6
 * after F0 (next 90..BF: no overlong four-byte form); 7 after F4 (next
 * 80..8F: nothing past U+10FFFF). Classes: 0 ASCII, 1 80..8F, 2 90..9F,
 * 3 A0..BF, 4 never valid (C0, C1, F5..FF), 5 C2..DF, 6 E0, 7 E1..EC and
 * EE..EF, 8 ED, 9 F0, 10 F1..F3, 11 F4. */
static const uint8_t utf8_class[256] = {
    [0x80 ... 0x8f] = 1, [0x90 ... 0x9f] = 2, [0xa0 ... 0xbf] = 3, [0xc0 ... 0xc1] = 4,
    [0xc2 ... 0xdf] = 5, [0xe0] = 6,          [0xe1 ... 0xec] = 7, [0xed] = 8,
    [0xee ... 0xef] = 7, [0xf0] = 9,          [0xf1 ... 0xf3] = 10, [0xf4] = 11,
    [0xf5 ... 0xff] = 4,
};

#define X CIO__UTF8_BAD
static const uint8_t utf8_next[8][12] = {
    /*        asc 8x 9x Ax-B  bad C2 E0 E1 ED F0 F1 F4 */
    [0] = {0, X, X, X, X, 1, 4, 2, 5, 6, 3, 7},
    [1] = {X, 0, 0, 0, X, X, X, X, X, X, X, X},
    [2] = {X, 1, 1, 1, X, X, X, X, X, X, X, X},
    [3] = {X, 2, 2, 2, X, X, X, X, X, X, X, X},
    [4] = {X, X, X, 1, X, X, X, X, X, X, X, X},
    [5] = {X, 1, 1, X, X, X, X, X, X, X, X, X},
    [6] = {X, X, 2, 2, X, X, X, X, X, X, X, X},
    [7] = {X, 2, X, X, X, X, X, X, X, X, X, X},
};
#undef X

uint8_t cio__utf8_step(uint8_t state, const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (state == 0) {
            /* ASCII runs a word at a time. */
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, s + i, 8);
                if (w & 0x8080808080808080ull)
                    break;
                i += 8;
            }
            while (i < n && s[i] < 0x80)
                i++;
            if (i == n)
                break;
        }
        state = utf8_next[state][utf8_class[s[i++]]];
        if (state == CIO__UTF8_BAD)
            return state;
    }
    return state;
}

/* ---- permessage-deflate negotiation ------------------------------------------- */

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

static void trim(const char **s, size_t *n)
{
    while (*n && is_ows(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_ows((*s)[*n - 1]))
        (*n)--;
}

/* A window-bits value: 8..15, digits only (a quoted string allowed, as
 * RFC 7692 §7.1 says the value may be one). */
static int window_value(const char *v, size_t n)
{
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v++;
        n -= 2;
    }
    if (n < 1 || n > 2)
        return -1;
    int x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (v[i] - '0');
    }
    if (n == 2 && v[0] == '0')
        return -1;
    return x >= 8 && x <= 15 ? x : -1;
}

int cio__ws_pmd_parse(const char *s, size_t n, struct cio__ws_pmd *out)
{
    *out = (struct cio__ws_pmd){.on = true, .server_max_window_bits = 15,
                                .client_max_window_bits = 15};
    bool seen[4] = {false, false, false, false};
    size_t i = 0;
    trim(&s, &n);
    while (i < n) {
        /* Each parameter starts after a ';'. */
        if (s[i] != ';')
            return -1;
        i++;
        size_t start = i;
        bool q = false;
        while (i < n && (q || s[i] != ';')) {
            if (s[i] == '"')
                q = !q;
            i++;
        }
        const char *p = s + start;
        size_t pl = i - start;
        trim(&p, &pl);
        const char *eq = memchr(p, '=', pl);
        const char *name = p, *val = NULL;
        size_t nl = pl, vl = 0;
        if (eq) {
            nl = (size_t)(eq - p);
            val = eq + 1;
            vl = pl - nl - 1;
            trim(&name, &nl);
            trim(&val, &vl);
        }
        int which;
        if (cio__http_ieq(name, nl, "server_no_context_takeover", 26))
            which = 0;
        else if (cio__http_ieq(name, nl, "client_no_context_takeover", 26))
            which = 1;
        else if (cio__http_ieq(name, nl, "server_max_window_bits", 22))
            which = 2;
        else if (cio__http_ieq(name, nl, "client_max_window_bits", 22))
            which = 3;
        else
            return -1;
        if (seen[which])
            return -1;
        seen[which] = true;
        switch (which) {
        case 0:
            if (eq)
                return -1;
            out->server_no_context_takeover = true;
            break;
        case 1:
            if (eq)
                return -1;
            out->client_no_context_takeover = true;
            break;
        case 2: {
            int w = eq ? window_value(val, vl) : -1;
            if (w < 0)
                return -1;
            out->server_max_window_bits = w;
            break;
        }
        case 3:
            out->client_max_window_bits_given = true;
            if (eq) {
                int w = window_value(val, vl);
                if (w < 0)
                    return -1;
                out->client_max_window_bits = w;
            }
            break;
        }
    }
    return 0;
}

bool cio__ws_ext_each(const char *v, bool (*fn)(const char *params, size_t n, void *arg),
                      void *arg)
{
    if (!v)
        return false;
    size_t n = strlen(v), i = 0;
    while (i < n) {
        size_t start = i;
        bool q = false;
        while (i < n && (q || v[i] != ',')) {
            if (v[i] == '"')
                q = !q;
            i++;
        }
        const char *e = v + start;
        size_t el = i - start;
        if (i < n)
            i++; /* the comma */
        trim(&e, &el);
        size_t name = 0;
        while (name < el && e[name] != ';' && !is_ows(e[name]))
            name++;
        if (cio__http_ieq(e, name, "permessage-deflate", 18) &&
            fn(e + name, el - name, arg))
            return true;
    }
    return false;
}

size_t cio__ws_pmd_format(const struct cio__ws_pmd *p, bool server, char *buf)
{
    char *o = buf;
    o += sprintf(o, "permessage-deflate");
    if (p->server_no_context_takeover)
        o += sprintf(o, "; server_no_context_takeover");
    if (p->client_no_context_takeover)
        o += sprintf(o, "; client_no_context_takeover");
    if (server) {
        if (p->server_max_window_bits < 15)
            o += sprintf(o, "; server_max_window_bits=%d", p->server_max_window_bits);
        if (p->client_max_window_bits_given && p->client_max_window_bits < 15)
            o += sprintf(o, "; client_max_window_bits=%d", p->client_max_window_bits);
    } else {
        if (p->server_max_window_bits < 15)
            o += sprintf(o, "; server_max_window_bits=%d", p->server_max_window_bits);
        if (p->client_max_window_bits_given) {
            if (p->client_max_window_bits < 15)
                o += sprintf(o, "; client_max_window_bits=%d", p->client_max_window_bits);
            else
                o += sprintf(o, "; client_max_window_bits");
        }
    }
    return (size_t)(o - buf);
}

/* ---- permessage-deflate data ---------------------------------------------------- */

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
    if (*cap >= need)
        return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    uint8_t *p = realloc(*buf, c);
    if (!p)
        return -ENOMEM;
    *buf = p;
    *cap = c;
    return 0;
}

ssize_t cio__ws_deflate(struct cio__ws_zip *zp, const void *in, size_t n, uint8_t **buf,
                        size_t *cap)
{
    z_stream *z = &zp->z;
    if (!zp->init) {
        memset(z, 0, sizeof *z);
        /* zlib has no raw deflate with an 8-bit window; 9 is refused by
         * negotiation when the peer asks for 8 (see ws.c). */
        int wb = zp->window_bits < 9 ? 9 : zp->window_bits;
        if (deflateInit2(z, zp->level, Z_DEFLATED, -wb, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return -ENOMEM;
        zp->init = true;
    }
    size_t out = 0;
    if (grow(buf, cap, n + n / 8 + 64))
        return -ENOMEM;
    z->next_in = (Bytef *)in;
    z->avail_in = (uInt)n;
    for (;;) {
        if (*cap - out < 64 && grow(buf, cap, *cap * 2))
            return -ENOMEM;
        z->next_out = *buf + out;
        z->avail_out = (uInt)(*cap - out);
        int rc = deflate(z, Z_SYNC_FLUSH);
        out = (size_t)(z->next_out - *buf);
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return -ENOMEM;
        if (z->avail_in == 0 && z->avail_out > 0)
            break;
    }
    /* A sync flush ends with the empty stored block 00 00 ff ff, which
     * RFC 7692 §7.2.1 leaves out. */
    if (out >= 4)
        out -= 4;
    if (zp->no_takeover)
        deflateReset(z);
    return (ssize_t)out;
}

static int inflate_some(struct cio__ws_zip *zp, const uint8_t *in, size_t n, size_t max,
                        uint8_t **buf, size_t *len, size_t *cap)
{
    z_stream *z = &zp->z;
    z->next_in = (Bytef *)in;
    z->avail_in = (uInt)n;
    for (;;) {
        /* Room for what may come out, never more than max + 1 bytes in
         * all (a small compressed message cannot make the buffer grow
         * past the limit), plus the caller's NUL. */
        if (*len > max)
            return -EMSGSIZE;
        size_t room_max = max + 1 - *len;
        size_t chunk = n < 2048 ? 4096 : n * 2;
        if (chunk > room_max)
            chunk = room_max;
        if (*cap < *len + chunk + 1 && grow(buf, cap, *len + chunk + 1))
            return -ENOMEM;
        size_t room = *cap - 1 - *len;
        if (room > room_max)
            room = room_max;
        if (room > (1u << 30))
            room = 1u << 30;
        z->next_out = *buf + *len;
        z->avail_out = (uInt)room;
        int rc = inflate(z, Z_SYNC_FLUSH);
        *len = (size_t)(z->next_out - *buf);
        if (rc == Z_STREAM_END) {
            /* A block with BFINAL set (RFC 7692 §7.2.3.3): the next bytes
             * start a new stream. */
            inflateReset(z);
        } else if (rc == Z_BUF_ERROR) {
            if (z->avail_in == 0 && z->avail_out > 0)
                break;
            if (*len > max)
                return -EMSGSIZE;
        } else if (rc != Z_OK) {
            return rc == Z_MEM_ERROR ? -ENOMEM : -EILSEQ;
        }
        if (*len > max)
            return -EMSGSIZE;
        if (z->avail_in == 0 && z->avail_out > 0)
            break;
    }
    return 0;
}

int cio__ws_inflate(struct cio__ws_zip *zp, const void *in, size_t n, bool final, size_t max,
                    uint8_t **buf, size_t *len, size_t *cap)
{
    z_stream *z = &zp->z;
    if (!zp->init) {
        memset(z, 0, sizeof *z);
        if (inflateInit2(z, -zp->window_bits) != Z_OK)
            return -ENOMEM;
        zp->init = true;
    }
    int rc = 0;
    if (n)
        rc = inflate_some(zp, in, n, max, buf, len, cap);
    if (!rc && final) {
        static const uint8_t tail[4] = {0, 0, 0xff, 0xff};
        rc = inflate_some(zp, tail, 4, max, buf, len, cap);
        if (!rc && zp->no_takeover)
            inflateReset(z);
    }
    if (rc)
        inflateReset(z);
    return rc;
}

void cio__ws_zip_free(struct cio__ws_zip *zp, bool deflate)
{
    if (!zp->init)
        return;
    if (deflate)
        deflateEnd(&zp->z);
    else
        inflateEnd(&zp->z);
    zp->init = false;
}
