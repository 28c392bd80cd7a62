# shellcheck shell=sh disable=SC2154 # PEER and ARG come from /init
# Guest job "migrate" (vhostd.job=migrate), sourced by /init once eth0 is up: the
# guest's half of tests/qemu/qemu-migrate.sh. While the host live-migrates this
# VM from one QEMU to another and back, the guest pings the peer in the
# background and receives one TCP stream from PEER:PORT until the peer closes
# it; it never learns that it moved. Then it reports and returns (/init powers
# the VM off).
#
#   vhostd.arg=PORT[:udp]  TCP port of the peer's stream server (default 5301); with :udp
#                          also an iperf3 UDP server on PORT+2 for the host's flood
#
# Results:
#   stream md5=HEX bytes=N                  what arrived, as md5sum and wc -c see it
#   guest-ping transmitted=N received=N     the background ping's own summary
#   udp packets=N lost=N out_of_order=N     iperf3's view of the UDP flood (port PORT+2)
#   guest-stats rx_packets=N tx_packets=N rx_errors=N tx_errors=N rx_dropped=N

MIG_PORT=${ARG%%:*}
MIG_PORT=${MIG_PORT:-5301}
mig_udp=""

# A UDP flood from the peer (iperf3 client, when the host runs one: MIG_UDP_RATE) may cross
# both migrations too. UDP has no retransmission: a receive buffer whose page reached the
# destination stale (a write vhostd did not log) hands the guest an old datagram again, which
# iperf3 counts as out of order.
case "$ARG" in
*:udp)
	iperf3 -s -1 -p $((MIG_PORT + 2)) -J >/tmp/udp.json 2>&1 &
	mig_udp=$!
	;;
esac

ping -i 0.2 "$PEER" >/tmp/ping.out 2>&1 &
mig_ping=$!

# The stream lands in /tmp (tmpfs); md5sum and wc -c read it back.
say "receiving the stream from $PEER:$MIG_PORT"
nc "$PEER" "$MIG_PORT" </dev/null >/tmp/stream
mig_md5=$(md5sum </tmp/stream)
mig_md5=${mig_md5%% *}
mig_bytes=$(wc -c </tmp/stream)
rm -f /tmp/stream
result stream "md5=$mig_md5 bytes=$mig_bytes"

# The UDP test ends on its own (the peer's client runs for a fixed time); bounded wait.
n=0
while [ -n "$mig_udp" ] && kill -0 "$mig_udp" 2>/dev/null && [ $n -lt 300 ]; do
	sleep 0.1
	n=$((n + 1))
done
[ -n "$mig_udp" ] && kill "$mig_udp" 2>/dev/null
[ -n "$mig_udp" ] && result udp "$(awk -F'[:,]' '/"packets":/ { p = $2 } /"lost_packets":/ { l = $2 }
	/"out_of_order":/ { o = $2 } END { gsub(/[ \t]/, "", p); gsub(/[ \t]/, "", l); gsub(/[ \t]/, "", o);
	printf "packets=%s lost=%s out_of_order=%s", p, l, o }' /tmp/udp.json)"

# busybox ping prints its summary on SIGINT.
kill -INT "$mig_ping"
wait "$mig_ping"
result guest-ping "$(awk '/packets transmitted/ { printf "transmitted=%s received=%s", $1, $4 }' /tmp/ping.out)"

mig_s=/sys/class/net/eth0/statistics
result guest-stats "rx_packets=$(cat $mig_s/rx_packets) tx_packets=$(cat $mig_s/tx_packets) rx_errors=$(cat $mig_s/rx_errors) tx_errors=$(cat $mig_s/tx_errors) rx_dropped=$(cat $mig_s/rx_dropped)"
