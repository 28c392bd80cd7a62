# shellcheck shell=bash disable=SC2034 # variables are shared with the callers
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Shared by tests/dpdk/dpdk-interop.sh and tests/dpdk/dpdk-modes.sh (bash; sourced): progress
# and failure reporting, clean-up by pid, hugepages, driving interactive dpdk-testpmd through
# fifos, and reading vhostd's counters from its control socket.
#
# Callers set, before using it:
#   WORK        their scratch directory (fifos and *.log files live there; fail() prints the logs)
#   KEEP_WORK=1 keep WORK after the run
#   VHOSTCTL    vhostd's control client (if missing, the stats are read with python3)
# and may define cleanup_hook, which cleanup() (the EXIT trap) calls after every testpmd is gone
# and before the hugepage settings are restored and WORK is removed.
#
# Synchronisation: testpmd runs interactive, its stdin and stdout on two fifos. After each batch
# of commands tp_run sends a comment line ("# vhostd-sync-N"); testpmd's command line echoes it
# only once the commands before it have finished, so reading up to that echo is the wait.
# Counters, which have no event, are polled with a deadline (wait_until).

export LC_ALL=C

CMD_S=20     # deadline for one batch of testpmd commands
STARTUP_S=60 # testpmd start-up (mempool creation) deadline

START_MS=0
WORK=
KEEP_WORK=0
declare -A TP_PID TP_IN TP_OUT
TP_SEQ=0
TP_OUTPUT=
TP_LINE=
HUGE_ORIG=
HUGE_MOUNTED=0
VS_OUT=
VS_LINE=

# Stores the monotonic-enough wall clock in milliseconds into the variable named $1.
now_ms() {
	local t=${EPOCHREALTIME//[.,]/}
	printf -v "$1" '%d' $((t / 1000))
}

# fmt_ms MS: prints MS milliseconds as seconds with three decimals.
fmt_ms() {
	printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
}

# Prints a progress line with the time since the start.
log() {
	local now
	now_ms now
	now=$((now - START_MS))
	printf '[%3d.%03ds] %s\n' $((now / 1000)) $((now % 1000)) "$*"
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

# expect_eq WHAT GOT WANT: fails unless GOT == WANT.
expect_eq() {
	[[ $2 == "$3" ]] || fail "$1: got $2, expected $3"
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

# wait_until SECS DESCRIPTION CMD...: runs CMD until it succeeds or SECS pass (then fails),
# pausing WAIT_PAUSE seconds (default 0.05) between tries.
# Used only for counters, which have no event to wait on.
wait_until() {
	local secs=$1 what=$2 now deadline
	shift 2
	now_ms now
	deadline=$((now + secs * 1000))
	until "$@"; do
		now_ms now
		((now < deadline)) || fail "timed out after ${secs}s waiting for $what"
		sleep "${WAIT_PAUSE:-0.05}"
	done
}

# EXIT trap: stops every testpmd this script started, by pid, runs the caller's cleanup_hook,
# and puts the hugepage settings back as they were found.
cleanup() {
	local name fd
	for name in "${!TP_PID[@]}"; do
		[[ -n ${TP_PID[$name]} ]] || continue
		# EOF on its stdin makes testpmd quit; a closed stdout cannot block it.
		fd=${TP_IN[$name]} && exec {fd}>&-
		fd=${TP_OUT[$name]} && exec {fd}<&-
		stop_pid "${TP_PID[$name]}" 5
	done
	declare -F cleanup_hook >/dev/null && cleanup_hook
	((HUGE_MOUNTED)) && umount /dev/hugepages 2>/dev/null
	[[ -n $HUGE_ORIG ]] && echo "$HUGE_ORIG" >/proc/sys/vm/nr_hugepages 2>/dev/null
	if [[ -n $WORK ]]; then
		if [[ $KEEP_WORK == 1 ]]; then
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

# tp_stats NAME [PORT]: reads the port's totals (default port 0) into TP_RXP, TP_RXB, TP_TXP,
# TP_TXB.
tp_stats() {
	tp_run "$1" "$CMD_S" "show port stats ${2:-0}"
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

# ---------------------------------------------------------------------------------------------
# vhostd's counters

# vhostd_query CTL: leaves vhostd's stats in kv form from control socket CTL (one line per port,
# port=NAME state=STATE key=value ...) in VS_OUT.
vhostd_query() {
	if [[ -x $VHOSTCTL ]]; then
		VS_OUT=$("$VHOSTCTL" --control "$1" stats --format=kv) || fail "vhostctl stats failed"
	else
		VS_OUT=$(python3 -c 'import json,socket,sys
s=socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall(b"{\"id\":1,\"op\":\"stats\",\"args\":{\"format\":\"kv\"}}\n")
d=b""
while not d.endswith(b"\n"):
    b=s.recv(65536)
    if not b: break
    d+=b
r=json.loads(d)
if not r.get("ok"): sys.exit("stats: %s" % r.get("error"))
sys.stdout.write(r["result"]["text"])' "$1") || fail "stats over $1 failed"
	fi
}

# vs_port NAME: leaves port NAME's line of VS_OUT in VS_LINE.
vs_port() {
	VS_LINE=$(grep -m1 "^port=$1 " <<<"$VS_OUT") || fail "no port=$1 in stats: $VS_OUT"
}

# vs_field KEY: prints KEY's value from VS_LINE.
vs_field() {
	local re="(^| )$1=([^ ]+)"
	[[ $VS_LINE =~ $re ]] || fail "no $1 in vhostd stats: $VS_LINE"
	echo "${BASH_REMATCH[2]}"
}

# ---------------------------------------------------------------------------------------------
# vhostd in a namespace, crashes and process accounting (dpdk-restart.sh, dpdk-cycles.sh)

# netns_up NS: creates namespace NS with lo up and IPv6 off, so the kernel sends nothing
# unsolicited on a tap inside it. The caller deletes NS in its cleanup_hook.
netns_up() {
	ip netns add "$1" || fail "cannot create netns $1"
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 || fail "cannot disable IPv6 in $1"
	ip -n "$1" link set lo up
}

# vhostd_launch NS CTL PORT_SPEC [ARGS...]: starts $VHOSTD inside namespace NS with one
# --port PORT_SPEC and control socket CTL (log appended to $WORK/vhostd.log), waits for its
# READY=1 and leaves its pid in VHOSTD_PID.
vhostd_launch() {
	local ns=$1 ctl=$2 port=$3 line=
	shift 3
	rm -f "$WORK/ready"
	mkfifo "$WORK/ready" || fail "mkfifo"
	ip netns exec "$ns" "$VHOSTD" --port "$port" --control "$ctl" --ready-fd 3 "$@" \
		3>"$WORK/ready" 2>>"$WORK/vhostd.log" &
	VHOSTD_PID=$!
	read -r -t 20 line <"$WORK/ready"
	rm -f "$WORK/ready"
	[[ $line == READY=1 ]] || fail "vhostd did not become ready (got '$line')"
}

# tp_kill NAME SIGNAL: sends SIGNAL to testpmd NAME by pid (a crash, not a quit), reaps it and
# closes its fifos, so that tp_start NAME can start it again.
tp_kill() {
	local name=$1 fd
	kill "-$2" "${TP_PID[$name]}" 2>/dev/null
	wait "${TP_PID[$name]}" 2>/dev/null
	TP_PID[$name]=
	fd=${TP_IN[$name]} && exec {fd}>&-
	fd=${TP_OUT[$name]} && exec {fd}<&-
	rm -f "$WORK/$name.in" "$WORK/$name.out"
}

# proc_fds PID: prints how many file descriptors process PID has open.
proc_fds() {
	local fds=("/proc/$1/fd/"*)
	[[ -e ${fds[0]} ]] || fail "cannot read /proc/$1/fd"
	echo "${#fds[@]}"
}

# proc_status PID FIELD: prints the number of /proc/PID/status line FIELD (kB for sizes).
proc_status() {
	awk -v f="$2:" '$1 == f { print $2; found = 1 } END { exit !found }' "/proc/$1/status" ||
		fail "no $2 in /proc/$1/status"
}

# proc_maps PID: prints how many mappings process PID has.
proc_maps() {
	local n
	n=$(wc -l <"/proc/$1/maps") || fail "cannot read /proc/$1/maps"
	echo "$n"
}

# wait_fast SECS DESCRIPTION CMD...: wait_until with a 5 ms pause between tries, for loops that
# wait for a counter many times (each try already costs a process or a testpmd round trip).
wait_fast() {
	WAIT_PAUSE=0.005 wait_until "$@"
}

# ---------------------------------------------------------------------------------------------
# One vhostd with port p0 (control socket $WORK/ctl) on tap $TAP in namespace $NS, as
# dpdk-interop, dpdk-restart and dpdk-cycles run it. Callers set NS, TAP, VHOSTD_PID and NS_MADE
# (1 once they created the namespace); a caller that runs something else defines its own
# cleanup_hook after sourcing this file.

# cleanup_hook (called by the EXIT trap once testpmd is gone): stops vhostd by pid and deletes
# the namespace, with the tap in it.
cleanup_hook() {
	[[ -n ${VHOSTD_PID:-} ]] && stop_pid "$VHOSTD_PID" 5
	((${NS_MADE:-0})) && ip netns del "$NS" 2>/dev/null
	return 0
}

# tap_stat NAME: prints the tap's statistics counter NAME, read inside the namespace.
tap_stat() {
	ip netns exec "$NS" cat "/sys/class/net/$TAP/statistics/$1" || fail "cannot read $TAP $1"
}

# vhostd_stats: leaves vhostd's stats line for port p0 in VS_LINE.
vhostd_stats() {
	vhostd_query "$WORK/ctl"
	vs_port p0
}

# vs_delta_is KEY BASE N: succeeds when vhostd's KEY (port p0) is BASE + N; fails the test at once
# when it went past that.
vs_delta_is() {
	local v
	vhostd_stats
	v=$(vs_field "$1") || exit 1
	((v - $2 <= $3)) || fail "vhostd $1 grew by $((v - $2)), more than $3"
	((v - $2 == $3))
}

# vhostd_state_is STATE: succeeds when vhostd reports port p0 in STATE.
vhostd_state_is() {
	vhostd_stats
	[[ $(vs_field state) == "$1" ]]
}

# vhostd_stop_clean: stops vhostd with SIGTERM; fails unless it exits 0 and $WORK/vhostd.log has
# no sanitizer report.
vhostd_stop_clean() {
	local rc
	stop_pid "$VHOSTD_PID" 10
	rc=$?
	VHOSTD_PID=
	((rc == 0)) || fail "vhostd exited with status $rc on SIGTERM"
	! grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$WORK/vhostd.log" ||
		fail "sanitizer report in vhostd's log"
}
