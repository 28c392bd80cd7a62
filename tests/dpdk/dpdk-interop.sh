#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# dpdk-interop: vhostd against DPDK's virtio-user front-end (dpdk-testpmd), in both directions.
# Usage: dpdk-interop.sh [TAPINJECT [POLL_MODE [QUEUE_COUNTS [QSIZE [VDEV_OPTS]]]]],
# e.g. "tapinject busy '1 4'" or "tapinject event 4 1024 ,packed_vq=1,in_order=1".
#
#   guest TX: testpmd (rxonly, "start tx_first K") transmits a known number of packets; the tap's
#             rx_packets/rx_bytes and vhostd's tx_packets must grow by exactly that number.
#   guest RX: tapinject sends exactly N frames out of the tap, in rounds smaller than the ring
#             (so no back-end has a reason to drop); testpmd's RX-packets/RX-bytes and vhostd's
#             rx_packets (and the tap's tx_packets) must grow by exactly N.
# Both directions run with 64-byte and 1518-byte frames (lengths without FCS; the tap's MTU is
# raised to 1504 so the kernel lets a 1518-byte frame out), first with one queue pair, then with
# two, where testpmd's per-queue xstats must show traffic on both queues in both directions.
# Both directions run several rounds so the 256-entry rings wrap around.
#
# usage: dpdk-interop.sh [TAPINJECT]   (as root; meson passes the built tapinject)
#   VHOSTD                  the daemon (default $VHOSTD_BUILDDIR/vhostd)
#   VHOSTCTL                its control client (default $VHOSTD_BUILDDIR/vhostctl; if missing,
#                           the stats are read from the control socket with python3)
#   DPDK_INTEROP_BACKEND    vhostd (default), or dpdk: the same checks against DPDK's own vhost
#                           back-end (a second testpmd with net_vhost), to prove the harness
#   DPDK_INTEROP_KEEP=1     keep the work directory (logs) after the run
#   DPDK_INTEROP_QSIZE      virtio-user ring size (default 256)
#   DPDK_INTEROP_VDEV       more virtio-user options, e.g. ",packed_vq=1,in_order=1,mrg_rxbuf=0"
#
# Synchronisation: testpmd is driven through two fifos. After each batch of commands the script
# sends a comment line ("# vhostd-sync-N"); testpmd's command line echoes it only once the
# commands before it have finished, so reading up to that echo is the wait. Counters that have
# no event (tap statistics, testpmd's RX count, vhostd's stats) are polled with a deadline.

set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/dpdk/lib.sh
. "$here/lib.sh"

TAPINJECT=${1:-${VHOSTD_BUILDDIR:-}/tests/dpdk/tapinject}
VHOSTD=${VHOSTD:-${VHOSTD_BUILDDIR:-}/vhostd}
VHOSTCTL=${VHOSTCTL:-${VHOSTD_BUILDDIR:-$(dirname "$VHOSTD")}/vhostctl}
BACKEND=${DPDK_INTEROP_BACKEND:-vhostd}

TAP=vhdt0
NS=vhdt-dpdk-$$
BURST=32         # testpmd packets per burst
TX_BURSTS=2      # bursts per queue per tx_first round
POLL=${DPDK_INTEROP_POLL:-${2:-adaptive}} # vhostd's notification mode: event, busy, adaptive
QUEUES=${DPDK_INTEROP_QUEUES:-${3:-"1 2"}} # one session per queue-pair count
SIZES="64 1518"
QSIZE=${DPDK_INTEROP_QSIZE:-${4:-256}}
VDEV_OPTS=${DPDK_INTEROP_VDEV:-${5:-}}
# Enough rounds that every ring wraps around at least once whatever its size.
TX_ROUNDS=$((QSIZE / 64 + 2)) # rounds of 2 * 32: 384 packets per queue for 256-entry rings
RX_CHUNK=128     # frames tapinject sends per round: half the guest's 256 rx buffers
RX_ROUNDS=$((QSIZE / 128 + 6)) # rounds: 8 * 128 = 1024 frames per size for 256 entries
RX_FLOWS=64      # UDP source ports, so a multi-queue tap spreads frames over its queues
COUNT_S=15       # deadline for a counter to reach its expected value

KEEP_WORK=${DPDK_INTEROP_KEEP:-0}
VHOSTD_PID=
NS_MADE=0

# ---------------------------------------------------------------------------------------------
# the back-end: vhostd (with its tap), or DPDK's net_vhost as a reference

# be_start QUEUES: starts the back-end listening on $WORK/sock and waits until it is ready.
be_start() {
	local q=$1 line
	if [[ $BACKEND == dpdk ]]; then
		tp_start be 0 --vdev "net_vhost0,iface=$WORK/sock,queues=$q" -- -i --rxq="$q" \
			--txq="$q" --nb-cores=1 --burst=$BURST --total-num-mbufs=16384 \
			--forward-mode=rxonly --no-flush-rx --mask-event all
		tp_run be "$STARTUP_S" "start"
		return
	fi
	mkfifo "$WORK/ready"
	ip netns exec "$NS" "$VHOSTD" \
		--port "name=p0,socket=$WORK/sock,backend=tap,ifname=$TAP,queues=$q,poll=$POLL" \
		--control "$WORK/ctl" --ready-fd 3 3>"$WORK/ready" 2>>"$WORK/vhostd.log" &
	VHOSTD_PID=$!
	read -r -t 20 line <"$WORK/ready"
	rm -f "$WORK/ready"
	[[ $line == READY=1 ]] || fail "vhostd did not become ready (got '$line')"
	# 1518-byte frames need MTU 1504 for AF_PACKET to send them; a deep queue means the
	# tap itself never drops what tapinject sends, whatever the daemon's pace.
	ip -n "$NS" link set "$TAP" mtu 1504 txqueuelen 4096 || fail "cannot configure $TAP"
	[[ $(ip netns exec "$NS" cat "/sys/class/net/$TAP/operstate") != down ]] ||
		fail "$TAP is down"
}

# be_connected: waits until the back-end sees the front-end connected.
be_connected() {
	[[ $BACKEND == dpdk ]] && return
	wait_until "$COUNT_S" "vhostd state=connected" vhostd_state_is connected
}

# be_snapshot: records the back-end's counters in BE_* (guest TX seen, guest RX delivered).
be_snapshot() {
	if [[ $BACKEND == dpdk ]]; then
		tp_stats be
		BE_GTX_P=$TP_RXP BE_GTX_B=$TP_RXB BE_GRX_P=$TP_TXP BE_GRX_B=$TP_TXB
		return
	fi
	BE_GTX_P=$(tap_stat rx_packets) && BE_GTX_B=$(tap_stat rx_bytes) &&
		BE_GRX_P=$(tap_stat tx_packets) && BE_GRX_B=$(tap_stat tx_bytes) &&
		BE_TAP_DROP=$(tap_stat tx_dropped) || exit 1
	vhostd_stats
	VS_TX=$(vs_field tx_packets) && VS_RX=$(vs_field rx_packets) || exit 1
}

# be_gtx_reached N: succeeds once the back-end has taken N more guest packets than at $BASE_GTX.
be_gtx_reached() {
	local now
	if [[ $BACKEND == dpdk ]]; then
		tp_stats be
		now=$TP_RXP
	else
		now=$(tap_stat rx_packets) || exit 1
	fi
	((now - BASE_GTX >= $1))
}

# be_inject SIZE: makes the back-end send frames of SIZE bytes to the guest; sets INJECTED.
be_inject() {
	local size=$1 before
	if [[ $BACKEND == dpdk ]]; then
		tp_stats be
		before=$TP_TXP
		tp_run be "$CMD_S" "stop" "set txpkts $size" "start tx_first $TX_BURSTS"
		tp_stats be
		INJECTED=$((TP_TXP - before))
		return
	fi
	ip netns exec "$NS" "$TAPINJECT" -i "$TAP" -n "$RX_CHUNK" -s "$size" -f "$RX_FLOWS" \
		>>"$WORK/tapinject.log" 2>&1 || fail "tapinject could not send $RX_CHUNK frames"
	INJECTED=$RX_CHUNK
}

# be_stop: stops the back-end; vhostd must exit 0 on SIGTERM.
be_stop() {
	local rc
	if [[ $BACKEND == dpdk ]]; then
		tp_quit be
		return
	fi
	stop_pid "$VHOSTD_PID" 10
	rc=$?
	VHOSTD_PID=
	((rc == 0)) || fail "vhostd exited with status $rc on SIGTERM"
}

# ---------------------------------------------------------------------------------------------
# the checks

# fe_rx_reached N: succeeds once testpmd's RX-packets passed $BASE_GRX by at least N.
fe_rx_reached() {
	tp_stats fe
	((TP_RXP - BASE_GRX >= $1))
}

# check_guest_tx Q SIZE: testpmd transmits TX_ROUNDS rounds of tx_first; every packet must
# reach the tap (and vhostd's tx_packets), no more, with the right byte count.
check_guest_tx() {
	local q=$1 size=$2 per_round round sent
	local fe_txp0 fe_txb0 gtx_p0 gtx_b0 vs_tx0
	per_round=$((TX_BURSTS * BURST * q))
	tp_run fe "$CMD_S" "stop" "set txpkts $size"
	tp_stats fe
	fe_txp0=$TP_TXP fe_txb0=$TP_TXB
	be_snapshot
	gtx_p0=$BE_GTX_P gtx_b0=$BE_GTX_B vs_tx0=${VS_TX:-0}
	for ((round = 1; round <= TX_ROUNDS; round++)); do
		BASE_GTX=$gtx_p0
		tp_run fe "$CMD_S" "stop" "start tx_first $TX_BURSTS"
		# tx_first returns after its bursts; each round waits for the back-end, so at
		# most two rounds are ever in flight and testpmd never finds its ring full.
		wait_until "$COUNT_S" "back-end to take $((round * per_round)) guest packets" \
			be_gtx_reached $((round * per_round))
	done
	tp_stats fe
	sent=$((TP_TXP - fe_txp0))
	expect_eq "q=$q size=$size testpmd TX-packets" "$sent" $((TX_ROUNDS * per_round))
	expect_eq "q=$q size=$size testpmd TX-bytes" $((TP_TXB - fe_txb0)) $((sent * size))
	be_snapshot
	expect_eq "q=$q size=$size back-end packets from guest" $((BE_GTX_P - gtx_p0)) "$sent"
	expect_eq "q=$q size=$size back-end bytes from guest" $((BE_GTX_B - gtx_b0)) \
		$((sent * size))
	if [[ $BACKEND == vhostd ]]; then
		wait_until "$COUNT_S" "vhostd tx_packets to reach +$sent" vs_delta_is tx_packets \
			"$vs_tx0" "$sent"
	fi
	log "guest TX q=$q size=$size: $sent packets, testpmd == back-end"
}

# check_guest_rx Q SIZE: the back-end sends frames of SIZE bytes to the guest, RX_ROUNDS rounds
# of fewer frames than the guest has buffers; testpmd must receive every one, no more, with the
# right byte count.
check_guest_rx() {
	local q=$1 size=$2 round total=0 got grx_p0 grx_b0 vs_rx0 drop0 fe_rxb0
	tp_stats fe
	BASE_GRX=$TP_RXP fe_rxb0=$TP_RXB
	be_snapshot
	grx_p0=$BE_GRX_P grx_b0=$BE_GRX_B vs_rx0=${VS_RX:-0} drop0=${BE_TAP_DROP:-0}
	for ((round = 1; round <= RX_ROUNDS; round++)); do
		be_inject "$size"
		((INJECTED > 0)) || fail "q=$q size=$size: the back-end sent nothing"
		total=$((total + INJECTED))
		# The next round starts only when this one has arrived: the guest's ring never
		# runs out of buffers, so every frame has a place to go.
		wait_until "$COUNT_S" "testpmd to receive $total frames" fe_rx_reached "$total"
	done
	tp_stats fe
	got=$((TP_RXP - BASE_GRX))
	expect_eq "q=$q size=$size testpmd RX-packets" "$got" "$total"
	expect_eq "q=$q size=$size testpmd RX-bytes" $((TP_RXB - fe_rxb0)) $((total * size))
	if [[ $BACKEND == vhostd ]]; then
		wait_until "$COUNT_S" "vhostd rx_packets to reach +$total" vs_delta_is \
			rx_packets "$vs_rx0" "$total"
		be_snapshot
		expect_eq "q=$q size=$size tap tx_packets" $((BE_GRX_P - grx_p0)) "$total"
		expect_eq "q=$q size=$size tap tx_bytes" $((BE_GRX_B - grx_b0)) $((total * size))
		expect_eq "q=$q size=$size tap tx_dropped" $((BE_TAP_DROP - drop0)) 0
	fi
	log "guest RX q=$q size=$size: $got frames, back-end == testpmd"
}

# check_rx_content SIZE: one frame from tapinject, dumped by testpmd (verbose 1), must arrive with
# tapinject's MACs, ethertype and length, and parse as IPv4/UDP. The dump is printed by the
# forwarding lcore, so no command is in flight while the script waits for it.
check_rx_content() {
	local size=$1 want
	[[ $BACKEND == vhostd ]] || return 0
	tp_run fe "$CMD_S" "set verbose 1"
	ip netns exec "$NS" "$TAPINJECT" -i "$TAP" -n 1 -s "$size" >>"$WORK/tapinject.log" 2>&1 ||
		fail "tapinject could not send 1 frame"
	tp_read_until fe "$COUNT_S" "*dst=02:76:68:64:00:02*" "dump of the injected frame"
	want="*src=02:76:68:64:00:01 - dst=02:76:68:64:00:02 - * - type=0x0800 - length=$size -*"
	# shellcheck disable=SC2053 # want is a glob on purpose
	[[ $TP_LINE == $want ]] || fail "injected frame arrived altered: $TP_LINE"
	[[ $TP_LINE == *"sw ptype: L2_ETHER L3_IPV4 L4_UDP"* ]] ||
		fail "injected frame does not parse as IPv4/UDP: $TP_LINE"
	tp_run fe "$CMD_S" "set verbose 0"
	log "guest RX size=$size: frame content intact (MACs, ethertype, length, IPv4/UDP)"
}

# check_queues Q: with Q > 1, testpmd's per-queue xstats must show packets on every queue,
# both directions, adding up to the port totals.
check_queues() {
	local q=$1 i dir n sum
	((q > 1)) || return 0
	tp_stats fe
	local rx_total=$TP_RXP tx_total=$TP_TXP
	tp_run fe "$CMD_S" "show port xstats 0"
	for dir in rx tx; do
		sum=0
		for ((i = 0; i < q; i++)); do
			n=$(tp_field "${dir}_q${i}_good_packets") || exit 1
			((n > 0)) || fail "queue $i had no $dir traffic (xstats ${dir}_q${i}_good_packets=0)"
			sum=$((sum + n))
			log "  ${dir}_q${i}_good_packets=$n"
		done
		if [[ $dir == rx ]]; then
			expect_eq "sum of rx queue packets" "$sum" "$rx_total"
		else
			expect_eq "sum of tx queue packets" "$sum" "$tx_total"
		fi
	done
	log "queues=$q: traffic on every queue in both directions"
}

# run_session Q: one back-end and one testpmd with Q queue pairs, every size both ways.
run_session() {
	local q=$1 size cpu
	cpu=$(($(nproc) - 1))
	log "session queues=$q: starting $BACKEND back-end"
	be_start "$q"
	log "virtio-user: queues=$q,queue_size=$QSIZE$VDEV_OPTS"
	tp_start fe "$cpu" --vdev "net_virtio_user0,path=$WORK/sock,queues=$q,queue_size=$QSIZE$VDEV_OPTS" \
		-- -i --rxq="$q" --txq="$q" --nb-cores=1 --burst=$BURST --txpkts=64 \
		--total-num-mbufs=16384 --forward-mode=rxonly --no-flush-rx --mask-event all
	tp_run fe "$STARTUP_S" "show port info 0"
	[[ $TP_OUTPUT == *"Link status: up"* ]] || log "note: testpmd reports the link down"
	be_connected
	[[ $BACKEND == vhostd ]] && log "vhostd: $VS_LINE"
	tp_run fe "$CMD_S" "start"
	for size in $SIZES; do
		check_guest_tx "$q" "$size"
		check_guest_rx "$q" "$size"
		check_rx_content "$size"
	done
	check_queues "$q"
	tp_run fe "$CMD_S" "stop"
	if [[ $BACKEND == vhostd ]]; then
		vhostd_stats
		log "vhostd: $VS_LINE"
		expect_eq "vhostd ring_faults" "$(vs_field ring_faults)" 0
	fi
	tp_quit fe
	if [[ $BACKEND == vhostd ]]; then
		# The port must go back to waiting for the next front-end.
		wait_until "$COUNT_S" "vhostd state=waiting after testpmd quit" \
			vhostd_state_is waiting
	fi
	be_stop
	rm -f "$WORK/sock" "$WORK/ctl"
}

main() {
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
	*) fail "DPDK_INTEROP_BACKEND must be vhostd or dpdk" ;;
	esac
	trap cleanup EXIT
	trap 'exit 1' HUP INT TERM
	WORK=$(mktemp -d /tmp/vhostd-dpdk.XXXXXX) || fail "mktemp"
	setup_hugepages
	# IPv6 off (netns_up), so the kernel sends nothing unsolicited on the tap.
	if [[ $BACKEND == vhostd ]]; then
		netns_up "$NS"
		NS_MADE=1
	fi
	local q
	for q in $QUEUES; do
		run_session "$q"
	done
	log "PASS ($BACKEND back-end, poll=$POLL, queues: $QUEUES)"
}

main "$@"
