#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# macvtap-dpdk: DPDK's virtio-user (dpdk-testpmd) through a vhostd macvtap port, exact counts
# both ways, as dpdk-interop does for a tap.
#
# A veth pair stands in for the NIC: nic0 in namespace H (vhostd's; the port's macvtap sits on
# it, mode bridge, MAC 02:76:68:64:00:02, 2 queue pairs), far0 in namespace F, the far side.
#   guest TX: testpmd sends K frames ("start tx_first"); far0's rx_packets/rx_bytes, the
#             macvtap's tx_packets and vhostd's tx_packets must grow by exactly K.
#   guest RX: tapinject sends exactly N frames from far0 to the guest's MAC (64 UDP flows, so
#             the macvtap spreads them over its queues); testpmd's RX-packets/RX-bytes,
#             vhostd's rx_packets and the macvtap's rx_packets must grow by exactly N.
# 64- and 1518-byte frames (the veth's MTU is 1504 so AF_PACKET may send 1518 bytes); testpmd's
# per-queue xstats must show both queues used in both directions.
#
# With --helper PATH (test macvtap-helper) vhostd runs as user nobody with no capability at all
# (CapEff 0) and the macvtap comes from vhostd-net-helper (PATH, copied with cap_net_admin and
# cap_dac_override as file capabilities, access list $NET_HELPER_ACL): the same traffic (64-byte
# frames), then the link's life: port del deletes it (the helper exits and is reaped); a helper
# killed by SIGKILL is reaped too (SIGCHLD), and the link it left is replaced when the port is
# added again; vhostd's SIGTERM deletes that port's link.
#
# usage: macvtap-dpdk.sh TAPINJECT [--helper PATH]   (as root; meson passes the built tapinject)
#   VHOSTD, VHOSTCTL   the daemon and its client; MACVTAP_KEEP=1 keeps the work directory
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/dpdk/lib.sh
. "$here/../dpdk/lib.sh"

TAPINJECT=${1:-${VHOSTD_BUILDDIR:-}/tests/dpdk/tapinject}
HELPER=
[[ ${2:-} == --helper ]] && HELPER=${3:?--helper needs a path}
VHOSTD=${VHOSTD:-${VHOSTD_BUILDDIR:-}/vhostd}
VHOSTCTL=${VHOSTCTL:-$(dirname "$VHOSTD")/vhostctl}
KEEP_WORK=${MACVTAP_KEEP:-0}

NSH=vhmd-h-$$
NSF=vhmd-f-$$
MVT=mvtp0
GUEST_MAC=02:76:68:64:00:02 # tapinject's default destination
Q=2
BURST=32
TX_BURSTS=2
TX_ROUNDS=5
RX_CHUNK=128
RX_ROUNDS=4
COUNT_S=15
VHOSTD_PID=
MADE=0

cleanup_hook() {
	[[ -n $VHOSTD_PID ]] && stop_pid "$VHOSTD_PID" 5
	if ((MADE)); then
		ip netns del "$NSH" 2>/dev/null
		ip netns del "$NSF" 2>/dev/null
	fi
	return 0
}

# stat_of NS IF KEY: prints interface IF's statistics counter KEY in namespace NS.
stat_of() {
	ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3" || fail "cannot read $2 $3"
}

# far_rx_reached N: succeeds once far0 received N more packets than BASE.
far_rx_reached() {
	local now
	now=$(stat_of "$NSF" far0 rx_packets) || exit 1
	((now - BASE >= $1))
}

# fe_rx_reached N: succeeds once testpmd's RX-packets passed BASE by N.
fe_rx_reached() {
	tp_stats fe
	((TP_RXP - BASE >= $1))
}

# check_tx SIZE: guest -> far side, exact.
check_tx() {
	local size=$1 per=$((TX_BURSTS * BURST * Q)) r fe0 far0 farb0 mvt0 vs0 sent
	tp_run fe "$CMD_S" "stop" "set txpkts $size"
	tp_stats fe
	fe0=$TP_TXP
	far0=$(stat_of "$NSF" far0 rx_packets) && farb0=$(stat_of "$NSF" far0 rx_bytes) &&
		mvt0=$(stat_of "$NSH" $MVT tx_packets) || exit 1
	vhostd_stats
	vs0=$(vs_field tx_packets) || exit 1
	BASE=$far0
	for ((r = 1; r <= TX_ROUNDS; r++)); do
		tp_run fe "$CMD_S" "stop" "start tx_first $TX_BURSTS"
		wait_until "$COUNT_S" "far0 to receive $((r * per)) frames" far_rx_reached $((r * per))
	done
	tp_stats fe
	sent=$((TP_TXP - fe0))
	expect_eq "size=$size testpmd TX-packets" "$sent" $((TX_ROUNDS * per))
	expect_eq "size=$size far0 rx_packets" $(($(stat_of "$NSF" far0 rx_packets) - far0)) "$sent"
	expect_eq "size=$size far0 rx_bytes" $(($(stat_of "$NSF" far0 rx_bytes) - farb0)) \
		$((sent * size))
	expect_eq "size=$size $MVT tx_packets" $(($(stat_of "$NSH" $MVT tx_packets) - mvt0)) "$sent"
	wait_until "$COUNT_S" "vhostd tx_packets +$sent" vs_delta_is tx_packets "$vs0" "$sent"
	log "guest TX size=$size: $sent frames, testpmd == far0 == macvtap == vhostd"
}

# check_rx SIZE: far side -> guest, exact.
check_rx() {
	local size=$1 r total=0 rxb0 vs0 mvt0
	tp_stats fe
	BASE=$TP_RXP rxb0=$TP_RXB
	vhostd_stats
	vs0=$(vs_field rx_packets) || exit 1
	mvt0=$(stat_of "$NSH" $MVT rx_packets) || exit 1
	for ((r = 1; r <= RX_ROUNDS; r++)); do
		ip netns exec "$NSF" "$TAPINJECT" -i far0 -n $RX_CHUNK -s "$size" -f 64 \
			-d $GUEST_MAC >>"$WORK/tapinject.log" 2>&1 || fail "tapinject failed"
		total=$((total + RX_CHUNK))
		wait_until "$COUNT_S" "testpmd to receive $total frames" fe_rx_reached "$total"
	done
	tp_stats fe
	expect_eq "size=$size testpmd RX-packets" $((TP_RXP - BASE)) "$total"
	expect_eq "size=$size testpmd RX-bytes" $((TP_RXB - rxb0)) $((total * size))
	wait_until "$COUNT_S" "vhostd rx_packets +$total" vs_delta_is rx_packets "$vs0" "$total"
	expect_eq "size=$size $MVT rx_packets" $(($(stat_of "$NSH" $MVT rx_packets) - mvt0)) "$total"
	log "guest RX size=$size: $total frames, tapinject == macvtap == vhostd == testpmd"
}

# helper_setup: the access list, the helper installed with file capabilities in $WORK, and
# RUN_AS: vhostd as user nobody with no capability in any set (setpriv).
helper_setup() {
	mkdir -p "$(dirname "${NET_HELPER_ACL:?the access list the helper reads}")"
	echo "allow nic0" >"$NET_HELPER_ACL" || fail "cannot write $NET_HELPER_ACL"
	cp "$HELPER" "$WORK/net-helper" &&
		setcap cap_net_admin,cap_dac_override+ep "$WORK/net-helper" || fail "setcap"
	chmod 0777 "$WORK"
	RUN_AS=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all)
	PORT_EXTRA=",helper=$WORK/net-helper"
}

# helper_of: prints the pid of the one network helper running for vhostd: its child, or (under
# seccomp, where vhostd cannot gain the helper's capabilities) the child of its launcher.
helper_of() {
	local pids c
	for c in $(pgrep -P "$VHOSTD_PID"); do
		if [[ $(tr '\0' ' ' </proc/$c/cmdline) == *--socketpair=3* ]]; then
			pids+=" $c"
		else
			pids+=" $(pgrep -P "$c" | tr '\n' ' ')"
		fi
	done
	pids=$(echo $pids)
	[[ -n $pids ]] || fail "vhostd runs no network helper"
	[[ $pids != *' '* ]] || fail "vhostd runs more than one helper: $pids"
	echo "$pids"
}

# reaped PID: succeeds once process PID is gone for good (no zombie left).
reaped() {
	[[ ! -e /proc/$1 ]]
}

# check_helper_life: port del deletes the link and ends the helper; a helper killed outright is
# reaped by vhostd; SIGTERM deletes the links of the ports left.
check_helper_life() {
	local pid cap uid
	cap=$(proc_status "$VHOSTD_PID" CapEff) && uid=$(proc_status "$VHOSTD_PID" Uid) || exit 1
	expect_eq "vhostd's CapEff" "$cap" 0000000000000000
	expect_eq "vhostd's uid" "$uid" 65534
	grep -q "macvtap $MVT: 2 queue(s) over nic0 from the network helper" "$WORK/vhostd.log" ||
		fail "vhostd did not log the helper's macvtap"
	pid=$(helper_of) || exit 1
	"$VHOSTCTL" --control "$WORK/ctl" port del p0 || fail "port del p0"
	! ip -n "$NSH" link show $MVT >/dev/null 2>&1 || fail "$MVT left behind after port del"
	# Its own child is reaped before port del returns; the launcher's within a second.
	wait_until 3 "the helper (pid $pid) to be reaped after port del" reaped "$pid"
	log "port del: $MVT deleted, helper $pid exited and reaped"
	"$VHOSTCTL" --control "$WORK/ctl" port add "$SPEC" >/dev/null || fail "port add p0 again"
	ip -n "$NSH" link show $MVT >/dev/null 2>&1 || fail "$MVT not made again"
	pid=$(helper_of) || exit 1
	kill -KILL "$pid"
	wait_until "$COUNT_S" "vhostd to reap the killed helper" reaped "$pid"
	wait_until 3 "vhostd to log the helper's death" grep -qE \
		"macvtap $MVT: the network helper (\(pid $pid\) was killed by signal 9|\(run by the launcher\) ended before)" \
		"$WORK/vhostd.log"
	log "a helper killed by SIGKILL: reaped by vhostd"
	"$VHOSTCTL" --control "$WORK/ctl" port del p0 || fail "port del p0 (helper gone)"
	ip -n "$NSH" link show $MVT >/dev/null 2>&1 || fail "the killed helper's $MVT is not there"
	"$VHOSTCTL" --control "$WORK/ctl" port add "$SPEC" >/dev/null || fail "port add p0, third"
	grep -q "macvtap $MVT: deleted the link a vhostd that is gone (pid $pid)" \
		"$WORK/vhostd.log" || fail "the killed helper's $MVT was not replaced"
	log "its leftover link replaced by the next helper's"
}

# check_queues: testpmd's per-queue xstats show traffic on both queues, both ways.
check_queues() {
	local i dir n
	tp_run fe "$CMD_S" "show port xstats 0"
	for dir in rx tx; do
		for ((i = 0; i < Q; i++)); do
			n=$(tp_field "${dir}_q${i}_good_packets") || exit 1
			((n > 0)) || fail "queue $i had no $dir traffic"
			log "  ${dir}_q${i}_good_packets=$n"
		done
	done
}

main() {
	local size line sizes="64 1518"
	now_ms START_MS
	[[ $(id -u) == 0 ]] || fail "must run as root"
	command -v dpdk-testpmd >/dev/null || fail "dpdk-testpmd not found (Debian package dpdk)"
	[[ -x $VHOSTD && -x $TAPINJECT ]] || fail "missing vhostd or tapinject"
	trap cleanup EXIT
	trap 'exit 1' HUP INT TERM
	WORK=$(mktemp -d /tmp/vhostd-mvdpdk.XXXXXX) || fail "mktemp"
	setup_hugepages
	MADE=1
	netns_up "$NSH"
	netns_up "$NSF"
	ip -n "$NSH" link add nic0 mtu 1504 type veth peer name far0 mtu 1504 netns "$NSF" ||
		fail "veth"
	ip -n "$NSH" link set nic0 up && ip -n "$NSF" link set far0 up || fail "links up"
	RUN_AS=() PORT_EXTRA=
	if [[ -n $HELPER ]]; then
		helper_setup
		sizes=64
	fi
	SPEC="name=p0,socket=$WORK/sock,backend=macvtap,dev=nic0,macvtap_mode=bridge,mac=$GUEST_MAC,queues=$Q$PORT_EXTRA"
	mkfifo "$WORK/ready"
	ip netns exec "$NSH" "${RUN_AS[@]}" "$VHOSTD" --port "$SPEC" \
		--control "$WORK/ctl" --ready-fd 3 3>"$WORK/ready" 2>>"$WORK/vhostd.log" &
	VHOSTD_PID=$!
	read -r -t 20 line <"$WORK/ready"
	[[ $line == READY=1 ]] || fail "vhostd did not become ready (got '$line')"
	tp_start fe "$(($(nproc) - 1))" \
		--vdev "net_virtio_user0,path=$WORK/sock,queues=$Q,queue_size=256" -- -i \
		--rxq=$Q --txq=$Q --nb-cores=1 --burst=$BURST --txpkts=64 --total-num-mbufs=16384 \
		--forward-mode=rxonly --no-flush-rx --mask-event all
	tp_run fe "$STARTUP_S" "show port info 0"
	wait_until "$COUNT_S" "vhostd state=connected" vhostd_state_is connected
	tp_run fe "$CMD_S" "start"
	for size in $sizes; do
		check_tx "$size"
		check_rx "$size"
	done
	check_queues
	vhostd_stats
	expect_eq "vhostd ring_faults" "$(vs_field ring_faults)" 0
	expect_eq "vhostd tx_dropped" "$(vs_field tx_dropped)" 0
	tp_quit fe
	wait_until "$COUNT_S" "vhostd state=waiting" vhostd_state_is waiting
	[[ -n $HELPER ]] && check_helper_life
	vhostd_stop_clean
	! ip -n "$NSH" link show $MVT >/dev/null 2>&1 || fail "$MVT left behind after SIGTERM"
	log "PASS (macvtap bridge mode, $Q queue pairs${HELPER:+, unprivileged vhostd with the helper})"
}

main "$@"
