/* Names a function that dladdr cannot: a static function (or any function
 * of an executable not linked with -rdynamic) has no dynamic symbol, but
 * an unstripped file still carries it in its .symtab. Reports only (slow
 * callbacks, the stall watchdog, live handles at close): the file is read
 * when asked, and the last few answers are kept, since a close report may
 * name the same callback thousands of times. Debug mode's creation sites
 * (return addresses inside a function) are named the same way, with their
 * offset from the symbol's start. */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#if defined(__LP64__)
typedef Elf64_Ehdr ehdr_t;
typedef Elf64_Shdr shdr_t;
typedef Elf64_Sym sym_t;
#define SYM_TYPE ELF64_ST_TYPE
#else
typedef Elf32_Ehdr ehdr_t;
typedef Elf32_Shdr shdr_t;
typedef Elf32_Sym sym_t;
#define SYM_TYPE ELF32_ST_TYPE
#endif

/* Looks fn up in the .symtab of the mapped file `map` (size bytes); the
 * symbol's name into buf, and its address (in the process) into *start. */
static bool lookup(const unsigned char *map, size_t size, uintptr_t addr, uintptr_t base,
                   char *buf, size_t len, uintptr_t *start)
{
    const ehdr_t *eh = (const ehdr_t *)map;
    if (size < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
        eh->e_shentsize != sizeof(shdr_t) || eh->e_shoff == 0 ||
        eh->e_shoff + (size_t)eh->e_shnum * sizeof(shdr_t) > size)
        return false;
    /* A position-independent file's symbols are offsets from its base. */
    uintptr_t want = eh->e_type == ET_DYN ? addr - base : addr;
    const shdr_t *sh = (const shdr_t *)(map + eh->e_shoff);
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum)
            continue;
        const shdr_t *str = &sh[sh[i].sh_link];
        if (sh[i].sh_offset + sh[i].sh_size > size || str->sh_offset + str->sh_size > size)
            return false;
        const sym_t *syms = (const sym_t *)(map + sh[i].sh_offset);
        size_t n = sh[i].sh_size / sizeof(sym_t);
        for (size_t k = 0; k < n; k++) {
            const sym_t *s = &syms[k];
            if (SYM_TYPE(s->st_info) != STT_FUNC || s->st_name >= str->sh_size)
                continue;
            if (want >= s->st_value && want < s->st_value + (s->st_size ? s->st_size : 1)) {
                const char *name = (const char *)(map + str->sh_offset + s->st_name);
                snprintf(buf, len, "%.*s", (int)strnlen(name, str->sh_size - s->st_name), name);
                *start = eh->e_type == ET_DYN ? s->st_value + base : s->st_value;
                return true;
            }
        }
    }
    return false;
}

/* Answers by address (a code address keeps its meaning for the life of
 * the process unless its library is unloaded: then a report may name a
 * function of the unloaded file, which is the rarest of cases). Shared by
 * the loop threads and the watchdog threads. */
#define CACHE 8
static struct {
    const void *fn;
    bool found;
    uintptr_t start;
    char name[128];
} cache[CACHE];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static bool search_file(const void *fn, const char *file, const void *base, char *buf, size_t len,
                        uintptr_t *start);

bool cio__static_symbol(const void *fn, const char *file, const void *base, char *buf, size_t len,
                        uintptr_t *start)
{
    unsigned slot = (unsigned)(((uintptr_t)fn >> 4) % CACHE);
    uintptr_t at = 0;
    pthread_mutex_lock(&cache_lock);
    if (cache[slot].fn == fn) {
        bool found = cache[slot].found;
        if (found) {
            snprintf(buf, len, "%s", cache[slot].name);
            at = cache[slot].start;
        }
        pthread_mutex_unlock(&cache_lock);
        if (start)
            *start = at;
        return found;
    }
    pthread_mutex_unlock(&cache_lock);
    char name[128];
    bool found = search_file(fn, file, base, name, sizeof name, &at);
    pthread_mutex_lock(&cache_lock);
    cache[slot].fn = fn;
    cache[slot].found = found;
    cache[slot].start = found ? at : 0;
    snprintf(cache[slot].name, sizeof cache[slot].name, "%s", found ? name : "");
    pthread_mutex_unlock(&cache_lock);
    if (found)
        snprintf(buf, len, "%s", name);
    if (start)
        *start = found ? at : 0;
    return found;
}

static bool search_file(const void *fn, const char *file, const void *base, char *buf, size_t len,
                        uintptr_t *start)
{
    if (!file || !*file)
        return false;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    bool found = false;
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
        void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map != MAP_FAILED) {
            found = lookup(map, (size_t)st.st_size, (uintptr_t)fn, (uintptr_t)base, buf, len,
                           start);
            munmap(map, (size_t)st.st_size);
        }
    }
    close(fd);
    return found;
}
