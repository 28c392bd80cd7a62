#!/usr/bin/env bash
# Jumbo frames with a real guest: QEMU gives the virtio-net NIC host_mtu=9000, so the guest
# negotiates VIRTIO_NET_F_MTU and QEMU sends VHOST_USER_NET_SET_MTU 9000 to vhostd, whose tap
# must follow. Two boots of the guest job tests/qemu/jobs/mtu.sh, both with QEMU packed=on:
#   1. the port as it comes (packed virtqueues, mergeable receive buffers);
#   2. the port with features=-packed,-mrg_rxbuf,-event_idx: the guest's features show the
#      three bits off (split rings although QEMU asked for packed ones) and the same traffic
#      flows (without MRG_RXBUF the guest posts big receive buffers).
# Each boot asserts: eth0's MTU is 9000; ping -s 8972 (9000-byte packets, DF set) is answered
# with 8980-byte replies; neither the namespace nor the guest reassembled anything (no packet
# was fragmented on the way); iperf3 over TCP with the guest's TSO/GSO off moved bytes in
# frames averaging more than 4000 bytes, and iperf3 -u -R -l 8972 delivered 9000-byte
# datagrams in frames as large; vhostd logged the front-end's MTU, puts the tap back to 1500
# when the guest is gone, counts no errors, oversize drops or ring faults, and exits 0.
#
# Usage: qemu-mtu.sh. Environment: $VHOSTD, $VHOSTD_BUILDDIR or $VHOSTCTL, and the knobs of
# lib.sh (QI_KEEP=1 keeps the guest consoles and logs).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/qemu/lib.sh
. "$here/lib.sh"

QI_NAME="qemu-mtu"
MTU=9000
qi_preflight 1 qemu-system-x86_64 iperf3 ip ss python3 timeout

failures=0

# abort MSG: a setup step failed; show the logs and stop (cleanup via trap).
abort() {
	qi_log "FAIL: $*"
	qi_dump_logs
	exit 1
}

# ns_snmp PROTO FIELD: one counter of the namespace's /proc/net/snmp.
ns_snmp() {
	ip netns exec "$QI_NS" awk -v p="$1:" -v f="$2" '$1 == p {
		if (!h) { for (i = 2; i <= NF; i++) col[$i] = i; h = 1; next }
		print $(col[f]); exit
	}' /proc/net/snmp
}

# tap_mtu_is N: 0 once the tap's MTU reads N (vhostd restores it when the guest has gone;
# polled, there is no event).
tap_mtu_is() {
	local i
	for ((i = 0; i < 50; i++)); do
		[ "$(ip netns exec "$QI_NS" cat "/sys/class/net/$QI_TAP/mtu")" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# boot LABEL PORT_OPTIONS: one vhostd with PORT_OPTIONS and one guest running the mtu job;
# every check of one boot.
boot() {
	local label=$1 opts=$2 features ping udp tcp v port_line
	QI_GUEST_LOG=$QI_DIR/guest-$label.log
	QI_QEMU_LOG=$QI_DIR/qemu-$label.log
	echo "# $label: port ${opts:-as it comes}, virtio-net-pci $QI_DEVICE_OPTS"
	qi_launch_vhostd "$opts" || abort "vhostd did not start ($label)"
	if [ -z "$QI_IPERF_PID" ]; then
		# The tap is persistent: its address stays for the second vhostd.
		ip -n "$QI_NS" addr add "$QI_HOST_IP/$QI_PREFIX" dev "$QI_TAP" || abort "tap address"
		ip -n "$QI_NS" link set "$QI_TAP" up
		qi_start_iperf_server || abort "iperf3 server did not start"
	fi
	local reasm0
	reasm0=$(ns_snmp Ip ReasmReqds)
	qi_launch_guest ""
	qi_wait_guest
	check "$label: QEMU exited by itself with status 0" num_eq "$QI_QEMU_STATUS" 0
	check "$label: guest finished its job" qi_has "done"

	features=$(qi_result features)
	echo "     guest features: $(qi_feature_names "$features")"
	check "$label: guest negotiated VIRTIO_NET_F_MTU (bit 3)" qi_feature_bit "$features" 3
	if [ -n "$opts" ]; then
		check "$label: MRG_RXBUF (bit 15) off in the guest" \
			bash -c "[ '${features:15:1}' = 0 ]"
		check "$label: EVENT_IDX (bit 29) off in the guest" \
			bash -c "[ '${features:29:1}' = 0 ]"
		check "$label: RING_PACKED (bit 34) off in the guest" \
			bash -c "[ '${features:34:1}' = 0 ]"
	else
		check "$label: MRG_RXBUF (bit 15) on in the guest" qi_feature_bit "$features" 15
		check "$label: RING_PACKED (bit 34) on in the guest" qi_feature_bit "$features" 34
	fi
	check "$label: guest eth0 MTU is $MTU ($(qi_result mtu-guest))" \
		test "$(qi_result mtu-guest)" = "mtu=$MTU"

	ping=$(qi_result mtu-ping)
	check "$label: ping -s 8972 answered ($ping)" num_gt "$(qi_kv "$ping" received)" 0
	check "$label: replies of 8980 bytes" test "$(qi_kv "$ping" size)" = 8980
	check "$label: the namespace reassembled nothing (no fragments from the guest)" \
		test "$(ns_snmp Ip ReasmReqds)" = "$reasm0"
	check "$label: the guest reassembled nothing ($(qi_result mtu-reasm))" \
		test "$(qi_result mtu-reasm)" = "reqds=0"

	tcp=$(qi_result mtu-tcp)
	echo "     TCP guest->host, TSO/GSO off: $tcp"
	check "$label: iperf3 TCP moved bytes" num_gt "$(qi_kv "$tcp" bytes)" 0
	check "$label: TCP frames were jumbo (average $(qi_kv "$tcp" frame_bytes) bytes)" \
		num_gt "$(qi_kv "$tcp" frame_bytes)" 4000
	udp=$(qi_result mtu-udp)
	echo "     UDP host->guest, 8972-byte datagrams: $udp"
	check "$label: iperf3 UDP delivered datagrams" num_gt "$(qi_kv "$udp" datagrams)" 0
	check "$label: UDP frames were jumbo (average $(qi_kv "$udp" frame_bytes) bytes)" \
		num_gt "$(qi_kv "$udp" frame_bytes)" 4000

	check "$label: vhostd logged the front-end's MTU" \
		grep -q "vm0: front-end set MTU $MTU" "$QI_VHOSTD_LOG"
	check "$label: the tap is back at MTU 1500 without a guest" tap_mtu_is 1500
	port_line=$(qi_stats 2>&1 | grep '^port=vm0 ' | head -n 1)
	echo "     vhostd stats: $port_line"
	for k in tx_packets rx_packets; do
		v=$(qi_kv "$port_line" $k)
		check "$label: vhostd $k > 0 (${v:-none})" num_gt "${v:-}" 0
	done
	for k in tx_errors ring_faults rx_oversize; do
		v=$(qi_kv "$port_line" $k)
		check "$label: vhostd $k = 0 (${v:-none})" num_eq "${v:-}" 0
	done

	qi_term_vhostd
	check "$label: vhostd exited with status 0 on SIGTERM (got $QI_TERM_STATUS)" \
		test "$QI_TERM_STATUS" = 0
}

t_start=$(qi_now)
qi_build_guest || abort "could not prepare the guest (build-guest.sh)"
qi_setup || abort "could not create namespace"
QI_JOB=mtu
QI_DEVICE_OPTS="host_mtu=$MTU,packed=on"
boot packed-mergeable ""
boot split-no-mrg-no-event-idx "features=-packed,-mrg_rxbuf,-event_idx"
check "vhostd log has no sanitizer report" \
	bash -c "! grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' '$QI_VHOSTD_LOG'"
echo "     total $(qi_elapsed "$t_start")s"

qi_finish
