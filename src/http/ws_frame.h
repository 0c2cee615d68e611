/* The WebSocket codec (ws_frame.c), for ws.c: frame headers (RFC 6455
 * §5.2), masking, streaming UTF-8 validation, and permessage-deflate
 * (RFC 7692): its parameter negotiation and the per-message compressor
 * and decompressor. No I/O here: ws.c feeds bytes it peeked from the
 * stream and writes what these functions produce. */
#ifndef CIO_HTTP_WS_FRAME_H
#define CIO_HTTP_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <zlib.h>

/* ---- Frame headers ---------------------------------------------------------- */

enum {
    CIO__WS_OP_CONT = 0,
    CIO__WS_OP_TEXT = 1,
    CIO__WS_OP_BINARY = 2,
    CIO__WS_OP_CLOSE = 8,
    CIO__WS_OP_PING = 9,
    CIO__WS_OP_PONG = 10,
};

/* The longest header: 2 + 8 (a 64-bit length) + 4 (the masking key). */
#define CIO__WS_MAX_HEADER 14

struct cio__ws_header {
    bool fin, rsv1, rsv2, rsv3;
    bool masked;
    int opcode;
    uint64_t len;     /* payload length */
    uint8_t key[4];   /* masking key (masked only) */
    size_t hlen;      /* the header's length */
};

/* Parses a frame header from p[0..n). Returns 1 (*h filled, h->hlen the
 * bytes it spans), 0 (more bytes needed), or -1 (a length that is not in
 * its minimal form's range rules of §5.2: the 64-bit form with the top bit
 * set). Checks nothing else: the caller decides what is allowed. */
int cio__ws_header_parse(const uint8_t *p, size_t n, struct cio__ws_header *h);

/* Writes a header (no masking key when key is NULL) to out (room for
 * CIO__WS_MAX_HEADER). Returns its length. */
size_t cio__ws_header_write(uint8_t *out, int opcode, bool fin, bool rsv1, uint64_t len,
                            const uint8_t *key);

/* dst[i] = src[i] ^ key[(off + i) % 4] for i < len, eight bytes at a time;
 * dst may equal src. off: the position of src[0] in the frame's payload. */
void cio__ws_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4],
                  uint64_t off);

/* ---- UTF-8 ------------------------------------------------------------------ */

/* The validator's state between calls: 0 at a character boundary. */
enum { CIO__UTF8_OK = 0, CIO__UTF8_BAD = 0xff };

/* Validates s[0..n) continuing from state; returns the new state:
 * CIO__UTF8_BAD as soon as the bytes cannot be UTF-8 (overlong forms,
 * surrogates, code points over U+10FFFF, stray continuation bytes), 0 at
 * a character boundary, another value inside a character. */
uint8_t cio__utf8_step(uint8_t state, const uint8_t *s, size_t n);

/* ---- permessage-deflate ------------------------------------------------------ */

/* Negotiated parameters (RFC 7692 §7.1). Window bits are 8..15. */
struct cio__ws_pmd {
    bool on;
    bool server_no_context_takeover;
    bool client_no_context_takeover;
    int server_max_window_bits; /* 15 when not given */
    int client_max_window_bits; /* 15 when not given */
    bool client_max_window_bits_given; /* a client's offer: the parameter appeared */
};

/* Parses one extension offer or response's parameters for
 * permessage-deflate: s[0..n) is the text after "permessage-deflate"
 * (";"-separated parameters up to the element's end). Returns 0, or -1
 * for an unknown parameter, a repeated one, or a bad value. */
int cio__ws_pmd_parse(const char *s, size_t n, struct cio__ws_pmd *out);

/* Walks a Sec-WebSocket-Extensions value: calls fn for each element whose
 * name is permessage-deflate, with its parameters (the text after the
 * name, without the separating comma), until fn returns true. Returns
 * whether one did. Quoted strings are honoured when splitting. */
bool cio__ws_ext_each(const char *v, bool (*fn)(const char *params, size_t n, void *arg),
                      void *arg);

/* Formats p as a Sec-WebSocket-Extensions value ("permessage-deflate;
 * ..."), into buf (room for 128). Returns the length. */
size_t cio__ws_pmd_format(const struct cio__ws_pmd *p, bool server, char *buf);

/* One direction's compressor or decompressor: zlib streams allocated on
 * first use. */
struct cio__ws_zip {
    z_stream z;
    bool init;
    int window_bits;
    int level;
    bool no_takeover; /* reset after every message */
};

/* Compresses in[0..n) as one message into *buf (grown with realloc, *cap
 * its size), without the final 00 00 ff ff. Returns the compressed length,
 * or -ENOMEM. */
ssize_t cio__ws_deflate(struct cio__ws_zip *zp, const void *in, size_t n, uint8_t **buf,
                        size_t *cap);

/* Feeds a compressed fragment (final: the message's last; the 00 00 ff ff
 * tail is added) and appends what comes out to *buf at *len (grown, *cap
 * its size; never past max + 1 bytes in all). Returns 0, -EMSGSIZE (the
 * message inflates past max), -EILSEQ (bad data), -ENOMEM. */
int cio__ws_inflate(struct cio__ws_zip *zp, const void *in, size_t n, bool final, size_t max,
                    uint8_t **buf, size_t *len, size_t *cap);

void cio__ws_zip_free(struct cio__ws_zip *zp, bool deflate);

#endif
