/* Text helpers every part of the http layer shares: tokens, field values,
 * percent-decoding, HTTP dates. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
 *         "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA  (RFC 9110 5.6.2) */
static const unsigned char tchar_map[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
    ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,
    ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
    ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
    ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
    ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

bool cio__http_is_tchar(unsigned char c) { return tchar_map[c] != 0; }

bool cio__http_is_token(const char *s, size_t n) {
    if (!s || n == 0) return false;
    for (size_t i = 0; i < n; i++)
        if (!tchar_map[(unsigned char)s[i]]) return false;
    return true;
}

/* field-value = *field-content; field-vchar = VCHAR / obs-text; SP and
 * HTAB between (RFC 9110 5.5). */
static const unsigned char fv_bad[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1,
    [0x07] = 1, [0x08] = 1, [0x0a] = 1, [0x0b] = 1, [0x0c] = 1, [0x0d] = 1, [0x0e] = 1,
    [0x0f] = 1, [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1, [0x15] = 1,
    [0x16] = 1, [0x17] = 1, [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1, [0x1c] = 1,
    [0x1d] = 1, [0x1e] = 1, [0x1f] = 1, [0x7f] = 1,
};

/* Eight bytes at a time: a word with no byte below 0x20 and none equal to
 * 0x7f is all field-vchar/SP (obs-text included); a word that has one is
 * looked at byte by byte through the table (HTAB is allowed). */
bool cio__http_is_field_value(const char *s, size_t n) {
    if (!s && n) return false;
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        uint64_t del = w ^ (0x7f * ones);
        if (((w - 0x20 * ones) & ~w & highs) | ((del - ones) & ~del & highs)) {
            for (size_t j = i; j < i + 8; j++)
                if (fv_bad[(unsigned char)s[j]]) return false;
        }
    }
    for (; i < n; i++)
        if (fv_bad[(unsigned char)s[i]]) return false;
    return true;
}

static inline unsigned char lower(unsigned char c) {
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

bool cio__http_ieq(const char *a, size_t an, const char *b, size_t bn) {
    if (an != bn) return false;
    for (size_t i = 0; i < an; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return false;
    return true;
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

ssize_t cio__http_pct_decode(char *dst, const char *src, size_t n, bool form) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '%') {
            if (i + 2 >= n) return -EINVAL;
            int h = hexval((unsigned char)src[i + 1]), l = hexval((unsigned char)src[i + 2]);
            if (h < 0 || l < 0) return -EINVAL;
            dst[o++] = (char)(h << 4 | l);
            i += 2;
        } else if (form && c == '+') {
            dst[o++] = ' ';
        } else {
            dst[o++] = (char)c;
        }
    }
    dst[o] = '\0';
    return (ssize_t)o;
}

static const char wday_names[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static void put2(char *p, unsigned v) {
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

/* IMF-fixdate by hand (no gmtime_r, no snprintf): days since the epoch to
 * a civil date (the proleptic Gregorian calendar, in 400-year eras), and a
 * one-entry cache per thread (a file's Last-Modified, asked again and
 * again). Writes 29 characters and a NUL. */
int cio__http_format_date(char *buf, int64_t t) {
    static _Thread_local int64_t last_t = INT64_MIN;
    static _Thread_local char last[30];
    if (t == last_t) {
        memcpy(buf, last, 30);
        return 29;
    }
    int64_t days = t / 86400, sod = t % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    int64_t wd = (days + 4) % 7; /* 1970-01-01 was a Thursday */
    if (wd < 0) wd += 7;
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                   /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);            /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                 /* [0, 11], from March */
    unsigned d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    unsigned m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);               /* [1, 12] */
    if (m <= 2) y++;
    unsigned yy = (unsigned)(((y % 10000) + 10000) % 10000);
    char *p = buf;
    memcpy(p, wday_names[wd], 3);
    p[3] = ',';
    p[4] = ' ';
    put2(p + 5, d);
    p[7] = ' ';
    memcpy(p + 8, month_names[m - 1], 3);
    p[11] = ' ';
    put2(p + 12, yy / 100);
    put2(p + 14, yy % 100);
    p[16] = ' ';
    put2(p + 17, (unsigned)(sod / 3600));
    p[19] = ':';
    put2(p + 20, (unsigned)(sod / 60 % 60));
    p[22] = ':';
    put2(p + 23, (unsigned)(sod % 60));
    memcpy(p + 25, " GMT", 5);
    memcpy(last, buf, 30);
    last_t = t;
    return 29;
}

static int month_of(const char *s) {
    for (int m = 0; m < 12; m++)
        if (memcmp(s, month_names[m], 3) == 0) return m;
    return -1;
}

static bool digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool hms(const char *s, struct tm *tm) {
    return digits(s, 2, &tm->tm_hour) && s[2] == ':' && digits(s + 3, 2, &tm->tm_min) &&
           s[5] == ':' && digits(s + 6, 2, &tm->tm_sec) && tm->tm_hour < 24 && tm->tm_min < 60 &&
           tm->tm_sec < 61;
}

int cio__http_parse_date(const char *s, int64_t *t) {
    if (!s || !t) return -EINVAL;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    size_t n = strlen(s);
    const char *comma = strchr(s, ',');
    if (n == 29 && comma == s + 3) {
        /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
        if (s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[25] != ' ' ||
            memcmp(s + 26, "GMT", 3) != 0)
            return -EINVAL;
        int year;
        if (!digits(s + 5, 2, &tm.tm_mday) || (tm.tm_mon = month_of(s + 8)) < 0 ||
            !digits(s + 12, 4, &year) || !hms(s + 17, &tm))
            return -EINVAL;
        tm.tm_year = year - 1900;
    } else if (comma && comma > s) {
        /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
        const char *p = comma + 1;
        if (strlen(p) != 23 || p[0] != ' ' || p[3] != '-' || p[7] != '-' || p[10] != ' ' ||
            p[19] != ' ' || memcmp(p + 20, "GMT", 3) != 0)
            return -EINVAL;
        int yy;
        if (!digits(p + 1, 2, &tm.tm_mday) || (tm.tm_mon = month_of(p + 4)) < 0 ||
            !digits(p + 8, 2, &yy) || !hms(p + 11, &tm))
            return -EINVAL;
        /* RFC 9110 5.6.7: a two-digit year more than 50 years ahead is in
         * the past century. */
        tm.tm_year = yy < 70 ? yy + 100 : yy;
    } else if (n == 24 && s[3] == ' ' && s[7] == ' ') {
        /* asctime: "Sun Nov  6 08:49:37 1994" */
        int year;
        char day[2] = {s[8] == ' ' ? '0' : s[8], s[9]};
        if ((tm.tm_mon = month_of(s + 4)) < 0 || !digits(day, 2, &tm.tm_mday) || s[10] != ' ' ||
            !hms(s + 11, &tm) || s[19] != ' ' || !digits(s + 20, 4, &year))
            return -EINVAL;
        tm.tm_year = year - 1900;
    } else {
        return -EINVAL;
    }
    if (tm.tm_mday < 1 || tm.tm_mday > 31) return -EINVAL;
    *t = (int64_t)timegm(&tm);
    return 0;
}
