#!/bin/sh
# The layer rules of src/LAYERS.md, checked on the source tree:
#
#   1. Every file under src/ and include/ belongs to a layer, by its path:
#      common < core (loop, future) < task < sync < net < http. A file includes only
#      headers of its own layer and of lower ones: an include that points
#      up, or sideways (another layer of the same rank), fails.
#   2. A layer reaches another layer's internal headers (under src/) only
#      through the header that layer offers the layers above: for the core
#      that is src/core.h, no other layer offers one. A public header
#      includes no internal header at all.
#   3. A public header declares only its own layer's functions: each header
#      has a rule for the names it may declare (below, HEADER_RULES), and a
#      name may match one header's rule only.
#   4. A public function is defined in the layer whose header declares it.
#   5. Above the core, no code touches a loop's or a future's fields: no
#      `loop->`, `fut->` or `future->` outside comments in src/task,
#      src/sync and src/net (by the names the code gives them: a heuristic, but the
#      one every file here follows), only the accessors of src/core.h.
#
# Each failure names the file and the line. Usage: check.sh ROOT, where ROOT
# is the source tree (the directory holding src/ and include/);
# check.sh --self-test ROOT also shows that each rule catches a violation
# planted in a copy of the tree.
set -eu

# The names each public header may declare (extended regular expressions,
# matched against the whole name). A new public function whose name no
# rule covers fails the check: add it to its header's rule here, and the
# layer's row in src/LAYERS.md if the rule changes.
HEADER_RULES='
include/cio/common.h ^cio_(strerror|err_name|version|version_string)$
include/cio/loop.h ^cio_(loop_[a-z0-9_]+|call_[a-z0-9_]+|timer_[a-z0-9_]+|threadpool_[a-z0-9_]+|current_loop|to_thread_future)$
include/cio/future.h ^cio_(future_[a-z0-9_]+|gather_future|wait_future|wait_for_future|shield_future|as_completed_new|as_completed_next_future|as_completed_free)$
include/cio/task.h ^cio_(run|run_with|run_parallel|parallel_[a-z0-9_]+|spawn|spawn_[a-z0-9_]+|task_[a-z0-9_]+|await|sleep|yield|current_task|all_tasks|to_thread|to_thread_with|timeout_begin|deadline_begin|shield_begin|scope_[a-z0-9_]+|wait_for|gather|wait|shield|as_completed_next|gen_[a-z0-9_]+|context_var_[a-z0-9_]+|thread_future_[a-z0-9_]+)$
include/cio/sync.h ^cio_(lock|event|semaphore|condition|barrier|queue)_[a-z0-9_]+$
include/cio/net.h ^cio_(fd|addr|socket|stream|transport|server|udp|process|file)_[a-z0-9_]+$
include/cio/tls.h ^cio_tls_[a-z0-9_]+$
include/cio/dns.h ^cio_(resolver|dns)_[a-z0-9_]+$
include/cio/http.h ^cio_http_(app_[a-z0-9_]+|next|server_[a-z0-9_]+|serve|run|request_[a-z0-9_]+|part_[a-z0-9_]+|response_[a-z0-9_]+|status_reason|mime_type)$
include/cio/http_client.h ^cio_http_(client|reply|jar)_[a-z0-9_]+$
include/cio/ws.h ^cio_ws_[a-z0-9_]+$
'

check() {
    root=$1
    cd "$root"
    files=$( (find src -type f \( -name '*.c' -o -name '*.h' -o -name '*.S' \); \
              find include -type f -name '*.h') | LC_ALL=C sort)
    printf '%s\n' "$HEADER_RULES" | awk -v files="$files" '
    # The layer of a path ("" if it has none); rank[] orders the layers.
    function layer(p) {
        if (p ~ /^src\/common\// || p == "include/cio/common.h") return "common"
        if (p ~ /^src\/(loop|future)\// || p == "src/core.h" ||
            p == "include/cio/loop.h" || p == "include/cio/future.h") return "core"
        if (p ~ /^src\/task\// || p == "include/cio/task.h") return "task"
        if (p ~ /^src\/sync\// || p == "include/cio/sync.h") return "sync"
        if (p ~ /^src\/net\// || p == "include/cio/net.h" || p == "include/cio/tls.h" ||
            p == "include/cio/dns.h") return "net"
        if (p ~ /^src\/http\// || p == "include/cio/http.h" ||
            p == "include/cio/http_client.h" || p == "include/cio/ws.h") return "http"
        if (p == "include/cio.h") return "umbrella"
        return ""
    }
    function exists(p,   line, r) {
        r = (getline line < p)
        if (r >= 0) { close(p); return 1 }
        return 0
    }
    # Collapses "dir/../" and "./" in a relative path.
    function normalize(p,   n, parts, out, i, k) {
        n = split(p, parts, "/")
        k = 0
        for (i = 1; i <= n; i++) {
            if (parts[i] == "." || parts[i] == "") continue
            if (parts[i] == ".." && k > 0 && out[k] != "..") { k--; continue }
            out[++k] = parts[i]
        }
        p = ""
        for (i = 1; i <= k; i++) p = p (i > 1 ? "/" : "") out[i]
        return p
    }
    function fail(where, msg) {
        print where ": " msg
        failures++
    }
    BEGIN {
        rank["common"] = 0; rank["core"] = 1; rank["task"] = 2; rank["sync"] = 3; rank["net"] = 4; rank["http"] = 5
        rank["umbrella"] = 100
        # The one internal header each layer offers the layers above.
        iface["core"] = "src/core.h"
        iface["common"] = "src/common/opts.h"
    }
    # The header rules, from stdin.
    NF == 2 { rule[$1] = $2; nrules++; next }
    END {
        nf = split(files, list, "\n")
        # Pass 1: includes, and the public headers declarations.
        for (f = 1; f <= nf; f++) {
            file = list[f]
            if (file == "") continue
            from = layer(file)
            if (from == "") {
                fail(file ":1", "belongs to no layer (src/LAYERS.md lists the folders; add its layer there and in tests/layers/check.sh)")
                continue
            }
            dir = file; sub(/\/[^\/]*$/, "", dir)
            lineno = 0
            while ((getline line < file) > 0) {
                lineno++
                where = file ":" lineno
                if (line ~ /^[ \t]*#[ \t]*include[ \t]*[<"]/) {
                    inc = line
                    sub(/^[ \t]*#[ \t]*include[ \t]*/, "", inc)
                    quoted = substr(inc, 1, 1) == "\""
                    inc = substr(inc, 2)
                    sub(/[>"].*$/, "", inc)
                    target = ""
                    if (!quoted) {
                        if (inc ~ /^cio\// || inc == "cio.h") target = "include/" inc
                        else continue # a system header
                    } else if (exists(normalize(dir "/" inc))) {
                        target = normalize(dir "/" inc)
                    } else if (exists("include/" inc)) {
                        target = "include/" inc
                    } else {
                        fail(where, "includes \"" inc "\", which is not in the tree: cannot tell its layer")
                        continue
                    }
                    to = layer(target)
                    if (to == "") {
                        fail(where, "includes " target ", which belongs to no layer")
                    } else if (rank[to] > rank[from]) {
                        fail(where, "includes " target ": points up, from the " from " layer to the " to " layer")
                    } else if (to != from && rank[to] == rank[from]) {
                        fail(where, "includes " target ": points sideways, from the " from " layer to the " to " layer")
                    } else if (file ~ /^include\// && target ~ /^src\//) {
                        fail(where, "includes " target ": a public header includes no internal header")
                    } else if (to != from && target ~ /^src\// && target != iface[to]) {
                        fail(where, "includes " target ": reaches into the " to " layer\047s internals" \
                             (iface[to] != "" ? "; the " to " layer offers " iface[to] : "; that layer offers no internal header"))
                    }
                }
                if (file ~ /^include\/cio\// && match(line, /CIO_API[^(]*[ *]cio_[a-z0-9_]+[ \t]*\(/)) {
                    decl = substr(line, RSTART, RLENGTH)
                    sub(/[ \t]*\($/, "", decl)
                    sub(/^.*[ *]/, "", decl)
                    declared[decl] = file
                    declared_at[decl] = where
                    if (!(file in rule)) {
                        fail(where, "declares " decl ", but " file " has no rule in tests/layers/check.sh")
                        continue
                    }
                    owner = ""; nowners = 0
                    for (h in rule)
                        if (decl ~ rule[h]) { owner = owner (nowners++ ? ", " : "") h }
                    if (nowners == 0)
                        fail(where, "declares " decl ", which no header\047s rule covers (tests/layers/check.sh)")
                    else if (nowners > 1)
                        fail(where, "declares " decl ", which the rules of " owner " all cover: make them exclusive")
                    else if (owner != file)
                        fail(where, "declares " decl ", which belongs to " owner " (its layer: " layer(owner) ")")
                }
            }
            close(file)
        }
        # Pass 2: a public function is defined in its header'"'"'s layer, and
        # no code above the core touches core fields.
        for (f = 1; f <= nf; f++) {
            file = list[f]
            if (file !~ /^src\/.*\.[ch]$/) continue
            above = rank[layer(file)] > rank["core"]
            lineno = 0
            incomment = 0
            while ((getline line < file) > 0) {
                lineno++
                if (above) {
                    code = line
                    if (incomment) {
                        if (code !~ /\*\//) continue
                        sub(/^.*\*\//, "", code)
                        incomment = 0
                    }
                    gsub(/\/\*([^*]|\*+[^*\/])*\*+\//, "", code)
                    sub(/\/\/.*$/, "", code)
                    if (code ~ /\/\*/) { sub(/\/\*.*$/, "", code); incomment = 1 }
                    # By the variable names the layers above give core objects, and
                    # by the fields of a future that no struct above the core shares.
                    if (match(code, /(^|[^A-Za-z0-9_])(loop|fut|future)->[A-Za-z_]+/) ||
                        match(code, /[A-Za-z_]+->(dtor|cbs|capcb|cb_slot|free_hook|free_arg|hook_arg|retrieved|cancel_requested|cancel_msg|is_task)([^A-Za-z0-9_]|$)/)) {
                        hit = substr(code, RSTART, RLENGTH)
                        sub(/^[^A-Za-z]/, "", hit)
                        fail(file ":" lineno, "touches a core field (" hit "): use the accessors of src/core.h")
                    }
                }
                if (file !~ /\.c$/) continue
                if (line ~ /^(static|extern|typedef)/ || line ~ /;[ \t]*$/) continue
                if (!match(line, /^[A-Za-z_][A-Za-z0-9_ \t*]*[ *]cio_[a-z0-9_]+\(/)) continue
                name = substr(line, RSTART, RLENGTH - 1)
                sub(/^.*[ *]/, "", name)
                if (!(name in declared)) continue
                if (layer(file) != layer(declared[name]))
                    fail(file ":" lineno, "defines " name " in the " layer(file) " layer, but " \
                         declared[name] " (the " layer(declared[name]) " layer) declares it")
            }
            close(file)
        }
        if (nrules == 0) fail("tests/layers/check.sh:1", "no header rules read")
        if (failures) {
            print failures " layer rule violation(s); the rules are in src/LAYERS.md"
            exit 1
        }
        print "layers: every include points down; every public header declares only its layer'"'"'s functions"
    }'
}

# Plants one violation in a copy of the tree and expects check to name it.
expect_caught() {
    what=$1 file=$2 text=$3 expect=$4
    copy=$(mktemp -d)
    cp -R "$root_abs/src" "$root_abs/include" "$copy/"
    printf '%s\n' "$text" >> "$copy/$file"
    if out=$(check "$copy" 2>&1); then
        echo "self-test: $what was not caught"
        rm -rf "$copy"
        return 1
    fi
    rm -rf "$copy"
    case $out in
    *"$expect"*) echo "self-test: $what caught" ;;
    *) echo "self-test: $what: expected \"$expect\" in:"; echo "$out"; return 1 ;;
    esac
}

if [ "${1:-}" = "--self-test" ]; then
    root_abs=$(cd "$2" && pwd)
    n=$(wc -l < "$root_abs/src/loop/loop.c")
    n=$((n + 1))
    fails=0
    expect_caught "an include pointing up" src/loop/loop.c '#include <cio/task.h>' \
        "src/loop/loop.c:$n: includes include/cio/task.h: points up" || fails=1
    expect_caught "a relative include pointing up" src/future/future.c '#include "../task/internal.h"' \
        "includes src/task/internal.h: points up" || fails=1
    expect_caught "a reach into the core's internals" src/task/gen.c '#include "../loop/internal.h"' \
        "reaches into the core layer's internals; the core layer offers src/core.h" || fails=1
    expect_caught "a public header including an internal one" include/cio/task.h '#include "../../src/core.h"' \
        "a public header includes no internal header" || fails=1
    expect_caught "a declaration of another layer's function" include/cio/loop.h \
        'CIO_API int cio_task_frobnicate(cio_loop *loop);' \
        "declares cio_task_frobnicate, which belongs to include/cio/task.h" || fails=1
    expect_caught "a declaration no rule covers" include/cio/task.h 'CIO_API int cio_frobnicate(void);' \
        "declares cio_frobnicate, which no header's rule covers" || fails=1
    expect_caught "a definition in the wrong layer" src/task/dump.c \
        'bool cio_loop_is_closed(const cio_loop *loop) { return !loop; }' \
        "defines cio_loop_is_closed in the task layer, but include/cio/loop.h (the core layer) declares it" || fails=1
    expect_caught "a core field written from above" src/task/run.c \
        'static void f(cio_loop *loop) { loop->stopping = true; /* fut->refs */ }' \
        "src/task/run.c:$(($(wc -l < "$root_abs/src/task/run.c") + 1)): touches a core field (loop->stopping)" || fails=1
    expect_caught "a net file reaching into the task layer's internals" src/net/fd.c \
        '#include "../task/internal.h"' \
        "reaches into the task layer's internals; that layer offers no internal header" || fails=1
    expect_caught "a core field written from the net layer" src/net/fd.c \
        'static void g(cio_future *fut) { fut->refs = 0; }' \
        "src/net/fd.c:$(($(wc -l < "$root_abs/src/net/fd.c") + 1)): touches a core field (fut->refs)" || fails=1
    expect_caught "a net function declared in sync.h" include/cio/sync.h \
        'CIO_API int cio_fd_frobnicate(int fd);' \
        "declares cio_fd_frobnicate, which belongs to include/cio/net.h" || fails=1
    expect_caught "a file in no layer" src/net.c '/* nothing */' "src/net.c:1: belongs to no layer" || fails=1
    [ $fails = 0 ] || exit 1
    # And the tree itself passes.
    check "$root_abs"
    exit $?
fi

check "${1:-.}"
