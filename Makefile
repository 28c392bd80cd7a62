# Thin wrapper over meson/ninja. `make` builds build/vhostd; see README.md.
BUILD      ?= build
ASAN_BUILD ?= build-asan
MESON_OPTS ?= -Dwerror=true

.PHONY: all deps install check check-plain check-asan demo bench bench-log format format-check lint clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) $(MESON_OPTS) -Db_sanitize=address,undefined -Db_lundef=false -Db_lto=false

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

check: deps format-check lint check-plain check-asan

check-plain: $(BUILD)/build.ninja
	ninja -C $(BUILD)
	meson test -C $(BUILD) --print-errorlogs --num-processes 1 --timeout-multiplier 2

check-asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(ASAN_BUILD) --print-errorlogs --num-processes 1 --timeout-multiplier 3

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
	rm -rf $(BUILD) $(ASAN_BUILD)
