# cio: the two commands a fresh Debian 12 machine needs are `make run` and
# `make test`. Every target installs missing Debian packages first.
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build run test bench asan tsan ucontext clean format

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

bench: deps
	./bench/run

clean:
	rm -rf build build-asan build-tsan build-ucontext build-bench

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
