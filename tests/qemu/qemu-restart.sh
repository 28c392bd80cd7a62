#!/usr/bin/env bash
# QEMU restart test: vhostd crashes (SIGKILL) or is stopped for an upgrade (SIGTERM)
# and started again with the same arguments while a QEMU/TCG guest keeps running;
# the guest's traffic must resume with no action on the guest's side. The guest
# (job tests/qemu/jobs/restart.sh) pings the host all the time; the host pings the
# guest from the namespace at 20/s with timestamps (ping -D), which measures the
# outage; both directions must resume after every restart.
#
#   a. vhostd listens (mode=server), QEMU connects with reconnect=1; the host
#      address is on the tap: SIGKILL + restart, then SIGTERM + restart.
#   b. vhostd connects (mode=client) to QEMU listening (server=on,wait=off); the
#      tap (left behind by a's vhostd) is now a port of bridge br0, which has the
#      host address: SIGKILL + restart; then the guest powers off (QEMU quits), no
#      QEMU listens for QEMU_ABSENT_S, and a new QEMU starts on the same socket:
#      vhostd, still the same process, reconnects by itself (it retries with
#      backoff) and the new guest carries traffic.
#
# Asserted after every restart: host->guest pings and the guest's own pings get
# replies again within RESUME_S; QEMU is still running; vhostd reports the port
# connected without ring faults; the tap vhostd made is still the same device
# (same ifindex, persistent, still in br0, the address kept on the tap or the
# bridge; it never disappears while vhostd is down) and it is the only tun device
# in the namespace (re-attached, not duplicated). SIGTERM must end vhostd with
# status 0. Each outage is printed: from the last reply before the signal to the
# first reply after the restart; the guest reports its own outages as runs of
# ping sequence numbers without a reply, and how often its carrier changed.
#
# With --packed the NIC has packed=on: the guest's rings are packed, which keep no
# used index in guest memory, and QEMU sends the base of the rings' first start
# again after a crash; vhostd resumes them from its state file (<socket>.state).
# Also asserted then: every front-end negotiated packed rings, each restart resumed
# rings from the state file, and the new QEMU of b never used an old QEMU's record.
#
# Usage: qemu-restart.sh [--packed] (as root). Environment: $VHOSTD, $VHOSTCTL or
# $VHOSTD_BUILDDIR, and the knobs of lib.sh (VHOSTD_GUEST_CACHE, QI_KEEP=1, ...).
# Takes about 25-30 s (three guest boots of 5-7 s under TCG).
# shellcheck disable=SC2317 # many functions run through check() or the EXIT trap
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/qemu/lib.sh
. "$here/lib.sh"

QI_NAME="qemu-restart"
PACKED=0
case "${1:-}" in
"") ;;
--packed)
	PACKED=1
	QI_NAME="qemu-restart-packed"
	QI_DEVICE_OPTS="${QI_DEVICE_OPTS:+$QI_DEVICE_OPTS,}packed=on"
	;;
*)
	echo "usage: $0 [--packed]" >&2
	exit 2
	;;
esac
QI_JOB=restart
QI_JOB_ARG=0.1      # the guest's ping interval (seconds)
HOST_PING_I=0.05    # the host's ping interval (seconds): the outage's resolution
RESUME_S=20         # deadline for traffic to resume after a restart or a new QEMU
QEMU_ABSENT_S=2     # b: how long no QEMU listens, so vhostd's retries back off
BOOT_S=60           # deadline for a guest to boot and start its job
GUEST_STOP_PORT=7007

qi_preflight 1 qemu-system-x86_64 ip ping python3 timeout

failures=0
HOST_PING_PID=""
HOST_PING_LOG=""
TAP_IFINDEX=""
ADDR_DEV=""  # where the host address lives: the tap (a), then the bridge (b)
BRIDGE=""    # the bridge the tap is a port of (b)
VHOSTD_OPTS=""
GUEST_N=0
SUMMARY=()


# abort MSG: a step the rest depends on failed; show the logs and stop.
abort() {
	qi_log "FAIL: $*"
	failures=$((failures + 1))
	qi_dump_logs
	exit 1
}

# rst_cleanup: EXIT trap; stops the host's ping by pid, then lib.sh's cleanup.
rst_cleanup() {
	local st=$?
	[ -n "$HOST_PING_PID" ] && qi_stop_pid "$HOST_PING_PID" 2
	HOST_PING_PID=""
	(exit "$st")
	qi_cleanup
}


# ---------------------------------------------------------------------------
# the tap

# tap_ifindex: the tap's ifindex in the namespace (empty when it does not exist).
tap_ifindex() {
	ip -n "$QI_NS" -o link show dev "$QI_TAP" 2>/dev/null | awk -F': ' '{ print $1; exit }'
}

# tun_count: number of tun/tap devices in the namespace.
tun_count() {
	ip -n "$QI_NS" -d -o link show type tun 2>/dev/null | grep -c .
}

# tap_persistent: 0 when the tap has the persist flag (TUNSETPERSIST).
tap_persistent() {
	ip -n "$QI_NS" -d -o link show dev "$QI_TAP" 2>/dev/null | grep -q ' persist on '
}

# has_host_addr DEV: 0 when DEV carries the host address.
has_host_addr() {
	ip -n "$QI_NS" -o -4 addr show dev "$1" 2>/dev/null | grep -q " $QI_HOST_IP/$QI_PREFIX "
}

# tap_master: the bridge the tap is a port of (empty if none).
tap_master() {
	ip -n "$QI_NS" -o link show dev "$QI_TAP" 2>/dev/null |
		awk '{ for (i = 1; i < NF; i++) if ($i == "master") { print $(i + 1); exit } }'
}

# tap_check WHEN: the tap is the one first seen, persistent, alone, still a port of
# $BRIDGE (when set) and the host address is still on $ADDR_DEV. When vhostd made a
# new tap instead (the failure being reported), configures it again so that the
# remaining measurements still mean something.
tap_check() {
	local when=$1 idx n
	idx=$(tap_ifindex)
	n=$(tun_count)
	check "$when: tap $QI_TAP has the same ifindex (${idx:-none}, first ${TAP_IFINDEX})" \
		test "${idx:-none}" = "$TAP_IFINDEX"
	check "$when: exactly one tun device in the namespace ($n)" test "$n" = 1
	[ -n "$idx" ] || return 0
	check "$when: tap $QI_TAP is persistent" tap_persistent
	if [ -n "$BRIDGE" ]; then
		check "$when: tap $QI_TAP is still a port of $BRIDGE ($(tap_master))" \
			test "$(tap_master)" = "$BRIDGE" ||
			ip -n "$QI_NS" link set "$QI_TAP" master "$BRIDGE"
	fi
	check "$when: $ADDR_DEV kept the address $QI_HOST_IP/$QI_PREFIX" has_host_addr "$ADDR_DEV" ||
		ip -n "$QI_NS" addr add "$QI_HOST_IP/$QI_PREFIX" dev "$ADDR_DEV"
	ip -n "$QI_NS" link set "$QI_TAP" up
}

# ---------------------------------------------------------------------------
# traffic: the host's ping (timestamps) and the guest's ping (console lines)

# host_ping_start: pings the guest from the namespace every HOST_PING_I seconds,
# each reply stamped with the wall clock (-D), into a new log.
host_ping_start() {
	HOST_PING_LOG=$QI_DIR/host-ping-$GUEST_N.log
	ip netns exec "$QI_NS" ping -D -n -i "$HOST_PING_I" "$QI_GUEST_IP" \
		>"$HOST_PING_LOG" 2>&1 &
	HOST_PING_PID=$!
}

# host_ping_stop: stops the host's ping by pid.
host_ping_stop() {
	[ -n "$HOST_PING_PID" ] && qi_stop_pid "$HOST_PING_PID" 2
	HOST_PING_PID=""
}

# host_reply_after T: the timestamp of the first reply received after T.
host_reply_after() {
	awk -v t="$1" '/bytes from/ { ts = substr($1, 2, length($1) - 2) + 0; if (ts > t) { printf "%.6f\n", ts; exit } }' \
		"$HOST_PING_LOG"
}

# host_reply_before T: the timestamp of the last reply received before T.
host_reply_before() {
	awk -v t="$1" '/bytes from/ { ts = substr($1, 2, length($1) - 2) + 0; if (ts < t) last = ts }
		END { if (last != "") printf "%.6f\n", last }' "$HOST_PING_LOG"
}

# guest_replies: how many replies the guest's own ping has printed so far.
guest_replies() {
	sed 's/\r$//' "$QI_GUEST_LOG" | grep -c "bytes from $QI_HOST_IP: seq="
}

# wait_host_reply_after T SECONDS: waits for a host ping reply later than T; leaves
# its timestamp in REPLY_TS.
wait_host_reply_after() {
	local i
	REPLY_TS=""
	for ((i = 0; i < $2 * 20; i++)); do
		REPLY_TS=$(host_reply_after "$1")
		[ -n "$REPLY_TS" ] && return 0
		sleep 0.05
	done
	return 1
}

# wait_guest_replies N SECONDS: waits until the guest has printed more than N replies.
wait_guest_replies() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		[ "$(guest_replies)" -gt "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# vhostd_port_line: vhostd's stats line for port vm0.
vhostd_port_line() {
	qi_stats 2>/dev/null | grep '^port=vm0 ' | head -n 1
}

# wait_vhostd_state STATE SECONDS: waits until vhostd reports port vm0 in STATE.
wait_vhostd_state() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		[ "$(qi_kv "$(vhostd_port_line)" state)" = "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# traffic_flows WHEN: both pings get replies now (fails the check otherwise).
traffic_flows() {
	local when=$1 t n
	t=$(qi_now)
	n=$(guest_replies)
	check "$when: host ping gets replies" wait_host_reply_after "$t" "$RESUME_S"
	check "$when: the guest's ping gets replies" wait_guest_replies "$((n + 2))" "$RESUME_S"
}

# resumed_rings: how many times vhostd started a packed ring from its state file.
resumed_rings() {
	grep -c 'the state file has the ring at used slot' "$QI_VHOSTD_LOG"
}

# ---------------------------------------------------------------------------
# vhostd restarts and guests

# start_vhostd: starts vhostd with VHOSTD_OPTS (the same arguments every time).
start_vhostd() {
	qi_launch_vhostd "$VHOSTD_OPTS" || abort "vhostd did not start"
}

# restart_vhostd SIGNAL LABEL: sends SIGNAL to vhostd under traffic, starts it again
# with the same arguments and checks that both pings resume, the tap is the same and
# QEMU and vhostd are fine; prints the outage.
restart_vhostd() {
	local sig=$1 label=$2 t_kill t_ready st n0 before first gap to_first to_ready idx r0
	traffic_flows "$label: before the signal"
	r0=$(resumed_rings)
	t_kill=$(qi_now)
	kill "-$sig" "$QI_VHOSTD_PID"
	wait "$QI_VHOSTD_PID" 2>/dev/null
	st=$?
	QI_VHOSTD_PID=""
	if [ "$sig" = TERM ]; then
		check "$label: vhostd exited with status 0 on SIGTERM (got $st)" test "$st" = 0
	fi
	idx=$(tap_ifindex)
	check "$label: tap $QI_TAP still exists while vhostd is down (ifindex ${idx:-none})" \
		test "${idx:-none}" = "$TAP_IFINDEX"
	n0=$(guest_replies)
	start_vhostd
	t_ready=$(qi_now)
	tap_check "$label: after the restart"
	if ! check "$label: host ping resumes within ${RESUME_S}s" \
		wait_host_reply_after "$t_ready" "$RESUME_S"; then
		qi_log "QEMU output so far:"
		tail -n 20 "$QI_QEMU_LOG" >&2
		return 0
	fi
	first=$REPLY_TS
	check "$label: the guest's own ping resumes within ${RESUME_S}s" \
		wait_guest_replies "$((n0 + 2))" "$RESUME_S"
	check "$label: QEMU still running" kill -0 "$QI_QEMU_PID"
	check "$label: vhostd reports vm0 connected" wait_vhostd_state connected "$RESUME_S"
	[ "$PACKED" = 1 ] && check "$label: packed rings resumed from the state file" \
		num_gt "$(resumed_rings)" "$r0"
	local line
	line=$(vhostd_port_line)
	check "$label: no ring faults ($(qi_kv "$line" ring_faults))" \
		test "$(qi_kv "$line" ring_faults)" = 0
	before=$(host_reply_before "$t_kill")
	gap=$(awk -v a="$before" -v b="$first" 'BEGIN { printf "%.2f", b - a }')
	to_first=$(awk -v a="$t_kill" -v b="$first" 'BEGIN { printf "%.2f", b - a }')
	to_ready=$(awk -v a="$t_kill" -v b="$t_ready" 'BEGIN { printf "%.2f", b - a }')
	echo "     $label: outage ${gap}s (last reply before the signal to the first after);" \
		"signal->vhostd ready ${to_ready}s, signal->first reply ${to_first}s"
	SUMMARY+=("$label: outage ${gap}s (vhostd ready after ${to_ready}s, first reply ${to_first}s after the signal)")
}

# boot_guest CHARDEV_OPTIONS: starts QEMU for a new guest in the background, with its
# own console and QEMU logs (guest_ready waits for its job).
boot_guest() {
	GUEST_N=$((GUEST_N + 1))
	QI_GUEST_LOG=$QI_DIR/guest-$GUEST_N.log
	QI_QEMU_LOG=$QI_DIR/qemu-$GUEST_N.log
	T_BOOT=$(qi_now)
	qi_launch_guest "$1"
}

# guest_ready LABEL: waits for the guest's job, then starts the host's ping.
guest_ready() {
	qi_wait_result restart-ready "$BOOT_S" || abort "$1: the guest's job did not start"
	case "$(qi_result restart-ready)" in
	port=*) ;;
	*) abort "$1: the guest's job failed: $(qi_result restart-ready)" ;;
	esac
	echo "     $1: guest job running $(qi_elapsed "$T_BOOT")s after QEMU started"
	host_ping_start
}

# send_stop: tells the guest's job to end (a TCP connection to its stop port).
send_stop() {
	ip netns exec "$QI_NS" timeout 3 bash -c \
		"echo stop >/dev/tcp/$QI_GUEST_IP/$GUEST_STOP_PORT" 2>/dev/null
}

# stop_guest LABEL: ends the guest's job, waits for QEMU to exit and checks what the
# guest reports.
stop_guest() {
	local label=$1 i ping gaps link
	host_ping_stop
	for ((i = 0; i < 10; i++)); do
		send_stop && break
		sleep 0.5
	done
	qi_wait_guest
	check "$label: QEMU exited by itself with status 0 ($QI_QEMU_STATUS)" test "$QI_QEMU_STATUS" = 0
	check "$label: the guest finished its job" qi_has "done"
	ping=$(qi_result restart-ping)
	gaps=$(qi_result restart-gaps)
	link=$(qi_result restart-link)
	echo "     $label: guest ping $ping; outages (seqs without reply, ${QI_JOB_ARG}s apart): $gaps; $link"
	check "$label: the guest's ping got replies ($(qi_kv "$ping" received))" \
		num_gt "$(qi_kv "$ping" received)" 0
	SUMMARY+=("$label: guest ping $ping; $gaps; $link")
}

# ---------------------------------------------------------------------------

t_start=$(qi_now)
qi_build_guest || abort "could not prepare the guest (build-guest.sh)"
qi_log "guest kernel $GUEST_KVER, boot=$QI_BOOT"
QI_QUEUES=1
qi_setup || abort "could not create namespace"
trap rst_cleanup EXIT

# --- a. vhostd listens, QEMU reconnects -------------------------------------
qi_log "a. vhostd mode=server, QEMU -chardev ...,reconnect=1"
VHOSTD_OPTS=""
start_vhostd
ADDR_DEV=$QI_TAP
ip -n "$QI_NS" addr add "$QI_HOST_IP/$QI_PREFIX" dev "$QI_TAP" || abort "cannot address $QI_TAP"
ip -n "$QI_NS" link set "$QI_TAP" up
TAP_IFINDEX=$(tap_ifindex)
check "tap $QI_TAP is persistent" tap_persistent
boot_guest "reconnect=1"
guest_ready "a"
traffic_flows "a: first guest"
restart_vhostd KILL "a: SIGKILL (server)"
restart_vhostd TERM "a: SIGTERM (server)"
stop_guest "a: guest 1"
qi_stop_pid "$QI_VHOSTD_PID" 10
st=$?
QI_VHOSTD_PID=""
check "a: vhostd exited with status 0 on SIGTERM ($st)" test "$st" = 0
tap_check "a: end"

# --- b. vhostd connects to QEMU --------------------------------------------
qi_log "b. vhostd mode=client, QEMU -chardev ...,server=on,wait=off"
# The tap (still there with vhostd gone) becomes a bridge port; the bridge gets
# the address: the restarts below must keep that membership.
BRIDGE=br0
ip -n "$QI_NS" addr del "$QI_HOST_IP/$QI_PREFIX" dev "$QI_TAP"
ip -n "$QI_NS" link add "$BRIDGE" type bridge || abort "cannot create $BRIDGE"
ip -n "$QI_NS" link set "$QI_TAP" master "$BRIDGE" || abort "cannot add $QI_TAP to $BRIDGE"
ip -n "$QI_NS" addr add "$QI_HOST_IP/$QI_PREFIX" dev "$BRIDGE"
ip -n "$QI_NS" link set "$BRIDGE" up
ADDR_DEV=$BRIDGE
VHOSTD_OPTS="mode=client"
boot_guest "server=on,wait=off"
start_vhostd
tap_check "b: vhostd in client mode, tap in $BRIDGE"
guest_ready "b"
traffic_flows "b: first guest"
restart_vhostd KILL "b: SIGKILL (client)"
stop_guest "b: guest 2 (QEMU then quits)"
vpid=$QI_VHOSTD_PID
check "b: vhostd sees the front-end gone (state waiting)" wait_vhostd_state waiting "$RESUME_S"
# Not a synchronisation: the scenario's length of time without a QEMU, during which
# vhostd's connection attempts fail and its backoff grows.
sleep "$QEMU_ABSENT_S"
check "b: vhostd survives ${QEMU_ABSENT_S}s without a front-end" kill -0 "$QI_VHOSTD_PID"
r_new=$(resumed_rings)
boot_guest "server=on,wait=off"
check "b: vhostd reconnects to the new QEMU by itself" wait_vhostd_state connected "$RESUME_S"
t_conn=$(qi_elapsed "$T_BOOT")
guest_ready "b"
t_new=$(qi_now)
check "b: new guest: host ping gets replies" wait_host_reply_after "$t_new" "$RESUME_S"
check "b: new guest: its own ping gets replies" wait_guest_replies 2 "$RESUME_S"
t_reply=$(awk -v a="$T_BOOT" -v b="${REPLY_TS:-$T_BOOT}" 'BEGIN { printf "%.2f", b - a }')
echo "     b: new QEMU after ${QEMU_ABSENT_S}s without one: vhostd connected ${t_conn}s after" \
	"it started, first host ping reply ${t_reply}s after (guest boot included)"
SUMMARY+=("b: new QEMU on the same socket after ${QEMU_ABSENT_S}s: vhostd connected ${t_conn}s after QEMU started, first reply after ${t_reply}s (boot included)")
check "b: vhostd is the same process throughout (pid $vpid)" test "$QI_VHOSTD_PID" = "$vpid"
[ "$PACKED" = 1 ] && check "b: new QEMU: no ring started from the old QEMU's record" \
	num_eq "$(resumed_rings)" "$r_new"
tap_check "b: new guest"
stop_guest "b: guest 3 (new QEMU)"
line=$(vhostd_port_line)
echo "     vhostd stats: $line"
check "b: no ring faults ($(qi_kv "$line" ring_faults))" test "$(qi_kv "$line" ring_faults)" = 0
qi_stop_pid "$QI_VHOSTD_PID" 10
st=$?
QI_VHOSTD_PID=""
check "b: vhostd exited with status 0 on SIGTERM ($st)" test "$st" = 0
[ "$PACKED" = 1 ] && check "every front-end negotiated packed rings (bit 34)" \
	bash -c "! grep -E ': features 0x' '$QI_VHOSTD_LOG' | awk '{ print \$NF }' |
		while read -r f; do (( (f >> 34) & 1 )) || echo \$f; done | grep -q ."
check "vhostd log has no sanitizer report" \
	bash -c "! grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' '$QI_VHOSTD_LOG'"

echo "     summary:"
for s in "${SUMMARY[@]}"; do
	echo "       $s"
done
echo "     total $(qi_elapsed "$t_start")s"
qi_finish
