#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/run.sh: vhostd against DPDK's own vhost-user back-end (net_vhost in dpdk-testpmd), under
# the same front-end (DPDK virtio-user in dpdk-testpmd), on the same two cores, in the same run.
# See bench/README.md for what is measured and how to read the results.
#
#   back-end  (vhostd, or testpmd with net_vhost): CPU $BENCH_BE_CPU (0)
#   front-end (testpmd with net_virtio_user):      CPU $BENCH_FE_CPU (1)
#
# Scenarios (each at 64 and 1518 bytes; vhostd and DPDK interleaved, A,B,A,B,...):
#   null_tx  guest TX -> null   front-end txonly; counted where the back-end takes the packets
#   null_rx  null -> guest RX   front-end rxonly; counted at the front-end
#   vm2vm    guest <-> guest    two virtio-user ports, io forwarding seeded by tx_first, through
#                               two back-end ports cross-connected; counted at the front-end (both
#                               ports' RX, i.e. both directions added up)
#   tap_tx   guest TX -> tap    counted by the kernel: the tap's rx_packets (inside a netns)
#   tap_rx   tap -> guest RX    bench/tapflood pushes frames into the tap; counted at the front-end
#   packet_tx guest TX -> AF_PACKET on a veth: vhostd backend=packet vs DPDK net_af_packet; counted
#            by the kernel: the veth peer's rx_packets
#   packet_rx veth -> AF_PACKET -> guest RX: tapflood sends out of the veth peer; counted at the
#            front-end
#   xdp_tx, xdp_rx  the same with AF_XDP: vhostd backend=xdp vs DPDK net_af_xdp (copy mode, native
#            XDP on the veth, one queue)
#   idle     vhostd with 16 null ports, all connected by one idle front-end: vhostd's CPU use
#   null_tx_packed, null_rx_packed, vm2vm_packed: the same with packed virtqueues (virtio-user
#            packed_vq=1; both back-ends negotiate what the front-end asks)
#   switch_vm2vm  guest <-> guest through a learning switch: two vhostd ports backend=switch on
#            one switch against two dpdkvhostuser ports on one Open vSwitch bridge (userspace
#            datapath, DPDK, action NORMAL: MAC learning too), not against net_vhost. The
#            front-end as in vm2vm (io forwarding, tx_first), with MACs given to its two ports
#            and each one's eth-peer set to the other's: io sends what port 1 received out of
#            port 0, so each port's frames always carry its own source address and go to the
#            other's, learnt; counted as vm2vm.
#
# Environment:
#   VHOSTD           the daemon (default build/vhostd); vhostctl is taken from the same directory
#   BENCH_QUICK=1    one run per back-end, 1 s warm-up, 2 s window, 3 s idle window
#   BENCH_RUNS N     runs per back-end (default 3)
#   BENCH_WARMUP S   warm-up seconds before the window (default 2)
#   BENCH_WINDOW S   measuring window in seconds (default 5)
#   BENCH_IDLE_WINDOW S  idle measuring window (default 10)
#   BENCH_ONLY LIST  scenarios to run (default "null_tx null_rx vm2vm tap_tx tap_rx
#                    null_tx_packed null_rx_packed vm2vm_packed switch_vm2vm idle")
#   BENCH_SIZES LIST frame sizes (default "64 1518")
#   BENCH_OUT DIR    results directory (default bench/results)
#   BENCH_TAP_SENDERS N  tapflood processes for tap_rx (default 1)
#   BENCH_TAPFLOOD_ARGS  extra tapflood options (e.g. "-b 128 -w 5")
#   BENCH_FE_DEVARGS     extra net_virtio_user devargs for experiments (e.g. "in_order=0")
#   BENCH_VM2VM_BURSTS N bursts per port that seed the VM-to-VM loop (default 4)
#   BENCH_ADAPTIVE LIST  scenarios that also run vhostd with poll=adaptive (default
#                    "null_tx tap_tx tap_rx"; every other vhostd run uses poll=busy)
#   BENCH_PERF=0     no perf during the windows (no syscalls/pkt; to check perf's own cost)
#   BENCH_PROFILE=1  perf record (cycles, call graphs) instead of perf stat in every window;
#                    OUT/profile-SCEN-SIZE-BACKEND-RUN.txt gets the hottest symbols. Rates of
#                    such a run carry perf's sampling cost and are not for comparison.
#                    BENCH_PROFILE=fe profiles the front-end testpmd instead.
#   BENCH_MAX_OTHER P    a run in whose window more than P% of a core (default 20) went to
#                    other processes is discarded and run again, up to BENCH_RETRIES (2) times
#                    and BENCH_RETRY_BUDGET (20) repeats in all, so that a busy machine
#                    cannot stretch the bench without bound
#   BENCH_WAIT_QUIET S   wait up to S seconds for the machine to be idle before starting
#   BENCH_KEEP=1     keep the work directory (all logs)

set -u -o pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
VHOSTD=${VHOSTD:-$ROOT/build/vhostd}
VHOSTCTL=$(dirname "$VHOSTD")/vhostctl

QUICK=${BENCH_QUICK:-0}
if [[ $QUICK == 1 ]]; then
	RUNS=${BENCH_RUNS:-1} WARMUP=${BENCH_WARMUP:-1} WINDOW=${BENCH_WINDOW:-2}
	IDLE_WINDOW=${BENCH_IDLE_WINDOW:-3}
else
	RUNS=${BENCH_RUNS:-3} WARMUP=${BENCH_WARMUP:-2} WINDOW=${BENCH_WINDOW:-5}
	IDLE_WINDOW=${BENCH_IDLE_WINDOW:-10}
fi
ONLY=${BENCH_ONLY:-null_tx null_rx vm2vm tap_tx tap_rx null_tx_packed null_rx_packed vm2vm_packed packet_tx packet_rx xdp_tx xdp_rx switch_vm2vm idle}
OVS_VSWITCHD=${BENCH_OVS_VSWITCHD:-/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk}
SIZES=${BENCH_SIZES:-64 1518}
OUT=${BENCH_OUT:-$HERE/results}
BE_CPU=${BENCH_BE_CPU:-0}
FE_CPU=${BENCH_FE_CPU:-1}
SENDERS=${BENCH_TAP_SENDERS:-1}
TAPFLOOD_ARGS=${BENCH_TAPFLOOD_ARGS:-}
FE_DEVARGS=${BENCH_FE_DEVARGS:+,$BENCH_FE_DEVARGS}
VM2VM_BURSTS=${BENCH_VM2VM_BURSTS:-4}
ADAPTIVE=${BENCH_ADAPTIVE:-null_tx tap_tx tap_rx}
PERF=${BENCH_PERF:-1}
PROFILE=${BENCH_PROFILE:-0}
MAX_OTHER=${BENCH_MAX_OTHER:-20}
RETRIES=${BENCH_RETRIES:-2}
RETRY_BUDGET=${BENCH_RETRY_BUDGET:-20}
IDLE_PORTS=16

TAP=vhb0
HDEV=vhbd0 # packet_*, xdp_*: the back-end's device, one end of a veth pair
HPEER=vhbp0 # its peer: counted for *_tx, tapflood's for *_rx
NS=vhbench-$$
STARTUP_S=60 # testpmd start-up deadline
CMD_S=20     # deadline for one batch of testpmd commands
CONNECT_S=20 # deadline for the back-end to see every front-end port connected

START_US=0
WORK=
HUGE_ORIG=
HUGE_MOUNTED=0
NS_MADE=0
RUN_PID=
FAILED_RUNS=0
RETRIED_RUNS=0

# ---------------------------------------------------------------------------------------------
# generic helpers

now_us() { printf -v "$1" '%d' "${EPOCHREALTIME//[.,]/}"; }

log() {
	local now
	now_us now
	now=$(((now - START_US) / 1000))
	printf '[%4d.%03ds] %s\n' $((now / 1000)) $((now % 1000)) "$*" >&2
}

# fail MSG: prints MSG (and, inside a run, where its logs are) and exits 1; the EXIT trap of the
# shell it runs in cleans up.
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# stop_pid PID SECS: SIGTERM, wait up to SECS, then SIGKILL; reaps it.
stop_pid() {
	local pid=$1 secs=$2 deadline now
	now_us now
	deadline=$((now + secs * 1000000))
	kill -TERM "$pid" 2>/dev/null || return 0
	while kill -0 "$pid" 2>/dev/null; do
		now_us now
		if ((now > deadline)); then
			kill -KILL "$pid" 2>/dev/null
			break
		fi
		sleep 0.05 # no event for "a non-child process has exited"; the wait below reaps it
	done
	wait "$pid" 2>/dev/null
	return 0
}

# bg_wait CMD...: runs CMD in the background and waits for it, so that a signal to this shell
# runs its trap at once instead of after CMD (bash defers traps until a foreground child exits);
# the EXIT trap of a run stops BG_PID. Returns CMD's status.
BG_PID=
bg_wait() {
	local rc
	"$@" &
	BG_PID=$!
	wait "$BG_PID"
	rc=$?
	BG_PID=
	return $rc
}

# wait_until SECS WHAT CMD...: runs CMD until it succeeds (polls: counters and states have no
# event to wait on), or fails after SECS.
wait_until() {
	local secs=$1 what=$2 now deadline
	shift 2
	now_us now
	deadline=$((now + secs * 1000000))
	until "$@"; do
		now_us now
		((now < deadline)) || fail "timed out after ${secs}s waiting for $what"
		sleep 0.05
	done
}

# ---------------------------------------------------------------------------------------------
# testpmd driving: stdin and stdout on fifos; after each batch of commands a comment line
# ("# bench-sync-N") is sent, and testpmd's command line echoes it only once the commands
# before it have been executed, so reading up to that echo is the wait.

declare -A TP_PID TP_IN TP_OUT
TP_SEQ=0
TP_OUTPUT=

# tp_start NAME CPU NETNS ARGS...: starts testpmd (interactive) pinned to CPU (main and
# forwarding lcore both on it), inside NETNS unless that is "-".
tp_start() {
	local name=$1 cpu=$2 netns=$3 fdin fdout
	local -a pre=()
	shift 3
	[[ $netns != - ]] && pre=(ip netns exec "$netns")
	mkfifo "$WORK/$name.in" "$WORK/$name.out" || fail "mkfifo"
	# ip netns exec, taskset and stdbuf all exec: $! is testpmd itself.
	"${pre[@]}" taskset -c "$cpu" stdbuf -oL dpdk-testpmd --lcores "0@$cpu,1@$cpu" -n 1 \
		-m 256 --in-memory --single-file-segments --no-pci --file-prefix "vhb-$name-$$" \
		"$@" <"$WORK/$name.in" >"$WORK/$name.out" 2>>"$WORK/$name.err.log" &
	TP_PID[$name]=$!
	exec {fdin}>"$WORK/$name.in" {fdout}<"$WORK/$name.out"
	TP_IN[$name]=$fdin
	TP_OUT[$name]=$fdout
	echo "### $*" >>"$WORK/$name.log"
}

# tp_run NAME SECS CMD...: sends the commands and a sync comment, and reads testpmd's output up
# to the comment's echo into TP_OUTPUT.
tp_run() {
	local name=$1 secs=$2 marker line now deadline left rc
	shift 2
	TP_SEQ=$((TP_SEQ + 1))
	marker="# bench-sync-$TP_SEQ"
	trap '' PIPE
	printf '%s\n' "$@" "$marker" >&"${TP_IN[$name]}"
	rc=$?
	trap - PIPE
	((rc == 0)) || fail "testpmd $name is gone (writing: $*)"
	now_us now
	deadline=$((now + secs * 1000000))
	TP_OUTPUT=
	while :; do
		now_us now
		left=$((deadline - now))
		((left > 0)) || fail "testpmd $name: no answer to '$*' within ${secs}s"
		IFS= read -r -t "$((left / 1000000)).$(printf '%06d' $((left % 1000000)))" \
			-u "${TP_OUT[$name]}" line
		rc=$?
		line=${line%$'\r'}
		if ((rc != 0)); then
			[[ -n $line ]] && printf '%s\n' "$line" >>"$WORK/$name.log"
			((rc > 128)) && continue
			fail "testpmd $name exited while running '$*' (see $WORK/$name.err.log)"
		fi
		printf '%s\n' "$line" >>"$WORK/$name.log"
		[[ $line == *"$marker" ]] && return 0
		TP_OUTPUT+=$line$'\n'
	done
}

# tp_port_stats NAME: "show port stats all": every port's RX-packets into TP_RX[port].
declare -A TP_RX
tp_port_stats() {
	local line port=-1 re_port='NIC statistics for port ([0-9]+)'
	local re_rx='RX-packets:[[:space:]]+([0-9]+)'
	tp_run "$1" "$CMD_S" "show port stats all"
	TP_RX=()
	while IFS= read -r line; do
		if [[ $line =~ $re_port ]]; then
			port=${BASH_REMATCH[1]}
		elif ((port >= 0)) && [[ $line =~ $re_rx ]]; then
			TP_RX[$port]=${BASH_REMATCH[1]}
		fi
	done <<<"$TP_OUTPUT"
	((port >= 0)) || fail "testpmd $1: no port statistics in: $TP_OUTPUT"
}

# tp_link_up NAME PORT...: succeeds when testpmd reports every PORT's link up.
tp_link_up() {
	local name=$1 p
	shift
	for p in "$@"; do
		tp_run "$name" "$CMD_S" "show port info $p"
		[[ $TP_OUTPUT == *"Link status: up"* ]] || return 1
	done
}

# tp_quit NAME: asks testpmd to quit, reads its output to EOF and reaps it (killing it if it
# does not go within CMD_S).
tp_quit() {
	local name=$1 line now deadline rc fd
	[[ -n ${TP_PID[$name]:-} ]] || return 0
	trap '' PIPE
	{ printf 'quit\n' >&"${TP_IN[$name]}"; } 2>/dev/null
	trap - PIPE
	now_us now
	deadline=$((now + CMD_S * 1000000))
	while IFS= read -r -t 1 -u "${TP_OUT[$name]}" line || { rc=$? && ((rc > 128)); }; do
		[[ -n $line ]] && printf '%s\n' "${line%$'\r'}" >>"$WORK/$name.log"
		line=
		now_us now
		((now < deadline)) || break
	done
	fd=${TP_IN[$name]} && exec {fd}>&-
	fd=${TP_OUT[$name]} && exec {fd}<&-
	stop_pid "${TP_PID[$name]}" 5
	TP_PID[$name]=
	rm -f "$WORK/$name.in" "$WORK/$name.out"
}

# ---------------------------------------------------------------------------------------------
# vhostd

VHOSTD_PID=
declare -A VS_STATE VS_TX

# vhostd_start NETNS PORTARGS...: starts vhostd (process pinned to BE_CPU, one worker on it),
# inside NETNS unless "-", and waits for READY=1 on its ready fd.
vhostd_start() {
	local netns=$1 line p
	local -a pre=() args=()
	shift
	[[ $netns != - ]] && pre=(ip netns exec "$netns")
	for p in "$@"; do args+=(--port "$p"); done
	rm -f "$WORK/ready" "$WORK/ctl"
	mkfifo "$WORK/ready" || fail "mkfifo"
	echo "### ${args[*]}" >>"$WORK/vhostd.log"
	"${pre[@]}" taskset -c "$BE_CPU" "$VHOSTD" "${args[@]}" --workers 1 --cpus "$BE_CPU" \
		--control "$WORK/ctl" --ready-fd 3 3>"$WORK/ready" 2>>"$WORK/vhostd.log" &
	VHOSTD_PID=$!
	read -r -t 20 line <"$WORK/ready"
	rm -f "$WORK/ready"
	[[ $line == READY=1 ]] || fail "vhostd did not become ready (got '$line'; see vhostd.log)"
}

# vhostd_stats: every port's state and tx_packets (what the guest sent) into VS_STATE/VS_TX.
vhostd_stats() {
	local out line name re='^port=([^ ]+) state=([^ ]+) .*tx_packets=([0-9]+) '
	out=$("$VHOSTCTL" --control "$WORK/ctl" stats --format=kv) || fail "vhostctl stats failed"
	VS_STATE=() VS_TX=()
	while IFS= read -r line; do
		[[ $line =~ $re ]] || continue
		name=${BASH_REMATCH[1]}
		VS_STATE[$name]=${BASH_REMATCH[2]}
		VS_TX[$name]=${BASH_REMATCH[3]}
	done <<<"$out"
}

# vhostd_all_connected N: succeeds when N ports report state=connected.
vhostd_all_connected() {
	local n=0 s
	vhostd_stats
	for s in "${VS_STATE[@]}"; do [[ $s == connected ]] && n=$((n + 1)); done
	((n == $1))
}

# ---------------------------------------------------------------------------------------------
# Open vSwitch with DPDK (switch_vm2vm's reference): ovsdb-server and ovs-vswitchd started here
# (no systemd), with their database, sockets and logs in $WORK/ovs, and stopped by pid.

OVSDB_PID=
OVS_PID=

ovs_vsctl() { ovs-vsctl --db="unix:$WORK/ovs/db.sock" --timeout=20 "$@"; }

# ovs_start: one bridge br0 (datapath_type=netdev) with dpdkvhostuser ports vhu0 and vhu1 (their
# sockets $WORK/ovs/vhu0 and vhu1), the whole of ovs-vswitchd (its PMD thread included) on
# BE_CPU, like vhostd.
ovs_start() {
	local d=$WORK/ovs
	rm -rf "$d" && mkdir -p "$d" || fail "mkdir $d"
	export OVS_RUNDIR=$d OVS_LOGDIR=$d OVS_DBDIR=$d
	ovsdb-tool create "$d/conf.db" /usr/share/openvswitch/vswitch.ovsschema ||
		fail "ovsdb-tool create failed"
	ovsdb-server "$d/conf.db" --remote="punix:$d/db.sock" --unixctl="$d/ovsdb.ctl" \
		--log-file="$d/ovsdb.log" 2>>"$WORK/ovs.log" &
	OVSDB_PID=$!
	wait_until 10 "ovsdb-server's socket" test -S "$d/db.sock"
	ovs_vsctl --no-wait init || fail "ovs-vsctl init failed"
	ovs_vsctl --no-wait set Open_vSwitch . other_config:dpdk-init=true \
		"other_config:dpdk-lcore-mask=$(printf '0x%x' $((1 << BE_CPU)))" \
		"other_config:pmd-cpu-mask=$(printf '0x%x' $((1 << BE_CPU)))" \
		other_config:dpdk-socket-mem=256 \
		"other_config:dpdk-extra=--no-pci --in-memory --single-file-segments" ||
		fail "ovs-vsctl set failed"
	taskset -c "$BE_CPU" "$OVS_VSWITCHD" "unix:$d/db.sock" --unixctl="$d/vswitchd.ctl" \
		--log-file="$d/vswitchd.log" 2>>"$WORK/ovs.log" &
	OVS_PID=$!
	ovs_vsctl add-br br0 -- set bridge br0 datapath_type=netdev \
		-- add-port br0 vhu0 -- set Interface vhu0 type=dpdkvhostuser \
		-- add-port br0 vhu1 -- set Interface vhu1 type=dpdkvhostuser ||
		fail "cannot make the OVS bridge (see $d/vswitchd.log)"
	wait_until 30 "OVS vhost-user sockets" test -S "$d/vhu1"
}

# ovs_link_up: succeeds when OVS reports both vhost-user ports' links up.
ovs_link_up() {
	[[ $(ovs_vsctl get Interface vhu0 link_state) == up &&
		$(ovs_vsctl get Interface vhu1 link_state) == up ]]
}

# ovs_stop: ovs-vswitchd, then ovsdb-server, by pid.
ovs_stop() {
	[[ -n $OVS_PID ]] && stop_pid "$OVS_PID" 10
	[[ -n $OVSDB_PID ]] && stop_pid "$OVSDB_PID" 5
	OVS_PID= OVSDB_PID=
}

# ---------------------------------------------------------------------------------------------
# one measured run: runs in its own subshell, with its own EXIT trap that stops what it started

SENDER_PIDS=()

run_cleanup() {
	local p
	[[ -n $BG_PID ]] && stop_pid "$BG_PID" 2
	for p in "${SENDER_PIDS[@]}"; do stop_pid "$p" 2; done
	tp_quit fe
	tp_quit be
	[[ -n $VHOSTD_PID ]] && stop_pid "$VHOSTD_PID" 5
	ovs_stop
	# The sockets and the tap go with their owners; nothing else to undo.
	rm -f "$WORK"/*.sock "$WORK/ctl"
}

# tap_rx_packets: the tap's rx_packets as the kernel counts them (inside the namespace).
tap_counter() {
	ip netns exec "$NS" cat "/sys/class/net/$TAP/statistics/$1" || fail "cannot read $TAP $1"
}

# sample SCEN BACKEND: the run's packet counter into CNT, the time it was read at into CNT_T
# (the middle of the read, in microseconds).
sample() {
	local scen=${1%_packed} be=$2 t0 t1 p
	now_us t0
	case $scen in
	null_tx)
		if [[ $be == dpdk ]]; then
			tp_port_stats be
			CNT=${TP_RX[0]} # net_vhost0's RX: what the back-end took from the guest
		else
			vhostd_stats
			CNT=${VS_TX[p]}
		fi
		;;
	null_rx | tap_rx)
		tp_port_stats fe
		CNT=${TP_RX[0]}
		;;
	vm2vm | switch_vm2vm)
		tp_port_stats fe
		CNT=$((TP_RX[0] + TP_RX[1]))
		;;
	tap_tx)
		CNT=$(tap_counter rx_packets) || exit 1
		;;
	packet_tx | xdp_tx)
		CNT=$(ip netns exec "$NS" cat "/sys/class/net/$HPEER/statistics/rx_packets") ||
			fail "cannot read $HPEER rx_packets"
		;;
	packet_rx | xdp_rx)
		tp_port_stats fe
		CNT=${TP_RX[0]}
		;;
	esac
	now_us t1
	CNT_T=$(((t0 + t1) / 2))
}

# perf_count FILE: the syscall count perf stat wrote to FILE ("<not counted>" means the task
# never ran in the window: 0), or "NA".
perf_count() {
	local v
	v=$(awk -F, '/raw_syscalls:sys_enter/ { print $1; exit }' "$1" 2>/dev/null)
	case $v in
	"<not counted>") echo 0 ;;
	"" | *[!0-9]*) echo NA ;;
	*) echo "$v" ;;
	esac
}

# proc_ticks PID...: utime+stime of the processes (all their threads), in clock ticks.
proc_ticks() {
	local pid stat sum=0
	local -a f
	for pid in "$@"; do
		stat=$(<"/proc/$pid/stat") || fail "process $pid is gone"
		stat=${stat##*) } # the fields after "(comm) ": utime and stime are fields 14 and 15
		read -r -a f <<<"$stat"
		sum=$((sum + f[11] + f[12]))
	done
	echo "$sum"
}

# cpu_snap BE_PID FE_PID [SENDER_PID...]: prints "time_us busy steal be fe senders", the busy and
# steal ticks of the whole machine (/proc/stat) and the CPU ticks of back-end, front-end and
# senders: the difference of two snapshots shows whether anything else took CPU in between.
cpu_snap() {
	local be=$1 fe=$2 t snd=0
	local -a f
	shift 2
	now_us t
	read -r -a f </proc/stat # cpu user nice system idle iowait irq softirq steal ...
	(($# > 0)) && snd=$(proc_ticks "$@")
	echo "$t $((f[1] + f[2] + f[3] + f[6] + f[7])) ${f[8]} $(proc_ticks "$be") $(proc_ticks "$fe") $snd"
}

# run_one SCEN SIZE BACKEND RUN: one measured run; appends a row to results.csv.
run_one() {
	local name=$1 scen=${1%_packed} size=$2 be=$3 run=$4 poll=busy netns=- be_pid
	local devargs=$FE_DEVARGS devargs0= devargs1=
	local -a fe_args ports be_vdevs
	local fe_mode=txonly seed="start" cnt0 t0 cnt1 t1 sys mpps spp i note snap0 snap1 cpu other sender
	trap run_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	[[ $be == vhostd-adaptive ]] && poll=adaptive
	[[ $scen == tap_* || $scen == packet_* || $scen == xdp_* ]] && netns=$NS
	case $scen in
	null_tx) fe_mode=txonly ;;
	null_rx | tap_rx) fe_mode=rxonly ;;
	vm2vm) fe_mode=io seed="start tx_first $VM2VM_BURSTS" ;;
	switch_vm2vm) fe_mode=io seed="start tx_first $VM2VM_BURSTS" ;;
	tap_tx) fe_mode=txonly ;;
	packet_rx | xdp_rx) fe_mode=rxonly ;;
	esac

	# The back-end.
	local s0=$WORK/s0.sock s1=$WORK/s1.sock
	if [[ $be == ovs ]]; then
		ovs_start
		s0=$WORK/ovs/vhu0 s1=$WORK/ovs/vhu1
		be_pid=$OVS_PID
	elif [[ $be == dpdk ]]; then
		be_vdevs=(--vdev "net_vhost0,iface=$WORK/s0.sock,queues=1")
		case $scen in
		null_tx) be_vdevs+=(--vdev "net_null0,size=$size,no-rx=1") ;;
		null_rx) be_vdevs+=(--vdev "net_null0,size=$size") ;;
		vm2vm) be_vdevs+=(--vdev "net_vhost1,iface=$WORK/s1.sock,queues=1") ;;
		tap_*) be_vdevs+=(--vdev "net_tap0,iface=$TAP") ;;
		packet_*) be_vdevs+=(--vdev "net_af_packet0,iface=$HDEV") ;;
		xdp_*) be_vdevs+=(--vdev "net_af_xdp0,iface=$HDEV,start_queue=0,queue_count=1") ;;
		esac
		tp_start be "$BE_CPU" "$netns" "${be_vdevs[@]}" -- -i --nb-cores=1 --burst=32 \
			--total-num-mbufs=16384 --forward-mode=io --no-flush-rx --mask-event all
		tp_run be "$STARTUP_S" "start"
		be_pid=${TP_PID[be]}
	else
		case $scen in
		null_tx) ports=("name=p,socket=$WORK/s0.sock,backend=null,poll=$poll") ;;
		null_rx) ports=("name=p,socket=$WORK/s0.sock,backend=null,gen=$size,poll=$poll") ;;
		vm2vm) ports=("name=a,socket=$WORK/s0.sock,backend=port,peer=b,poll=$poll"
			"name=b,socket=$WORK/s1.sock,backend=port,peer=a,poll=$poll") ;;
		switch_vm2vm) ports=("name=a,socket=$WORK/s0.sock,backend=switch,switch=sw0,poll=$poll"
			"name=b,socket=$WORK/s1.sock,backend=switch,switch=sw0,poll=$poll") ;;
		tap_*) ports=("name=p,socket=$WORK/s0.sock,backend=tap,ifname=$TAP,poll=$poll") ;;
		packet_*) ports=("name=p,socket=$WORK/s0.sock,backend=packet,dev=$HDEV,poll=$poll") ;;
		xdp_*) ports=("name=p,socket=$WORK/s0.sock,backend=xdp,dev=$HDEV,poll=$poll") ;;
		esac
		vhostd_start "$netns" "${ports[@]}"
		be_pid=$VHOSTD_PID
	fi
	if [[ $scen == tap_* ]]; then
		# Room for 1518-byte frames from AF_PACKET; a deep tun ring for both back-ends, so
		# that tapflood's short sleeps when it is full never leave the back-end without input.
		ip -n "$NS" link set "$TAP" mtu 1504 txqueuelen 10000 up || fail "cannot set up $TAP"
	fi

	# The front-end (packed scenarios: packed virtqueues, whatever else BENCH_FE_DEVARGS says).
	[[ $name == *_packed ]] && devargs="$devargs,packed_vq=1"
	[[ $scen == switch_vm2vm ]] && devargs0=",mac=02:00:00:00:00:0a" devargs1=",mac=02:00:00:00:00:0b"
	fe_args=(--vdev "net_virtio_user0,path=$s0,queues=1,queue_size=256$devargs${devargs0:-}")
	[[ $scen == *vm2vm ]] &&
		fe_args+=(--vdev "net_virtio_user1,path=$s1,queues=1,queue_size=256$devargs${devargs1:-}")
	tp_start fe "$FE_CPU" - "${fe_args[@]}" -- -i --nb-cores=1 --burst=32 --txpkts="$size" \
		--total-num-mbufs=16384 --forward-mode="$fe_mode" --no-flush-rx --mask-event all
	tp_run fe "$STARTUP_S" "show port summary all"

	# Both ends must agree the device is up before anything is seeded or measured.
	if [[ $be == ovs ]]; then
		wait_until "$CONNECT_S" "OVS vhost-user links up" ovs_link_up
	elif [[ $be == dpdk ]]; then
		if [[ $scen == vm2vm ]]; then
			wait_until "$CONNECT_S" "net_vhost links up" tp_link_up be 0 1
		else
			wait_until "$CONNECT_S" "net_vhost link up" tp_link_up be 0
		fi
	else
		wait_until "$CONNECT_S" "vhostd ports connected" vhostd_all_connected "${#ports[@]}"
	fi
	# Through a learning switch each port's seed frames go to the other port's MAC.
	[[ $scen == switch_vm2vm ]] &&
		tp_run fe "$CMD_S" "set eth-peer 0 02:00:00:00:00:0b" "set eth-peer 1 02:00:00:00:00:0a"
	tp_run fe "$CMD_S" "$seed"

	if [[ $scen == tap_rx || $scen == packet_rx || $scen == xdp_rx ]]; then
		local flood_if=$TAP
		[[ $scen != tap_rx ]] && flood_if=$HPEER
		# On the front-end's CPU, real-time, sleeping after every batch: see tapflood.c.
		for ((i = 0; i < SENDERS; i++)); do
			# shellcheck disable=SC2086 # TAPFLOOD_ARGS is a list of options
			ip netns exec "$NS" taskset -c "$FE_CPU" chrt -f 10 "$WORK/tapflood" -i "$flood_if" \
				-s "$size" $TAPFLOOD_ARGS >"$WORK/tapflood-$size-$be-$run-$i.log" 2>&1 &
			SENDER_PIDS+=($!)
		done
	fi

	bg_wait sleep "$WARMUP" # warm-up: a fixed time on purpose
	sample "$scen" "$be"
	cnt0=$CNT t0=$CNT_T
	snap0=$(cpu_snap "$be_pid" "${TP_PID[fe]}" "${SENDER_PIDS[@]}") || exit 1
	# The measuring window; perf counts the back-end's system calls over it.
	sys=NA
	if [[ $PROFILE == 1 || $PROFILE == fe ]]; then
		local prof_pid=$be_pid
		[[ $PROFILE == fe ]] && prof_pid=${TP_PID[fe]}
		bg_wait perf record -q -F 4999 -o "$WORK/perf-$name-$size-$be-$run.data" -p "$prof_pid" \
			-- sleep "$WINDOW" 2>>"$WORK/perf.log" &&
			perf report -q -i "$WORK/perf-$name-$size-$be-$run.data" --no-children --sort dso,sym \
				--percent-limit 0.5 >"$OUT/profile-$name-$size-$be-$run.txt" \
				2>>"$WORK/perf.log"
	elif [[ $PERF == 1 ]]; then
		bg_wait perf stat -e raw_syscalls:sys_enter -x, -p "$be_pid" -o "$WORK/perf.txt" \
			-- sleep "$WINDOW" 2>>"$WORK/perf.log" && sys=$(perf_count "$WORK/perf.txt")
	else
		bg_wait sleep "$WINDOW"
	fi
	snap1=$(cpu_snap "$be_pid" "${TP_PID[fe]}" "${SENDER_PIDS[@]}") || exit 1
	sample "$scen" "$be"
	cnt1=$CNT t1=$CNT_T
	# CPU over the window, in % of one core: back-end, front-end, sender, everything else
	# (other processes, interrupts), and steal (the hypervisor running someone else).
	cpu=$(awk -v hz="$(getconf CLK_TCK)" -v a="$snap0" -v b="$snap1" 'BEGIN {
		split(a, x, " "); split(b, y, " "); k = 100 / hz / ((y[1] - x[1]) / 1e6)
		be = (y[4] - x[4]) * k; fe = (y[5] - x[5]) * k; sn = (y[6] - x[6]) * k
		other = (y[2] - x[2]) * k - be - fe - sn; if (other < 0) other = 0
		printf "%.0f,%.0f,%.0f,%.0f,%.0f", be, fe, sn, other, (y[3] - x[3]) * k }')
	((t1 > t0)) || fail "clock did not move"
	# Packets per microsecond are Mpps.
	mpps=$(awk -v p=$((cnt1 - cnt0)) -v t=$((t1 - t0)) 'BEGIN { printf "%.4f", p / t }')
	spp=NA
	if [[ $sys != NA ]]; then
		# perf's window is WINDOW seconds (give or take its start-up): scale the packet
		# count measured over [t0, t1] to it.
		spp=$(awk -v s="$sys" -v p=$((cnt1 - cnt0)) -v t=$((t1 - t0)) -v w="$WINDOW" \
			'BEGIN { n = p / t * w * 1e6; if (n > 0) printf "%.4f", s / n; else print "NA" }')
	fi
	note=
	if [[ $scen == tap_rx || $scen == packet_rx || $scen == xdp_rx ]]; then
		for i in "${SENDER_PIDS[@]}"; do stop_pid "$i" 2; done
		SENDER_PIDS=()
		# How often the sender found tun's ring full: rarely means the sender set the pace.
		sender=$(cat "$WORK/tapflood-$size-$be-$run-"*.log | awk '
			{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] += kv[2] } }
			END { if (v["calls"] > 0) printf "%.4f,%.0f",
				v["accepted"] / v["seconds"] * NR / 1e6, 100 * v["queue_full"] / v["calls"] }')
		[[ -n $sender ]] || sender="NA,NA"
		note="; sender: ${sender%,*} Mpps accepted, tap queue full on ${sender#*,}% of calls"
	fi
	other=$(cut -d, -f4 <<<"$cpu")
	if ((other > MAX_OTHER && ATTEMPT <= RETRIES)); then
		log "$name size=$size $be run $run: $mpps Mpps, but ${other}% of a core went to" \
			"other processes (CPU% be,fe,sender,other,steal $cpu): discarded, run again"
		exit 3
	fi
	echo "$name,$size,$be,$run,$mpps,$spp" >>"$OUT/results.csv"
	echo "$name,$size,$be,$run,$cpu,$ATTEMPT" >>"$OUT/cpu.csv"
	[[ $scen == *_rx && $scen != null_rx ]] && echo "$name,$size,$be,$run,$sender" >>"$OUT/sender.csv"
	log "$name size=$size $be run $run: $mpps Mpps, syscalls/pkt $spp" \
		"(pkts $((cnt1 - cnt0)), syscalls $sys; CPU% be,fe,sender,other,steal $cpu)$note"
}

# ---------------------------------------------------------------------------------------------
# idle cost: vhostd with 16 null ports, all connected by one front-end that sends nothing

idle_one() {
	local poll=$1 i t0 t1 k0 k1 hz sys pct sps
	local -a ports=() fe_args=()
	trap run_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	for ((i = 0; i < IDLE_PORTS; i++)); do
		ports+=("name=p$i,socket=$WORK/i$i.sock,backend=null,poll=$poll")
		fe_args+=(--vdev "net_virtio_user$i,path=$WORK/i$i.sock,queues=1,queue_size=256")
	done
	vhostd_start - "${ports[@]}"
	tp_start fe "$FE_CPU" - "${fe_args[@]}" -- -i --nb-cores=1 --burst=32 \
		--total-num-mbufs=16384 --forward-mode=rxonly --no-flush-rx --mask-event all
	tp_run fe "$STARTUP_S" "show port summary all"
	wait_until "$CONNECT_S" "vhostd: $IDLE_PORTS ports connected" vhostd_all_connected \
		"$IDLE_PORTS"
	bg_wait sleep 1 # let the set-up traffic (ring fills, first kicks) die down
	hz=$(getconf CLK_TCK)
	now_us t0
	k0=$(proc_ticks "$VHOSTD_PID")
	if bg_wait perf stat -e raw_syscalls:sys_enter -x, -p "$VHOSTD_PID" -o "$WORK/perf.txt" \
		-- sleep "$IDLE_WINDOW" 2>>"$WORK/perf.log"; then
		sys=$(perf_count "$WORK/perf.txt")
	else
		bg_wait sleep "$IDLE_WINDOW"
		sys=NA
	fi
	k1=$(proc_ticks "$VHOSTD_PID")
	now_us t1
	pct=$(awk -v k=$((k1 - k0)) -v hz="$hz" -v t=$((t1 - t0)) \
		'BEGIN { printf "%.2f", k / hz / (t / 1e6) * 100 }')
	sps=NA
	[[ $sys != NA ]] && sps=$(awk -v s="$sys" -v w="$IDLE_WINDOW" 'BEGIN { printf "%.1f", s / w }')
	echo "$poll,$IDLE_PORTS,$pct,$sps" >>"$OUT/idle.csv"
	log "idle: $IDLE_PORTS ports poll=$poll: vhostd $pct% of a core, $sps syscalls/s"
}

# ---------------------------------------------------------------------------------------------
# the whole bench

cleanup() {
	if [[ -n $RUN_PID ]]; then
		kill -TERM "$RUN_PID" 2>/dev/null
		wait "$RUN_PID" 2>/dev/null
	fi
	((NS_MADE)) && ip netns del "$NS" 2>/dev/null
	((HUGE_MOUNTED)) && umount /dev/hugepages 2>/dev/null
	[[ -n $HUGE_ORIG ]] && echo "$HUGE_ORIG" >/proc/sys/vm/nr_hugepages 2>/dev/null
	if [[ -n $WORK && -d $WORK ]]; then
		if [[ ${BENCH_KEEP:-0} == 1 || $FAILED_RUNS -gt 0 ]]; then
			log "logs kept in $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
}

# Two testpmds of -m 256 each: 1024 2 MiB pages is plenty. cleanup() puts back what changed.
setup_hugepages() {
	local cur free
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
	free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
	((free >= 384)) || fail "only $free free 2 MiB hugepages; the bench needs 384"
}

# background_cpu: the whole machine's busy time over 2 s, in % of one core (nothing of ours runs).
background_cpu() {
	local -a a b
	read -r -a a </proc/stat
	sleep 2
	read -r -a b </proc/stat
	awk -v d=$(((b[1] + b[2] + b[3] + b[6] + b[7] + b[8]) - (a[1] + a[2] + a[3] + a[6] + a[7] + a[8]))) \
		-v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", d / hz / 2 * 100 }'
}

setup_netns() {
	ip netns add "$NS" || fail "cannot create netns $NS"
	NS_MADE=1
	# IPv6 off: the kernel sends nothing of its own through the tap.
	ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 || fail "cannot disable IPv6 in $NS"
	ip -n "$NS" link set lo up
	# packet_*, xdp_*: a veth pair with one queue each way (one XDP socket sees all), MTU 1504
	# for 1518-byte frames, a deep queue on the sending side.
	ip -n "$NS" link add name "$HDEV" numtxqueues 1 numrxqueues 1 type veth peer name "$HPEER" \
		numtxqueues 1 numrxqueues 1 || fail "cannot create the veth pair"
	ip -n "$NS" link set "$HDEV" mtu 1504 up || fail "cannot set up $HDEV"
	ip -n "$NS" link set "$HPEER" mtu 1504 txqueuelen 10000 up || fail "cannot set up $HPEER"
}

# in_subshell FUNC ARGS...: runs one measured run in a child shell whose EXIT trap stops all it
# started. A run that saw too much CPU go to other processes exits 3 and is run again (ATTEMPT
# counts; the last attempt keeps its result whatever it saw); a failed run is logged and
# counted, and the bench goes on.
ATTEMPT=1
in_subshell() {
	local rc
	for ((ATTEMPT = 1; ; ATTEMPT++)); do
		"$@" &
		RUN_PID=$!
		wait "$RUN_PID"
		rc=$?
		RUN_PID=
		((rc == 3)) || break
		RETRIED_RUNS=$((RETRIED_RUNS + 1))
		# Past the budget, the next attempt is the last (it keeps what it measures).
		((RETRIED_RUNS < RETRY_BUDGET)) || ATTEMPT=$RETRIES
	done
	if ((rc != 0)); then
		FAILED_RUNS=$((FAILED_RUNS + 1))
		log "run '$*' FAILED (status $rc); logs in $WORK"
	fi
}

wants() { [[ " $ONLY " == *" $1 "* ]]; }

main() {
	local scen size run be now
	local -a backends
	now_us START_US
	[[ $(id -u) == 0 ]] || fail "must run as root"
	[[ $(nproc) -ge 2 ]] || fail "needs two CPUs"
	for c in dpdk-testpmd perf gnuplot python3 stdbuf taskset cc; do
		command -v "$c" >/dev/null || fail "$c not found (make deps)"
	done
	[[ -x $VHOSTD ]] || fail "vhostd not found at '$VHOSTD' (set VHOSTD or run make)"
	[[ -x $VHOSTCTL ]] || fail "vhostctl not found at '$VHOSTCTL'"
	trap cleanup EXIT
	trap 'exit 1' INT TERM HUP
	WORK=$(mktemp -d /tmp/vhostd-bench.XXXXXX) || fail "mktemp"
	mkdir -p "$OUT" || fail "cannot create $OUT"
	echo "scenario,size,backend,run,mpps,syscalls_per_pkt" >"$OUT/results.csv"
	echo "poll,ports,cpu_pct,syscalls_per_s" >"$OUT/idle.csv"
	echo "scenario,size,backend,run,sender_mpps,queue_full_pct" >"$OUT/sender.csv"
	echo "scenario,size,backend,run,be_cpu_pct,fe_cpu_pct,sender_cpu_pct,other_cpu_pct,steal_pct,attempt" \
		>"$OUT/cpu.csv"
	cc -O2 -Wall -o "$WORK/tapflood" "$HERE/tapflood.c" || fail "cannot build tapflood"
	{
		echo "vhostd: $VHOSTD ($("$VHOSTD" --version 2>&1 | head -n1)); DPDK (Debian package dpdk) $(dpkg-query -W -f='${Version}' dpdk 2>/dev/null)"
		echo "host: $(uname -r), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))"
		echo "back-end on CPU $BE_CPU, front-end testpmd on CPU $FE_CPU; $RUNS run(s) per back-end, interleaved; ${WARMUP} s warm-up, ${WINDOW} s window"
		echo "started $(date -u '+%Y-%m-%d %H:%M UTC'); load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
	} >"$OUT/meta.txt"
	setup_hugepages
	setup_netns
	# Another busy process on these two CPUs makes every number meaningless: say so up front
	# (and per run, in cpu.csv), and optionally wait for the machine to calm down.
	local quiet_deadline busy
	now_us quiet_deadline
	quiet_deadline=$((quiet_deadline + ${BENCH_WAIT_QUIET:-0} * 1000000))
	while :; do
		busy=$(background_cpu)
		now_us now
		((${busy%.*} < 10 || now >= quiet_deadline)) && break
		log "background CPU use ${busy}% of a core; waiting for a quieter machine"
	done
	log "background CPU use before the start: ${busy}% of a core"
	echo "background CPU use before the start: ${busy}% of a core (over 2 s)" >>"$OUT/meta.txt"
	log "vhostd=$VHOSTD runs=$RUNS warm-up=${WARMUP}s window=${WINDOW}s back-end CPU $BE_CPU," \
		"front-end CPU $FE_CPU; work directory $WORK"
	for scen in null_tx null_rx vm2vm tap_tx tap_rx null_tx_packed null_rx_packed vm2vm_packed \
		packet_tx packet_rx xdp_tx xdp_rx switch_vm2vm; do
		wants "$scen" || continue
		backends=(vhostd dpdk)
		[[ $scen == switch_vm2vm ]] && backends=(vhostd ovs)
		[[ " $ADAPTIVE " == *" $scen "* ]] && backends+=(vhostd-adaptive)
		for size in $SIZES; do
			for ((run = 1; run <= RUNS; run++)); do
				for be in "${backends[@]}"; do
					in_subshell run_one "$scen" "$size" "$be" "$run"
				done
			done
		done
	done
	if wants idle; then
		in_subshell idle_one adaptive
		in_subshell idle_one busy
	fi
	{
		echo "finished $(date -u '+%Y-%m-%d %H:%M UTC'); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
		echo "failed runs: $FAILED_RUNS (a failed run has no row in results.csv); runs discarded" \
			"and repeated because other processes took more than ${MAX_OTHER}% of a core:" \
			"$RETRIED_RUNS"
	} >>"$OUT/meta.txt"
	python3 "$HERE/summarize.py" "$OUT" "$MAX_OTHER" || fail "summarize.py failed"
	gnuplot -e "datafile='$OUT/chart.dat'; outfile='$OUT/chart.png'" "$OUT/chart.vars" \
		"$HERE/chart.gp" || fail "gnuplot failed"
	log "done: $OUT/summary.md, $OUT/results.csv, $OUT/chart.png ($FAILED_RUNS failed runs)"
	cat "$OUT/summary.md"
	((FAILED_RUNS == 0))
}

main "$@"
