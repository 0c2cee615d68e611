# cio: the two commands a fresh Debian 12 machine needs are `make run` and
# `make test`. Every target installs missing Debian packages first.
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build run test bench asan tsan ucontext compat clean format

all: build

deps:
	@sh scripts/deps.sh

build: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build build -j $(JOBS)

run: build
	./build/examples/tour

test: build
	cd build && ctest --output-on-failure -j $(JOBS)

asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCIO_SANITIZE=address $(CMAKE_FLAGS) >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

tsan: deps
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DCIO_SANITIZE=thread $(CMAKE_FLAGS) >/dev/null
	cmake --build build-tsan -j $(JOBS)
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
		ctest --output-on-failure -j $(JOBS) -L threaded

# The suite with the portable ucontext context switch instead of assembly.
ucontext: deps
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
	$(CC) -O2 -Wall -Wextra -Werror -o build/cio-compat tests/compat/cio-compat.c
	./build/cio-compat --check
	cd build && ./cio-compat ctest --output-on-failure -j $(JOBS)
	CIO_TEST_IDLE_TASKS=1000000 ./build/cio-compat ./build/tests/task_test_stack_budget \
		many_idle_tasks_leave_room_for_threads_and_malloc

bench: deps
	./bench/run

clean:
	rm -rf build build-asan build-tsan build-ucontext build-bench

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
