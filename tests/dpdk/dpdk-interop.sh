#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# dpdk-interop: vhostd against DPDK's virtio-user front-end (dpdk-testpmd), in both directions.
# Usage: dpdk-interop.sh [TAPINJECT [POLL_MODE [QUEUE_COUNTS]]], e.g. "tapinject busy '1 4'".
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
#
# Synchronisation: testpmd is driven through two fifos. After each batch of commands the script
# sends a comment line ("# vhostd-sync-N"); testpmd's command line echoes it only once the
# commands before it have finished, so reading up to that echo is the wait. Counters that have
# no event (tap statistics, testpmd's RX count, vhostd's stats) are polled with a deadline.

set -u -o pipefail
export LC_ALL=C

TAPINJECT=${1:-${VHOSTD_BUILDDIR:-}/tests/dpdk/tapinject}
VHOSTD=${VHOSTD:-${VHOSTD_BUILDDIR:-}/vhostd}
VHOSTCTL=${VHOSTCTL:-${VHOSTD_BUILDDIR:-$(dirname "$VHOSTD")}/vhostctl}
BACKEND=${DPDK_INTEROP_BACKEND:-vhostd}

TAP=vhdt0
NS=vhdt-dpdk-$$
BURST=32         # testpmd packets per burst
TX_BURSTS=2      # bursts per queue per tx_first round
TX_ROUNDS=6      # rounds: 6 * 2 * 32 = 384 packets per queue, more than the ring holds
RX_CHUNK=128     # frames tapinject sends per round: half the guest's 256 rx buffers
RX_ROUNDS=8      # rounds: 8 * 128 = 1024 frames per size
RX_FLOWS=64      # UDP source ports, so a multi-queue tap spreads frames over its queues
POLL=${DPDK_INTEROP_POLL:-${2:-adaptive}} # vhostd's notification mode: event, busy, adaptive
QUEUES=${DPDK_INTEROP_QUEUES:-${3:-"1 2"}} # one session per queue-pair count
SIZES="64 1518"
STARTUP_S=60     # testpmd start-up (mempool creation) deadline
CMD_S=20         # deadline for one batch of testpmd commands
COUNT_S=15       # deadline for a counter to reach its expected value

START_MS=0
WORK=
declare -A TP_PID TP_IN TP_OUT
TP_SEQ=0
TP_OUTPUT=
TP_LINE=
VHOSTD_PID=
HUGE_ORIG=
HUGE_MOUNTED=0
NS_MADE=0

# Prints a progress line with the time since the start.
log() {
	local now
	now_ms now
	now=$((now - START_MS))
	printf '[%3d.%03ds] %s\n' $((now / 1000)) $((now % 1000)) "$*"
}

# Stores the monotonic-enough wall clock in milliseconds into the variable named $1.
now_ms() {
	local t=${EPOCHREALTIME//[.,]/}
	printf -v "$1" '%d' $((t / 1000))
}

# Prints the end of every log to stderr, then exits 1 (the EXIT trap cleans up).
fail() {
	local f
	echo "FAIL: $*" >&2
	if [[ -n $WORK && -d $WORK ]]; then
		for f in "$WORK"/*.log; do
			[[ -f $f ]] || continue
			echo "----- tail of $(basename "$f") -----" >&2
			tail -n 60 "$f" >&2
		done
	fi
	exit 1
}

# Sends SIGTERM to pid $1 and waits up to $2 seconds for it to go, then SIGKILLs it.
# Returns the process's exit status (or 128+9 if it had to be killed).
stop_pid() {
	local pid=$1 secs=$2 deadline now
	now_ms now
	deadline=$((now + secs * 1000))
	kill -TERM "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null; do
		now_ms now
		if ((now > deadline)); then
			kill -KILL "$pid" 2>/dev/null
			break
		fi
		sleep 0.05 # bash's wait has no timeout, so poll; the wait below reaps it
	done
	wait "$pid" 2>/dev/null
}

# EXIT trap: stops everything this script started, by pid, deletes the namespace and puts the
# hugepage settings back as they were found.
cleanup() {
	local name fd
	for name in "${!TP_PID[@]}"; do
		[[ -n ${TP_PID[$name]} ]] || continue
		# EOF on its stdin makes testpmd quit; a closed stdout cannot block it.
		fd=${TP_IN[$name]} && exec {fd}>&-
		fd=${TP_OUT[$name]} && exec {fd}<&-
		stop_pid "${TP_PID[$name]}" 5
	done
	[[ -n $VHOSTD_PID ]] && stop_pid "$VHOSTD_PID" 5
	((NS_MADE)) && ip netns del "$NS" 2>/dev/null
	((HUGE_MOUNTED)) && umount /dev/hugepages 2>/dev/null
	[[ -n $HUGE_ORIG ]] && echo "$HUGE_ORIG" >/proc/sys/vm/nr_hugepages 2>/dev/null
	if [[ -n $WORK ]]; then
		if [[ ${DPDK_INTEROP_KEEP:-0} == 1 ]]; then
			echo "work directory kept: $WORK" >&2
		else
			rm -rf "$WORK"
		fi
	fi
}

# Makes sure 1024 2 MiB hugepages exist and hugetlbfs is mounted; cleanup() undoes what it did.
setup_hugepages() {
	local cur
	cur=$(</proc/sys/vm/nr_hugepages)
	if ((cur < 1024)); then
		HUGE_ORIG=$cur
		echo 1024 >/proc/sys/vm/nr_hugepages || fail "cannot reserve hugepages"
	fi
	if ! grep -q '^[^ ]* /dev/hugepages hugetlbfs ' /proc/mounts; then
		mkdir -p /dev/hugepages
		mount -t hugetlbfs nodev /dev/hugepages || fail "cannot mount hugetlbfs"
		HUGE_MOUNTED=1
	fi
	local free
	free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
	((free >= 256)) || fail "only $free free hugepages; testpmd needs 128 each"
}

# Creates the namespace with IPv6 off, so the kernel sends nothing unsolicited on the tap.
setup_netns() {
	ip netns add "$NS" || fail "cannot create netns $NS"
	NS_MADE=1
	ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 || fail "cannot disable IPv6 in $NS"
	ip -n "$NS" link set lo up
}

# ---------------------------------------------------------------------------------------------
# testpmd driving

# tp_start NAME CPU ARGS...: starts testpmd (interactive) with main and forwarding lcore on CPU,
# its stdin and stdout on fifos (stderr, where DPDK logs, goes to NAME.err.log).
tp_start() {
	local name=$1 cpu=$2 fdin fdout
	shift 2
	mkfifo "$WORK/$name.in" "$WORK/$name.out" || fail "mkfifo"
	# Line-buffered stdout: each printf reaches the fifo whole, in order with the echo.
	stdbuf -oL dpdk-testpmd --lcores "0@$cpu,1@$cpu" -n 1 -m 256 --in-memory \
		--single-file-segments --no-pci --file-prefix "vhdt-$name-$$" "$@" \
		<"$WORK/$name.in" >"$WORK/$name.out" 2>"$WORK/$name.err.log" &
	TP_PID[$name]=$!
	# Same order as the child's redirections, so neither open blocks for good.
	exec {fdin}>"$WORK/$name.in" {fdout}<"$WORK/$name.out"
	TP_IN[$name]=$fdin
	TP_OUT[$name]=$fdout
	: >"$WORK/$name.log"
}

# tp_send NAME LINE...: writes the lines to testpmd's stdin; returns non-zero if it has gone.
tp_send() {
	local name=$1 rc
	shift
	# SIGPIPE ignored only for this write, so that a dead reader is an error, not our death
	# (and no child inherits the ignored signal).
	trap '' PIPE
	printf '%s\n' "$@" >&"${TP_IN[$name]}"
	rc=$?
	trap - PIPE
	return $rc
}

# tp_read_until NAME TIMEOUT_S PATTERN WHAT: reads testpmd's output lines (logging each) until
# one matches the glob PATTERN, which is left in TP_LINE; the lines before it are left in
# TP_OUTPUT. Fails, naming WHAT, on timeout or when testpmd exits.
tp_read_until() {
	local name=$1 secs=$2 pattern=$3 what=$4 line now deadline left rc
	now_ms now
	deadline=$((now + secs * 1000))
	TP_OUTPUT=
	while :; do
		now_ms now
		left=$((deadline - now))
		((left > 0)) || fail "testpmd $name: no $what within ${secs}s"
		IFS= read -r -t "$((left / 1000)).$(printf '%03d' $((left % 1000)))" \
			-u "${TP_OUT[$name]}" line
		rc=$?
		line=${line%$'\r'}
		if ((rc != 0)); then
			[[ -n $line ]] && printf '%s\n' "$line" >>"$WORK/$name.log"
			((rc > 128)) && continue # timed out: the deadline check above decides
			fail "testpmd $name exited while waiting for $what"
		fi
		printf '%s\n' "$line" >>"$WORK/$name.log"
		# shellcheck disable=SC2053 # pattern is a glob on purpose
		if [[ $line == $pattern ]]; then
			TP_LINE=$line
			return 0
		fi
		TP_OUTPUT+=$line$'\n'
	done
}

# tp_run NAME TIMEOUT_S CMD...: sends the commands and a sync comment, reads testpmd's output
# until the comment's echo; the output in between is left in TP_OUTPUT. Fails on timeout or EOF.
tp_run() {
	local name=$1 secs=$2 marker
	shift 2
	TP_SEQ=$((TP_SEQ + 1))
	marker="# vhostd-sync-$TP_SEQ"
	tp_send "$name" "$@" "$marker" || fail "testpmd $name is gone (writing: $*)"
	# The marker has no glob characters, so it matches itself.
	tp_read_until "$name" "$secs" "*$marker" "answer to '$*'"
}

# tp_field KEY: prints the first number after "KEY:" in TP_OUTPUT, or fails.
tp_field() {
	local re="(^|[[:space:]])$1:[[:space:]]+([0-9]+)"
	[[ $TP_OUTPUT =~ $re ]] || fail "no '$1' in testpmd output"
	echo "${BASH_REMATCH[2]}"
}

# tp_stats NAME: reads port 0's totals into TP_RXP, TP_RXB, TP_TXP, TP_TXB.
tp_stats() {
	tp_run "$1" "$CMD_S" "show port stats 0"
	TP_RXP=$(tp_field RX-packets) && TP_RXB=$(tp_field RX-bytes) &&
		TP_TXP=$(tp_field TX-packets) && TP_TXB=$(tp_field TX-bytes) || exit 1
}

# tp_quit NAME: asks testpmd to quit and waits for its exit (by pid); fails if it does not go.
tp_quit() {
	local name=$1 line now deadline rc fd
	tp_send "$name" quit
	now_ms now
	deadline=$((now + CMD_S * 1000))
	# Read to EOF: testpmd closes its stdout when it exits.
	while IFS= read -r -t 1 -u "${TP_OUT[$name]}" line || { rc=$? && ((rc > 128)); }; do
		[[ -n $line ]] && printf '%s\n' "${line%$'\r'}" >>"$WORK/$name.log"
		line=
		now_ms now
		((now < deadline)) || fail "testpmd $name did not quit"
	done
	wait "${TP_PID[$name]}"
	rc=$?
	TP_PID[$name]=
	fd=${TP_IN[$name]} && exec {fd}>&-
	fd=${TP_OUT[$name]} && exec {fd}<&-
	rm -f "$WORK/$name.in" "$WORK/$name.out"
	((rc == 0)) || fail "testpmd $name exited with status $rc"
}

# wait_until SECS DESCRIPTION CMD...: runs CMD until it succeeds or SECS pass (then fails).
# Used only for counters, which have no event to wait on.
wait_until() {
	local secs=$1 what=$2 now deadline
	shift 2
	now_ms now
	deadline=$((now + secs * 1000))
	until "$@"; do
		now_ms now
		((now < deadline)) || fail "timed out after ${secs}s waiting for $what"
		sleep 0.05
	done
}

# ---------------------------------------------------------------------------------------------
# the back-end: vhostd (with its tap), or DPDK's net_vhost as a reference

# tap_stat NAME: prints the tap's statistics counter NAME, read inside the namespace.
tap_stat() {
	ip netns exec "$NS" cat "/sys/class/net/$TAP/statistics/$1" || fail "cannot read $TAP $1"
}

# vhostd_stats: leaves vhostd's stats line for port p0 in VS_LINE.
vhostd_stats() {
	local out
	if [[ -x $VHOSTCTL ]]; then
		out=$("$VHOSTCTL" --control "$WORK/ctl" stats) || fail "vhostctl stats failed"
	else
		out=$(python3 -c 'import socket,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"stats\n")
d=b""
while True:
    b=s.recv(4096)
    if not b: break
    d+=b
sys.stdout.write(d.decode())' "$WORK/ctl") || fail "stats over $WORK/ctl failed"
	fi
	VS_LINE=$(grep -m1 '^port=p0 ' <<<"$out") || fail "no port=p0 in stats: $out"
}

# vs_field KEY: prints KEY's value from VS_LINE.
vs_field() {
	local re="(^| )$1=([^ ]+)"
	[[ $VS_LINE =~ $re ]] || fail "no $1 in vhostd stats: $VS_LINE"
	echo "${BASH_REMATCH[2]}"
}

# vhostd_state_is STATE: succeeds when vhostd reports port p0 in STATE.
vhostd_state_is() {
	vhostd_stats
	[[ $(vs_field state) == "$1" ]]
}

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

# expect_eq WHAT GOT WANT: fails unless GOT == WANT.
expect_eq() {
	[[ $2 == "$3" ]] || fail "$1: got $2, expected $3"
}

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

# vs_delta_is KEY BASE N: succeeds when vhostd's KEY is BASE + N (fails early if it is more).
vs_delta_is() {
	local v
	vhostd_stats
	v=$(vs_field "$1") || exit 1
	((v - $2 <= $3)) || fail "vhostd $1 grew by $((v - $2)), more than $3"
	((v - $2 == $3))
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
	tp_start fe "$cpu" --vdev "net_virtio_user0,path=$WORK/sock,queues=$q,queue_size=256" \
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
	[[ $BACKEND == vhostd ]] && setup_netns
	local q
	for q in $QUEUES; do
		run_session "$q"
	done
	log "PASS ($BACKEND back-end, poll=$POLL, queues: $QUEUES)"
}

main "$@"
