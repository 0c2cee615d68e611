# cio: the two commands a fresh Debian 12 machine needs are `make run` and
# `make test`. Every target installs the missing Debian packages it needs
# first, and only those (scripts/deps.sh): `make build` and `make run` the
# compiler and CMake; `make test` adds python3 and pkg-config; `make asan` and
# `make tsan` the sanitizer runtimes; only `make test-browser` Chromium, its
# WebDriver and Selenium; only `make bench` the benchmark peers (libuv,
# libevent, Boost, uvloop).
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-browser bench asan tsan ucontext compat stress clean format

all: build

deps:
	@sh scripts/deps.sh test

build:
	@sh scripts/deps.sh build
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build build -j $(JOBS)

# The demo app (examples/app, docs/demo.md) on http://127.0.0.1:$(PORT)/;
# PORT=N make run for another port (0: any free one). Ctrl-C stops it. It
# builds the library and the app only (not the test suite: a first run on
# a fresh clone then takes a minute, not several).
PORT ?= 8080
run:
	@sh scripts/deps.sh build
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build build -j $(JOBS) --target cio-demo
	./build/examples/app/cio-demo --port $(PORT)

test: build
	@sh scripts/deps.sh test
	cd build && ctest --output-on-failure -j $(JOBS)

# The demo app end to end in headless Chromium (tests/browser/test_app.py):
# Debian's chromium, chromium-driver and python3-selenium first. Debian's
# python3 runs it (a python3 earlier on PATH may lack selenium).
BROWSER_PYTHON ?= $(shell [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)
test-browser:
	@sh scripts/deps.sh browser
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build build -j $(JOBS) --target cio-demo
	$(BROWSER_PYTHON) tests/browser/test_app.py ./build/examples/app/cio-demo

asan:
	@sh scripts/deps.sh sanitize
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCIO_SANITIZE=address $(CMAKE_FLAGS) >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

tsan:
	@sh scripts/deps.sh sanitize
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DCIO_SANITIZE=thread $(CMAKE_FLAGS) >/dev/null
	cmake --build build-tsan -j $(JOBS)
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
		ctest --output-on-failure -j $(JOBS) -L threaded

# The suite with the portable ucontext context switch instead of assembly.
ucontext:
	@sh scripts/deps.sh test
	cmake -S . -B build-ucontext -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCIO_CONTEXT=ucontext $(CMAKE_FLAGS) >/dev/null
	cmake --build build-ucontext -j $(JOBS)
	cd build-ucontext && ctest --output-on-failure -j $(JOBS) -E install

# The suite as on the kernels most users run (Linux 5.15, 6.1) with
# vm.overcommit_memory=2: tests/compat/cio-compat.c installs a seccomp filter
# refusing membarrier, process_madvise, MADV_GUARD_INSTALL, MADV_POPULATE_WRITE
# and MAP_NORESERVE mappings of 256 MiB or more, checks that each refusal is in
# force, and runs the command; so every fallback path runs. Then a million idle
# tasks there, within this machine's vm.max_map_count.
compat: build
	@sh scripts/deps.sh test
	$(CC) -O2 -Wall -Wextra -Werror -o build/cio-compat tests/compat/cio-compat.c
	./build/cio-compat --check
	cd build && ./cio-compat ctest --output-on-failure -j $(JOBS)
	CIO_TEST_IDLE_TASKS=1000000 ./build/cio-compat ./build/tests/task_test_stack_budget \
		many_idle_tasks_leave_room_for_threads_and_malloc

bench:
	@sh scripts/deps.sh bench
	./bench/run

# The suite STRESS_RUNS times (default 20) while stress-ng loads every core:
# tests must pass on a loaded machine (none may depend on timing).
STRESS_RUNS ?= 20
stress: build
	@sh scripts/deps.sh test stress
	stress-ng --cpu $(JOBS) --timeout 3600s --quiet & pid=$$!; \
	trap 'kill $$pid 2>/dev/null' EXIT INT TERM; \
	for i in $$(seq $(STRESS_RUNS)); do \
		echo "stress: run $$i of $(STRESS_RUNS)"; \
		(cd build && ctest --output-on-failure -j $(JOBS)) || exit 1; \
	done

clean:
	rm -rf build build-asan build-tsan build-ucontext build-bench

format:
	@sh scripts/deps.sh format
	clang-format -i $$(git ls-files '*.c' '*.h')
