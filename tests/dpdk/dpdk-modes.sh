#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# dpdk-modes: one vhostd (--workers 1) serving four ports in one notification mode, driven by
# DPDK's virtio-user front-end (dpdk-testpmd); no packet may be lost, duplicated or invented
# over long bursts, and every counter must add up exactly.
# Usage: dpdk-modes.sh [POLL_MODE]   (event, busy or adaptive; as root)
#
#   a <-> b  backend=port, cross-connected. testpmd (rxonly) sends ROUNDS rounds of
#            "start tx_first BURSTS" (BURSTS * BURST frames on each port per round; by default
#            100 * 2 * 32 = 6400 each way), each round ended by its echo marker; every PACE
#            rounds the script waits until every frame sent is accounted for, so no more than
#            PACE * BURSTS * BURST (128) frames are ever in flight, half the 256 buffers of a
#            ring. Then, exactly, each way:
#              testpmd TX(a) == a.tx_packets + a.tx_dropped   (every frame handled once)
#              b.rx_packets  == a.tx_packets                  (nothing duplicated or invented)
#              testpmd RX(b) == b.rx_packets                  (and the bytes likewise)
#            and, since a round never holds more frames than the ring has buffers,
#            tx_dropped == 0 and testpmd TX == ROUNDS * BURSTS * BURST.
#            Then FLOOD_ROUNDS unpaced rounds of 32 bursts (1024 frames per port, four rings'
#            worth; testpmd does not poll while it transmits, so b's ring overflows): the same
#            equations must still hold exactly, the drops counted in tx_dropped.
#   s        backend=null (a sink): the same rounds; s.tx_packets == testpmd TX(s), never a drop.
#   g        backend=null,gen=64: a second testpmd receives (rxonly) for GEN_S seconds, its RX
#            count must grow in every GEN_TICK_MS sample (no stall); after "stop" the ring can
#            still take what the guest had posted, so
#              0 <= g.rx_packets - testpmd RX(g) <= 2 x queue size (512), rx_dropped == 0.
#            Why two rings, not one: testpmd's RX count after "stop" trails what it had posted
#            by more than a ring. DPDK's own back-end shows it too: net_null -> net_vhost under
#            the same front-end, stopped the same way, had delivered 352-416 frames more than
#            testpmd counted (9 runs, with and without in_order and mrg_rxbuf), and so did
#            vhostd (352-480) once it published used entries per burst.
#   all      ring_faults == 0, tx_errors == 0 and rx_dropped == 0 on every port; vhostd alive
#            at the end, exits 0 on SIGTERM, and logged no warning or error.
# Each phase's duration and the total are printed.
#
# Environment:
#   VHOSTD, VHOSTCTL         the daemon and its control client (meson sets both)
#   DPDK_MODES_ROUNDS=N      tx_first rounds (default 100)
#   DPDK_MODES_BURSTS=N      bursts per port per round (default 2)
#   DPDK_MODES_PACE=K        wait for the counters every K rounds (default 2; 0: only at the end,
#                            then drops are allowed, but the equations must still hold exactly)
#   DPDK_MODES_FLOOD_ROUNDS=N  unpaced rounds of 1024 frames per port (default 4; 0: none)
#   DPDK_MODES_GEN_S=S       seconds of generator traffic (default 3)
#   DPDK_MODES_KEEP=1        keep the work directory (logs) after the run
#
# Synchronisation: testpmd's echo markers (see lib.sh) end every batch of commands and
# --ready-fd says when vhostd is set up; only counters, which have no event, are polled with a
# deadline.

set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/dpdk/lib.sh
. "$here/lib.sh"

POLL=${1:-${DPDK_MODES_POLL:-adaptive}}
VHOSTD=${VHOSTD:-${VHOSTD_BUILDDIR:-}/vhostd}
VHOSTCTL=${VHOSTCTL:-${VHOSTD_BUILDDIR:-$(dirname "$VHOSTD")}/vhostctl}
ROUNDS=${DPDK_MODES_ROUNDS:-100}
BURSTS=${DPDK_MODES_BURSTS:-2}
PACE=${DPDK_MODES_PACE:-2}
FLOOD_ROUNDS=${DPDK_MODES_FLOOD_ROUNDS:-4}
FLOOD_BURSTS=32  # 1024 frames per port per flood round: four rings' worth
GEN_S=${DPDK_MODES_GEN_S:-3}
KEEP_WORK=${DPDK_MODES_KEEP:-0} # read by lib.sh's cleanup

BURST=32         # testpmd packets per burst
QSIZE=256        # virtio-user queue size
FRAME=64         # testpmd's txonly frame length (without FCS), and the generator's
GEN_TICK_MS=500  # generator progress samples
COUNT_S=15       # deadline for counters to add up
PAIR_PORTS="a b s"

VHOSTD_PID=
declare -A TPS    # testpmd stats: TPS[PORTNAME.KEY], KEY in RXP RXB TXP TXB
declare -A TPPORT # testpmd port id of each vhostd port name
declare -A VS     # vhostd stats: VS[PORTNAME.KEY]
MISMATCH=

# cleanup_hook (called by lib.sh's EXIT trap once testpmd is gone): stops vhostd by pid.
cleanup_hook() {
	[[ -n $VHOSTD_PID ]] && stop_pid "$VHOSTD_PID" 5
	return 0
}

# ---------------------------------------------------------------------------------------------
# counters

# vs_read: reads every port's counters into VS[NAME.KEY].
vs_read() {
	local line name kv
	vhostd_query "$WORK/ctl"
	VS=()
	while read -r line; do
		[[ $line == port=* ]] || continue
		name=${line%% *}
		name=${name#port=}
		for kv in $line; do
			VS[$name.${kv%%=*}]=${kv#*=}
		done
	done <<<"$VS_OUT"
	for name in a b s g; do
		[[ -n ${VS[$name.state]:-} ]] || fail "no port=$name in stats: $VS_OUT"
	done
}

# vs_states_are STATE NAME...: succeeds when vhostd reports every named port in STATE.
vs_states_are() {
	local state=$1 name
	shift
	vs_read
	for name; do
		[[ ${VS[$name.state]} == "$state" ]] || return 1
	done
}

# tp_read TP NAME...: reads testpmd TP's totals for the named ports into TPS[NAME.KEY].
tp_read() {
	local tp=$1 line port='' name id
	local re_rx='^[[:space:]]*RX-packets:[[:space:]]*([0-9]+).*RX-bytes:[[:space:]]*([0-9]+)'
	local re_tx='^[[:space:]]*TX-packets:[[:space:]]*([0-9]+).*TX-bytes:[[:space:]]*([0-9]+)'
	local -A by_id
	shift
	for name; do
		by_id[${TPPORT[$name]}]=$name
		unset "TPS[$name.RXP]" "TPS[$name.RXB]" "TPS[$name.TXP]" "TPS[$name.TXB]"
	done
	tp_run "$tp" "$CMD_S" "show port stats all"
	while IFS= read -r line; do
		if [[ $line =~ NIC\ statistics\ for\ port\ ([0-9]+) ]]; then
			id=${BASH_REMATCH[1]}
			port=${by_id[$id]:-}
		elif [[ -n $port && $line =~ $re_rx ]]; then
			TPS[$port.RXP]=${BASH_REMATCH[1]} TPS[$port.RXB]=${BASH_REMATCH[2]}
		elif [[ -n $port && $line =~ $re_tx ]]; then
			TPS[$port.TXP]=${BASH_REMATCH[1]} TPS[$port.TXB]=${BASH_REMATCH[2]}
		fi
	done <<<"$TP_OUTPUT"
	for name; do
		[[ -n ${TPS[$name.RXP]:-} && -n ${TPS[$name.RXB]:-} && -n ${TPS[$name.TXP]:-} &&
			-n ${TPS[$name.TXB]:-} ]] ||
			fail "no stats for testpmd port ${TPPORT[$name]} ($name): $TP_OUTPUT"
	done
}

# tp_map TP NAME=VDEV...: finds which testpmd port id each vdev got (show port summary).
tp_map() {
	local tp=$1 arg line
	# "0    0A:89:1A:FE:56:B6 net_virtio_user0 net_virtio_user up  Unknown"
	local re='^([0-9]+)[[:space:]]+[0-9A-Fa-f:]+[[:space:]]+([^[:space:]]+)'
	shift
	tp_run "$tp" "$CMD_S" "show port summary all"
	for arg; do
		while IFS= read -r line; do
			if [[ $line =~ $re && ${BASH_REMATCH[2]} == "${arg#*=}" ]]; then
				TPPORT[${arg%%=*}]=${BASH_REMATCH[1]}
			fi
		done <<<"$TP_OUTPUT"
		[[ -n ${TPPORT[${arg%%=*}]:-} ]] ||
			fail "testpmd $tp has no port ${arg#*=}: $TP_OUTPUT"
	done
}

# counters_line NAME...: prints the named ports' vhostd and testpmd counters (for messages).
counters_line() {
	local name out=
	for name; do
		out+="$name: vhostd tx=${VS[$name.tx_packets]} tx_dropped=${VS[$name.tx_dropped]}"
		out+=" rx=${VS[$name.rx_packets]} rx_dropped=${VS[$name.rx_dropped]}"
		out+=" testpmd TX=${TPS[$name.TXP]:-?} RX=${TPS[$name.RXP]:-?}; "
	done
	echo "${out%; }"
}

# pairs_accounted: succeeds when every frame testpmd sent on a, b and s has been delivered to
# testpmd (a <-> b) or consumed by the sink (s), or counted as a drop. All these counters only
# grow and testpmd's TX is fixed once tx_first has returned, so this is the end of a round.
pairs_accounted() {
	tp_read fe a b s
	vs_read
	MISMATCH=$(counters_line a b s)
	((${TPS[b.RXP]} + ${VS[a.tx_dropped]} >= ${TPS[a.TXP]})) || return 1
	((${TPS[a.RXP]} + ${VS[b.tx_dropped]} >= ${TPS[b.TXP]})) || return 1
	((${VS[s.tx_packets]} + ${VS[s.tx_dropped]} >= ${TPS[s.TXP]})) || return 1
}

# holds WHERE LNAME LEFT RNAME RIGHT: succeeds if LEFT == RIGHT, otherwise leaves
# "WHERE: LNAME=LEFT != RNAME=RIGHT" in MISMATCH.
holds() {
	(($3 == $5)) && return 0
	MISMATCH="$1: $2=$3 != $4=$5"
	return 1
}

# pairs_exact: succeeds when the counters of a, b and s add up exactly; otherwise leaves the
# first equation that does not hold in MISMATCH.
pairs_exact() {
	local src dst drop
	tp_read fe a b s
	vs_read
	MISMATCH=
	for src in a b; do
		[[ $src == a ]] && dst=b || dst=a
		drop=${VS[$src.tx_dropped]}
		holds "$src->$dst" "testpmd TX($src)" "${TPS[$src.TXP]}" \
			"$src.tx_packets + $src.tx_dropped" "${VS[$src.tx_packets]} + $drop" &&
			holds "$src->$dst" "$dst.rx_packets" "${VS[$dst.rx_packets]}" \
				"$src.tx_packets" "${VS[$src.tx_packets]}" &&
			holds "$src->$dst" "testpmd RX($dst)" "${TPS[$dst.RXP]}" \
				"$dst.rx_packets" "${VS[$dst.rx_packets]}" &&
			holds "$src->$dst" "$dst.rx_bytes" "${VS[$dst.rx_bytes]}" \
				"$src.tx_bytes" "${VS[$src.tx_bytes]}" &&
			holds "$src->$dst" "testpmd RX-bytes($dst)" "${TPS[$dst.RXB]}" \
				"$dst.rx_bytes" "${VS[$dst.rx_bytes]}" &&
			holds "$src->$dst" "testpmd TX-bytes($src)" "${TPS[$src.TXB]}" \
				"$src.tx_bytes + $FRAME * $src.tx_dropped" \
				"${VS[$src.tx_bytes]} + $FRAME * $drop" || return 1
	done
	drop=${VS[s.tx_dropped]}
	holds s "testpmd TX(s)" "${TPS[s.TXP]}" "s.tx_packets + s.tx_dropped" \
		"${VS[s.tx_packets]} + $drop" &&
		holds s "testpmd TX-bytes(s)" "${TPS[s.TXB]}" "s.tx_bytes + $FRAME * s.tx_dropped" \
			"${VS[s.tx_bytes]} + $FRAME * $drop" &&
		holds s "frames from the sink: s.rx_packets" "${VS[s.rx_packets]}" "none" 0 &&
		holds s "frames from the sink: testpmd RX(s)" "${TPS[s.RXP]}" "none" 0
}

# wait_check SECS WHAT CHECK: polls CHECK (which leaves its reason in MISMATCH) until it holds;
# on the deadline fails naming WHAT and the last reason. Used for counters only: they are read by
# different processes at different moments, so the last frames of a burst may be in one count
# and not yet in the other.
wait_check() {
	local secs=$1 what=$2 check=$3 now deadline
	now_ms now
	deadline=$((now + secs * 1000))
	until "$check"; do
		now_ms now
		((now < deadline)) || fail "timed out after ${secs}s waiting for $what: $MISMATCH"
		sleep 0.05
	done
}

# expect_clean NAME...: no ring faults, no malformed transmit frames, and no receive drops on
# the named ports.
expect_clean() {
	local name
	for name; do
		expect_eq "$name.ring_faults" "${VS[$name.ring_faults]}" 0
		expect_eq "$name.tx_errors" "${VS[$name.tx_errors]}" 0
		expect_eq "$name.rx_dropped" "${VS[$name.rx_dropped]}" 0
	done
}

# ---------------------------------------------------------------------------------------------
# the phases

# start_vhostd: one vhostd, one worker, the four ports in mode POLL; waits for --ready-fd.
start_vhostd() {
	local line
	mkfifo "$WORK/ready"
	"$VHOSTD" --workers 1 --control "$WORK/ctl" --ready-fd 3 ${VHOSTD_EXTRA:-} \
		--port "name=a,socket=$WORK/a.sock,backend=port,peer=b,poll=$POLL" \
		--port "name=b,socket=$WORK/b.sock,backend=port,peer=a,poll=$POLL" \
		--port "name=s,socket=$WORK/s.sock,backend=null,poll=$POLL" \
		--port "name=g,socket=$WORK/g.sock,backend=null,gen=$FRAME,poll=$POLL" \
		3>"$WORK/ready" 2>>"$WORK/vhostd.log" &
	VHOSTD_PID=$!
	read -r -t 20 line <"$WORK/ready"
	rm -f "$WORK/ready"
	[[ $line == READY=1 ]] || fail "vhostd did not become ready (got '$line')"
	vs_read
}

# send_rounds N BURSTS PACE: N rounds of "start tx_first BURSTS", each ended by testpmd's echo;
# waits for every frame to be accounted for after every PACE-th round (0: only after the last).
send_rounds() {
	local n=$1 bursts=$2 pace=$3 round
	for ((round = 1; round <= n; round++)); do
		# "stop" ends the previous round's forwarding (an error on the first round);
		# tx_first returns once the bursts are in the rings, then rxonly forwarding runs.
		tp_run fe "$CMD_S" "stop" "start tx_first $bursts"
		if ((round == n || (pace > 0 && round % pace == 0))); then
			wait_check "$COUNT_S" "every frame of round $round accounted for" \
				pairs_accounted
		fi
	done
	wait_check "$COUNT_S" "the counters to add up exactly" pairs_exact
}

# log_pairs: one line per port of a, b, s with testpmd's and vhostd's counts.
log_pairs() {
	local name
	for name in $PAIR_PORTS; do
		log "  $name: testpmd TX=${TPS[$name.TXP]} RX=${TPS[$name.RXP]}; vhostd" \
			"tx=${VS[$name.tx_packets]} tx_dropped=${VS[$name.tx_dropped]}" \
			"rx=${VS[$name.rx_packets]}"
	done
}

# phase_pairs: a <-> b and into s: ROUNDS paced rounds, where nothing may be dropped, then
# FLOOD_ROUNDS unpaced rounds of FLOOD_BURSTS bursts, several rings' worth at once, where the
# guest cannot keep up and drops are expected; both times the counters must add up exactly.
phase_pairs() {
	local cpu sent name t0 t1 t2 drops
	cpu=$(($(nproc) - 1))
	tp_start fe "$cpu" \
		--vdev "net_virtio_user0,path=$WORK/a.sock,queues=1,queue_size=$QSIZE" \
		--vdev "net_virtio_user1,path=$WORK/b.sock,queues=1,queue_size=$QSIZE" \
		--vdev "net_virtio_user2,path=$WORK/s.sock,queues=1,queue_size=$QSIZE" \
		-- -i --nb-cores=1 --burst=$BURST --txpkts=$FRAME --total-num-mbufs=16384 \
		--forward-mode=rxonly --no-flush-rx --mask-event all
	tp_run fe "$STARTUP_S" "show port info all"
	tp_map fe a=net_virtio_user0 b=net_virtio_user1 s=net_virtio_user2
	wait_until "$COUNT_S" "vhostd ports a, b, s connected" vs_states_are connected a b s
	log "testpmd fe up (ports a=${TPPORT[a]} b=${TPPORT[b]} s=${TPPORT[s]}), vhostd sees them"

	now_ms t0
	send_rounds "$ROUNDS" "$BURSTS" "$PACE"
	now_ms t1
	log_pairs
	expect_clean a b s
	sent=$((ROUNDS * BURSTS * BURST))
	if ((PACE > 0 && PACE * BURSTS * BURST < QSIZE)); then
		# Fewer frames in flight than a ring has buffers: nothing may be dropped.
		for name in $PAIR_PORTS; do
			expect_eq "testpmd TX($name) (every frame of every round sent)" \
				"${TPS[$name.TXP]}" "$sent"
			expect_eq "$name.tx_dropped" "${VS[$name.tx_dropped]}" 0
		done
	fi
	log "paced: a->b ${VS[a.tx_packets]}, b->a ${VS[b.tx_packets]}, ->s ${VS[s.tx_packets]}" \
		"frames in $(fmt_ms $((t1 - t0)))s, testpmd == vhostd exactly (drops: a" \
		"${VS[a.tx_dropped]}, b ${VS[b.tx_dropped]}, s ${VS[s.tx_dropped]})"

	if ((FLOOD_ROUNDS > 0)); then
		drops=$((${VS[a.tx_dropped]} + ${VS[b.tx_dropped]}))
		send_rounds "$FLOOD_ROUNDS" "$FLOOD_BURSTS" 0
		now_ms t2
		log_pairs
		expect_clean a b s
		expect_eq "s.tx_dropped (a sink never refuses)" "${VS[s.tx_dropped]}" 0
		drops=$((${VS[a.tx_dropped]} + ${VS[b.tx_dropped]} - drops))
		log "flood: $FLOOD_ROUNDS rounds of $((FLOOD_BURSTS * BURST)) frames per port in" \
			"$(fmt_ms $((t2 - t1)))s, $drops dropped for want of guest buffers," \
			"all counted"
	fi
	tp_run fe "$CMD_S" "stop"
	tp_quit fe
	wait_until "$COUNT_S" "vhostd ports a, b, s waiting after testpmd quit" \
		vs_states_are waiting a b s
}

# phase_gen: the generator into a second testpmd for GEN_S seconds.
phase_gen() {
	local cpu t0 now end last=0 ticks=0 stalls=0 rx diff base_rx
	cpu=$(($(nproc) - 1))
	vs_read
	base_rx=${VS[g.rx_packets]}
	tp_start gen "$cpu" --vdev "net_virtio_user0,path=$WORK/g.sock,queues=1,queue_size=$QSIZE" \
		-- -i --nb-cores=1 --burst=$BURST --total-num-mbufs=16384 \
		--forward-mode=rxonly --no-flush-rx --mask-event all
	tp_run gen "$STARTUP_S" "show port info all"
	tp_map gen g=net_virtio_user0
	wait_until "$COUNT_S" "vhostd port g connected" vs_states_are connected g
	tp_run gen "$CMD_S" "start"
	now_ms t0
	end=$((t0 + GEN_S * 1000))
	# Traffic for GEN_S seconds (a duration, not a wait for something): testpmd's RX count
	# must have grown at every sample, or the generator stalled.
	while :; do
		sleep "$(fmt_ms "$GEN_TICK_MS")"
		tp_read gen g
		rx=${TPS[g.RXP]}
		ticks=$((ticks + 1))
		((rx > last)) || stalls=$((stalls + 1))
		last=$rx
		now_ms now
		((now < end)) || break
	done
	tp_run gen "$CMD_S" "stop"
	tp_read gen g
	rx=${TPS[g.RXP]}
	now_ms now
	((stalls == 0)) ||
		fail "generator stalled: testpmd RX(g) did not grow in $stalls of $ticks samples"
	vs_read
	diff=$((${VS[g.rx_packets]} - base_rx - rx))
	log "  g: testpmd RX=$rx in $(fmt_ms $((now - t0)))s ($((rx * 1000 / (now - t0))) pps);" \
		"vhostd rx=${VS[g.rx_packets]}, in the ring after stop: $diff"
	((diff >= 0 && diff <= 2 * QSIZE)) ||
		fail "g: g.rx_packets - testpmd RX(g) = $diff, expected 0..$((2 * QSIZE))" \
			"(g.rx_packets=${VS[g.rx_packets]}, testpmd RX=$rx)"
	expect_eq "testpmd RX-bytes(g)" "${TPS[g.RXB]}" $((rx * FRAME))
	expect_eq "g.tx_packets" "${VS[g.tx_packets]}" 0
	expect_clean g
	tp_quit gen
	wait_until "$COUNT_S" "vhostd port g waiting after testpmd quit" vs_states_are waiting g
	log "generator -> guest: $rx frames, none lost;" \
		"$diff delivered but not yet counted by testpmd at its stop"
}

main() {
	local t_start t_up t_pairs t_gen t_end rc name
	now_ms START_MS
	t_start=$START_MS
	case $POLL in
	event | busy | adaptive) ;;
	*) fail "poll mode must be event, busy or adaptive, not '$POLL'" ;;
	esac
	[[ $(id -u) == 0 ]] || fail "must run as root"
	command -v dpdk-testpmd >/dev/null || fail "dpdk-testpmd not found (Debian package dpdk)"
	command -v stdbuf >/dev/null || fail "stdbuf not found (coreutils)"
	[[ -x $VHOSTD ]] || fail "vhostd not found at '$VHOSTD' (set VHOSTD)"
	[[ $ROUNDS =~ ^[1-9][0-9]*$ && $BURSTS =~ ^[1-9][0-9]*$ && $PACE =~ ^[0-9]+$ &&
		$FLOOD_ROUNDS =~ ^[0-9]+$ && $GEN_S =~ ^[1-9][0-9]*$ ]] ||
		fail "DPDK_MODES_ROUNDS, _BURSTS, _PACE, _FLOOD_ROUNDS and _GEN_S must be numbers"
	trap cleanup EXIT
	trap 'exit 1' HUP INT TERM
	WORK=$(mktemp -d /tmp/vhostd-modes.XXXXXX) || fail "mktemp"
	setup_hugepages
	log "poll=$POLL: $ROUNDS rounds of $BURSTS x $BURST frames per port, counters every $PACE" \
		"rounds, generator ${GEN_S}s"
	start_vhostd
	now_ms t_up
	log "vhostd ready (pid $VHOSTD_PID)"
	phase_pairs
	now_ms t_pairs
	phase_gen
	now_ms t_gen
	vs_read
	for name in a b s g; do
		expect_eq "$name.ring_faults at the end" "${VS[$name.ring_faults]}" 0
	done
	kill -0 "$VHOSTD_PID" 2>/dev/null || fail "vhostd is not running at the end"
	stop_pid "$VHOSTD_PID" 10
	rc=$?
	VHOSTD_PID=
	((rc == 0)) || fail "vhostd exited with status $rc on SIGTERM"
	# Nothing here is the guest's fault or a back-end error, so nothing deserves a warning
	# (drops for want of guest buffers are counted, not logged).
	if grep -E '^vhostd: (warn|error):' "$WORK/vhostd.log" >&2; then
		fail "vhostd logged the warnings or errors above"
	fi
	now_ms t_end
	log "timing poll=$POLL: start $(fmt_ms $((t_up - t_start)))s, a/b/s rounds" \
		"$(fmt_ms $((t_pairs - t_up)))s, generator $(fmt_ms $((t_gen - t_pairs)))s, stop" \
		"$(fmt_ms $((t_end - t_gen)))s, total $(fmt_ms $((t_end - t_start)))s"
	log "PASS (poll=$POLL)"
}

main "$@"
