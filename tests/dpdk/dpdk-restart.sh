#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# dpdk-restart: vhostd crashes (SIGKILL) and is stopped for an upgrade (SIGTERM) under DPDK
# traffic, and is started again with the same arguments; the traffic must resume by itself.
#
# DPDK's virtio-user reconnects only as the server (server=1 in its vdev arguments), so testpmd
# listens and vhostd runs with mode=client, its tap in a namespace. For each signal:
#   - testpmd floods (txonly, 64-byte frames) through vhostd into the tap;
#   - vhostd gets the signal; the tap must still be there, same ifindex, while vhostd is down;
#   - vhostd starts again with the same arguments and reconnects; the tap must be the same
#     device (not a second one); the tap's rx counter must move again and reach +FLOOD frames,
#     vhostd must report the port connected with no ring fault;
#   - the flood stops; every frame testpmd counted as sent must be on the tap (rx_packets +
#     rx_dropped, counted by the tap across both vhostd lives): none lost, and at most
#     RESEND_MAX more after a SIGKILL (frames written to the tap but not yet marked used are
#     sent again when the ring restarts at its used index), none more after a SIGTERM;
#   - then exact counts after the restart, both directions: testpmd sends TX_BURSTS bursts
#     (tx_first) and the tap and vhostd's tx_packets grow by exactly that; tapinject sends RX
#     frames out of the tap and testpmd's RX-packets and vhostd's rx_packets grow by exactly that.
# The gap (signal to the tap's counter moving again) and the rates are printed.
#
# --packed: virtio-user with packed_vq=1. On a reconnect DPDK resets its packed rings (it
# says "Packets on the fly will be dropped when packed ring reconnecting.", zeroes them and
# sends GET_VRING_BASE first, then base 0x8000): vhostd must start them afresh, not from its
# state file. What sat in the transmit ring is then dropped by DPDK, so up to DROP_MAX (the ring
# size) frames testpmd counted as sent may be missing per restart; beyond that, the same checks.
#
# usage: dpdk-restart.sh [--packed] [TAPINJECT]   (as root; meson passes the built tapinject)
#   VHOSTD, VHOSTCTL          the daemon and its control client (default from VHOSTD_BUILDDIR)
#   DPDK_RESTART_BACKEND      vhostd (default), or dpdk: the same restarts of DPDK's own vhost
#                             back-end (a second testpmd, net_vhost client=1), to prove the harness
#                             and DPDK's reconnection; the tap checks are then skipped
#   DPDK_RESTART_KEEP=1       keep the work directory (logs) after the run
#
# Synchronisation: testpmd's command echo (see lib.sh) and vhostd's --ready-fd; counters, which
# have no event, are polled with a deadline.

set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/dpdk/lib.sh
. "$here/lib.sh"

VDEV_OPTS=""
DROP_MAX=0 # frames testpmd counts as sent that the front-end itself drops on a reconnect
if [[ ${1:-} == --packed ]]; then
	VDEV_OPTS=",packed_vq=1"
	DROP_MAX=256 # queue_size: DPDK drops what its packed transmit ring held
	shift
fi
TAPINJECT=${1:-${VHOSTD_BUILDDIR:-}/tests/dpdk/tapinject}
VHOSTD=${VHOSTD:-${VHOSTD_BUILDDIR:-}/vhostd}
VHOSTCTL=${VHOSTCTL:-${VHOSTD_BUILDDIR:-$(dirname "$VHOSTD")}/vhostctl}
BACKEND=${DPDK_RESTART_BACKEND:-vhostd}
KEEP_WORK=${DPDK_RESTART_KEEP:-0}

TAP=vhdt0
NS=vhdt-rst-$$
BURST=32        # testpmd packets per burst
FLOOD=200000    # frames the flood must move before a signal and again after the restart
RESUME_S=20     # deadline for traffic to resume after a restart
COUNT_S=15      # deadline for a counter to reach its expected value
RESEND_MAX=32   # frames a SIGKILL may repeat on the transmit ring (one burst)
TX_BURSTS=2     # tx_first bursts in the exact guest TX check
TX_ROUNDS=4
RX_CHUNK=128    # tapinject frames per round in the exact guest RX check
RX_ROUNDS=4

VHOSTD_PID=
NS_MADE=0
TAP_IFINDEX=
BE_GTX=0
GTX_FROM=0
GTX_MOVED=
GTX_MOVED_MS=0
REPEATED=0      # frames the tap got beyond what testpmd sent, so far (negative: DPDK dropped)
SETTLE_LAST=-1
RESULTS=()

# tap_ifindex: prints the tap's ifindex (empty if it does not exist).
tap_ifindex() {
	ip -n "$NS" -o link show dev "$TAP" 2>/dev/null | awk -F': ' '{ print $1; exit }'
}

# tap_check WHEN: the tap is the first one (same ifindex), persistent, and the only tun device.
tap_check() {
	local idx n
	[[ $BACKEND == vhostd ]] || return 0
	idx=$(tap_ifindex)
	expect_eq "$1: tap $TAP ifindex" "${idx:-none}" "$TAP_IFINDEX"
	n=$(ip -n "$NS" -d -o link show type tun | grep -c .)
	expect_eq "$1: tun devices in the namespace" "$n" 1
	ip -n "$NS" -d -o link show dev "$TAP" | grep -q ' persist on ' ||
		fail "$1: tap $TAP is not persistent"
}

# ---------------------------------------------------------------------------------------------
# the back-end: vhostd (client, with its tap), or DPDK's net_vhost (client=1) as a reference

# be_start: starts the back-end with the same arguments every time; it connects to testpmd.
be_start() {
	if [[ $BACKEND == dpdk ]]; then
		tp_start be 0 --vdev "net_vhost0,iface=$WORK/sock,client=1,queues=1" -- -i \
			--nb-cores=1 --burst=$BURST --total-num-mbufs=16384 --forward-mode=rxonly \
			--no-flush-rx --mask-event all
		tp_run be "$STARTUP_S" "start"
		return
	fi
	vhostd_launch "$NS" "$WORK/ctl" "name=p0,socket=$WORK/sock,backend=tap,ifname=$TAP,mode=client"
}

# be_signal SIGNAL: delivers SIGNAL to the back-end and reaps it; vhostd must exit 0 on SIGTERM.
be_signal() {
	local rc
	if [[ $BACKEND == dpdk ]]; then
		tp_kill be "$1"
		return
	fi
	kill "-$1" "$VHOSTD_PID"
	wait "$VHOSTD_PID" 2>/dev/null
	rc=$?
	VHOSTD_PID=
	[[ $1 != TERM ]] || ((rc == 0)) || fail "vhostd exited with status $rc on SIGTERM"
}

# be_connected: waits until the back-end has the front-end connected and running.
be_connected() {
	[[ $BACKEND == dpdk ]] && return
	wait_until "$COUNT_S" "vhostd state=connected" vhostd_state_is connected
}

# be_gtx: leaves in BE_GTX the frames the back-end has taken from the guest: the tap's
# rx_packets plus rx_dropped (the tap counts across vhostd's lives), or the reference testpmd's
# RX-packets. (A variable, not output: testpmd must not be driven from a subshell.)
be_gtx() {
	local p d
	if [[ $BACKEND == dpdk ]]; then
		tp_stats be
		BE_GTX=$TP_RXP
		return
	fi
	p=$(tap_stat rx_packets) && d=$(tap_stat rx_dropped) || exit 1
	BE_GTX=$((p + d))
}

# be_gtx_settled: true when the back-end's guest-TX count is what the previous call read.
be_gtx_settled() {
	be_gtx
	[[ $BE_GTX == "$SETTLE_LAST" ]] && return 0
	SETTLE_LAST=$BE_GTX
	return 1
}

# be_gtx_reached N: succeeds once BE_GTX is at least N; records the first value seen that
# differs from GTX_FROM, and when, in GTX_MOVED/GTX_MOVED_MS.
be_gtx_reached() {
	be_gtx
	if [[ -z $GTX_MOVED ]] && ((BE_GTX != GTX_FROM)); then
		GTX_MOVED=$BE_GTX
		now_ms GTX_MOVED_MS
	fi
	((BE_GTX >= $1))
}

# resumed WHEN N: be_gtx_reached N, but fails at once, with vhostd's own words, when vhostd
# has stopped a ring of the reconnected front-end.
resumed() {
	if [[ $BACKEND == vhostd ]]; then
		vhostd_stats
		[[ $(vs_field ring_faults) == 0 ]] ||
			fail "$1: vhostd stopped a ring after the reconnect ($VS_LINE): $(grep -m2 'ring stopped' "$WORK/vhostd.log" | tr '\n' ' ')"
	fi
	be_gtx_reached "$2"
}

# be_inject N SIZE: makes the back-end send N frames of SIZE bytes to the guest.
be_inject() {
	if [[ $BACKEND == dpdk ]]; then
		tp_run be "$CMD_S" "stop" "set txpkts $2" "start tx_first $(($1 / BURST))"
		return
	fi
	ip netns exec "$NS" "$TAPINJECT" -i "$TAP" -n "$1" -s "$2" >>"$WORK/tapinject.log" 2>&1 ||
		fail "tapinject could not send $1 frames"
}

# ---------------------------------------------------------------------------------------------
# the scenario

# fe_rx_reached N: succeeds once testpmd's RX-packets reached N.
fe_rx_reached() {
	tp_stats fe
	((TP_RXP >= $1))
}

# vs_reached KEY N: succeeds once vhostd's KEY reached N (fails if it went past).
vs_reached() {
	local v
	vhostd_stats
	v=$(vs_field "$1") || exit 1
	((v <= $2)) || fail "vhostd $1 is $v, more than the expected $2"
	((v == $2))
}

# restart SIGNAL: the whole cycle described at the top, for one signal.
restart() {
	local sig=$1 t0 t_sig t_ready t_end gtx0 at_ready fe_tx got='' extra='' idx gap
	local rate_before rate_after
	log "== SIG$sig under traffic"
	tp_run fe "$CMD_S" "stop" "set fwd txonly" "set txpkts 64" "start"
	now_ms t0
	be_gtx
	gtx0=$BE_GTX GTX_FROM=$BE_GTX GTX_MOVED=
	wait_until "$RESUME_S" "the flood to move $FLOOD frames before SIG$sig" \
		be_gtx_reached $((gtx0 + FLOOD))
	now_ms t_sig
	rate_before=$(((BE_GTX - gtx0) * 1000 / (t_sig - t0 + 1)))

	be_signal "$sig"
	if [[ $BACKEND == vhostd ]]; then
		idx=$(tap_ifindex)
		expect_eq "SIG$sig: tap $TAP ifindex while vhostd is down" "${idx:-none}" "$TAP_IFINDEX"
	fi
	be_start
	now_ms t_ready
	tap_check "SIG$sig: after the restart"
	be_gtx
	at_ready=$BE_GTX GTX_FROM=$BE_GTX GTX_MOVED=
	wait_until "$RESUME_S" "guest TX to resume after SIG$sig (the back-end to take +$FLOOD)" \
		resumed "SIG$sig" $((at_ready + FLOOD))
	gap=$((GTX_MOVED_MS - t_sig))
	be_connected
	if [[ $BACKEND == vhostd ]]; then
		expect_eq "SIG$sig: vhostd ring_faults" "$(vs_field ring_faults)" 0
	fi
	# The rate after, over as many frames as before.
	now_ms t0
	gtx0=$BE_GTX GTX_FROM=$BE_GTX GTX_MOVED=
	wait_until "$RESUME_S" "the flood to move $FLOOD more frames after SIG$sig" \
		be_gtx_reached $((gtx0 + FLOOD))
	now_ms t_end
	rate_after=$(((BE_GTX - gtx0) * 1000 / (t_end - t0 + 1)))

	# Conservation: what testpmd sent is on the tap, with at most one burst repeated.
	tp_run fe "$CMD_S" "stop"
	tp_stats fe
	fe_tx=$TP_TXP
	if [[ $BACKEND == vhostd ]]; then
		# Short of this, frames testpmd sent were lost. (A frame still on its way past
		# it would break check_exact's exact count next.)
		wait_until "$COUNT_S" "the tap to count all $fe_tx frames testpmd sent (+$REPEATED repeated before, -$DROP_MAX DPDK may drop)" \
			be_gtx_reached $((fe_tx + REPEATED - DROP_MAX))
		if ((DROP_MAX)); then
			# Short of the exact total, the count is final once it stops moving.
			wait_until "$COUNT_S" "the tap's count to settle" be_gtx_settled
		fi
		got=$BE_GTX
		extra=$((got - fe_tx - REPEATED))
		REPEATED=$((REPEATED + extra))
		if [[ $sig == KILL ]]; then
			((extra <= RESEND_MAX)) ||
				fail "SIGKILL: the tap got $extra frames more than testpmd sent (max $RESEND_MAX)"
		elif ((DROP_MAX == 0)); then
			expect_eq "SIGTERM: frames on the tap - frames testpmd sent" "$extra" 0
		else
			((extra <= 0)) || fail "SIGTERM: the tap got $extra frames more than testpmd sent"
		fi
	fi
	log "SIG$sig: flood ${rate_before} fps before; signal -> back-end ready" \
		"$(fmt_ms $((t_ready - t_sig)))s -> traffic moving again $(fmt_ms "$gap")s;" \
		"${rate_after} fps after; testpmd sent $fe_tx in total, the tap got ${got:-n/a}" \
		"(${extra:-n/a} repeated)"
	RESULTS+=("SIG$sig: gap $(fmt_ms "$gap")s (back-end ready after $(fmt_ms $((t_ready - t_sig)))s), flood ${rate_before} fps before, ${rate_after} fps after; testpmd TX total $fe_tx, tap total ${got:-n/a}, repeated ${extra:-n/a}")
	check_exact "SIG$sig"
}

# check_exact WHEN: exact counts both ways (once before any restart, then after each):
# tx_first bursts reach the tap and vhostd's tx_packets, frames from tapinject reach testpmd
# and vhostd's rx_packets.
check_exact() {
	local when=$1 round per_round=$((TX_BURSTS * BURST)) gtx0 vs_tx0 vs_rx0 fe_rx0 total=0
	tp_run fe "$CMD_S" "stop" "set fwd rxonly"
	tp_stats fe
	fe_rx0=$TP_RXP
	be_gtx
	gtx0=$BE_GTX
	if [[ $BACKEND == vhostd ]]; then
		vhostd_stats
		vs_tx0=$(vs_field tx_packets) && vs_rx0=$(vs_field rx_packets) || exit 1
	fi
	for ((round = 1; round <= TX_ROUNDS; round++)); do
		tp_run fe "$CMD_S" "stop" "start tx_first $TX_BURSTS"
		wait_until "$COUNT_S" "$when: $((round * per_round)) guest frames on the back-end" \
			be_gtx_reached $((gtx0 + round * per_round))
	done
	be_gtx
	expect_eq "$when: frames the back-end took" $((BE_GTX - gtx0)) $((TX_ROUNDS * per_round))
	for ((round = 1; round <= RX_ROUNDS; round++)); do
		be_inject "$RX_CHUNK" 64
		total=$((total + RX_CHUNK))
		wait_until "$COUNT_S" "$when: testpmd to receive $total frames" fe_rx_reached \
			$((fe_rx0 + total))
	done
	tp_stats fe
	expect_eq "$when: frames testpmd received" $((TP_RXP - fe_rx0)) "$total"
	if [[ $BACKEND == vhostd ]]; then
		wait_until "$COUNT_S" "$when: vhostd tx_packets +$((TX_ROUNDS * per_round))" \
			vs_reached tx_packets $((vs_tx0 + TX_ROUNDS * per_round))
		wait_until "$COUNT_S" "$when: vhostd rx_packets +$total" vs_reached rx_packets \
			$((vs_rx0 + total))
		expect_eq "$when: vhostd ring_faults" "$(vs_field ring_faults)" 0
	fi
	log "$when: exact counts: guest TX $((TX_ROUNDS * per_round)), guest RX $total"
}

main() {
	local cpu
	now_ms START_MS
	[[ $(id -u) == 0 ]] || fail "must run as root"
	command -v dpdk-testpmd >/dev/null || fail "dpdk-testpmd not found (Debian package dpdk)"
	command -v stdbuf >/dev/null || fail "stdbuf not found (coreutils)"
	case $BACKEND in
	vhostd)
		[[ -x $VHOSTD ]] || fail "vhostd not found at '$VHOSTD' (set VHOSTD)"
		[[ -x $TAPINJECT ]] || fail "tapinject not found at '$TAPINJECT'"
		;;
	dpdk) ;;
	*) fail "DPDK_RESTART_BACKEND must be vhostd or dpdk" ;;
	esac
	trap cleanup EXIT
	trap 'exit 1' HUP INT TERM
	WORK=$(mktemp -d /tmp/vhostd-dpdk-restart.XXXXXX) || fail "mktemp"
	setup_hugepages
	if [[ $BACKEND == vhostd ]]; then
		netns_up "$NS"
		NS_MADE=1
	fi
	cpu=$(($(nproc) - 1))
	# virtio-user as the server: it listens on the socket and waits for the back-end there.
	tp_start fe "$cpu" --vdev "net_virtio_user0,path=$WORK/sock,queues=1,queue_size=256,server=1$VDEV_OPTS" \
		-- -i --nb-cores=1 --burst=$BURST --txpkts=64 --total-num-mbufs=16384 \
		--forward-mode=rxonly --no-flush-rx --mask-event all
	be_start
	tp_run fe "$STARTUP_S" "show port info 0"
	be_connected
	if [[ $BACKEND == vhostd ]]; then
		TAP_IFINDEX=$(tap_ifindex)
		[[ -n $TAP_IFINDEX ]] || fail "vhostd made no tap $TAP"
		tap_check "start"
		# Deep queue: the tap never drops what tapinject sends, whatever the daemon's pace.
		ip -n "$NS" link set "$TAP" txqueuelen 4096 || fail "cannot configure $TAP"
	fi
	check_exact "before any restart"
	restart KILL
	restart TERM
	tp_quit fe
	if [[ $BACKEND == vhostd ]]; then
		wait_until "$COUNT_S" "vhostd state=waiting after testpmd quit" vhostd_state_is waiting
		vhostd_stop_clean
	fi
	local r
	for r in "${RESULTS[@]}"; do
		log "result: $r"
	done
	log "PASS ($BACKEND back-end)"
}

main "$@"
