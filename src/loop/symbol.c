/* Names a function that dladdr cannot: a static function (or any function
 * of an executable not linked with -rdynamic) has no dynamic symbol, but
 * an unstripped file still carries it in its .symtab. Reports only (slow
 * callbacks, the stall watchdog, live handles at close): the file is read
 * each time, which is fine for something that happens rarely, and nothing
 * is cached that could go stale. */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
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
 * symbol's name into buf. */
static bool lookup(const unsigned char *map, size_t size, uintptr_t addr, uintptr_t base,
                   char *buf, size_t len)
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
                return true;
            }
        }
    }
    return false;
}

bool cio__static_symbol(const void *fn, const char *file, const void *base, char *buf, size_t len)
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
            found = lookup(map, (size_t)st.st_size, (uintptr_t)fn, (uintptr_t)base, buf, len);
            munmap(map, (size_t)st.st_size);
        }
    }
    close(fd);
    return found;
}
