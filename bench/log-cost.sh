#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# What dirty-page logging (live migration) costs vhostd, measured in one run: bench/logcost (a
# vhost-user front-end on CPU 1) recycles buffers as fast as it can on a null port of vhostd
# (busy polling on CPU 0) and counts frames in windows that alternate logging off and on, the
# way QEMU switches it at the start and end of a migration (SET_LOG_BASE, LOG_ALL, logged
# rings), while sweeping the log like QEMU's sync does. DPDK's virtio-user cannot be used here:
# it never enables logging.
#
# Scenarios: rx (null generator -> guest RX: buffers and used entries logged) at 64 and 1518
# bytes, tx (guest TX -> null sink: only used entries logged) at 64 bytes.
#
# Writes $OUT/logging.csv (scenario,size,run,log,mpps) and $OUT/logging.md (medians, ratio).
# Environment: VHOSTD (default build/vhostd), LOGCOST_RUNS (5), LOGCOST_WINDOW_MS (2000),
# BENCH_OUT (bench/results), LOGCOST_BASE=path of another vhostd to also measure with logging
# never negotiated, e.g. a build without logging support ("off" against an older tree).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
VHOSTD=${VHOSTD:-$ROOT/build/vhostd}
OUT=${BENCH_OUT:-$HERE/results}
RUNS=${LOGCOST_RUNS:-5}
WINDOW=${LOGCOST_WINDOW_MS:-2000}
WORK=$(mktemp -d /tmp/vhostd-logcost.XXXXXX)
VPID=""

# cleanup: stops the daemon by pid and removes the scratch directory.
cleanup() {
	[[ -n $VPID ]] && kill "$VPID" 2>/dev/null && wait "$VPID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

# start_vhostd BIN: one null generator port per size and a sink, busy polling on CPU 0.
start_vhostd() {
	local line
	mkfifo "$WORK/ready"
	taskset -c 0 "$1" --workers 1 --cpus 0 --log-level warn --ready-fd 3 \
		--port "name=g64,socket=$WORK/g64.sock,backend=null,gen=64,poll=busy" \
		--port "name=g1518,socket=$WORK/g1518.sock,backend=null,gen=1518,poll=busy" \
		--port "name=sink,socket=$WORK/sink.sock,backend=null,poll=busy" \
		3>"$WORK/ready" 2>>"$WORK/vhostd.log" &
	VPID=$!
	read -r -t 20 line <"$WORK/ready" || true
	rm -f "$WORK/ready"
	[[ $line == READY=1 ]] || { echo "vhostd did not start" >&2; cat "$WORK/vhostd.log" >&2; exit 1; }
}

# stop_vhostd: SIGTERM and wait.
stop_vhostd() {
	kill "$VPID"
	wait "$VPID" || true
	VPID=""
}

# measure RUN LABEL SOCK MODE SIZE [LOGCOST-ARGS]: one pair of windows (off, on), appended to
# the CSV as run RUN.
measure() {
	local run=$1 label=$2 sock=$3 mode=$4 size=$5
	shift 5
	taskset -c 1 "$WORK/logcost" -s "$WORK/$sock" -m "$mode" -S "$size" -r 1 "$@" \
		-w "$WINDOW" -W 500 |
		awk -v s="$label" -v z="$size" -v run="$run" '$1 == "window" {
			for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			printf "%s,%s,%s,%s,%s\n", s, z, run, v["log"], v["mpps"]
		}' >>"$OUT/logging.csv"
}

cc -O2 -Wall -D_GNU_SOURCE -I "$ROOT/tests/frontend" -o "$WORK/logcost" "$HERE/logcost.c" \
	"$ROOT/tests/frontend/vuf.c" "$ROOT/tests/frontend/tutil.c"
mkdir -p "$OUT"
echo "scenario,size,run,log,mpps" >"$OUT/logging.csv"
# Interleaved: every run measures each scenario once (off, then on), and the other build
# (LOGCOST_BASE) right after, so slow and fast phases of the machine hit all of them.
for ((run = 1; run <= RUNS; run++)); do
	start_vhostd "$VHOSTD"
	measure "$run" rx g64.sock rx 64
	measure "$run" rx g1518.sock rx 1514
	measure "$run" tx sink.sock tx 64
	stop_vhostd
	if [[ -n ${LOGCOST_BASE:-} ]]; then
		start_vhostd "$LOGCOST_BASE"
		measure "$run" rx-base g64.sock rx 64 -n
		stop_vhostd
	fi
done

python3 - "$OUT/logging.csv" >"$OUT/logging.md" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print("| scenario | frame | logging off Mpps (median, min-max) | logging on Mpps | on / off |")
print("|---|---|---|---|---|")
for key in dict.fromkeys((r["scenario"], r["size"]) for r in rows):
    sel = [r for r in rows if (r["scenario"], r["size"]) == key]
    off = [float(r["mpps"]) for r in sel if r["log"] == "off"]
    on = [float(r["mpps"]) for r in sel if r["log"] == "on"]
    if not off:
        continue
    mo = statistics.median(off)
    if not on:
        print(f"| {key[0]} | {key[1]} B | {mo:.2f} ({min(off):.2f}-{max(off):.2f}) | - | - |")
        continue
    mn = statistics.median(on)
    print(f"| {key[0]} | {key[1]} B | {mo:.2f} ({min(off):.2f}-{max(off):.2f}) | "
          f"{mn:.2f} ({min(on):.2f}-{max(on):.2f}) | {mn / mo:.2f} |")
EOF
cat "$OUT/logging.md"
