# shellcheck shell=sh disable=SC2154 # PEER, IP, TIME come from /init
# Guest job "mtu" (vhostd.job=mtu), sourced by /init once eth0 is up: the guest's half of
# tests/qemu/qemu-mtu.sh (QEMU gives the NIC host_mtu=9000). It reports what the host checks:
#
#   mtu-guest mtu=N                       eth0's MTU (from VIRTIO_NET_F_MTU)
#   mtu-ping transmitted=N received=N size=B   ping -s 8972 of the peer (9000-byte packets,
#                                         DF set: busybox leaves path-MTU discovery on); B is
#                                         the size of the replies
#   mtu-tcp bytes=N frames=N frame_bytes=N    iperf3 to the peer with TSO/GSO off, so each
#                                         frame the guest sent is one wire frame: the guest's
#                                         tx counters over the run
#   mtu-udp datagrams=N frames=N frame_bytes=N  iperf3 -u -R -l 8972 (the peer sends 9000-byte
#                                         datagrams): UDP datagrams and rx counters over the run
#   mtu-reasm reqds=N                     IP reassemblies the guest needed (0: nothing came
#                                         fragmented)

# mtu_snmp PROTO FIELD: one counter of /proc/net/snmp (a header line, then a value line).
mtu_snmp() {
	awk -v p="$1:" -v f="$2" '$1 == p {
		if (!h) { for (i = 2; i <= NF; i++) col[$i] = i; h = 1; next }
		print $(col[f]); exit
	}' /proc/net/snmp
}

# mtu_count DIR: "packets bytes" of eth0 in direction DIR (rx or tx).
mtu_count() {
	echo "$(cat /sys/class/net/eth0/statistics/"$1"_packets) $(cat /sys/class/net/eth0/statistics/"$1"_bytes)"
}

# mtu_delta BEFORE AFTER: "frames=N frame_bytes=AVG" between two mtu_count outputs.
mtu_delta() {
	echo "$1 $2" | awk '{ n = $3 - $1; b = $4 - $2; printf "frames=%d frame_bytes=%d\n", n, n ? b / n : 0 }'
}

result mtu-guest "mtu=$(cat /sys/class/net/eth0/mtu)"

ping -c 3 -s 8972 -W 3 "$PEER" >/tmp/ping.out 2>&1
cat /tmp/ping.out
result mtu-ping "$(awk '/packets transmitted/ { t = $1; r = $4 } / bytes from / && !s { s = $1 }
	END { printf "transmitted=%s received=%s size=%s\n", t, r, s }' /tmp/ping.out)"

ethtool -K eth0 tso off gso off >/dev/null 2>&1
before=$(mtu_count tx)
iperf3 -c "$PEER" -t 2 -J >/tmp/iperf-tcp.json 2>&1
after=$(mtu_count tx)
bytes=$(awk '/"sum_received"/ { s = 1 } s && /"bytes"/ { gsub(/[^0-9]/, "", $2); print $2; exit }' /tmp/iperf-tcp.json)
result mtu-tcp "bytes=${bytes:-0} $(mtu_delta "$before" "$after")"

udp0=$(mtu_snmp Udp InDatagrams)
before=$(mtu_count rx)
iperf3 -c "$PEER" -u -R -l 8972 -b 20M -t 2 >/tmp/iperf-udp.out 2>&1 || cat /tmp/iperf-udp.out
after=$(mtu_count rx)
udp1=$(mtu_snmp Udp InDatagrams)
result mtu-udp "datagrams=$((udp1 - udp0)) $(mtu_delta "$before" "$after")"
result mtu-reasm "reqds=$(mtu_snmp Ip ReasmReqds)"

s=/sys/class/net/eth0/statistics
result guest-stats "rx_packets=$(cat $s/rx_packets) tx_packets=$(cat $s/tx_packets) rx_errors=$(cat $s/rx_errors) tx_errors=$(cat $s/tx_errors) rx_dropped=$(cat $s/rx_dropped)"
