#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# vhostd as user nobody with no capability at all (none effective, permitted, inheritable or in
# its bounding set), under its seccomp filters, on two persistent taps made beforehand for that
# user (`ip tuntap add ... user 65534 vnet_hdr multi_queue`) in a namespace of its own:
#   - every thread (main and two workers) shows Seccomp: 2, CapEff 0 and uid 65534 in
#     /proc/PID/task/*/status, and the workers carry one filter more than the main thread
#     (theirs stacked on the one they inherited);
#   - our own front-end (the frontend-datapath program, given as $1) carries byte-exact
#     traffic both ways through both taps with exact counters;
#   - the daemon made no call its filters deny, still runs, and exits 0 on SIGTERM.
set -u
prog=${1:?usage: unpriv.sh FRONTEND-DATAPATH-PROGRAM}
: "${VHOSTD:?VHOSTD must point at the daemon}"
NOBODY=65534
ns=vhu-$$-$RANDOM
d=$(mktemp -d /tmp/vhu.XXXXXX)
pid=
failures=0

log() { echo "unpriv.sh: $*" >&2; }

check() {
	local what=$1
	shift
	if "$@"; then
		echo "ok - $what"
	else
		echo "not ok - $what"
		failures=$((failures + 1))
	fi
}

cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	if [ "$failures" -ne 0 ] && [ -s "$d/vhostd.log" ]; then
		log "vhostd log (last 40 lines):"
		tail -n 40 "$d/vhostd.log" >&2
	fi
	ip netns del "$ns" 2>/dev/null
	rm -rf "$d"
}
trap cleanup EXIT

# status_field TID FIELD: the value of FIELD in the thread's status file.
status_field() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$pid/task/$1/status"
}

ip netns add "$ns" || exit 1
ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
	net.ipv6.conf.default.disable_ipv6=1 || exit 1
ip -n "$ns" link set lo up || exit 1
# The administrator's part: taps for the daemon's user, up (vhostd could not set them up).
for t in vhu0 vhu1; do
	ip -n "$ns" tuntap add dev "$t" mode tap user "$NOBODY" vnet_hdr multi_queue || exit 1
	ip -n "$ns" link set "$t" up || exit 1
done
chmod 0777 "$d"
mkfifo "$d/ready" || exit 1
ip netns exec "$ns" setpriv --reuid="$NOBODY" --regid="$NOBODY" --clear-groups \
	--inh-caps=-all --bounding-set=-all \
	"$VHOSTD" --port "name=p0,socket=$d/p0.sock,backend=tap,ifname=vhu0" \
	--port "name=p1,socket=$d/p1.sock,backend=tap,ifname=vhu1" --workers 2 \
	--control "$d/ctl" --ready-fd 3 --log-level debug 3>"$d/ready" 2>"$d/vhostd.log" &
pid=$!
if ! read -r -t 20 line <"$d/ready" || [ "$line" != "READY=1" ]; then
	log "vhostd did not report READY=1 (got '${line:-}')"
	failures=1
	exit 1
fi

tids=$(ls "/proc/$pid/task")
check "vhostd runs a main thread and two workers ($(echo $tids | wc -w) threads)" \
	[ "$(echo $tids | wc -w)" -ge 3 ]
for tid in $tids; do
	name=$(cat "/proc/$pid/task/$tid/comm")
	check "thread $tid ($name): Seccomp: 2" [ "$(status_field "$tid" Seccomp)" = 2 ]
	check "thread $tid ($name): CapEff 0" [ "$(status_field "$tid" CapEff)" = 0000000000000000 ]
	check "thread $tid ($name): CapBnd 0" [ "$(status_field "$tid" CapBnd)" = 0000000000000000 ]
	check "thread $tid ($name): uid $NOBODY" [ "$(status_field "$tid" Uid)" = "$NOBODY" ]
done
main_filters=$(status_field "$pid" Seccomp_filters)
for tid in $tids; do
	case $(cat "/proc/$pid/task/$tid/comm") in
	vhostd-w*)
		check "worker $tid: its filter on the main thread's ($(status_field "$tid" \
			Seccomp_filters) filters, main $main_filters)" \
			[ "$(status_field "$tid" Seccomp_filters)" -gt "$main_filters" ]
		;;
	esac
done
check "vhostd attached the taps made for it" grep -q "tap vhu1: attached to the existing link" \
	"$d/vhostd.log"

VUF_SOCK0="$d/p0.sock" VUF_SOCK1="$d/p1.sock" VUF_CTL="$d/ctl" VUF_PID="$pid" \
	VUF_TAP0=vhu0 VUF_TAP1=vhu1 VUF_DIR="$d" \
	ip netns exec "$ns" "$prog"
check "the front-end's traffic through both taps, exact (frontend-datapath)" [ $? -eq 0 ]

check "vhostd still runs" kill -0 "$pid"
kill -TERM "$pid"
wait "$pid"
st=$?
pid=
check "vhostd exits 0 on SIGTERM (status $st)" [ "$st" -eq 0 ]
check "no system call denied by seccomp" bash -c "! grep 'seccomp: .* denied' '$d/vhostd.log'"
check "the persistent taps outlive vhostd" ip -n "$ns" link show vhu0
[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
