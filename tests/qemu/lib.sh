# shellcheck shell=bash disable=SC2034 # variables are shared with the callers
# Shared by tests/qemu/qemu-interop.sh and scripts/demo.sh (bash; sourced).
# Brings up: a network namespace with vhostd (tap back-end) and an iperf3
# server inside it, then a QEMU/TCG guest whose virtio-net NIC is served by
# vhostd over vhost-user. The guest's /init (guest-init.sh) runs ping and
# iperf3 and prints "VHOSTD-RESULT ..." lines on its serial console.
#
# Callers set, before qi_setup:
#   VHOSTD            path of the daemon (required unless QI_REFERENCE=1)
#   QI_QUEUES         queue pairs (default 1)
#   QI_STREAMS        parallel iperf3 streams in the guest (default 1)
#   QI_JOB            test|demo, passed to the guest (default test)
#   QI_REFERENCE=1    use QEMU's own tap back-end instead of vhostd, to tell a
#                     guest-side problem from a daemon problem
#   VHOSTD_GUEST_CACHE  where build-guest.sh caches (default /var/cache/vhostd-test)
#   VHOSTD_GUEST_BOOT   pvh|bzimage (default pvh when a vmlinux exists)
#   QI_QEMU_TIMEOUT   seconds before the guest is killed (default 180; a
#                     passing run takes ~12 s)
#   QI_VHOSTD_LOG_LEVEL  vhostd --log-level (default info; debug logs every message)
#   QI_KEEP=1         keep the scratch directory for inspection
#   QI_PEER_NS        namespace of the guest's peer (the iperf3 server), when it is not
#                     vhostd's (default $QI_NS); qi_cleanup deletes it too

QI_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
QI_HOST_IP=198.18.0.1
QI_GUEST_IP=198.18.0.2
QI_PREFIX=24
QI_MAC=52:54:00:12:34:56
QI_TAP=vhd0
QI_IPERF_PORT=5201

QI_NS=""
QI_DIR=""
QI_VHOSTD_PID=""
QI_IPERF_PID=""
QI_QEMU_PID=""
QI_QEMU_STATUS=""

# qi_log MSG...: progress line on stderr, prefixed with the caller's name.
qi_log() {
	echo "${QI_NAME:-qemu-interop}: $*" >&2
}

# qi_now: seconds since the epoch with fractions, for timings.
qi_now() {
	date +%s.%N
}

# qi_elapsed START: seconds since START, one decimal.
qi_elapsed() {
	awk -v a="$1" -v b="$(qi_now)" 'BEGIN { printf "%.1f", b - a }'
}

# qi_stop_pid PID [GRACE]: SIGTERM, wait up to GRACE seconds (default 10),
# then SIGKILL. Returns the process's exit status when it was our child.
qi_stop_pid() {
	local pid=$1 grace=${2:-10} i
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || {
		wait "$pid" 2>/dev/null
		return $?
	}
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < grace * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# qi_cleanup: stops everything qi_* started, by pid, and removes the
# namespace and scratch directory. Safe to call twice (EXIT trap).
qi_cleanup() {
	local st=$?
	[ -n "$QI_QEMU_PID" ] && qi_stop_pid "$QI_QEMU_PID" 5
	QI_QEMU_PID=""
	[ -n "$QI_IPERF_PID" ] && qi_stop_pid "$QI_IPERF_PID" 5
	QI_IPERF_PID=""
	[ -n "$QI_VHOSTD_PID" ] && qi_stop_pid "$QI_VHOSTD_PID" 10
	QI_VHOSTD_PID=""
	if [ -n "$QI_NS" ]; then
		ip netns del "$QI_NS" 2>/dev/null
		QI_NS=""
	fi
	if [ -n "${QI_PEER_NS:-}" ]; then
		ip netns del "$QI_PEER_NS" 2>/dev/null
		QI_PEER_NS=""
	fi
	if [ -n "$QI_DIR" ]; then
		if [ "${QI_KEEP:-0}" = 1 ]; then
			qi_log "kept scratch directory $QI_DIR"
		else
			rm -rf "$QI_DIR"
		fi
		QI_DIR=""
	fi
	return $st
}

# qi_build_guest: fills GUEST_* (kernel, initramfs) through build-guest.sh and
# picks the boot method; the first run on a machine downloads the kernel.
qi_build_guest() {
	local out
	out=$("$QI_LIB_DIR/build-guest.sh" "${VHOSTD_GUEST_CACHE:-/var/cache/vhostd-test}") || return 1
	eval "$out"
	QI_BOOT=${VHOSTD_GUEST_BOOT:-pvh}
	if [ "$QI_BOOT" = pvh ] && [ -z "$GUEST_VMLINUX" ]; then
		qi_log "no uncompressed vmlinux; booting the bzImage"
		QI_BOOT=bzimage
	fi
	if [ "$QI_BOOT" = pvh ]; then
		QI_KERNEL=$GUEST_VMLINUX
	else
		QI_KERNEL=$GUEST_BZIMAGE
	fi
}

# qi_setup: scratch directory, namespace (with lo up) and EXIT trap.
qi_setup() {
	QI_QUEUES=${QI_QUEUES:-1}
	QI_STREAMS=${QI_STREAMS:-1}
	QI_JOB=${QI_JOB:-test}
	QI_DIR=$(mktemp -d /tmp/vhostd-qemu.XXXXXX)
	QI_NS=vhd-qemu-$$
	trap qi_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	ip netns add "$QI_NS" || return 1
	ip -n "$QI_NS" link set lo up
	QI_SOCK=$QI_DIR/vm0.sock
	QI_CTL=$QI_DIR/control.sock
	QI_GUEST_LOG=$QI_DIR/guest.log
	QI_QEMU_LOG=$QI_DIR/qemu.log
	QI_VHOSTD_LOG=$QI_DIR/vhostd.log
	QI_IPERF_LOG=$QI_DIR/iperf3-server.log
}

# qi_start_vhostd: starts vhostd inside the namespace and waits for its
# READY=1 on --ready-fd; then gives its tap the host address.
#
# With QI_HELPER (a vhostd-net-helper built to read the access list $QI_HELPER_ACL), vhostd runs
# as user nobody with no capability at all: the helper, copied next to the socket with
# cap_net_admin as its only file capability, makes the tap on bridge vhdbr0, which then holds
# the host address.
#
# With QI_SWITCH=1 the guest's port is on vhostd's VM switch sw0, whose uplink is the tap.
qi_start_vhostd() {
	local line="" port addr_dev=$QI_TAP run=() extra=()
	port="name=vm0,socket=$QI_SOCK,backend=tap,ifname=$QI_TAP"
	if [ "${QI_SWITCH:-0}" = 1 ]; then
		port="name=vm0,socket=$QI_SOCK,backend=switch,switch=sw0"
		extra=(--port "name=up0,backend=tap,ifname=$QI_TAP,switch=sw0,uplink=1")
	fi
	[ "$QI_QUEUES" -gt 1 ] && port="$port,queues=$QI_QUEUES"
	if [ -n "${QI_HELPER:-}" ]; then
		ip -n "$QI_NS" link add vhdbr0 type bridge || return 1
		ip -n "$QI_NS" link set vhdbr0 up
		mkdir -p "$(dirname "$QI_HELPER_ACL")"
		echo "allow vhdbr0" >"$QI_HELPER_ACL"
		cp "$QI_HELPER" "$QI_DIR/net-helper" && setcap cap_net_admin+ep "$QI_DIR/net-helper" ||
			return 1
		chmod 0777 "$QI_DIR"
		port="$port,bridge=vhdbr0,helper=$QI_DIR/net-helper"
		addr_dev=vhdbr0
		# The bounding set keeps CAP_NET_ADMIN: a file capability beyond it fails the exec.
		run=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all)
	fi
	mkfifo "$QI_DIR/ready"
	ip netns exec "$QI_NS" "${run[@]}" "$VHOSTD" --port "$port" "${extra[@]}" --control "$QI_CTL" \
		--log-level "${QI_VHOSTD_LOG_LEVEL:-info}" --ready-fd 3 3>"$QI_DIR/ready" 2>"$QI_VHOSTD_LOG" &
	QI_VHOSTD_PID=$!
	read -r -t 20 line <"$QI_DIR/ready" || true
	if [ "$line" != "READY=1" ]; then
		qi_log "vhostd did not report READY=1 (got '$line')"
		return 1
	fi
	ip -n "$QI_NS" addr add "$QI_HOST_IP/$QI_PREFIX" dev "$addr_dev" || return 1
	ip -n "$QI_NS" link set "$QI_TAP" up
}

# qi_make_reference_tap: without vhostd, a plain tap for QEMU's own back-end.
qi_make_reference_tap() {
	local mq=""
	[ "$QI_QUEUES" -gt 1 ] && mq=multi_queue
	ip -n "$QI_NS" tuntap add dev "$QI_TAP" mode tap $mq || return 1
	ip -n "$QI_NS" addr add "$QI_HOST_IP/$QI_PREFIX" dev "$QI_TAP"
	ip -n "$QI_NS" link set "$QI_TAP" up
}

# qi_start_iperf_server: iperf3 server bound to the host address in the
# namespace; it serves any number of runs and is stopped by pid at cleanup.
qi_start_iperf_server() {
	local i
	ip netns exec "${QI_PEER_NS:-$QI_NS}" iperf3 -s -B "$QI_HOST_IP" -p "$QI_IPERF_PORT" \
		>"$QI_IPERF_LOG" 2>&1 &
	QI_IPERF_PID=$!
	# iperf3 has no readiness signal: poll for the listening socket.
	for ((i = 0; i < 100; i++)); do
		if ip netns exec "${QI_PEER_NS:-$QI_NS}" ss -Hltn "sport = :$QI_IPERF_PORT" |
			grep -q .; then
			return 0
		fi
		kill -0 "$QI_IPERF_PID" 2>/dev/null || break
		sleep 0.1
	done
	qi_log "iperf3 server did not start"
	cat "$QI_IPERF_LOG" >&2
	return 1
}

# qi_cmdline: the guest kernel's command line: serial console, and the job and network
# parameters guest-init.sh reads (QI_JOB, QI_QUEUES, QI_STREAMS, QI_JOB_ARG when set).
qi_cmdline() {
	local append="console=ttyS0 panic=-1 quiet vhostd.job=${QI_JOB:-test}"
	append="$append vhostd.ip=$QI_GUEST_IP/$QI_PREFIX vhostd.peer=$QI_HOST_IP"
	append="$append vhostd.queues=${QI_QUEUES:-1} vhostd.streams=${QI_STREAMS:-1}"
	[ -n "${QI_JOB_ARG:-}" ] && append="$append vhostd.arg=$QI_JOB_ARG"
	echo "$append"
}

# qi_start_guest: boots the guest in the background (QI_QEMU_PID); its
# console goes to $QI_GUEST_LOG. QEMU is killed after QI_QEMU_TIMEOUT seconds.
qi_start_guest() {
	local netdev device append
	device="virtio-net-pci,netdev=n0,vectors=0,mac=$QI_MAC"
	[ -n "${QI_DEVICE_OPTS:-}" ] && device="$device,$QI_DEVICE_OPTS"
	[ "$QI_QUEUES" -gt 1 ] && device="$device,mq=on"
	if [ "${QI_REFERENCE:-0}" = 1 ]; then
		netdev="tap,id=n0,ifname=$QI_TAP,script=no,downscript=no,vhost=off"
	else
		netdev="vhost-user,id=n0,chardev=c0"
	fi
	[ "$QI_QUEUES" -gt 1 ] && netdev="$netdev,queues=$QI_QUEUES"
	append=$(qi_cmdline)
	# shellcheck disable=SC2054 # commas belong to QEMU option values
	local qemu=(qemu-system-x86_64 -nodefaults -no-user-config -accel tcg -m 256 -smp 1
		-object memory-backend-memfd,id=mem0,size=256M,share=on -numa node,memdev=mem0
		-kernel "$QI_KERNEL" -initrd "$GUEST_INITRD" -append "$append"
		-netdev "$netdev" -device "$device"
		-display none -monitor none -serial "file:$QI_GUEST_LOG" -no-reboot)
	if [ "${QI_REFERENCE:-0}" = 1 ]; then
		# QEMU's tap back-end opens the tap, which lives in the namespace.
		qemu=(ip netns exec "$QI_NS" "${qemu[@]}")
	else
		qemu=("${qemu[@]:0:1}" -chardev "socket,id=c0,path=$QI_SOCK" "${qemu[@]:1}")
	fi
	: >"$QI_GUEST_LOG"
	timeout -k 10 "${QI_QEMU_TIMEOUT:-180}" "${qemu[@]}" </dev/null >"$QI_QEMU_LOG" 2>&1 &
	QI_QEMU_PID=$!
}

# qi_wait_guest: waits for QEMU to exit (the guest powers itself off after its
# job); sets QI_QEMU_STATUS (124: killed on timeout).
qi_wait_guest() {
	wait "$QI_QEMU_PID"
	QI_QEMU_STATUS=$?
	QI_QEMU_PID=""
}

# qi_run_guest: qi_start_guest, then qi_wait_guest.
qi_run_guest() {
	qi_start_guest
	qi_wait_guest
}

# qi_result WHAT: the details of the guest's "VHOSTD-RESULT WHAT ..." line.
qi_result() {
	awk -v w="$1" '{ sub(/\r$/, "") } $1 == "VHOSTD-RESULT" && $2 == w { sub(/^VHOSTD-RESULT [^ ]+ ?/, ""); print; exit }' "$QI_GUEST_LOG"
}

# qi_has WHAT: 0 when the guest printed a "VHOSTD-RESULT WHAT" line.
qi_has() {
	sed 's/\r$//' "$QI_GUEST_LOG" | grep -qE "^VHOSTD-RESULT $1( |\$)"
}

# qi_kv TEXT KEY: the value of KEY=value inside TEXT (empty if absent).
qi_kv() {
	echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print substr($0, length(k) + 2); exit }'
}

# qi_stats: vhostd's stats in kv form, one line per port (port=NAME state=STATE key=value ...;
# $VHOSTCTL, or $VHOSTD_BUILDDIR/vhostctl, else the control socket directly).
qi_stats() {
	local ctl=${VHOSTCTL:-}
	[ -n "$ctl" ] || [ -z "${VHOSTD_BUILDDIR:-}" ] || ctl=$VHOSTD_BUILDDIR/vhostctl
	if [ -n "$ctl" ] && [ -x "$ctl" ]; then
		"$ctl" --control "$QI_CTL" stats --format=kv
		return
	fi
	python3 - "$QI_CTL" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b'{"id": 1, "op": "stats", "args": {"format": "kv"}}\n')
buf = b""
while not buf.endswith(b"\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
reply = json.loads(buf)
if not reply.get("ok"):
    sys.exit("stats: %s" % reply.get("error"))
sys.stdout.write(reply["result"]["text"])
EOF
}

# qi_feature_bit FEATURES BIT: 0 when the guest-accepted feature string has
# BIT set (the sysfs string lists bit 0 first).
qi_feature_bit() {
	[ "${1:$2:1}" = 1 ]
}

# qi_feature_names FEATURES: names of the set bits in a sysfs feature string
# (virtio spec 5.1.3 and 6); unknown bits print as bitN.
qi_feature_names() {
	echo "$1" | awk '{
		split("CSUM GUEST_CSUM CTRL_GUEST_OFFLOADS MTU - MAC - GUEST_TSO4 GUEST_TSO6 GUEST_ECN " \
			"GUEST_UFO HOST_TSO4 HOST_TSO6 HOST_ECN HOST_UFO MRG_RXBUF STATUS CTRL_VQ CTRL_RX " \
			"CTRL_VLAN CTRL_RX_EXTRA GUEST_ANNOUNCE MQ CTRL_MAC_ADDR NOTIFY_ON_EMPTY - - ANY_LAYOUT " \
			"INDIRECT_DESC EVENT_IDX - - VERSION_1 ACCESS_PLATFORM RING_PACKED IN_ORDER ORDER_PLATFORM " \
			"SR_IOV NOTIFICATION_DATA NOTIF_CONFIG_DATA RING_RESET", name, " ")
		for (i = 1; i <= length($0); i++) {
			if (substr($0, i, 1) != "1") continue
			n = name[i]
			printf "%s%s", sep, (n == "" || n == "-") ? "bit" (i - 1) : n
			sep = " "
		}
		print ""
	}'
}

# qi_dump_logs: everything a person needs to see why a run failed.
qi_dump_logs() {
	local f
	for f in "$QI_GUEST_LOG" "$QI_QEMU_LOG" "$QI_VHOSTD_LOG" "$QI_IPERF_LOG"; do
		[ -s "$f" ] || continue
		echo "----- ${f##*/} -----" >&2
		tail -n 80 "$f" | sed 's/\r$//' >&2
	done
}

# qi_launch_vhostd [PORT_OPTIONS]: starts vhostd in the namespace (port vm0 on $QI_SOCK,
# tap $QI_TAP, plus ",PORT_OPTIONS" such as mode=client), its log appended to
# $QI_VHOSTD_LOG, and waits for READY=1. Unlike qi_start_vhostd it leaves the tap's
# addresses alone, so calling it again with the same options restarts vhostd on a tap
# that already has them (a persistent tap survives the daemon).
qi_launch_vhostd() {
	local line="" port="name=vm0,socket=$QI_SOCK,backend=tap,ifname=$QI_TAP"
	[ -n "${1:-}" ] && port="$port,$1"
	[ "${QI_QUEUES:-1}" -gt 1 ] && port="$port,queues=$QI_QUEUES"
	rm -f "$QI_DIR/ready"
	mkfifo "$QI_DIR/ready" || return 1
	ip netns exec "$QI_NS" "$VHOSTD" --port "$port" --control "$QI_CTL" \
		--log-level "${QI_VHOSTD_LOG_LEVEL:-info}" --ready-fd 3 3>"$QI_DIR/ready" \
		2>>"$QI_VHOSTD_LOG" &
	QI_VHOSTD_PID=$!
	read -r -t 20 line <"$QI_DIR/ready" || true
	rm -f "$QI_DIR/ready"
	if [ "$line" != "READY=1" ]; then
		qi_log "vhostd did not report READY=1 (got '$line')"
		return 1
	fi
}

# qi_launch_guest CHARDEV_OPTIONS: qi_start_guest (vhost-user only) with
# ",CHARDEV_OPTIONS" on the socket chardev (e.g. reconnect=1, or server=on,wait=off),
# ",$QI_DEVICE_OPTS" on the virtio-net-pci device (e.g. host_mtu=9000) and
# vhostd.arg=$QI_JOB_ARG on the kernel command line when those are set. The console
# goes to $QI_GUEST_LOG, QEMU's output to $QI_QEMU_LOG (both truncated): a caller that
# boots guests one after another points them at new files first.
qi_launch_guest() {
	local chardev="socket,id=c0,path=$QI_SOCK" device netdev append
	[ -n "${1:-}" ] && chardev="$chardev,$1"
	device="virtio-net-pci,netdev=n0,vectors=0,mac=$QI_MAC"
	[ -n "${QI_DEVICE_OPTS:-}" ] && device="$device,$QI_DEVICE_OPTS"
	netdev="vhost-user,id=n0,chardev=c0"
	if [ "${QI_QUEUES:-1}" -gt 1 ]; then
		device="$device,mq=on"
		netdev="$netdev,queues=$QI_QUEUES"
	fi
	append=$(qi_cmdline)
	: >"$QI_GUEST_LOG"
	# shellcheck disable=SC2054 # commas belong to QEMU option values
	timeout -k 10 "${QI_QEMU_TIMEOUT:-180}" qemu-system-x86_64 -chardev "$chardev" \
		-nodefaults -no-user-config -accel tcg -m 256 -smp 1 \
		-object memory-backend-memfd,id=mem0,size=256M,share=on -numa node,memdev=mem0 \
		-kernel "$QI_KERNEL" -initrd "$GUEST_INITRD" -append "$append" \
		-netdev "$netdev" -device "$device" \
		-display none -monitor none -serial "file:$QI_GUEST_LOG" -no-reboot \
		</dev/null >"$QI_QEMU_LOG" 2>&1 &
	QI_QEMU_PID=$!
}

# qi_wait_result WHAT SECONDS: waits for the guest's "VHOSTD-RESULT WHAT" line (the
# console has no other event: polled with a deadline); returns 1 on timeout or when
# QEMU has exited without printing it.
qi_wait_result() {
	local what=$1 i
	for ((i = 0; i < $2 * 20; i++)); do
		qi_has "$what" && return 0
		if [ -n "$QI_QEMU_PID" ] && ! kill -0 "$QI_QEMU_PID" 2>/dev/null; then
			qi_has "$what"
			return
		fi
		sleep 0.05
	done
	qi_log "no VHOSTD-RESULT $what from the guest within $2 s"
	return 1
}

# qi_term_vhostd: SIGTERM to vhostd, then waits up to 10 s for it; sets QI_TERM_STATUS to its
# exit status ("timeout" when it is still running) and clears QI_VHOSTD_PID once it has exited.
# Not in a subshell: wait needs the daemon as this shell's child.
qi_term_vhostd() {
	local i
	QI_TERM_STATUS=timeout
	kill -TERM "$QI_VHOSTD_PID"
	for ((i = 0; i < 100; i++)); do
		if ! kill -0 "$QI_VHOSTD_PID" 2>/dev/null; then
			wait "$QI_VHOSTD_PID"
			QI_TERM_STATUS=$?
			QI_VHOSTD_PID=""
			return
		fi
		sleep 0.1
	done
}

# qi_preflight NEEDS_VHOSTD TOOL...: exits 77 (skip) without root, 1 when a tool is missing or
# (NEEDS_VHOSTD=1) $VHOSTD is not an executable.
qi_preflight() {
	local need_vhostd=$1 tool
	shift
	if [ "$(id -u)" != 0 ]; then
		qi_log "SKIP: needs root (namespaces, taps)"
		exit 77
	fi
	for tool in "$@"; do
		command -v "$tool" >/dev/null || {
			qi_log "FAIL: $tool not installed (make deps)"
			exit 1
		}
	done
	if [ "$need_vhostd" = 1 ] && [ ! -x "${VHOSTD:-}" ]; then
		qi_log "FAIL: \$VHOSTD ('${VHOSTD:-}') is not an executable"
		exit 1
	fi
}

# check DESCRIPTION COMMAND...: runs COMMAND, prints the verdict, counts a failure in the
# caller's $failures; returns COMMAND's success.
check() {
	local what=$1
	shift
	if "$@"; then
		echo "ok   - $what"
	else
		echo "FAIL - $what"
		failures=$((${failures:-0} + 1))
		return 1
	fi
}

# num_gt A B / num_eq A B / num_le A B: integer comparisons where "" (or any non-number) fails.
num_gt() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -gt "$2" ]; }
num_eq() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -eq "$2" ]; }
num_le() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -le "$2" ]; }

# qi_finish: ends a test: PASS and exit 0, or the number of failed checks, the logs, exit 1.
qi_finish() {
	if [ "$failures" -ne 0 ]; then
		qi_log "$failures check(s) failed"
		qi_dump_logs
		exit 1
	fi
	qi_log "PASS"
	exit 0
}
