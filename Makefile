# Thin driver over CMake. See README.md.
#   make          release build (build/aigw, build/teamhub)
#   make run      build and start aigw + teamhub on embedded defaults
#   make test     build and run every test (unit, black-box, client, browser, fuzz smoke)
#   make sanitize ASan+UBSan build running the whole suite
#   make bench    benchmarks; figures go to bench/RESULTS.md
#   make fuzz     build libFuzzer targets (clang) into build-fuzz/
JOBS ?= $(shell nproc)
BUILD ?= build

.PHONY: all build deps test-deps run test unit blackbox sanitize bench fuzz format clean

all: build

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@scripts/run.sh

test: test-deps build
	@scripts/test.sh $(BUILD)

sanitize: test-deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DAIGW_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		scripts/test.sh build-asan

fuzz: test-deps
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DAIGW_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS)

bench: test-deps build
	@bench/run.sh $(BUILD)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-fuzz
