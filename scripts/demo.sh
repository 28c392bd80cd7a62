#!/usr/bin/env bash
# vhostd demo (`make demo`): boots a small Linux guest under QEMU whose
# virtio-net NIC is served by vhostd over vhost-user, bridged to a tap in a
# private network namespace, and shows the guest pinging the host and running
# iperf3 both ways, then vhostd's port counters. Cleans up everything.
# Exits non-zero if the guest could not reach the host.
#
# Usage: scripts/demo.sh [--queues N]     (as root)
# Environment: VHOSTD (default build/vhostd), VHOSTD_GUEST_CACHE (default
# /var/cache/vhostd-test), VHOSTD_GUEST_BOOT=pvh|bzimage.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tests/qemu/lib.sh disable=SC2034 # QI_* are read by lib.sh
. "$repo/tests/qemu/lib.sh"

QI_NAME=demo
QI_JOB=demo
QI_QUEUES=1
while [ $# -gt 0 ]; do
	case "$1" in
	--queues) QI_QUEUES=$2; shift 2 ;;
	*) echo "usage: $0 [--queues N]" >&2; exit 2 ;;
	esac
done
if [ "$QI_QUEUES" -gt 1 ]; then QI_STREAMS=4; else QI_STREAMS=1; fi
VHOSTD=${VHOSTD:-$repo/build/vhostd}
VHOSTD_BUILDDIR=${VHOSTD_BUILDDIR:-$(dirname "$VHOSTD")}

# step TEXT: a numbered headline for the person watching.
n_step=0
step() {
	n_step=$((n_step + 1))
	if [ -t 1 ]; then
		printf '\n\033[1m[%d] %s\033[0m\n' "$n_step" "$*"
	else
		printf '\n[%d] %s\n' "$n_step" "$*"
	fi
}

# info TEXT: an indented detail line.
info() {
	printf '    %s\n' "$*"
}

# die TEXT: explain, show the logs, stop (the EXIT trap cleans up).
die() {
	printf '\ndemo: FAILED: %s\n' "$*" >&2
	qi_dump_logs
	exit 1
}

# show_guest: the guest console, live, without kernel messages and with the
# machine-readable result lines turned into prose.
show_guest() {
	local line what rest
	while IFS= read -r line; do
		line=${line%$'\r'}
		case "$line" in
		"["*"."*"]"*) continue ;; # kernel messages: "[    1.234567] ..."
		"VHOSTD-RESULT "*)
			rest=${line#VHOSTD-RESULT }
			what=${rest%% *}
			rest=${rest#"$what"}
			rest=${rest# }
			if [ "$what" = features ]; then
				rest="accepted by the driver: $(qi_feature_names "$rest")"
			fi
			printf '    guest | %-11s %s\n' "$what" "$rest"
			;;
		*) printf '    guest | %s\n' "${line#vhostd-guest: }" ;;
		esac
	done
}

[ "$(id -u)" = 0 ] || {
	echo "demo: needs root for network namespaces and taps (try: sudo make demo)" >&2
	exit 1
}
[ -x "$VHOSTD" ] || {
	echo "demo: $VHOSTD not found; build it first (make)" >&2
	exit 1
}

cat <<EOF
vhostd demo: a QEMU guest's virtio-net NIC served by vhostd (vhost-user back-end)

    guest (QEMU/TCG, Linux $(uname -m))        namespace vhd-qemu-$$
    eth0 $QI_GUEST_IP  --virtio rings-->  vhostd  --tap $QI_TAP-->  $QI_HOST_IP (iperf3 -s)
EOF

step "Preparing the guest: Debian's kernel + a busybox initramfs"
info "(the first run downloads the kernel package, ~70 MB; cached in ${VHOSTD_GUEST_CACHE:-/var/cache/vhostd-test})"
qi_build_guest || die "could not prepare the guest"
info "kernel $GUEST_KVER, booted via $QI_BOOT"

step "Creating network namespace vhd-qemu-$$"
qi_setup || die "could not create the namespace"

port="name=vm0,socket=$QI_SOCK,backend=tap,ifname=$QI_TAP"
[ "$QI_QUEUES" -gt 1 ] && port="$port,queues=$QI_QUEUES"
step "Starting vhostd inside it"
info "$VHOSTD --port $port --control $QI_CTL"
qi_start_vhostd || die "vhostd did not start"
info "vhostd (pid $QI_VHOSTD_PID) is ready; tap $QI_TAP has $QI_HOST_IP/$QI_PREFIX"

step "Starting an iperf3 server on $QI_HOST_IP"
qi_start_iperf_server || die "iperf3 server did not start"

step "Booting the guest (QEMU, TCG, 256 MiB shared memfd RAM, vhost-user netdev)"
info "qemu-system-x86_64 -accel tcg -chardev socket,path=$QI_SOCK -netdev vhost-user,... -device virtio-net-pci,vectors=0,..."
info "the guest loads virtio_net, configures eth0 $QI_GUEST_IP, pings the host, runs iperf3 both ways, powers off"
t0=$(qi_now)
qi_start_guest
tail -n +1 -f --pid="$QI_QEMU_PID" "$QI_GUEST_LOG" 2>/dev/null | show_guest
qi_wait_guest
info "guest finished in $(qi_elapsed "$t0") s (QEMU exit status $QI_QEMU_STATUS)"

step "vhostd's port counters (tx = sent by the guest, rx = received by the guest)"
stats=$(qi_stats 2>&1) || true
echo "$stats" | tr ' ' '\n' | awk -F= 'NF == 2 { printf "    %-12s %s\n", $1, $2 }'

step "Stopping vhostd (SIGTERM)"
qi_stop_pid "$QI_VHOSTD_PID" 10
st=$?
QI_VHOSTD_PID=""
info "vhostd exited with status $st; its last log lines:"
tail -n 5 "$QI_VHOSTD_LOG" | sed 's/^/    vhostd | /'

ping=$(qi_result ping)
tx=$(qi_kv "$(qi_result iperf-tx)" bits_per_second)
rx=$(qi_kv "$(qi_result iperf-rx)" bits_per_second)
step "Summary"
if [ "${ping%% *}" != ok ]; then
	die "the guest could not reach the host through vhostd (ping: ${ping:-no result})"
fi
info "ping guest -> host: ${ping#ok }"
awk -v t="${tx:-0}" -v r="${rx:-0}" 'BEGIN {
	printf "    iperf3 guest -> host: %.0f Mbit/s\n    iperf3 host -> guest: %.0f Mbit/s\n", t / 1e6, r / 1e6 }'
info "(QEMU emulates the guest CPU in software here, so these rates say little about vhostd itself)"
if [ -z "$tx" ] || [ -z "$rx" ]; then
	die "iperf3 did not complete in both directions"
fi
echo
echo "demo: done; namespace, taps and processes are cleaned up."
