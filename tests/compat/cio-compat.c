/* cio-compat: runs a command as if on the kernels most users deploy on
 * (Linux 5.15, Ubuntu 22.04; 6.1, Debian 12) with vm.overcommit_memory=2,
 * so that every fallback path of cio is taken (`make compat` runs the whole
 * suite under it).
 *
 * It installs a seccomp-BPF filter, inherited across fork and exec, that
 * refuses the calls those systems refuse:
 *   - membarrier                                   -> ENOSYS (kernels built without it)
 *   - pidfd_open, pidfd_send_signal                -> ENOSYS (before 5.3; so subprocesses
 *     are reaped through SIGCHLD, cio's other way)
 *   - process_madvise                              -> EINVAL (5.15/6.1 reject the advices cio uses)
 *   - madvise(MADV_GUARD_INSTALL), (MADV_POPULATE_WRITE) -> EINVAL (6.13+ and 5.14+ only;
 *     POPULATE_WRITE is refused too so that nothing comes to depend on it)
 *   - mmap with MAP_NORESERVE of 256 MiB or more   -> ENOMEM (what overcommit_memory=2
 *     does to cio's 1 GiB stack regions on a machine of modest memory)
 * vm.max_map_count is not filtered: the default (65530) is what users have,
 * and the machine's own value is what cio reads.
 *
 * Before running the command it checks that each refusal is in force, so a
 * CI run cannot silently go without the filter.
 *
 * usage: cio-compat --check          install the filter, check it, exit 0
 *        cio-compat command [args]   install, check, exec command */
#define _GNU_SOURCE
#include "filter.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: cio-compat --check | command [args...]\n");
        return 2;
    }
    if (cio_compat_install() != 0 || cio_compat_check() != 0)
        return 1;
    if (strcmp(argv[1], "--check") == 0) {
        printf("cio-compat: filter in force (membarrier, pidfd_open, pidfd_send_signal, "
               "process_madvise, MADV_GUARD_INSTALL, MADV_POPULATE_WRITE, big MAP_NORESERVE "
               "mappings refused)\n");
        return 0;
    }
    execvp(argv[1], argv + 1);
    fprintf(stderr, "cio-compat: %s: %s\n", argv[1], strerror(errno));
    return 127;
}
