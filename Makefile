# The README's two commands: 'make demo' and 'make check'.  Everything else
# here is a convenience around CMake (build/ and build-asan/).
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan

.PHONY: all deps e2e-deps build check check-asan test demo bench clean fuzz

all: build

deps:
	@sh scripts/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# playwright-core (npm) for the web UI's end-to-end tests, at the version
# tests/e2e/package-lock.json pins; node_modules stays out of git.
e2e-deps: deps
	cd tests/e2e && { [ -d node_modules/playwright-core ] || \
		npm ci --no-audit --no-fund; }

# Every test: the normal build, then the same tests under ASan+UBSan.
# The web UI's screenshots land in $(BUILD)/screenshots.
check: build e2e-deps
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) check-asan

check-asan: deps e2e-deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DRK_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 \
		UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS) -LE slow

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	sh tests/bench/run.sh $(BUILD)

demo: build
	sh scripts/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
