#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck disable=SC2016,SC2001 # the bash -c checks expand their "$1" themselves
#
# vhostctl against a real vhostd: every subcommand in its human and -j (JSON) form, output
# formats, exit statuses, and top. The daemon runs with two null ports, a (sink) and b
# (generator), no front-end: every counter stays 0, so every rate top shows must be 0.
#
#   client only   --help/--version/help, usage errors (2), a missing socket (3), a socket that
#                 never answers (3) and one that answers garbage (4); small python3 listeners
#                 stand in for a daemon in the last two
#   daemon        version; port list/show; port add (the spec as vhostd --port takes it, with
#                 features=-packed,-mrg_rxbuf) then list/show it, add it again (exists, 1), del it,
#                 del it again (not-found, 1); stats as table, json, kv (the keys the test scripts
#                 grep) and prometheus; set log-level and set poll (then port show says so), bad
#                 values and ports (1); reload (0 with its four lists, or 1 with a message when the
#                 daemon has no configuration file); top --count 2/3 as text and JSON (rates 0, a
#                 port added meanwhile shown with '-' first, then with rates), and top on a
#                 terminal (pty): redrawn with escapes, q quits, the terminal restored
# Every -j output is parsed with python3's json module.
#
# Usage: vhostctl.sh (meson sets VHOSTD and VHOSTCTL; no root needed). VHOSTCTL_TEST_KEEP=1 keeps
# the scratch directory (the daemon's log is there). Prints "ok"/"not ok" per check and a
# closing "N passed, N failed" line; exits 1 if anything failed.

set -u -o pipefail
export LC_ALL=C

VHOSTD=${VHOSTD:-${VHOSTD_BUILDDIR:-build}/vhostd}
VHOSTCTL=${VHOSTCTL:-$(dirname "$VHOSTD")/vhostctl}
WORK=$(mktemp -d /tmp/vhostctl-test.XXXXXX)
CTL=$WORK/ctl.sock
DAEMON_PID=
HELPER_PIDS=()
PASSED=0
FAILED=0
OUT='' ERR='' RC=''

cleanup() {
	local p
	for p in "${HELPER_PIDS[@]}" $DAEMON_PID; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	if [[ ${VHOSTCTL_TEST_KEEP:-0} == 1 ]]; then
		echo "# kept $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

# pass/fail DESCRIPTION: records one check's outcome.
pass() {
	PASSED=$((PASSED + 1))
	echo "ok - $1"
}
fail() {
	FAILED=$((FAILED + 1))
	echo "not ok - $1"
	[[ -n $OUT ]] && sed 's/^/#   stdout: /' <<<"$OUT" | head -n 40
	[[ -n $ERR ]] && sed 's/^/#   stderr: /' <<<"$ERR" | head -n 20
	return 0
}

# check DESCRIPTION COMMAND...: passes when COMMAND succeeds.
check() {
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}

# ctl ARGS...: runs vhostctl; leaves stdout in OUT, stderr in ERR, the exit status in RC.
ctl() {
	local e=$WORK/stderr
	OUT=$("$VHOSTCTL" "$@" 2>"$e")
	RC=$?
	ERR=$(<"$e")
}

# expect RC DESCRIPTION ARGS...: runs vhostctl ARGS and checks its exit status.
expect() {
	local want=$1 what=$2
	shift 2
	ctl "$@"
	if [[ $RC == "$want" ]]; then pass "$what (exit $want)"; else fail "$what: exit $RC, not $want"; fi
}

# has REGEX: OUT has a line matching REGEX (extended).
has() {
	grep -qE -- "$1" <<<"$OUT"
}

# err_has REGEX: ERR has a line matching REGEX.
err_has() {
	grep -qE -- "$1" <<<"$ERR"
}

# json PYTHON-EXPR: OUT parses as JSON (bound to r) and the expression is true.
json() {
	python3 -c 'import json, sys
r = json.loads(sys.stdin.read())
sys.exit(0 if eval(sys.argv[1]) else 1)' "$1" <<<"$OUT"
}

# jsonl PYTHON-EXPR: OUT is one JSON object per line (bound to the list f) and the expression holds.
jsonl() {
	python3 -c 'import json, sys
f = [json.loads(l) for l in sys.stdin.read().splitlines()]
sys.exit(0 if eval(sys.argv[1]) else 1)' "$1" <<<"$OUT"
}

# listener MODE PATH: a unix socket at PATH that accepts and then stays silent (MODE silent) or
# answers every line with text that is not JSON (MODE garbage). Runs in the background.
listener() {
	python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[2])
s.listen(4)
while True:
    c, _ = s.accept()
    if sys.argv[1] == "garbage":
        c.recv(65536)
        c.sendall(b"stats are fine\n")
    time.sleep(0.1)
    if sys.argv[1] == "garbage":
        c.close()
    else:
        keep = c' "$1" "$2" &
	HELPER_PIDS+=($!)
	for _ in $(seq 50); do
		[[ -S $2 ]] && return 0
		sleep 0.1
	done
	return 1
}

# ---------------------------------------------------------------------------------------------
echo "# client only (no daemon)"

expect 0 "--version" --version
check "--version prints 'vhostctl VERSION'" has '^vhostctl [0-9]'
expect 0 "--help" --help
check "--help lists every command and the exit statuses" bash -c '
	for c in "port add" "port del" "port list" "port show" stats "set log-level" "set poll" \
		reload version top; do
		grep -q "^  $c" <<<"$1" || exit 1
	done
	grep -q "Exit status" <<<"$1"' _ "$OUT"
expect 0 "port add --help" port add --help
check "port add --help describes SPEC" has '^Usage: vhostctl \[OPTIONS\] port add SPEC'
expect 0 "help stats" help stats
check "help stats names the formats" has 'table \(default\), json, kv or prometheus'
expect 0 "stats --help after global options" --control "$WORK/none" stats --help
expect 0 "help port (a group)" help port
expect 2 "no command" --control "$CTL"
expect 2 "unknown command" bogus
check "unknown command says so" err_has "^vhostctl: unknown command 'bogus'"
expect 2 "port without a subcommand" port
expect 2 "port show without NAME" port show
expect 2 "port show with two names" port show a b
expect 2 "stats --format=xml" stats --format=xml
expect 2 "unknown option" stats --bogus
expect 2 "--timeout not a number" --timeout soon version
expect 2 "top --count 0" top --count 0
expect 2 "top --interval 0" top --interval 0
expect 2 "help for no such command" help frobnicate
expect 3 "a missing socket" --control "$WORK/missing.sock" version
check "a missing socket is named" err_has "^vhostctl: cannot connect to $WORK/missing.sock: "
VHOSTD_CONTROL=$WORK/missing-env.sock expect 3 "VHOSTD_CONTROL names the socket" version
check "VHOSTD_CONTROL's socket is the one tried" err_has "missing-env.sock"
if listener silent "$WORK/silent.sock"; then
	expect 3 "a daemon that never answers (--timeout 0.5)" --control "$WORK/silent.sock" \
		--timeout 0.5 version
else
	fail "silent listener did not start"
fi
if listener garbage "$WORK/garbage.sock"; then
	expect 4 "a reply that is not JSON" --control "$WORK/garbage.sock" version
	check "a reply that is not JSON is a protocol error" err_has "protocol error"
else
	fail "garbage listener did not start"
fi

# ---------------------------------------------------------------------------------------------
echo "# against vhostd"

mkfifo "$WORK/ready"
"$VHOSTD" --control "$CTL" --ready-fd 3 \
	--port "name=a,socket=$WORK/a.sock,backend=null" \
	--port "name=b,socket=$WORK/b.sock,backend=null,gen=64" \
	3>"$WORK/ready" 2>"$WORK/vhostd.log" &
DAEMON_PID=$!
if ! read -r -t 20 line <"$WORK/ready" || [[ $line != READY=1 ]]; then
	OUT=$(tail -n 20 "$WORK/vhostd.log")
	fail "vhostd did not become ready"
	echo "$PASSED passed, $FAILED failed"
	exit 1
fi
export VHOSTD_CONTROL=$CTL

expect 0 "version" version
check "version names vhostctl, vhostd and API 1" bash -c \
	'grep -q "^vhostctl [0-9]" <<<"$1" && grep -qE "^vhostd [0-9].*\(control API 1\)" <<<"$1"' \
	_ "$OUT"
expect 0 "-j version" -j version
check "-j version: {version, api: 1}" json 'r["api"] == 1 and isinstance(r["version"], str)'

expect 0 "port list" port list
check "port list: header" has '^NAME +STATE +BACKEND +QUEUES +MODE +WORKERS +SOCKET$'
check "port list: a and b, null, 1 queue pair, waiting" bash -c "
	grep -qE '^a +waiting +null +1 +server .*$WORK/a.sock\$' <<<\"\$1\" &&
	grep -qE '^b +waiting +null +1 +server .*$WORK/b.sock\$' <<<\"\$1\"" _ "$OUT"
expect 0 "-j port list" -j port list
check "-j port list: a and b with every member" json \
	'sorted(p["name"] for p in r["ports"]) == ["a", "b"] and all(set(p) >= {"name", "socket", "mode", "backend", "queues", "state", "workers"} for p in r["ports"])'

expect 0 "port show a" port show a
check "port show: key: value lines" bash -c '
	grep -qE "^name: +a$" <<<"$1" && grep -qE "^backend: +null$" <<<"$1" &&
	grep -qE "^state: +waiting$" <<<"$1" && grep -qE "^socket: " <<<"$1"' _ "$OUT"
expect 0 "-j port show b" -j port show b
check "-j port show b: null backend, gen 64, features, rings" json \
	'r["name"] == "b" and r["backend"] == "null" and str(r["gen"]) == "64" and "offered" in r["features"] and isinstance(r["rings"], list)'
expect 1 "port show of a port that does not exist" port show nosuch
check "the daemon's error: vhostctl: not-found: MESSAGE" err_has '^vhostctl: not-found: .+'

SPEC="name=c,socket=$WORK/c.sock,backend=null,queues=2,features=-packed,-mrg_rxbuf"
expect 0 "port add $SPEC" port add "$SPEC"
check "port add prints the new port" bash -c \
	'grep -qE "^name: +c$" <<<"$1" && grep -qE "^queues: +2$" <<<"$1"' _ "$OUT"
check "port add made the vhost-user socket" test -S "$WORK/c.sock"
expect 0 "port list after port add" port list
check "port list shows c with 2 queue pairs" has "^c +waiting +null +2 +server .*$WORK/c.sock\$"
expect 0 "-j port show c" -j port show c
check "-j port show c: 2 queues, packed and mrg_rxbuf off and not offered" json \
	'r["queues"] == 2 and {"packed", "mrg_rxbuf"} <= set(r["features"]["off"]) and not {"packed", "mrg_rxbuf"} & set(r["features"]["offered"]) and r["source"] == "api"'
expect 1 "port add of an existing name" port add "$SPEC"
check "exists error" err_has '^vhostctl: exists: .+'
expect 1 "port add with a bad spec" port add "name=x,backend=warp"
check "invalid-argument error" err_has '^vhostctl: invalid-argument: .+'
expect 0 "port del c" port del c
check "port del prints nothing" test -z "$OUT"
expect 0 "port list after port del" port list
check "c is gone" bash -c '! grep -q "^c " <<<"$1"' _ "$OUT"
expect 1 "port del of a port that is gone" port del c
check "not-found error" err_has '^vhostctl: not-found: .+'
expect 0 "-j port add" -j port add "name=d,socket=$WORK/d.sock,backend=null"
check "-j port add: the new port" json 'r["name"] == "d" and r["backend"] == "null"'
expect 0 "-j port del" -j port del d
check "-j port del: {}" json 'r == {}'

expect 0 "stats" stats
check "stats: a table per port" bash -c '
	grep -qE "^port a: waiting$" <<<"$1" && grep -qE "^port b: waiting$" <<<"$1" &&
	grep -qE "^QUEUE +RX PKTS +RX BYTES +RX DROP +TX PKTS +TX BYTES +TX DROP +TX ERR +FAULTS$" <<<"$1" &&
	[ "$(grep -cE "^total +0 +0 B +0 +0 +0 B +0 +0 +0$" <<<"$1")" = 2 ] &&
	grep -qE "^kicks rx [0-9]+ tx [0-9]+, calls rx [0-9]+ tx [0-9]+, rx oversize 0, rx stale 0$" <<<"$1"' \
	_ "$OUT"
expect 0 "stats a" stats a
check "stats a: only a" bash -c 'grep -q "^port a:" <<<"$1" && ! grep -q "^port b:" <<<"$1"' _ "$OUT"
expect 1 "stats of a port that does not exist" stats nosuch
check "stats nosuch: not-found" err_has '^vhostctl: not-found: .+'
expect 0 "-j stats" -j stats
check "-j stats: PORTSTATS for a and b" json \
	'sorted(p["name"] for p in r["ports"]) == ["a", "b"] and all(p["total"]["tx_packets"] == 0 and p["queues"][0]["queue"] == 0 and "ring_faults" in p["total"] and "dirty_log" in p for p in r["ports"])'
expect 0 "stats --format=json" stats --format=json
check "stats --format=json is JSON" json '"ports" in r'
expect 0 "stats --format=kv" --control "$CTL" stats --format=kv
check "kv: one line per port, port=NAME state=STATE first" bash -c '
	[ "$(wc -l <<<"$1")" = 2 ] &&
	grep -qE "^port=a state=waiting " <<<"$1" && grep -qE "^port=b state=waiting " <<<"$1"' \
	_ "$OUT"
# The keys tests/dpdk, tests/qemu and bench grep (bench wants a space after tx_packets's value).
check "kv: every key the test scripts read" bash -c '
	for k in tx_packets tx_bytes tx_dropped tx_errors rx_packets rx_bytes rx_dropped \
		rx_oversize ring_faults; do
		grep -qE "^port=a .* $k=0( |\$)" <<<"$1" || exit 1
	done
	grep -qE "^port=a state=waiting .*tx_packets=0 " <<<"$1"' _ "$OUT"
expect 0 "-j stats --format=kv" -j stats --format=kv
check "-j stats --format=kv: {text}" json 'r["text"].startswith("port=")'
expect 0 "stats --format=prometheus" stats --format=prometheus
check "prometheus: TYPE lines and samples labelled with the ports" bash -c '
	grep -qE "^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge)$" <<<"$1" &&
	grep -qE "^[a-zA-Z_:][a-zA-Z0-9_:]*\{[^}]*=\"a\"[^}]*\} [0-9]" <<<"$1" &&
	grep -qE "^[a-zA-Z_:][a-zA-Z0-9_:]*\{[^}]*=\"b\"[^}]*\} [0-9]" <<<"$1"' _ "$OUT"

expect 0 "set log-level debug" set log-level debug
check "set prints nothing" test -z "$OUT"
expect 0 "set log-level info" set log-level info
expect 1 "set log-level loud" set log-level loud
check "bad level: invalid-argument" err_has '^vhostctl: invalid-argument: .+'
expect 0 "set poll a busy" set poll a busy
expect 0 "-j port show a after set poll" -j port show a
check "port a polls busy" json 'r["poll"] == "busy"'
expect 0 "-j set poll a event" -j set poll a event
check "-j set: {}" json 'r == {}'
expect 1 "set poll of a port that does not exist" set poll nosuch busy
check "set poll nosuch: not-found" err_has '^vhostctl: not-found: .+'
expect 1 "set poll a turbo" set poll a turbo
check "bad mode: invalid-argument" err_has '^vhostctl: invalid-argument: .+'

# vhostd runs without a configuration file here: the daemon may reload nothing (0, four empty
# lists) or refuse (1, with its error).
ctl reload
if [[ $RC == 0 ]]; then
	check "reload: added, removed, changed, unchanged" bash -c '
		for k in added removed changed unchanged; do grep -qE "^$k: " <<<"$1" || exit 1; done' \
		_ "$OUT"
	expect 0 "-j reload" -j reload
	check "-j reload: four lists" json \
		'all(isinstance(r[k], list) for k in ("added", "removed", "changed", "unchanged"))'
elif [[ $RC == 1 ]]; then
	check "reload without a configuration file: the daemon's error" err_has '^vhostctl: [a-z-]+: .+'
else
	fail "reload: exit $RC"
fi

# top as a script sees it: plain frames separated by a blank line.
expect 0 "top --count 2 --interval 0.5" top --count 2 --interval 0.5
check "top: two frames, a blank line between" bash -c '
	[ "$(grep -c "^vhostd: 2 ports (0 connected)" <<<"$1")" = 2 ] &&
	[ "$(grep -cE "^PORT +STATE +RX PPS +RX BIT/S +TX PPS +TX BIT/S +DROPS +FAULTS$" <<<"$1")" = 2 ] &&
	[ "$(grep -c "^$" <<<"$1")" = 1 ] && ! grep -q $'"'"'\033'"'"' <<<"$1"' _ "$OUT"
check "top: frame 1 without rates, frame 2 with rate 0 for a and b" bash -c '
	f1=$(sed -n "1,/^\$/p" <<<"$1") f2=$(sed -n "/^\$/,\$p" <<<"$1")
	for p in a b; do
		grep -qE "^$p +waiting +- +- +- +- +- +-\$" <<<"$f1" || exit 1
		grep -qE "^$p +waiting +0 +0 +0 +0 +0 +0\$" <<<"$f2" || exit 1
	done' _ "$OUT"
check "top: every line fits 80 columns" bash -c '! grep -qE "^.{81}" <<<"$1"' _ "$OUT"
expect 0 "-j top --count 2 --interval 0.5" -j top --count 2 --interval 0.5
check "-j top: a line per frame, rates 0, elapsed about the interval" jsonl \
	'len(f) == 2 and f[0]["elapsed"] is None and 0.4 <= f[1]["elapsed"] <= 2.0 and sorted(p["name"] for p in f[1]["ports"]) == ["a", "b"] and all(p[k] == 0 for p in f[1]["ports"] for k in ("rx_pps", "rx_bps", "tx_pps", "tx_bps", "drops", "faults")) and all(p["rx_pps"] is None for p in f[0]["ports"])'

# A port that appears between refreshes: no rates in the frame it first shows up in.
"$VHOSTCTL" top --count 3 --interval 1 >"$WORK/top.out" 2>&1 &
TOP_PID=$!
sleep 0.5
"$VHOSTCTL" port add "name=e,socket=$WORK/e.sock,backend=null" >/dev/null
wait "$TOP_PID"
RC=$? OUT=$(<"$WORK/top.out") ERR=''
check "top with a port added between frames: exit 0" test "$RC" = 0
check "top: e absent, then '-', then rates" bash -c '
	f1=$(awk "BEGIN{RS=\"\"} NR==1" <<<"$1") f2=$(awk "BEGIN{RS=\"\"} NR==2" <<<"$1")
	f3=$(awk "BEGIN{RS=\"\"} NR==3" <<<"$1")
	! grep -q "^e " <<<"$f1" && grep -qE "^e +waiting +- +-" <<<"$f2" &&
	grep -qE "^e +waiting +0 +0 +0 +0 +0 +0$" <<<"$f3" && grep -qE "^a +waiting +0 +0" <<<"$f3"' \
	_ "$OUT"
"$VHOSTCTL" port del e >/dev/null

# top on a terminal: redrawn in place, q quits with status 0, the terminal restored.
cat >"$WORK/top-tty.py" <<'PYEOF'
import os, pty, select, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "--control", sys.argv[2], "top", "--interval", "0.3"])
out = b""
def drain(seconds):
    global out
    end = time.time() + seconds
    while time.time() < end:
        if select.select([fd], [], [], 0.05)[0]:
            try:
                out += os.read(fd, 65536)
            except OSError:
                return
drain(1.2)
running = termios.tcgetattr(fd)[3]
os.write(fd, b"q")
drain(1.0)
for _ in range(50):
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    time.sleep(0.1)
after = termios.tcgetattr(fd)[3]
print("raw while running:", not running & termios.ICANON and not running & termios.ECHO)
print("restored:", bool(after & termios.ICANON and after & termios.ECHO))
print("exited 0:", done == pid and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0)
print("redrawn:", out.count(b"\x1b[H") >= 3 and b"q: quit" in out and b"\x1b[?25h" in out)
PYEOF
OUT=$(python3 "$WORK/top-tty.py" "$VHOSTCTL" "$CTL" 2>&1)
ERR=
check "top on a terminal: keys read raw" has '^raw while running: True$'
check "top on a terminal: q quits with status 0" has '^exited 0: True$'
check "top on a terminal: the terminal restored" has '^restored: True$'
check "top on a terminal: frames redrawn with escapes, cursor shown again" has '^redrawn: True$'

check "vhostd still running" kill -0 "$DAEMON_PID"
OUT=$(grep -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$WORK/vhostd.log")
check "vhostd log has no sanitizer report" test -z "$OUT"

echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
