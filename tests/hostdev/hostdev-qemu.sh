#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# hostdev-qemu: a Debian guest under QEMU (TCG) on a vhostd port with the packet or xdp
# back-end over vhd0, one end of a veth pair; the host side (address, iperf3 server) is the other
# end, vhp0, in the same namespace. The guest pings the host and runs iperf3 both ways.
#
# usage: hostdev-qemu.sh packet|xdp   (as root; see tests/qemu/lib.sh for the QI_* knobs)
#
# packet: the guest negotiates checksum and TSO offloads and they cross in the vnet header:
#         vhostd's average frame size must exceed the MTU in both directions (whole TSO frames
#         from the guest, GSO frames from the host's TCP through the TPACKET_V3 ring).
# xdp:    no offload is offered (AF_XDP carries none): the guest has neither CSUM nor any TSO
#         bit, and no frame is larger than the MTU. vhp0's transmit checksum offload is off, as
#         a NIC's wire has whole checksums: a local sender's partial ones would reach the guest
#         unfinished through XDP.

set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/qemu/lib.sh
. "$here/../qemu/lib.sh"

BE=${1:-packet}
QI_NAME="hostdev-qemu-$BE"
QI_QUEUES=1
QI_STREAMS=1
DEV=vhd0
PEER=vhp0
failures=0

abort() {
	qi_log "FAIL: $*"
	qi_dump_logs
	exit 1
}

# check DESCRIPTION CMD...: runs CMD, prints ok/FAIL, counts failures.
check() {
	local what=$1
	shift
	if "$@"; then
		echo "  ok   $what"
	else
		echo "  FAIL $what"
		failures=$((failures + 1))
	fi
}

num_gt() { [ -n "$1" ] && [ "$1" -gt "$2" ]; }
num_eq() { [ -n "$1" ] && [ "$1" -eq "$2" ]; }

[ "$BE" = packet ] || [ "$BE" = xdp ] || abort "back-end must be packet or xdp"
qi_preflight 1 qemu-system-x86_64 iperf3 ip ss python3 timeout ethtool
trap qi_cleanup EXIT

t_start=$(qi_now)
qi_build_guest || abort "could not prepare the guest (build-guest.sh)"
qi_setup || abort "could not create namespace"
ip netns exec "$QI_NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
	net.ipv6.conf.default.disable_ipv6=1
ip -n "$QI_NS" link add name "$DEV" type veth peer name "$PEER" || abort "no veth pair"
ip -n "$QI_NS" link set "$DEV" up
ip -n "$QI_NS" addr add "$QI_HOST_IP/$QI_PREFIX" dev "$PEER" || abort "no address on $PEER"
ip -n "$QI_NS" link set "$PEER" up
if [ "$BE" = xdp ]; then
	ip netns exec "$QI_NS" ethtool -K "$PEER" tx off >/dev/null || abort "ethtool -K $PEER tx off"
fi

mkfifo "$QI_DIR/ready"
ip netns exec "$QI_NS" "$VHOSTD" --port "name=vm0,socket=$QI_SOCK,backend=$BE,dev=$DEV" \
	--control "$QI_CTL" --log-level "${QI_VHOSTD_LOG_LEVEL:-info}" --ready-fd 3 \
	3>"$QI_DIR/ready" 2>"$QI_VHOSTD_LOG" &
QI_VHOSTD_PID=$!
read -r -t 20 line <"$QI_DIR/ready" || true
[ "${line:-}" = READY=1 ] || abort "vhostd did not start"
if [ "$BE" = xdp ]; then
	xdp_link=$(ip -n "$QI_NS" -d link show "$DEV")
	check "an XDP program is attached to $DEV while the port exists" \
		grep -q 'prog/xdp' <<<"$xdp_link"
	echo "     $(grep -o 'prog/xdp[a-z]* id [0-9]*' <<<"$xdp_link" | head -n 1) (xdpgeneric: generic mode)"
fi
qi_start_iperf_server || abort "iperf3 server did not start"

qi_run_guest
qi_log "guest ran, QEMU exit status $QI_QEMU_STATUS"
check "QEMU exited by itself with status 0" num_eq "$QI_QEMU_STATUS" 0
check "guest finished its job" qi_has "done"
features=$(qi_result features)
echo "     guest features: $(qi_feature_names "$features")"
if [ "$BE" = packet ]; then
	for fb in CSUM:0 GUEST_CSUM:1 GUEST_TSO4:7 HOST_TSO4:11 MRG_RXBUF:15 VERSION_1:32; do
		check "guest negotiated ${fb%%:*}" qi_feature_bit "$features" "${fb##*:}"
	done
else
	for fb in CSUM:0 GUEST_CSUM:1 GUEST_TSO4:7 GUEST_TSO6:8 HOST_TSO4:11 HOST_TSO6:12; do
		check "xdp offers no ${fb%%:*}" bash -c "[ '${features:${fb##*:}:1}' != 1 ]"
	done
fi
ping=$(qi_result ping)
check "guest pinged the host across the veth ($ping)" test "${ping%% *}" = ok
iperf_tx=$(qi_result iperf-tx)
iperf_rx=$(qi_result iperf-rx)
tx_bytes=$(qi_kv "$iperf_tx" bytes)
rx_bytes=$(qi_kv "$iperf_rx" bytes)
check "iperf3 guest->host moved bytes (${tx_bytes:-none})" num_gt "${tx_bytes:-}" 0
check "iperf3 host->guest moved bytes (${rx_bytes:-none})" num_gt "${rx_bytes:-}" 0

check "vhostd still running" kill -0 "$QI_VHOSTD_PID"
port_line=$(qi_stats 2>&1 | grep '^port=vm0 ' | head -n 1)
echo "     vhostd: $port_line"
for k in tx_errors ring_faults rx_oversize; do
	v=$(qi_kv "$port_line" $k)
	check "vhostd $k = 0 (${v:-none})" num_eq "${v:-}" 0
done
v_txp=$(qi_kv "$port_line" tx_packets) v_txb=$(qi_kv "$port_line" tx_bytes)
v_rxp=$(qi_kv "$port_line" rx_packets) v_rxb=$(qi_kv "$port_line" rx_bytes)
check "vhostd carried frames both ways" test "${v_txp:-0}" -gt 0 -a "${v_rxp:-0}" -gt 0
avg_tx=$((${v_txb:-0} / (${v_txp:-0} + 1)))
avg_rx=$((${v_rxb:-0} / (${v_rxp:-0} + 1)))
echo "     average frame: guest->host $avg_tx bytes, host->guest $avg_rx bytes"
if [ "$BE" = packet ]; then
	check "guest TSO frames went out whole (average $avg_tx > 1514)" num_gt "$avg_tx" 1514
	check "host GSO frames reached the guest whole (average $avg_rx > 1514)" \
		num_gt "$avg_rx" 1514
else
	check "no frame larger than the MTU from the guest (average $avg_tx)" \
		test "$avg_tx" -le 1514
fi
qi_term_vhostd
check "vhostd exited 0 on SIGTERM (got $QI_TERM_STATUS)" test "$QI_TERM_STATUS" = 0
check "vhostd log has no sanitizer report" \
	bash -c "! grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' '$QI_VHOSTD_LOG'"
if [ "$BE" = xdp ]; then
	check "the XDP program left $DEV with vhostd" \
		bash -c "! ip -n '$QI_NS' -d link show '$DEV' | grep -q 'prog/xdp'"
fi
awk -v t="$(qi_kv "$iperf_tx" bits_per_second)" -v r="$(qi_kv "$iperf_rx" bits_per_second)" \
	-v b="$BE" 'BEGIN { printf "     iperf3 (%s, TCG guest): guest->host %.1f Mbit/s, host->guest %.1f Mbit/s\n", b, t / 1e6, r / 1e6 }'
echo "     total $(qi_elapsed "$t_start")s"
if [ "$failures" -gt 0 ]; then
	qi_dump_logs
	echo "$QI_NAME: $failures check(s) failed"
	exit 1
fi
echo "$QI_NAME: PASS"
