#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# macvtap-vs-tap: guest TX and RX through a vhostd macvtap port against the same through a tap
# port, interleaved (tap, macvtap, tap, ...), in one run: the issue's target is "as fast as the
# tap path". DPDK virtio-user (testpmd, CPU 1) is the guest; vhostd (poll=busy, one worker)
# runs on CPU 0.
#   tx: testpmd txonly; rate = frames the kernel took from vhostd (the tap's rx_packets, the
#       macvtap's tx_packets) over the window.
#   rx: bench/tapflood (CPU 1) floods the tap, or the far end of the veth under the macvtap
#       (to the guest's MAC); rate = testpmd's RX-packets over the window.
# usage: macvtap-vs-tap.sh (as root, after a build; VHOSTD, TAPFLOOD, RUNS=3, WINDOW=3, SIZE=64)
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/dpdk/lib.sh
. "$here/../tests/dpdk/lib.sh"

VHOSTD=${VHOSTD:-$here/../build/vhostd}
VHOSTCTL=${VHOSTCTL:-$(dirname "$VHOSTD")/vhostctl}
TAPFLOOD=${TAPFLOOD:-}
RUNS=${RUNS:-3}
WINDOW=${WINDOW:-3}
SIZE=${SIZE:-64}
NSH=vhbm-h-$$
NSF=vhbm-f-$$
VHOSTD_PID=
SENDER=
MADE=0

cleanup_hook() {
	[[ -n $SENDER ]] && stop_pid "$SENDER" 2
	[[ -n $VHOSTD_PID ]] && stop_pid "$VHOSTD_PID" 5
	if ((MADE)); then
		ip netns del "$NSH" 2>/dev/null
		ip netns del "$NSF" 2>/dev/null
	fi
	return 0
}

# counter NS IF KEY
counter() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3"; }

# one BACKEND DIR: one measured run; prints Mpps.
one() {
	local be=$1 dir=$2 port line c0 c1 t0 t1 mode=txonly
	[[ $dir == rx ]] && mode=rxonly
	if [[ $be == tap ]]; then
		port="name=p0,socket=$WORK/sock,backend=tap,ifname=vt0,poll=busy"
	else
		port="name=p0,socket=$WORK/sock,backend=macvtap,dev=nic0,macvtap_mode=bridge,mac=02:76:68:64:00:02,poll=busy"
	fi
	rm -f "$WORK/ready" && mkfifo "$WORK/ready"
	ip netns exec "$NSH" taskset -c 0 "$VHOSTD" --port "$port" --workers 1 --cpus 0 \
		--control "$WORK/ctl" --ready-fd 3 3>"$WORK/ready" 2>>"$WORK/vhostd.log" &
	VHOSTD_PID=$!
	read -r -t 20 line <"$WORK/ready"
	[[ $line == READY=1 ]] || fail "vhostd not ready"
	[[ $be == tap ]] && ip -n "$NSH" link set vt0 txqueuelen 10000 up
	[[ $be == macvtap ]] && ip -n "$NSH" link set mvtp0 txqueuelen 10000
	tp_start fe 1 --vdev "net_virtio_user0,path=$WORK/sock,queues=1,queue_size=256" -- -i \
		--nb-cores=1 --burst=32 --txpkts="$SIZE" --total-num-mbufs=16384 \
		--forward-mode=$mode --no-flush-rx --mask-event all
	tp_run fe "$STARTUP_S" "show port summary all"
	wait_until 15 "connected" vhostd_state_is connected
	tp_run fe "$CMD_S" "start"
	if [[ $dir == rx ]]; then
		if [[ $be == tap ]]; then
			ip netns exec "$NSH" taskset -c 1 "$TAPFLOOD" -i vt0 -s "$SIZE" >/dev/null 2>&1 &
		else
			ip netns exec "$NSF" taskset -c 1 "$TAPFLOOD" -i far0 -s "$SIZE" >/dev/null 2>&1 &
		fi
		SENDER=$!
	fi
	sleep 1 # warm-up
	if [[ $dir == tx ]]; then
		if [[ $be == tap ]]; then c0=$(counter "$NSH" vt0 rx_packets); else c0=$(counter "$NSH" mvtp0 tx_packets); fi
	else
		tp_stats fe
		c0=$TP_RXP
	fi
	now_ms t0
	sleep "$WINDOW"
	now_ms t1
	if [[ $dir == tx ]]; then
		if [[ $be == tap ]]; then c1=$(counter "$NSH" vt0 rx_packets); else c1=$(counter "$NSH" mvtp0 tx_packets); fi
	else
		tp_stats fe
		c1=$TP_RXP
	fi
	[[ -n $SENDER ]] && stop_pid "$SENDER" 2
	SENDER=
	tp_quit fe
	stop_pid "$VHOSTD_PID" 5
	VHOSTD_PID=
	[[ $be == tap ]] && ip -n "$NSH" link del vt0
	awk -v p=$((c1 - c0)) -v t=$((t1 - t0)) 'BEGIN { printf "%.3f", p / t / 1000 }'
}

main() {
	local dir run be r
	declare -A res
	now_ms START_MS
	trap cleanup EXIT
	WORK=$(mktemp -d /tmp/vhostd-mvbench.XXXXXX)
	setup_hugepages
	if [[ -z $TAPFLOOD ]]; then
		TAPFLOOD=$WORK/tapflood
		cc -O2 -Wall -o "$TAPFLOOD" "$here/tapflood.c" || fail "cannot build tapflood"
	fi
	MADE=1
	netns_up "$NSH"
	netns_up "$NSF"
	ip -n "$NSH" link add nic0 type veth peer name far0 netns "$NSF"
	ip -n "$NSH" link set nic0 up && ip -n "$NSF" link set far0 txqueuelen 10000 up
	for dir in tx rx; do
		for ((run = 1; run <= RUNS; run++)); do
			for be in tap macvtap; do
				r=$(one $be $dir) || exit 1
				res[$dir,$be]+="$r "
				log "$dir $be run $run: $r Mpps"
			done
		done
	done
	for dir in tx rx; do
		python3 - "$dir" "${res[$dir,tap]}" "${res[$dir,macvtap]}" <<'EOF'
import statistics, sys
d, t, m = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
mt, mm = statistics.median(t), statistics.median(m)
print(f"guest {d.upper()}: tap median {mt:.3f} Mpps {t}, macvtap median {mm:.3f} Mpps {m}, "
      f"macvtap/tap {mm / mt:.2f}")
EOF
	done
}

main "$@"
