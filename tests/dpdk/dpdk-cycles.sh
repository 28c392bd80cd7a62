#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# dpdk-cycles: N connect/disconnect cycles of a DPDK virtio-user front-end against one vhostd
# (server mode, tap back-end in a namespace), with traffic both ways in every cycle; afterwards
# vhostd must hold no more file descriptors, mappings or memory than before.
#
# One interactive testpmd stays up; each cycle hot-plugs a new virtio-user device into it
# ("port attach net_virtio_userK,path=SOCK"): a new connection to vhostd and the whole
# vhost-user set-up (features, memory table with a new memfd, rings, kick/call eventfds), then
# "port start", traffic, and "port stop/close/detach", which closes the connection. That is a
# real front-end coming and going, without the second or so EAL start-up of a new process.
#
# Every cycle asserts: vhostd reports the port connected; testpmd sends one burst (tx_first,
# PER_CYCLE frames) and vhostd's tx_packets grows by exactly PER_CYCLE; tapinject sends
# PER_CYCLE frames out of the tap and testpmd's RX-packets and vhostd's rx_packets grow by
# exactly PER_CYCLE; after the detach vhostd reports the port waiting. At the end the tap's
# rx_packets and tx_packets are both N x PER_CYCLE exactly (IPv6 is off in the namespace, so
# nothing else crosses the tap) and no ring faulted.
#
# Resources of the vhostd process, between cycles (port waiting, no front-end). The reference is
# the value after the first cycle: the first connection makes the worker's io_uring (one fd,
# three mappings) and warms the allocator, once; the values before it are printed too.
#   open fds (/proc/PID/fd)    equal to the reference: margin 0. In the waiting state vhostd
#                              holds a fixed set (sockets, tap queue, epoll, eventfds, timer,
#                              io_uring), so any difference is a leaked descriptor.
#   mappings (/proc/PID/maps)  equal to the reference: margin 0 (a memory table or ring left
#                              mapped would show here, whatever its size).
#   HugetlbPages               equal to the value before the first cycle (0 kB): the guest's
#                              hugepage memory is unmapped at every disconnect.
#   VmRSS                      at most RSS_MARGIN_KB (256 kB) above the reference. Measured: it
#                              grows by 40 kB (allocator and stack pages) within the first ~100
#                              cycles and then stays flat to cycle 1000. The margin absorbs that
#                              and still catches a leak of 256 kB / N a cycle: 262 bytes a cycle
#                              over 1000 cycles, 5 kB a cycle over 50.
# Run time here: about 140 ms a cycle (2.5 min for 1000).
#
# usage: dpdk-cycles.sh [--cycles N] [--no-rss] [TAPINJECT]   (as root; meson passes the built
#        tapinject; --no-rss for a sanitizer build: ASan keeps freed memory in its quarantine,
#        so resident memory grows by design there, and leaks are LeakSanitizer's to report when
#        the daemon exits, which this script checks through its exit status)
#   VHOSTD, VHOSTCTL         the daemon and its control client (default from VHOSTD_BUILDDIR)
#   DPDK_CYCLES_KEEP=1       keep the work directory (logs) after the run
#
# Synchronisation: testpmd's command echo (see lib.sh); counters and vhostd's port state, which
# have no event, are polled with a deadline.

set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/dpdk/lib.sh
. "$here/lib.sh"

CYCLES=50
CHECK_RSS=1
TAPINJECT=
while (($#)); do
	case $1 in
	--cycles)
		CYCLES=$2
		shift 2
		;;
	--no-rss)
		CHECK_RSS=0
		shift
		;;
	-*)
		echo "usage: $0 [--cycles N] [--no-rss] [TAPINJECT]" >&2
		exit 2
		;;
	*)
		TAPINJECT=$1
		shift
		;;
	esac
done
TAPINJECT=${TAPINJECT:-${VHOSTD_BUILDDIR:-}/tests/dpdk/tapinject}
VHOSTD=${VHOSTD:-${VHOSTD_BUILDDIR:-}/vhostd}
VHOSTCTL=${VHOSTCTL:-${VHOSTD_BUILDDIR:-$(dirname "$VHOSTD")}/vhostctl}
KEEP_WORK=${DPDK_CYCLES_KEEP:-0}

TAP=vhdt0
NS=vhdt-cyc-$$
PER_CYCLE=32      # frames each way per cycle: one testpmd burst, one tapinject batch
COUNT_S=15        # deadline for a counter or state
RSS_MARGIN_KB=256 # see the header
REPORT_EVERY=100  # a progress line every so many cycles

VHOSTD_PID=
NS_MADE=0
VS_TX=0
VS_RX=0

# vhostd_counts_are STATE TX RX: succeeds when port p0 is in STATE with tx_packets TX and
# rx_packets RX; fails the test if a counter went past its value or a ring faulted.
vhostd_counts_are() {
	local st tx rx
	vhostd_stats
	st=$(vs_field state) && tx=$(vs_field tx_packets) && rx=$(vs_field rx_packets) || exit 1
	((tx <= $2)) || fail "vhostd tx_packets $tx, more than the expected $2"
	((rx <= $3)) || fail "vhostd rx_packets $rx, more than the expected $3"
	[[ $(vs_field ring_faults) == 0 ]] || fail "ring fault: $VS_LINE"
	[[ $st == "$1" ]] && ((tx == $2 && rx == $3))
}

# fe_rx_is PORT N: succeeds when testpmd's port PORT received N frames (fails if more).
fe_rx_is() {
	tp_stats fe "$1"
	((TP_RXP <= $2)) || fail "testpmd received $TP_RXP frames, more than the expected $2"
	((TP_RXP == $2))
}

# snapshot: leaves vhostd's open fds, mappings, VmRSS and HugetlbPages in SNAP_*.
snapshot() {
	SNAP_FDS=$(proc_fds "$VHOSTD_PID") && SNAP_MAPS=$(proc_maps "$VHOSTD_PID") &&
		SNAP_RSS=$(proc_status "$VHOSTD_PID" VmRSS) &&
		SNAP_HUGE=$(proc_status "$VHOSTD_PID" HugetlbPages) || exit 1
}

# cycle K: one front-end lifetime: attach, start, traffic both ways, detach.
cycle() {
	local k=$1 port re='Port ([0-9]+) is attached'
	tp_run fe "$CMD_S" "port attach net_virtio_user$k,path=$WORK/sock,queues=1,queue_size=256"
	[[ $TP_OUTPUT =~ $re ]] || fail "cycle $k: testpmd did not attach the port: $TP_OUTPUT"
	port=${BASH_REMATCH[1]}
	tp_run fe "$CMD_S" "port start $port" "start tx_first 1"
	VS_TX=$((VS_TX + PER_CYCLE))
	wait_fast "$COUNT_S" "cycle $k: vhostd connected, tx_packets $VS_TX" \
		vhostd_counts_are connected "$VS_TX" "$VS_RX"
	ip netns exec "$NS" "$TAPINJECT" -i "$TAP" -n "$PER_CYCLE" -s 64 >>"$WORK/tapinject.log" 2>&1 ||
		fail "cycle $k: tapinject could not send $PER_CYCLE frames"
	VS_RX=$((VS_RX + PER_CYCLE))
	wait_fast "$COUNT_S" "cycle $k: testpmd to receive $PER_CYCLE frames" fe_rx_is "$port" \
		"$PER_CYCLE"
	tp_run fe "$CMD_S" "stop" "port stop $port" "port close $port" "port detach $port"
	wait_fast "$COUNT_S" "cycle $k: vhostd waiting again, rx_packets $VS_RX" \
		vhostd_counts_are waiting "$VS_TX" "$VS_RX"
}

main() {
	local k t0 t1 cpu fds0 maps0 rss0 huge0 fds1 rss1 maps1 tx rx
	now_ms START_MS
	[[ $(id -u) == 0 ]] || fail "must run as root"
	[[ $CYCLES =~ ^[1-9][0-9]*$ ]] || fail "--cycles wants a positive number"
	command -v dpdk-testpmd >/dev/null || fail "dpdk-testpmd not found (Debian package dpdk)"
	command -v stdbuf >/dev/null || fail "stdbuf not found (coreutils)"
	[[ -x $VHOSTD ]] || fail "vhostd not found at '$VHOSTD' (set VHOSTD)"
	[[ -x $TAPINJECT ]] || fail "tapinject not found at '$TAPINJECT'"
	trap cleanup EXIT
	trap 'exit 1' HUP INT TERM
	WORK=$(mktemp -d /tmp/vhostd-dpdk-cycles.XXXXXX) || fail "mktemp"
	setup_hugepages
	netns_up "$NS"
	NS_MADE=1
	vhostd_launch "$NS" "$WORK/ctl" "name=p0,socket=$WORK/sock,backend=tap,ifname=$TAP"
	[[ $(</proc/"$VHOSTD_PID"/comm) == vhostd ]] || fail "pid $VHOSTD_PID is not vhostd"
	ip -n "$NS" link set "$TAP" txqueuelen 4096 || fail "cannot configure $TAP"
	cpu=$(($(nproc) - 1))
	# No port at start: every front-end is hot-plugged by a cycle.
	tp_start fe "$cpu" -- -i --nb-cores=1 --burst=32 --txpkts=64 --total-num-mbufs=16384 \
		--forward-mode=rxonly --no-flush-rx --mask-event all --disable-link-check
	tp_run fe "$STARTUP_S" "show port summary all"
	wait_until "$COUNT_S" "vhostd state=waiting" vhostd_state_is waiting
	snapshot
	fds0=$SNAP_FDS maps0=$SNAP_MAPS rss0=$SNAP_RSS huge0=$SNAP_HUGE
	log "before: vhostd fds=$fds0 maps=$maps0 VmRSS=${rss0} kB HugetlbPages=${huge0} kB"

	now_ms t0
	cycle 1
	snapshot
	fds1=$SNAP_FDS rss1=$SNAP_RSS maps1=$SNAP_MAPS
	log "after cycle 1: vhostd fds=$SNAP_FDS maps=$SNAP_MAPS VmRSS=${SNAP_RSS} kB" \
		"HugetlbPages=${SNAP_HUGE} kB"
	for ((k = 2; k <= CYCLES; k++)); do
		cycle "$k"
		if ((k % REPORT_EVERY == 0)); then
			snapshot
			now_ms t1
			log "after cycle $k: vhostd fds=$SNAP_FDS maps=$SNAP_MAPS VmRSS=${SNAP_RSS} kB," \
				"$(((t1 - t0) / k)) ms a cycle"
		fi
	done
	now_ms t1

	# Every cycle's traffic, counted by the tap over the whole run.
	tx=$(tap_stat rx_packets) && rx=$(tap_stat tx_packets) || exit 1
	expect_eq "tap rx_packets (frames the guests sent)" "$tx" $((CYCLES * PER_CYCLE))
	expect_eq "tap tx_packets (frames the guests received)" "$rx" $((CYCLES * PER_CYCLE))
	vhostd_stats
	log "vhostd: $VS_LINE"
	expect_eq "vhostd ring_faults" "$(vs_field ring_faults)" 0

	snapshot
	log "after $CYCLES cycles: vhostd fds=$SNAP_FDS (after cycle 1: $fds1, before: $fds0)," \
		"maps=$SNAP_MAPS (after cycle 1: $maps1, before: $maps0), VmRSS=${SNAP_RSS} kB (after" \
		"cycle 1: ${rss1} kB, before: ${rss0} kB), HugetlbPages=${SNAP_HUGE} kB (before: ${huge0} kB)"
	expect_eq "vhostd open fds after $CYCLES cycles" "$SNAP_FDS" "$fds1"
	expect_eq "vhostd mappings after $CYCLES cycles" "$SNAP_MAPS" "$maps1"
	expect_eq "vhostd HugetlbPages after $CYCLES cycles" "$SNAP_HUGE" "$huge0"
	((CHECK_RSS == 0 || SNAP_RSS <= rss1 + RSS_MARGIN_KB)) ||
		fail "vhostd VmRSS ${SNAP_RSS} kB, more than ${rss1} + ${RSS_MARGIN_KB} kB after cycle 1"

	tp_quit fe
	vhostd_stop_clean
	log "PASS: $CYCLES cycles, $((CYCLES * PER_CYCLE)) frames each way, $(fmt_ms $((t1 - t0)))s" \
		"($(((t1 - t0) / CYCLES)) ms a cycle); fds $fds1 -> $SNAP_FDS, maps $maps1 -> $SNAP_MAPS," \
		"VmRSS ${rss1} -> ${SNAP_RSS} kB after cycle 1 -> after cycle $CYCLES"
}

main "$@"
