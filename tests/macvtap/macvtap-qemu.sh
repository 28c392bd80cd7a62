#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# macvtap-qemu: a QEMU/TCG guest (Debian's kernel, tests/qemu) whose NIC vhostd serves through
# a macvtap port in vepa mode over a veth pair standing in for the NIC: nic0 in vhostd's
# namespace, far0 with the peer's address (198.18.0.1) and the iperf3 server in a second one.
# The guest pings the peer and runs iperf3 both ways (TCP, offloads on). Asserts: ping replies,
# bytes moved both ways, vhostd's and the macvtap's counters show the traffic without errors
# or ring faults, vhostd exits 0 on SIGTERM and the link is gone with it.
#
# Environment: $VHOSTD, $VHOSTD_BUILDDIR, and the knobs of tests/qemu/lib.sh.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/qemu/lib.sh
. "$here/../qemu/lib.sh"

QI_NAME="macvtap-qemu"
MVT=mvtvm0
qi_preflight 1 qemu-system-x86_64 iperf3 ip ss python3 timeout
failures=0

abort() {
	qi_log "FAIL: $*"
	qi_dump_logs
	exit 1
}

# link_stat NAME: the macvtap's statistics counter NAME.
link_stat() {
	ip netns exec "$QI_NS" cat "/sys/class/net/$MVT/statistics/$1" 2>/dev/null
}

t_start=$(qi_now)
qi_build_guest || abort "could not prepare the guest (build-guest.sh)"
qi_setup || abort "could not create namespace"
QI_PEER_NS=vhd-qemu-far-$$
ip netns add "$QI_PEER_NS" || abort "could not create the peer namespace"
ip -n "$QI_PEER_NS" link set lo up
ip -n "$QI_NS" link add nic0 type veth peer name far0 netns "$QI_PEER_NS" || abort "veth"
ip -n "$QI_PEER_NS" addr add "$QI_HOST_IP/$QI_PREFIX" dev far0 || abort "far0 address"
ip -n "$QI_PEER_NS" link set far0 up && ip -n "$QI_NS" link set nic0 up || abort "links up"

mkfifo "$QI_DIR/ready"
ip netns exec "$QI_NS" "$VHOSTD" \
	--port "name=vm0,socket=$QI_SOCK,backend=macvtap,dev=nic0,macvtap_mode=vepa,mac=$QI_MAC" \
	--control "$QI_CTL" --ready-fd 3 3>"$QI_DIR/ready" 2>"$QI_VHOSTD_LOG" &
QI_VHOSTD_PID=$!
read -r -t 20 line <"$QI_DIR/ready" || true
[ "$line" = READY=1 ] || abort "vhostd did not report READY=1 (got '$line')"
qi_start_iperf_server || abort "iperf3 server did not start"

t_guest=$(qi_now)
qi_run_guest
t_guest=$(qi_elapsed "$t_guest")
qi_log "guest ran ${t_guest}s, QEMU exit status $QI_QEMU_STATUS"

check "QEMU exited by itself with status 0 (not killed at timeout)" num_eq "$QI_QEMU_STATUS" 0
check "guest finished its job" qi_has "done"
echo "     guest offloads: $(qi_result offloads)"
ping=$(qi_result ping)
check "guest pinged the peer beyond the veth ($ping)" test "${ping%% *}" = ok
iperf_tx=$(qi_result iperf-tx)
iperf_rx=$(qi_result iperf-rx)
tx_bytes=$(qi_kv "$iperf_tx" bytes)
rx_bytes=$(qi_kv "$iperf_rx" bytes)
check "iperf3 guest->peer moved bytes (${tx_bytes:-none})" num_gt "${tx_bytes:-}" 0
check "iperf3 peer->guest moved bytes (${rx_bytes:-none})" num_gt "${rx_bytes:-}" 0

stats=$(qi_stats 2>&1)
port_line=$(echo "$stats" | grep '^port=vm0 ' | head -n 1)
echo "     vhostd: $port_line"
for k in tx_packets rx_packets; do
	check "vhostd $k > 0" num_gt "$(qi_kv "$port_line" $k)" 0
done
for k in tx_errors ring_faults; do
	check "vhostd $k = 0" num_eq "$(qi_kv "$port_line" $k)" 0
done
check "macvtap $MVT sent what the guest sent (tx_packets $(link_stat tx_packets))" \
	num_gt "$(link_stat tx_packets)" 0
check "macvtap $MVT received for the guest (rx_packets $(link_stat rx_packets))" \
	num_gt "$(link_stat rx_packets)" 0
qi_term_vhostd
check "vhostd exited with status 0 on SIGTERM (got $QI_TERM_STATUS)" test "$QI_TERM_STATUS" = 0
check "macvtap $MVT deleted with vhostd" bash -c "! ip -n '$QI_NS' link show $MVT 2>/dev/null"
check "vhostd log has no sanitizer report" \
	bash -c "! grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' '$QI_VHOSTD_LOG'"
awk -v t="$(qi_kv "$iperf_tx" bits_per_second)" -v r="$(qi_kv "$iperf_rx" bits_per_second)" \
	'BEGIN { printf "     iperf3 (TCP, guest under TCG, macvtap vepa): guest->peer %.1f Mbit/s, peer->guest %.1f Mbit/s\n", t / 1e6, r / 1e6 }'
echo "     total $(qi_elapsed "$t_start")s"
qi_finish
