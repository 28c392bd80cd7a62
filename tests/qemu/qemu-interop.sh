#!/usr/bin/env bash
# QEMU interop test: a real Linux guest (Debian's kernel, virtio-net driver)
# under QEMU/TCG uses vhostd as its vhost-user back-end; vhostd bridges it to
# a tap in a private namespace. The guest pings the host and runs iperf3 in
# both directions (TCP, offloads on). Asserts: ping replies, bytes moved both
# ways, checksum/TSO/mergeable-rx features negotiated, vhostd's counters show
# traffic without errors or ring faults, vhostd survives the guest powering
# off and exits 0 on SIGTERM.
#
# Usage: qemu-interop.sh [--queues N] [--streams N] [--packed] [--reference]
#   --queues N    N queue pairs (vhostd queues=N, QEMU mq=on); the guest
#                 enables them with ethtool -L and every queue must carry
#                 packets (default 1)
#   --streams N   parallel iperf3 streams (default 1, or 4 with --queues>1)
#   --packed      packed virtqueues (QEMU packed=on): the guest must
#                 negotiate VIRTIO_F_RING_PACKED
#   --reference   run the same guest over QEMU's own tap back-end, no vhostd:
#                 tells a guest/environment problem from a daemon problem
# Environment: $VHOSTD (daemon), $VHOSTD_BUILDDIR (for vhostctl), and the
# knobs documented in lib.sh (VHOSTD_GUEST_CACHE, VHOSTD_GUEST_BOOT, QI_KEEP).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/qemu/lib.sh
. "$here/lib.sh"

QI_NAME="qemu-interop"
QI_QUEUES=1
QI_STREAMS=""
QI_REFERENCE=0
QI_PACKED=0
QI_HELPER=""
QI_SWITCH=0
while [ $# -gt 0 ]; do
	case "$1" in
	--switch) QI_SWITCH=1; shift ;;
	--helper) QI_HELPER=$2; shift 2 ;;
	--queues) QI_QUEUES=$2; shift 2 ;;
	--streams) QI_STREAMS=$2; shift 2 ;;
	--packed) QI_PACKED=1; shift ;;
	--reference) QI_REFERENCE=1; shift ;;
	*) echo "usage: $0 [--queues N] [--streams N] [--packed] [--reference] [--helper PATH] [--switch]" >&2; exit 2 ;;
	esac
done
[ "$QI_QUEUES" -gt 1 ] && QI_NAME="qemu-interop-mq"
if [ "$QI_PACKED" = 1 ]; then
	QI_NAME="qemu-packed"
	[ "$QI_QUEUES" -gt 1 ] && QI_NAME="qemu-packed-mq"
	QI_DEVICE_OPTS="${QI_DEVICE_OPTS:+$QI_DEVICE_OPTS,}packed=on"
fi
if [ "$QI_SWITCH" = 1 ]; then
	# The guest on vhostd's VM switch; the switch's uplink is the tap with the host address.
	QI_NAME="qemu-switch"
fi
if [ -n "$QI_HELPER" ]; then
	# vhostd unprivileged, its tap from vhostd-net-helper (see qi_start_vhostd).
	QI_NAME="qemu-helper"
	QI_HELPER_ACL=${NET_HELPER_ACL:?NET_HELPER_ACL names the access list the helper reads}
fi
if [ -z "$QI_STREAMS" ]; then
	# One flow hashes onto one queue; several spread over all of them.
	if [ "$QI_QUEUES" -gt 1 ]; then QI_STREAMS=4; else QI_STREAMS=1; fi
fi

pf_vhostd=1
[ "$QI_REFERENCE" = 1 ] && pf_vhostd=0
qi_preflight "$pf_vhostd" qemu-system-x86_64 iperf3 ip ss python3 timeout

failures=0

# abort MSG: a setup step failed; show the logs and stop (cleanup via trap).
abort() {
	qi_log "FAIL: $*"
	qi_dump_logs
	exit 1
}


t_start=$(qi_now)
qi_build_guest || abort "could not prepare the guest (build-guest.sh)"
t_build=$(qi_elapsed "$t_start")
qi_log "guest kernel $GUEST_KVER, boot=$QI_BOOT, prepared in ${t_build}s"

qi_setup || abort "could not create namespace"
if [ "$QI_REFERENCE" = 1 ]; then
	qi_log "reference run: QEMU's own tap back-end, no vhostd"
	qi_make_reference_tap || abort "could not create the reference tap"
else
	qi_start_vhostd || abort "vhostd did not start"
	qi_log "vhostd pid $QI_VHOSTD_PID ready, port vm0 queues=$QI_QUEUES tap $QI_TAP"
	if [ -n "$QI_HELPER" ]; then
		uid=$(awk '$1 == "Uid:" { print $2 }' "/proc/$QI_VHOSTD_PID/status")
		capeff=$(awk '$1 == "CapEff:" { print $2 }' "/proc/$QI_VHOSTD_PID/status")
		check "vhostd runs as uid 65534 ($uid)" num_eq "$uid" 65534
		check "vhostd has no capability (CapEff $capeff)" \
			bash -c "[ '$capeff' = 0000000000000000 ]"
		# Under seccomp (on by default) every thread, the workers too; the helper still
		# ran (through the launcher vhostd forked before its filter).
		for st in /proc/"$QI_VHOSTD_PID"/task/*/status; do
			tid=${st%/status}
			check "vhostd thread ${tid##*/} under seccomp (Seccomp: 2)" \
				grep -qx "Seccomp:[[:space:]]2" "$st"
		done
		master=$(ip netns exec "$QI_NS" readlink "/sys/class/net/$QI_TAP/master")
		check "the helper's tap $QI_TAP is a port of vhdbr0 ($master)" \
			bash -c "[ '${master##*/}' = vhdbr0 ]"
		check "vhostd logged the tap from the helper" grep -q "from the network helper" \
			"$QI_VHOSTD_LOG"
	fi
fi
qi_start_iperf_server || abort "iperf3 server did not start"

t_guest=$(qi_now)
qi_run_guest
t_guest=$(qi_elapsed "$t_guest")
qi_log "guest ran ${t_guest}s, QEMU exit status $QI_QEMU_STATUS"

# --- the guest's view ---
check "QEMU exited by itself with status 0 (not killed at timeout)" num_eq "$QI_QEMU_STATUS" 0
check "guest booted its /init" qi_has boot
check "guest finished its job" qi_has "done"

features=$(qi_result features)
echo "     guest features: $features ($(qi_feature_names "$features"))"
# Bit numbers from the virtio spec (5.1.3): what vhostd must offer and a
# Linux guest accepts.
want_bits="CSUM:0 GUEST_CSUM:1 HOST_TSO4:11 MRG_RXBUF:15 GUEST_ANNOUNCE:21 VERSION_1:32"
# A switch port offers no offloads (frames go guest to guest, or to the uplink, as they are).
[ "$QI_SWITCH" = 1 ] && want_bits="MRG_RXBUF:15 GUEST_ANNOUNCE:21 VERSION_1:32"
for fb in $want_bits; do
	check "guest negotiated VIRTIO_NET_F_${fb%%:*} (bit ${fb##*:})" \
		qi_feature_bit "$features" "${fb##*:}"
done
if [ "$QI_SWITCH" = 1 ]; then
	check "a switch port offers no checksum offload (CSUM, bit 0, off)" \
		bash -c "[ '${features:0:1}' != 1 ]"
fi
if [ "$QI_QUEUES" -gt 1 ]; then
	check "guest negotiated VIRTIO_NET_F_MQ (bit 22)" qi_feature_bit "$features" 22
fi
if [ "$QI_PACKED" = 1 ]; then
	check "guest negotiated VIRTIO_F_RING_PACKED (bit 34)" qi_feature_bit "$features" 34
else
	check "guest kept split rings (VIRTIO_F_RING_PACKED, bit 34, off)" \
		bash -c "[ '${features:34:1}' != 1 ]"
fi

queues=$(qi_result queues)
check "guest has $QI_QUEUES rx and $QI_QUEUES tx queues ($queues)" \
	test "$queues" = "rx=$QI_QUEUES tx=$QI_QUEUES"
echo "     guest offloads: $(qi_result offloads)"

ping=$(qi_result ping)
check "guest pinged the host ($ping)" test "${ping%% *}" = ok

iperf_tx=$(qi_result iperf-tx)
iperf_rx=$(qi_result iperf-rx)
tx_bytes=$(qi_kv "$iperf_tx" bytes)
rx_bytes=$(qi_kv "$iperf_rx" bytes)
tx_rate=$(qi_kv "$iperf_tx" bits_per_second)
rx_rate=$(qi_kv "$iperf_rx" bits_per_second)
check "iperf3 guest->host moved bytes (${tx_bytes:-none})" num_gt "${tx_bytes:-}" 0
check "iperf3 host->guest moved bytes (${rx_bytes:-none})" num_gt "${rx_bytes:-}" 0

if [ "$QI_QUEUES" -gt 1 ]; then
	qstats=$(qi_result queue-stats)
	echo "     guest per-queue packets: $qstats"
	for ((q = 0; q < QI_QUEUES; q++)); do
		for d in rx tx; do
			v=$(qi_kv "$qstats" "${d}_queue_${q}_packets")
			check "guest $d queue $q carried packets (${v:-none})" num_gt "${v:-}" 0
		done
	done
fi
guest_stats=$(qi_result guest-stats)
echo "     guest counters: $guest_stats"

# --- vhostd's view ---
if [ "$QI_REFERENCE" != 1 ]; then
	check "vhostd still running after the guest went away" kill -0 "$QI_VHOSTD_PID"
	stats=$(qi_stats 2>&1)
	echo "     vhostd stats: $stats"
	port_line=$(echo "$stats" | grep '^port=vm0 ' | head -n 1)
	for k in tx_packets rx_packets; do
		v=$(qi_kv "$port_line" $k)
		check "vhostd $k > 0 (${v:-none})" num_gt "${v:-}" 0
	done
	for k in tx_errors ring_faults; do
		v=$(qi_kv "$port_line" $k)
		check "vhostd $k = 0 (${v:-none})" num_eq "${v:-}" 0
	done
	# The guest read its counters just before powering off, so vhostd must
	# have accounted for at least that many packets in each direction.
	g_tx=$(qi_kv "$guest_stats" tx_packets)
	g_rx=$(qi_kv "$guest_stats" rx_packets)
	v_tx=$(qi_kv "$port_line" tx_packets)
	v_drop=$(qi_kv "$port_line" tx_dropped)
	v_tx=$((${v_tx:-0} + ${v_drop:-0}))
	v_rx=$(qi_kv "$port_line" rx_packets)
	check "vhostd tx_packets+tx_dropped ($v_tx) >= packets the guest sent (${g_tx:-none})" \
		test "$v_tx" -ge "${g_tx:-999999999999}"
	check "vhostd rx_packets (${v_rx:-none}) >= packets the guest received (${g_rx:-none})" \
		test "${v_rx:-0}" -ge "${g_rx:-999999999999}"
	qi_term_vhostd
	check "vhostd exited with status 0 on SIGTERM (got $QI_TERM_STATUS)" test "$QI_TERM_STATUS" = 0
	check "vhostd log has no sanitizer report" \
		bash -c "! grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' '$QI_VHOSTD_LOG'"
fi

total=$(qi_elapsed "$t_start")
awk -v t="$tx_rate" -v r="$rx_rate" -v q="$QI_QUEUES" -v s="$QI_STREAMS" 'BEGIN {
	printf "     iperf3 (TCP, %d stream(s), %d queue pair(s), guest under TCG): guest->host %.1f Mbit/s, host->guest %.1f Mbit/s\n",
		s, q, t / 1e6, r / 1e6 }'
echo "     timings: guest prepare ${t_build}s, guest run ${t_guest}s, total ${total}s"

qi_finish
