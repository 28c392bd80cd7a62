# Thin wrapper over meson/ninja. `make` builds build/vhostd; see README.md.
BUILD      ?= build
ASAN_BUILD ?= build-asan
# The libFuzzer binaries need clang; they get a build directory of their own.
FUZZ_BUILD ?= build-fuzz
MESON_OPTS ?= -Dwerror=true

.PHONY: all deps install check check-plain check-asan check-fuzz check-valgrind demo bench bench-log \
	format format-check lint clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) $(MESON_OPTS) -Db_sanitize=address,undefined -Db_lundef=false -Db_lto=false

# No -Werror here: gcc's builds gate the warnings; clang's LTO would need its own linker plugin.
$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Db_lto=false

deps:
	scripts/install-deps.sh

# Installs the binaries, the man pages, the systemd unit and /etc/vhostd/vhostd.conf.example.
# PREFIX=/usr switches the build's prefix (default /usr/local) first; DESTDIR=/tmp/x installs
# under /tmp/x (meson reads it from the environment).
install: all
ifneq ($(PREFIX),)
	meson configure $(BUILD) -Dprefix=$(PREFIX)
endif
	meson install -C $(BUILD)

check: deps format-check lint check-plain check-asan check-fuzz check-valgrind

# One target at a time, even under make -j: check-plain and check-valgrind share the plain build,
# and the suites share the CPU and the host's network (ninja parallelises each build anyway).
.NOTPARALLEL:

check-plain: $(BUILD)/build.ninja
	ninja -C $(BUILD)
	meson test -C $(BUILD) --print-errorlogs --num-processes 1 --timeout-multiplier 2

check-asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(ASAN_BUILD) --print-errorlogs --num-processes 1 --timeout-multiplier 3

# Every libFuzzer harness for FUZZ_SECONDS (default 25) each, two at a time, from a copy of its
# seeds; any crash, leak, sanitizer report, slow input or memory hog fails with the reproducer
# and how to replay it (tests/fuzz/run-timed.sh, tests/fuzz/README.md).
check-fuzz: $(FUZZ_BUILD)/build.ninja
	nice -n 5 tests/fuzz/run-timed.sh $(FUZZ_BUILD)

# The front-end integration tests with the daemon under valgrind's memcheck (run.sh's
# VHOSTD_WRAPPER): an invalid access, a use of uninitialised memory or a definite or indirect
# leak at exit fails the test. Not here: frontend-restart starts the daemon itself.
# VALGRIND_DAEMON_ARGS go to the daemon (valgrind runs the daemon's system calls itself: no seccomp).
VALGRIND_TESTS ?= frontend-datapath frontend-hostile-ring frontend-hostile-proto \
	frontend-ring-state frontend-client-mode frontend-packed frontend-netfeat frontend-control \
	frontend-netfeat-variant frontend-datapath-busy frontend-hostile-ring-busy \
	frontend-ring-state-busy frontend-datapath-event frontend-switch frontend-migration \
	frontend-hostile-mem
VALGRIND_DAEMON_ARGS ?= --no-seccomp
check-valgrind: all
	VHOSTD_WRAPPER=$(CURDIR)/tests/valgrind/memcheck.sh VHOSTD_TIMEOUT_MULT=4 \
		VHOSTD_EXTRA_ARGS="$(VALGRIND_DAEMON_ARGS)" \
		meson test -C $(BUILD) --no-rebuild --print-errorlogs --num-processes 1 \
		--timeout-multiplier 4 --logbase testlog-valgrind $(VALGRIND_TESTS)

demo: deps all
	scripts/demo.sh

bench: deps all
	bench/run.sh
	bench/log-cost.sh

# Only the cost of dirty-page logging (about 2 minutes): bench/results/logging.{csv,md}.
bench-log: deps all
	bench/log-cost.sh

# Static analysis of the daemon and tools; any finding fails the check (suppressions, if ever
# needed, go inline with a reason: // cppcheck-suppress <id> -- why).
lint:
	cppcheck --enable=warning,portability,performance --std=c11 --inline-suppr \
		--error-exitcode=1 --quiet -D_GNU_SOURCE -I src src tools

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
