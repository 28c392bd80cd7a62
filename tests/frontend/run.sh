#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Runs one front-end test program against a fresh vhostd in a fresh network namespace.
#
#   run.sh server|client [-o PORTOPTS] [-a DAEMONARG]... [-p PORTSPEC]... PROG [ARGS...]
#
# -o appends PORTOPTS (e.g. poll=busy) to both --port specs; -a passes one more argument to the
# daemon (e.g. -a --workers -a 2); -p replaces p0 and p1 by the ports given (@D@ in PORTSPEC
# stands for the test's directory).
# One daemon, two ports: p0 (socket $d/p0.sock, tap vhf0; mode=server or mode=client as asked)
# and p1 (socket $d/p1.sock, tap vhf1, mode=server). PROG runs inside the namespace, so it can
# use AF_PACKET on the taps, with VUF_SOCK0/1, VUF_CTL, VUF_PID, VUF_TAP0/1 and VUF_DIR set.
# Afterwards the daemon must still be alive, must exit 0 on SIGTERM and must not have logged a
# system call its seccomp filter denied.
#
# Environment hooks (make check-valgrind uses them): VHOSTD_WRAPPER is a command (words split on
# blanks) the daemon runs under, which must exec it in the same process (e.g. valgrind); it may
# write a report to $VHOSTD_WRAPPER_LOG, shown if the test fails. VHOSTD_EXTRA_ARGS adds daemon
# arguments (split on blanks). VHOSTD_TIMEOUT_MULT (a whole number, default 1) stretches the
# start-up and exit time limits.
set -u

usage="usage: run.sh server|client [-o PORTOPTS] [-a DAEMONARG]... [-p PORTSPEC]... PROG [ARGS...]"
mode=${1:?$usage}
shift
portopts=
extra=()
ports=()
while [ $# -gt 0 ]; do
	case "$1" in
	-o) portopts=",${2:?$usage}"; shift 2 ;;
	-p) ports+=("${2:?$usage}"); shift 2 ;;
	-a) extra+=("${2:?$usage}"); shift 2 ;;
	*) break ;;
	esac
done
prog=${1:?$usage}
shift
: "${VHOSTD:?VHOSTD must point at the daemon}"
read -ra wrapper <<<"${VHOSTD_WRAPPER:-}"
read -ra extra_env <<<"${VHOSTD_EXTRA_ARGS:-}"
mult=${VHOSTD_TIMEOUT_MULT:-1}
case "$mult" in
'' | *[!0-9]* | 0) echo "run.sh: VHOSTD_TIMEOUT_MULT must be a whole number > 0" >&2; exit 2 ;;
esac

ns=vhf-$$-$RANDOM
d=$(mktemp -d /tmp/vhf.XXXXXX)
pid=
status=1

log() { echo "run.sh: $*" >&2; }

cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	if [ "$status" -ne 0 ] && [ -s "$d/vhostd.log" ]; then
		log "vhostd log (last 60 lines):"
		tail -n 60 "$d/vhostd.log" >&2
	fi
	if [ "$status" -ne 0 ] && [ -s "$d/wrapper.log" ]; then
		log "report of the daemon's wrapper (${wrapper[*]}):"
		cat "$d/wrapper.log" >&2
	fi
	ip netns del "$ns" 2>/dev/null
	rm -rf "$d"
}
trap cleanup EXIT

if [ ! -x "$VHOSTD" ]; then
	log "no daemon at $VHOSTD"
	exit 1
fi

ip netns add "$ns" || exit 1
# No IPv6 on the taps: router solicitations and MLD reports would reach the guest and spoil
# exact counters. With no addresses either, the kernel sends nothing of its own.
ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
	net.ipv6.conf.default.disable_ipv6=1 || exit 1
ip -n "$ns" link set lo up || exit 1

mkfifo "$d/ready" || exit 1
portargs=()
for spec in "${ports[@]}"; do
	portargs+=(--port "${spec//@D@/$d}")
done
if [ ${#portargs[@]} -eq 0 ]; then
	portargs=(--port "name=p0,socket=$d/p0.sock,backend=tap,ifname=vhf0,mode=$mode$portopts"
		--port "name=p1,socket=$d/p1.sock,backend=tap,ifname=vhf1,mode=server$portopts")
fi
VHOSTD_WRAPPER_LOG="$d/wrapper.log" ip netns exec "$ns" "${wrapper[@]}" "$VHOSTD" "${portargs[@]}" \
	--control "$d/ctl" --ready-fd 3 --log-level debug "${extra[@]}" "${extra_env[@]}" \
	3>"$d/ready" 2>"$d/vhostd.log" &
pid=$!

if ! read -r -t $((20 * mult)) line <"$d/ready" || [ "$line" != "READY=1" ]; then
	log "vhostd did not report READY=1 (got '${line:-}')"
	exit 1
fi

VUF_SOCK0="$d/p0.sock" VUF_SOCK1="$d/p1.sock" VUF_CTL="$d/ctl" VUF_PID="$pid" \
	VUF_TAP0=vhf0 VUF_TAP1=vhf1 VUF_DIR="$d" \
	ip netns exec "$ns" "$prog" "$@"
rc=$?

if ! kill -0 "$pid" 2>/dev/null; then
	wait "$pid"
	log "vhostd died during the test (exit status $?)"
	exit 1
fi
if [ $rc -ne 0 ]; then
	log "test program failed (exit status $rc)"
	exit $rc
fi

# Clean exit on SIGTERM, within 10 s (times the multiplier) (the watchdog only bounds a hang; it does not synchronise).
kill -TERM "$pid"
(
	trap 'kill "$sp" 2>/dev/null; exit 0' TERM
	sleep $((10 * mult)) &
	sp=$!
	wait "$sp" && kill -KILL "$pid" 2>/dev/null
) >/dev/null 2>&1 &
watchdog=$!
wait "$pid"
st=$?
pid=
kill "$watchdog" 2>/dev/null
wait "$watchdog" 2>/dev/null
if [ $st -ne 0 ]; then
	log "vhostd exited with status $st after SIGTERM (want 0)"
	exit 1
fi
# Under seccomp (on by default) every call the test made the daemon make is on its lists.
if grep "seccomp: .* denied" "$d/vhostd.log" >&2; then
	log "vhostd made a system call its seccomp filter denies"
	exit 1
fi
status=0
exit 0
