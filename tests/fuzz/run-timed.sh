#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Fuzzes every harness for a bounded time (make check-fuzz):
#
#   run-timed.sh [-t SECONDS] [-j JOBS] BUILD_DIR [NAME...]
#
# BUILD_DIR is a meson build made with clang (CC=clang meson setup build-fuzz): the libFuzzer
# binaries exist only there. The harnesses are the fuzz-NAME.c files next to this script (all of
# them unless NAMEs are given); each must have its seeds in corpus/NAME/. Each runs for SECONDS
# (default 25, or $FUZZ_SECONDS), JOBS at a time (default 2, or $FUZZ_JOBS), from a copy of its
# seeds in BUILD_DIR/fuzz-timed/NAME/, so the checked-in corpus is never touched. An input that
# crashes, leaks, trips a sanitizer or a check, runs longer than $FUZZ_INPUT_TIMEOUT seconds
# (default 10) or takes more than $FUZZ_RSS_MB MiB (default 2048) fails the run: the reproducer
# is printed with the command that replays it, and that harness's directory is kept. Passing
# runs leave nothing behind. Exit status: 0 all passed, 1 a harness failed, 2 usage or set-up.
set -u

here=$(cd "$(dirname "$0")" && pwd)
usage="usage: run-timed.sh [-t SECONDS] [-j JOBS] BUILD_DIR [NAME...]"
secs=${FUZZ_SECONDS:-25}
jobs=${FUZZ_JOBS:-2}
input_timeout=${FUZZ_INPUT_TIMEOUT:-10}
rss_mb=${FUZZ_RSS_MB:-2048}
while getopts "t:j:" o; do
	case "$o" in
	t) secs=$OPTARG ;;
	j) jobs=$OPTARG ;;
	*) echo "$usage" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
build=${1:?$usage}
shift
for v in "$secs" "$jobs" "$input_timeout" "$rss_mb"; do
	case "$v" in
	'' | *[!0-9]* | 0) echo "run-timed.sh: times, job and memory limits must be whole numbers > 0" >&2; exit 2 ;;
	esac
done

log() { echo "run-timed.sh: $*" >&2; }

# The harnesses: every fuzz-NAME.c here, each with its corpus.
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for c in "$here"/fuzz-*.c; do
		n=${c##*/fuzz-}
		names+=("${n%.c}")
	done
fi
for n in "${names[@]}"; do
	if [ ! -f "$here/fuzz-$n.c" ] || [ ! -d "$here/corpus/$n" ]; then
		log "no harness fuzz-$n.c with seeds in corpus/$n/"
		exit 2
	fi
done

# Build only the fuzzers (not the daemon and the tests of that build).
dir=$(cd "$build" 2>/dev/null && pwd) || { log "no build directory $build"; exit 2; }
known=$(ninja -C "$dir" -t targets all 2>/dev/null)
targets=()
for n in "${names[@]}"; do
	if ! grep -q "^tests/fuzz/fuzz-$n: " <<<"$known"; then
		log "$build has no libFuzzer binary fuzz-$n (made only with CC=clang meson setup $build)"
		exit 2
	fi
	targets+=("tests/fuzz/fuzz-$n")
done
ninja -C "$dir" "${targets[@]}" >"$dir/fuzz-build.log" 2>&1 || {
	log "building the fuzzers failed:"
	tail -n 40 "$dir/fuzz-build.log" >&2
	exit 2
}

work=$dir/fuzz-timed
rm -rf "$work"
mkdir -p "$work" || exit 2

# Fuzzes harness $1 in $work/$1 (corpus/, artifacts/, log); its status is libFuzzer's.
run_one() {
	local n=$1 w=$work/$1

	mkdir -p "$w/artifacts" && cp -r "$here/corpus/$n" "$w/corpus" || return 2
	(cd "$w" && exec "$dir/tests/fuzz/fuzz-$n" -max_total_time="$secs" \
		-timeout="$input_timeout" -rss_limit_mb="$rss_mb" -artifact_prefix="$w/artifacts/" \
		-print_final_stats=1 corpus) >"$w/log" 2>&1
}

# Prints one harness's outcome; on failure its reproducers and how to replay them. Returns 0
# when it passed.
report() {
	local n=$1 rc=$2 w=$work/$1 runs cov a

	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$w/log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$w/log" | tail -n 1)
	if [ "$rc" -eq 0 ] && [ -z "$(ls -A "$w/artifacts")" ]; then
		printf 'fuzz-%-13s ok    %s s, %s inputs, %s\n' "$n" "$secs" "${runs:-?}" "${cov:-?}"
		rm -rf "$w"
		return 0
	fi
	printf 'fuzz-%-13s FAIL  (libFuzzer exit status %s)\n' "$n" "$rc"
	grep -E 'ERROR:|SUMMARY:|check failed|runtime error|Test unit written' "$w/log" |
		head -n 12 | sed 's/^/    /'
	for a in "$w"/artifacts/*; do
		[ -e "$a" ] || continue
		echo "    reproducer: $a"
		echo "    replay:     $dir/tests/fuzz/fuzz-$n -timeout=$input_timeout -rss_limit_mb=$rss_mb $a"
		echo "    keep it:    cp $a $here/corpus/$n/crash-WHAT (once fixed; see README.md)"
	done
	echo "    full log:   $w/log"
	return 1
}

start=$SECONDS
failed=0
declare -A pid_of=()
# Runs the harnesses $jobs at a time; a report is printed as each one ends.
for n in "${names[@]}"; do
	while [ ${#pid_of[@]} -ge "$jobs" ]; do
		wait -n -p done_pid
		rc=$?
		for k in "${!pid_of[@]}"; do
			if [ "${pid_of[$k]}" = "$done_pid" ]; then
				report "$k" "$rc" || failed=1
				unset "pid_of[$k]"
			fi
		done
	done
	run_one "$n" &
	pid_of[$n]=$!
done
for k in "${!pid_of[@]}"; do
	wait "${pid_of[$k]}"
	rc=$?
	report "$k" "$rc" || failed=1
done

echo "fuzzed ${#names[@]} harnesses for $secs s each, $jobs at a time, in $((SECONDS - start)) s"
if [ $failed -ne 0 ]; then
	log "a fuzzer found a bug (reproducers above, kept under $work)"
	exit 1
fi
rmdir "$work" 2>/dev/null
exit 0
