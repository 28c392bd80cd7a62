#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck disable=SC2015 # "A && B || fail": fails when either does, as meant
#
# dpdk-control: ports added, deleted and reloaded while a DPDK virtio-user front-end keeps
# another port busy, all through vhostctl and the configuration file.
#
# vhostd starts from a configuration file (ports keep, chg, gone; null back-ends) plus one
# port on the command line (cli). One interactive testpmd sends (txonly) on keep throughout.
#   1. vhostctl port add dyn: testpmd hot-plugs a virtio-user device on it and sends there too;
#      vhostd counts dyn's frames while keep's counter goes on growing.
#   2. vhostctl port del dyn under traffic: the front-end is dropped, the socket file is gone,
#      vhostd holds exactly the fds it held before dyn existed; keep still counts.
#   3. reload with chg changed (queues), gone removed and new added: vhostctl reports exactly
#      that; keep (unchanged) stays connected and its counter never goes back; cli is untouched.
#   4. reload of a file with a bad line: refused with the file's name and line, nothing changes.
#   5. SIGHUP reloads too (a port added to the file appears).
#   6. SIGTERM: vhostd exits 0.
#
# usage: dpdk-control.sh   (as root; VHOSTD and VHOSTCTL from the environment or the build)

set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/dpdk/lib.sh
. "$here/lib.sh"

VHOSTD=${VHOSTD:-${VHOSTD_BUILDDIR:-}/vhostd}
VHOSTCTL=${VHOSTCTL:-${VHOSTD_BUILDDIR:-$(dirname "$VHOSTD")}/vhostctl}
COUNT_S=15
VHOSTD_PID=

cleanup_hook() {
	[[ -n ${VHOSTD_PID:-} ]] && stop_pid "$VHOSTD_PID" 5
	return 0
}

# ctl ARGS...: vhostctl on our socket; its output in CTL_OUT, its exit status returned.
ctl() {
	CTL_OUT=$("$VHOSTCTL" --control "$WORK/ctl" "$@" 2>&1)
}

# json EXPR: evaluates the Python expression EXPR with r bound to CTL_OUT parsed as JSON.
json() {
	python3 -c 'import json, sys; r = json.loads(sys.argv[1]); sys.exit(0 if eval(sys.argv[2]) else 1)' \
		"$CTL_OUT" "$1"
}

# counter PORT KEY: prints the port's total counter KEY.
counter() {
	ctl -j stats "$1" || fail "stats $1: $CTL_OUT"
	python3 -c 'import json, sys; print(json.loads(sys.argv[1])["ports"][0]["total"][sys.argv[2]])' \
		"$CTL_OUT" "$2"
}

# grows PORT KEY FROM: succeeds when PORT's counter KEY is above FROM.
grows() {
	local v
	v=$(counter "$1" "$2") || exit 1
	((v > $3))
}

# port_names: prints the port names, sorted, on one line.
port_names() {
	ctl -j port list || fail "port list: $CTL_OUT"
	python3 -c 'import json, sys; print(" ".join(sorted(p["name"] for p in json.loads(sys.argv[1])["ports"])))' \
		"$CTL_OUT"
}

# has_port NAME: succeeds when vhostd has a port called NAME.
has_port() {
	[[ " $(port_names) " == *" $1 "* ]]
}

# fds_are N: succeeds when vhostd holds N fds.
fds_are() {
	[[ $(proc_fds "$VHOSTD_PID") == "$1" ]]
}

# write_config [EXTRA]: the file with keep, chg (queues=$CHG_QUEUES), and gone unless NO_GONE=1.
write_config() {
	{
		echo "# dpdk-control's vhostd.conf"
		echo "log-level = debug"
		echo "[port keep]"
		echo "socket = $WORK/keep.sock"
		echo "backend = null"
		echo "[port chg]"
		echo "socket = $WORK/chg.sock"
		echo "backend = null"
		echo "queues = $CHG_QUEUES"
		if [[ ${NO_GONE:-0} != 1 ]]; then
			echo "[port gone]"
			echo "socket = $WORK/gone.sock"
			echo "backend = null"
		fi
		printf '%s\n' "$@"
	} >"$WORK/vhostd.conf.new"
	mv "$WORK/vhostd.conf.new" "$WORK/vhostd.conf"
}

main() {
	local line fds0 keep0 keep1 v
	now_ms START_MS
	WORK=$(mktemp -d /tmp/vhdt-control.XXXXXX)
	trap cleanup EXIT
	[[ -x $VHOSTD ]] || fail "no daemon at $VHOSTD"
	[[ -x $VHOSTCTL ]] || fail "no vhostctl at $VHOSTCTL"
	setup_hugepages

	CHG_QUEUES=1
	write_config
	mkfifo "$WORK/ready" || fail "mkfifo"
	"$VHOSTD" --config "$WORK/vhostd.conf" --control "$WORK/ctl" \
		--port "name=cli,socket=$WORK/cli.sock,backend=null" --ready-fd 3 \
		3>"$WORK/ready" 2>>"$WORK/vhostd.log" &
	VHOSTD_PID=$!
	read -r -t 20 line <"$WORK/ready"
	[[ $line == READY=1 ]] || fail "vhostd did not become ready (got '$line')"
	[[ $(port_names) == "chg cli gone keep" ]] || fail "ports at start: $(port_names)"
	ctl -j port show keep && json 'r["source"] == "config"' || fail "keep's source: $CTL_OUT"
	ctl -j port show cli && json 'r["source"] == "cli"' || fail "cli's source: $CTL_OUT"
	log "vhostd up: ports from the file and the command line"

	# virtio-user writes to a connection vhostd closed (port del) and, unlike QEMU, does not
	# ignore SIGPIPE itself: testpmd inherits it ignored.
	trap '' PIPE
	tp_start fe 1 --vdev "net_virtio_user0,path=$WORK/keep.sock,queues=1,queue_size=256" \
		-- -i --no-flush-rx --txq=1 --rxq=1
	trap - PIPE
	tp_run fe "$STARTUP_S" "set fwd txonly" "start"
	wait_fast "$COUNT_S" "keep to count frames" grows keep tx_packets 0
	log "testpmd sends on keep"

	# 1. A port added at run time carries traffic while keep goes on.
	fds0=$(proc_fds "$VHOSTD_PID")
	ctl port add "name=dyn,socket=$WORK/dyn.sock,backend=null,queues=1" ||
		fail "port add dyn: $CTL_OUT"
	[[ -S $WORK/dyn.sock ]] || fail "dyn's socket was not created"
	tp_run fe "$CMD_S" "stop" \
		"port attach net_virtio_user1,path=$WORK/dyn.sock,queues=1,queue_size=256" \
		"port start 1" "start"
	wait_fast "$COUNT_S" "dyn to count frames" grows dyn tx_packets 0
	keep0=$(counter keep tx_packets) || exit 1
	wait_fast "$COUNT_S" "keep to go on counting" grows keep tx_packets "$keep0"
	ctl -j port show dyn && json 'r["state"] == "connected" and r["source"] == "api"' ||
		fail "dyn: $CTL_OUT"
	log "dyn added at run time: carries traffic, keep goes on"

	# 2. Deleted under traffic: everything it held is given back.
	ctl port del dyn || fail "port del dyn: $CTL_OUT"
	[[ ! -e $WORK/dyn.sock ]] || fail "dyn's socket file is still there"
	! has_port dyn || fail "dyn still listed"
	# The vhostctl connections close on their own schedule: the count settles (no event).
	wait_fast "$COUNT_S" "vhostd back to $fds0 fds" fds_are "$fds0"
	keep0=$(counter keep tx_packets) || exit 1
	wait_fast "$COUNT_S" "keep to go on counting after the delete" grows keep tx_packets "$keep0"
	# testpmd lets go of the device whose back-end went away (it would write to it at exit).
	tp_run fe "$CMD_S" "stop" "port stop 1" "port close 1" "port detach 1" "start"
	log "dyn deleted under traffic: $fds0 fds as before, keep goes on"

	# 3. Reload: chg changed, gone removed, new added; keep untouched.
	CHG_QUEUES=2 NO_GONE=1 write_config "[port new]" "socket = $WORK/new.sock" "backend = null"
	keep0=$(counter keep tx_packets) || exit 1
	ctl -j reload || fail "reload: $CTL_OUT"
	json 'r == {"added": ["new"], "removed": ["gone"], "changed": ["chg"], "unchanged": ["keep"]}' ||
		fail "reload reported: $CTL_OUT"
	[[ $(port_names) == "chg cli keep new" ]] || fail "ports after reload: $(port_names)"
	ctl -j port show chg && json 'r["queues"] == 2' || fail "chg not re-created: $CTL_OUT"
	ctl -j port show keep && json 'r["state"] == "connected"' || fail "keep: $CTL_OUT"
	keep1=$(counter keep tx_packets) || exit 1
	((keep1 >= keep0)) || fail "keep's counter went back over the reload: $keep0 -> $keep1"
	wait_fast "$COUNT_S" "keep to go on counting after the reload" grows keep tx_packets "$keep1"
	[[ ! -e $WORK/gone.sock ]] || fail "gone's socket file is still there"
	log "reload: new added, gone removed, chg re-created, keep kept its front-end and counters"

	# 4. A bad file changes nothing.
	cp "$WORK/vhostd.conf" "$WORK/good.conf"
	printf '[port bad]\nsocket = %s/bad.sock\nbackend = null\nqueues = 99\n' "$WORK" \
		>>"$WORK/vhostd.conf"
	v=$(wc -l <"$WORK/vhostd.conf")
	ctl reload && fail "a bad file was accepted: $CTL_OUT"
	line=$CTL_OUT
	[[ $line == *"vhostd.conf:$v: queues must be 1..16"* ]] ||
		fail "no file:line in the refusal: $line"
	[[ $(port_names) == "chg cli keep new" ]] || fail "ports after a refused reload: $(port_names)"
	ctl -j port show keep && json 'r["state"] == "connected"' || fail "keep: $CTL_OUT"
	log "a bad file is refused whole: $line"

	# 5. SIGHUP.
	cp "$WORK/good.conf" "$WORK/vhostd.conf"
	printf '[port hup]\nsocket = %s/hup.sock\nbackend = null\n' "$WORK" >>"$WORK/vhostd.conf"
	kill -HUP "$VHOSTD_PID"
	wait_fast "$COUNT_S" "SIGHUP to add port hup" has_port hup
	[[ $(port_names) == "chg cli hup keep new" ]] || fail "ports after SIGHUP: $(port_names)"
	log "SIGHUP reloaded"

	tp_quit fe
	vhostd_stop_clean
	log "passed"
}

main "$@"
