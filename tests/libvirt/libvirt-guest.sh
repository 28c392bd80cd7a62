#!/usr/bin/env bash
# libvirt test: a libvirt domain (QEMU/TCG, the guest of tests/qemu/) whose
# <interface type='vhostuser'> is served by vhostd, in both socket directions:
#
#   a. vhostd listens (port mode=server), libvirt <source mode='client'>: QEMU
#      connects to vhostd's socket;
#   b. vhostd connects (port mode=client), libvirt <source mode='server'>: QEMU
#      creates the socket and `virsh start` blocks until vhostd connects, so the
#      domain is started first (in the background) and vhostd once QEMU listens.
#
# The test starts its own virtlogd and libvirtd in the background (no systemd
# needed; libvirtd's sockets live in the scratch directory), defines each domain
# from domain.xml.in, starts it, waits for libvirt's lifecycle event that it
# stopped (the guest powers itself off after its job), undefines it. QEMU runs as
# libvirt's unprivileged user (Debian: libvirt-qemu), as for any user; the
# socket directories are set up the way README.md ("libvirt") tells users to.
#
# Asserted for each direction: the domain starts, its QEMU runs as libvirt's user
# with a vhost-user netdev and vectors=0, the guest powers off by itself; the
# guest negotiated VERSION_1 and MRG_RXBUF with vhostd, got ping replies and moved
# iperf3 bytes both ways; the tap's counters grew by at least those bytes in each
# direction; vhostd counted packets both ways with no ring fault, exits 0 on
# SIGTERM and logged no sanitizer report. At exit the domains are undefined and
# the daemons the test started are stopped (EXIT trap), whatever happened.
#
# Usage: libvirt-guest.sh (as root). Environment: $VHOSTD, $VHOSTCTL or
# $VHOSTD_BUILDDIR, and the knobs of tests/qemu/lib.sh (VHOSTD_GUEST_CACHE,
# QI_KEEP=1 keeps the scratch directory with consoles and logs).
# Takes about 30-40 s (two guest boots under TCG).
# shellcheck disable=SC2317 # functions run through check() or the EXIT trap
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/qemu/lib.sh
. "$here/../qemu/lib.sh"

QI_NAME="libvirt-guest"
QEMU_USER=libvirt-qemu # the `user` of Debian's /etc/libvirt/qemu.conf
BOOT_S=150             # deadline for a domain to run the guest's job and stop
START_S=120            # deadline for `virsh start`

qi_preflight 1 virsh libvirtd virtlogd qemu-system-x86_64 iperf3 ip ss timeout
if ! getent passwd "$QEMU_USER" >/dev/null; then
	qi_log "FAIL: no user $QEMU_USER (libvirt-daemon-system creates it; make deps)"
	exit 1
fi

failures=0
LV_URI=""
LV_DIR=""
LV_LIBVIRTD_PID=""
LV_VIRTLOGD_PID=""
LV_START_PID=""
LV_EVENT_PID=""
LV_EVENT_FD=""
LV_STOP_REASON=""
LV_DOMAINS=() # defined and not yet undefined: the EXIT trap undefines them
LV_NAMES=()   # every domain this run defined (their libvirt logs are removed at exit)
LV_MARKERS=() # autostart markers this run created (removed at exit)
LV_DUMPED=0

# expect DESCRIPTION COMMAND...: lib.sh's check (prints the verdict, counts a failure) that
# lets the test go on: under set -e a failed check would end it.
expect() {
	check "$@" || true
}

# lv_virsh ARGS...: virsh on the libvirtd this test uses.
lv_virsh() {
	virsh -q -c "$LV_URI" "$@"
}

# lv_dump_logs: lib.sh's logs of the current direction, then libvirtd's.
lv_dump_logs() {
	LV_DUMPED=1
	qi_dump_logs
	if [ -n "$LV_DIR" ] && [ -s "$LV_DIR/libvirtd.log" ]; then
		echo "----- libvirtd.log -----" >&2
		tail -n 40 "$LV_DIR/libvirtd.log" >&2
	fi
}

# abort MSG: a step the rest depends on failed; show the logs and stop (cleanup via trap).
abort() {
	qi_log "FAIL: $*"
	failures=$((failures + 1))
	lv_dump_logs
	exit 1
}

# lv_cleanup: EXIT trap. Destroys and undefines this run's domains, stops what it
# started in the background (by pid), removes its autostart markers and the domains'
# libvirt logs, then lib.sh's cleanup (vhostd, iperf3, namespace, scratch directory).
lv_cleanup() {
	local st=$? name
	set +e
	[ "$st" -ne 0 ] && [ "$LV_DUMPED" = 0 ] && lv_dump_logs
	qi_stop_pid "$LV_START_PID" 5
	qi_stop_pid "$LV_EVENT_PID" 2
	LV_START_PID=""
	LV_EVENT_PID=""
	if [ -n "$LV_URI" ]; then
		for name in "${LV_DOMAINS[@]}"; do
			lv_virsh destroy "$name" >/dev/null 2>&1
			lv_virsh undefine "$name" >/dev/null 2>&1 ||
				qi_log "could not undefine domain $name"
		done
	fi
	LV_DOMAINS=()
	# After the domains: libvirtd gives the kernel and initramfs back to their owner
	# when a domain stops, and QEMU's console output goes through virtlogd.
	qi_stop_pid "$LV_LIBVIRTD_PID" 15
	qi_stop_pid "$LV_VIRTLOGD_PID" 5
	LV_LIBVIRTD_PID=""
	LV_VIRTLOGD_PID=""
	rm -f "${LV_MARKERS[@]}"
	LV_MARKERS=()
	for name in "${LV_NAMES[@]}"; do
		rm -f "/var/log/libvirt/qemu/$name.log"
	done
	(exit "$st")
	# The script's exit status is already set; a failing trap would only trip ERR.
	qi_cleanup || true
}

# lv_start_daemons: virtlogd and libvirtd in the background, unless a libvirtd already
# answers on qemu:///system (then the test uses that one and starts nothing). Sets LV_URI.
lv_start_daemons() {
	local i d deadline
	LV_DIR=$QI_DIR/libvirt
	mkdir -m 0700 "$LV_DIR"
	if virsh -q -c qemu:///system version >/dev/null 2>&1; then
		LV_URI=qemu:///system
		qi_log "using the libvirtd that is already running (qemu:///system)"
		return 0
	fi
	# The first libvirtd of a boot starts the domains, networks and storage pools marked
	# autostart and then leaves a marker so that later ones do not: a test must start
	# none of them, so it leaves the markers first (and takes away those it made).
	for d in qemu network storage; do
		[ -e "/run/libvirt/$d/autostarted" ] && continue
		mkdir -p "/run/libvirt/$d"
		: >"/run/libvirt/$d/autostarted"
		LV_MARKERS+=("/run/libvirt/$d/autostarted")
	done
	# libvirtd's QEMU driver logs each domain's QEMU through virtlogd, whose socket is
	# always /run/libvirt/virtlogd-sock.
	if ! pgrep -x virtlogd >/dev/null; then
		virtlogd -p "$LV_DIR/virtlogd.pid" >"$LV_DIR/virtlogd.log" 2>&1 &
		LV_VIRTLOGD_PID=$!
		for ((i = 0; i < 100; i++)); do
			[ -S /run/libvirt/virtlogd-sock ] && break
			kill -0 "$LV_VIRTLOGD_PID" 2>/dev/null || break
			sleep 0.1
		done
		[ -S /run/libvirt/virtlogd-sock ] || {
			cat "$LV_DIR/virtlogd.log" >&2
			return 1
		}
	fi
	# Sockets in the scratch directory (nothing in /run/libvirt), for root only and
	# without polkit (no D-Bus here); errors to a file the test shows when it fails.
	cat >"$LV_DIR/libvirtd.conf" <<-EOF
		unix_sock_dir = "$LV_DIR"
		unix_sock_ro_perms = "0700"
		unix_sock_rw_perms = "0700"
		unix_sock_admin_perms = "0700"
		auth_unix_ro = "none"
		auth_unix_rw = "none"
		log_outputs = "3:file:$LV_DIR/libvirtd.log"
	EOF
	libvirtd -f "$LV_DIR/libvirtd.conf" -p "$LV_DIR/libvirtd.pid" >"$LV_DIR/libvirtd.out" 2>&1 &
	LV_LIBVIRTD_PID=$!
	LV_URI="qemu:///system?socket=$LV_DIR/libvirt-sock"
	# Ready when it answers: within a second or two, 10 s when it first probes QEMU's
	# capabilities (startup complains about dnsmasq, D-Bus, udev and dmidecode here: harmless).
	deadline=$((SECONDS + 60))
	while [ "$SECONDS" -lt "$deadline" ]; do
		lv_virsh version >/dev/null 2>&1 && return 0
		kill -0 "$LV_LIBVIRTD_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$LV_DIR/libvirtd.out" >&2
	return 1
}

# lv_render NAME SOCKET MODE: domain.xml.in for domain NAME, its vhostuser interface on
# SOCKET with <source mode='MODE'>, its console to $QI_GUEST_LOG.
lv_render() {
	sed -e "s|@NAME@|$1|" -e "s|@SOCKET@|$2|" -e "s|@MODE@|$3|" \
		-e "s|@KERNEL@|$QI_KERNEL|" -e "s|@INITRD@|$GUEST_INITRD|" \
		-e "s|@CMDLINE@|$(qi_cmdline)|" -e "s|@MAC@|$QI_MAC|" \
		-e "s|@CONSOLE@|$QI_GUEST_LOG|" "$here/domain.xml.in"
}

# lv_define NAME SOCKET MODE: renders and defines the domain (the EXIT trap undefines it).
lv_define() {
	lv_render "$@" >"$QI_DIR/$1.xml"
	lv_virsh define "$QI_DIR/$1.xml" >/dev/null || return 1
	LV_DOMAINS+=("$1")
	LV_NAMES+=("$1")
}

# lv_undefine NAME: undefines the domain; 0 on success.
lv_undefine() {
	local name=$1 d keep=()
	lv_virsh undefine "$name" >/dev/null || return 1
	for d in "${LV_DOMAINS[@]}"; do
		[ "$d" = "$name" ] || keep+=("$d")
	done
	LV_DOMAINS=("${keep[@]}")
}

# lv_events NAME: follows the domain's lifecycle events (virsh event) through a fifo
# read on LV_EVENT_FD; started before the domain so that no event is missed.
lv_events() {
	local fifo=$QI_DIR/events-$1
	mkfifo "$fifo"
	virsh -c "$LV_URI" event --domain "$1" --event lifecycle --loop --timeout $((BOOT_S + START_S)) \
		>"$fifo" 2>&1 &
	LV_EVENT_PID=$!
	exec {LV_EVENT_FD}<"$fifo"
}

# lv_wait_stopped: waits (at most BOOT_S) for the "Stopped" lifecycle event; sets
# LV_STOP_REASON (Shutdown: the guest powered off), prints the events, stops the reader.
lv_wait_stopped() {
	local deadline=$((SECONDS + BOOT_S)) line st=1
	LV_STOP_REASON=""
	while [ "$SECONDS" -lt "$deadline" ]; do
		read -r -t $((deadline - SECONDS)) line <&"$LV_EVENT_FD" || break
		[ -n "$line" ] || continue
		echo "     libvirt: $line"
		case "$line" in
		*": Stopped "*)
			LV_STOP_REASON=${line##*: Stopped }
			st=0
			break
			;;
		esac
	done
	exec {LV_EVENT_FD}<&-
	qi_stop_pid "$LV_EVENT_PID" 2 || true
	LV_EVENT_PID=""
	return $st
}

# lv_qemu_pid NAME: the running domain's QEMU pid (libvirt's pid file).
lv_qemu_pid() {
	cat "/run/libvirt/qemu/$1.pid" 2>/dev/null
}

# qemu_runs_as PID USER: 0 when process PID runs as USER.
qemu_runs_as() {
	[ "$(stat -c %U "/proc/$1" 2>/dev/null)" = "$2" ]
}

# qemu_cmdline_has PID TEXT: 0 when QEMU's command line contains TEXT.
qemu_cmdline_has() {
	tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# tap_stat NAME: a counter of the tap (0 while it does not exist).
tap_stat() {
	ip netns exec "$QI_NS" cat "/sys/class/net/$QI_TAP/statistics/$1" 2>/dev/null || echo 0
}

# stat_val STATS KEY: the number after KEY in vhostctl's stats (key=value or JSON).
stat_val() {
	echo "$1" | grep -oE "\"?$2\"?[=:] *[0-9]+" | head -n 1 | grep -oE '[0-9]+$' || true
}

# tap_up_once: the first time, the host address on vhostd's tap and the iperf3 server;
# the tap is persistent, so the next vhostd attaches to it as it is.
tap_up_once() {
	[ -z "$QI_IPERF_PID" ] || return 0
	ip -n "$QI_NS" addr add "$QI_HOST_IP/$QI_PREFIX" dev "$QI_TAP" || return 1
	ip -n "$QI_NS" link set "$QI_TAP" up || return 1
	qi_start_iperf_server
}

# wait_socket PATH PID: waits (at most START_S) for QEMU's listening socket PATH while
# process PID (virsh start) runs.
wait_socket() {
	local i
	for ((i = 0; i < START_S * 10; i++)); do
		[ -S "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	[ -S "$1" ]
}

# direction LABEL VHOSTD_MODE LIBVIRT_MODE: one domain served by one vhostd; every check.
direction() {
	local label=$1 vmode=$2 lmode=$3 name dir pid st mask t0
	local rx0 tx0 rx1 tx1 features ping iperf_tx iperf_rx tx_bytes rx_bytes stats v
	name=vhostd-test-$$-$label
	dir=$QI_DIR/$label
	QI_SOCK=$dir/vm0.sock
	QI_GUEST_LOG=$QI_DIR/console-$label.log
	QI_QEMU_LOG=$QI_DIR/qemu-$label.log
	echo "# $label: vhostd mode=$vmode, libvirt <source mode='$lmode'>, domain $name"
	t0=$(qi_now)
	if [ "$vmode" = server ]; then
		# QEMU, as $QEMU_USER, connects to vhostd's socket. A directory of QEMU's group
		# with the setgid bit, and vhostd's umask keeping the group's write bit, make every
		# socket vhostd (re)creates there srwxrwx--- root:$QEMU_USER.
		install -d -m 2750 -g "$QEMU_USER" "$dir"
		mask=$(umask)
		umask 007
		qi_launch_vhostd "mode=server" || abort "$label: vhostd did not start"
		umask "$mask"
		tap_up_once || abort "$label: tap address or iperf3 server"
		rx0=$(tap_stat rx_bytes)
		tx0=$(tap_stat tx_bytes)
		lv_define "$name" "$QI_SOCK" "$lmode" || abort "$label: virsh define failed"
		lv_events "$name"
		timeout "$START_S" virsh -q -c "$LV_URI" start "$name" ||
			abort "$label: virsh start failed"
	else
		# QEMU, as $QEMU_USER, creates the socket: the directory is that user's.
		install -d -m 0750 -o "$QEMU_USER" -g "$QEMU_USER" "$dir"
		rx0=$(tap_stat rx_bytes)
		tx0=$(tap_stat tx_bytes)
		lv_define "$name" "$QI_SOCK" "$lmode" || abort "$label: virsh define failed"
		lv_events "$name"
		timeout "$START_S" virsh -q -c "$LV_URI" start "$name" &
		LV_START_PID=$!
		wait_socket "$QI_SOCK" "$LV_START_PID" || abort "$label: QEMU did not create $QI_SOCK"
		expect "$label: virsh start waits for the back-end (QEMU listening, no vhostd yet)" \
			kill -0 "$LV_START_PID"
		qi_launch_vhostd "mode=client" || abort "$label: vhostd did not start"
		tap_up_once || abort "$label: tap address or iperf3 server"
		st=0
		wait "$LV_START_PID" || st=$?
		LV_START_PID=""
		[ "$st" = 0 ] || abort "$label: virsh start failed (status $st)"
	fi
	qi_log "$label: domain started in $(qi_elapsed "$t0") s"

	pid=$(lv_qemu_pid "$name")
	expect "$label: QEMU runs as $QEMU_USER (pid ${pid:-none})" qemu_runs_as "${pid:-0}" "$QEMU_USER"
	expect "$label: QEMU has a vhost-user netdev" qemu_cmdline_has "${pid:-0}" '"type":"vhost-user"'
	expect "$label: QEMU's virtio-net-pci has vectors=0" qemu_cmdline_has "${pid:-0}" '"vectors":0'

	lv_wait_stopped || true
	qi_log "$label: domain ran $(qi_elapsed "$t0") s in all"
	cp "/var/log/libvirt/qemu/$name.log" "$QI_QEMU_LOG" 2>/dev/null || true
	expect "$label: the guest powered the domain off (Stopped ${LV_STOP_REASON:-: no event})" \
		test "$LV_STOP_REASON" = Shutdown
	expect "$label: domain undefined" lv_undefine "$name"

	# The guest's view.
	expect "$label: guest booted its /init" qi_has boot
	expect "$label: guest finished its job" qi_has "done"
	features=$(qi_result features)
	expect "$label: guest negotiated VIRTIO_F_VERSION_1 (bit 32)" qi_feature_bit "$features" 32
	expect "$label: guest negotiated VIRTIO_NET_F_MRG_RXBUF (bit 15)" qi_feature_bit "$features" 15
	ping=$(qi_result ping)
	expect "$label: guest pinged the host (${ping:-no result})" test "${ping%% *}" = ok
	iperf_tx=$(qi_result iperf-tx)
	iperf_rx=$(qi_result iperf-rx)
	tx_bytes=$(qi_kv "$iperf_tx" bytes)
	rx_bytes=$(qi_kv "$iperf_rx" bytes)
	expect "$label: iperf3 guest->host moved bytes (${tx_bytes:-none})" num_gt "${tx_bytes:-}" 0
	expect "$label: iperf3 host->guest moved bytes (${rx_bytes:-none})" num_gt "${rx_bytes:-}" 0

	# The tap's view: what the guest sent came out of the tap (its rx), what it received
	# went into it (its tx), headers included.
	rx1=$(($(tap_stat rx_bytes) - rx0))
	tx1=$(($(tap_stat tx_bytes) - tx0))
	expect "$label: tap received >= the guest's iperf3 bytes ($rx1 >= ${tx_bytes:-none})" \
		test "$rx1" -ge "${tx_bytes:-999999999999}"
	expect "$label: tap sent >= the bytes iperf3 delivered to the guest ($tx1 >= ${rx_bytes:-none})" \
		test "$tx1" -ge "${rx_bytes:-999999999999}"

	# vhostd's view (counters read from key=value or JSON stats, whichever vhostctl prints).
	expect "$label: vhostd still running after the domain stopped" kill -0 "$QI_VHOSTD_PID"
	stats=$(qi_stats 2>&1) || true
	echo "     vhostd stats: $(echo "$stats" | tr '\n' ' ' | cut -c1-400)"
	for k in tx_packets rx_packets; do
		v=$(stat_val "$stats" "$k")
		expect "$label: vhostd $k > 0 (${v:-none})" num_gt "${v:-}" 0
	done
	v=$(stat_val "$stats" ring_faults)
	expect "$label: vhostd ring_faults = 0 (${v:-none})" num_eq "${v:-}" 0
	qi_term_vhostd || true
	expect "$label: vhostd exited with status 0 on SIGTERM (got $QI_TERM_STATUS)" \
		test "$QI_TERM_STATUS" = 0
	expect "$label: vhostd log has no sanitizer report" \
		bash -c "! grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' '$QI_VHOSTD_LOG'"
	if [ -n "$iperf_tx" ] && [ -n "$iperf_rx" ]; then
		awk -v t="$(qi_kv "$iperf_tx" bits_per_second)" -v r="$(qi_kv "$iperf_rx" bits_per_second)" \
			'BEGIN { printf "     iperf3 (TCP, guest under TCG): guest->host %.1f Mbit/s, host->guest %.1f Mbit/s\n", t / 1e6, r / 1e6 }'
	fi
}

t_start=$(qi_now)
qi_build_guest || abort "could not prepare the guest (build-guest.sh)"
qi_setup || abort "could not create the namespace"
trap lv_cleanup EXIT
trap 'qi_log "line $LINENO: \"$BASH_COMMAND\" failed"' ERR
# QEMU runs as $QEMU_USER: it must be able to walk into the scratch directory (mktemp
# makes it 0700) to reach the sockets.
chmod 0711 "$QI_DIR"
lv_start_daemons || abort "libvirtd did not start"
qi_log "$(lv_virsh version | sed -n "s/^Using library: //p; s/^Running hypervisor: //p" | paste -sd " ")"
qi_log "guest kernel $GUEST_KVER, boot=$QI_BOOT; libvirt ready after $(qi_elapsed "$t_start") s"

direction a server client
direction b client server

expect "no domain of this test is left defined" \
	bash -c "! virsh -q -c '$LV_URI' list --all --name | grep -q '^vhostd-test-$$-'"
qi_log "total $(qi_elapsed "$t_start") s"
if [ "$failures" -ne 0 ]; then
	qi_log "$failures check(s) failed"
	lv_dump_logs
	exit 1
fi
qi_log "PASS"
