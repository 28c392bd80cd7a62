# shellcheck shell=sh disable=SC2154 # PEER, IP, ARG come from /init
# Guest job "restart" (vhostd.job=restart), sourced by /init once eth0 is up: the
# guest's half of tests/qemu/qemu-restart.sh. The guest pings the peer without
# end, one console line per reply ("64 bytes from PEER: seq=N ..."), and takes no
# action of its own while the host kills and restarts vhostd or replaces its
# back-end: the host watches those lines to see the guest's own traffic resume.
# The job ends when the host connects to TCP port 7007 on the guest; then it
# reports what its ping saw and returns (/init powers the VM off).
#
#   vhostd.arg=SECONDS   ping interval (default 0.1)
#
# Results:
#   restart-ready port=7007 interval=S   the ping runs and the stop port listens
#   restart-ping transmitted=N received=N first=SEQ last=SEQ
#   restart-gaps count=N seqs=A-B,...    runs of seqs without a reply after the
#                                        first reply (each is one outage)
#   restart-link carrier_changes=N operstate=S   link flaps the driver saw
#   guest-stats rx_packets=N tx_packets=N ...

RST_PORT=7007
RST_INTERVAL=${ARG:-0.1}

# rst_listening PORT: 0 when a TCP socket listens on PORT (IPv4 or IPv6; the port
# is in hex, state 0A is LISTEN).
rst_listening() {
	cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
		grep -qi "^ *[0-9]*: [0-9A-F]*:$(printf '%04X' "$1") [0-9A-F]*:0000 0A"
}

# rst_gaps FILE: "count=N seqs=A-B,..." for the missing seqs between replies.
rst_gaps() {
	awk '/bytes from/ {
		for (i = 1; i <= NF; i++)
			if ($i ~ /^seq=/) { s = substr($i, 5) + 0; break }
		if (seen && s > last + 1) {
			n++
			list = list sep (last + 1) "-" (s - 1)
			sep = ","
		}
		if (!seen || s > last) last = s
		seen = 1
	} END { printf "count=%d seqs=%s\n", n, (n ? list : "none") }' "$1"
}

# The ping writes through a fifo to tee: one copy on the console for the host, one
# in /tmp/ping.out for the summary, and the ping's own pid to stop it with.
mkfifo /tmp/ping.fifo || fail restart-ready "mkfifo"
tee /tmp/ping.out </tmp/ping.fifo &
rst_tee=$!
ping -i "$RST_INTERVAL" "$PEER" >/tmp/ping.fifo 2>&1 &
rst_ping=$!

nc -l -p "$RST_PORT" </dev/null >/tmp/stop 2>&1 &
rst_nc=$!
n=0
until rst_listening "$RST_PORT"; do
	n=$((n + 1))
	[ $n -gt 100 ] && fail restart-ready "nc does not listen on $RST_PORT"
	sleep 0.05
done
result restart-ready "port=$RST_PORT interval=$RST_INTERVAL"

# Nothing to do until the host says stop: the host's restarts happen meanwhile.
wait "$rst_nc"
say "stop received: $(cat /tmp/stop)"

kill -INT "$rst_ping"
wait "$rst_ping"
wait "$rst_tee"
stats=$(awk '/packets transmitted/ { print "transmitted=" $1 " received=" $4 }' /tmp/ping.out)
seqs=$(awk '/bytes from/ { for (i = 1; i <= NF; i++) if ($i ~ /^seq=/) { s = substr($i, 5); if (f == "") f = s; l = s } }
	END { print "first=" (f == "" ? "none" : f) " last=" (l == "" ? "none" : l) }' /tmp/ping.out)
result restart-ping "$stats $seqs"
result restart-gaps "$(rst_gaps /tmp/ping.out)"
result restart-link "carrier_changes=$(cat /sys/class/net/eth0/carrier_changes) operstate=$(cat /sys/class/net/eth0/operstate)"
s=/sys/class/net/eth0/statistics
result guest-stats "rx_packets=$(cat $s/rx_packets) tx_packets=$(cat $s/tx_packets) rx_errors=$(cat $s/rx_errors) tx_errors=$(cat $s/tx_errors) rx_dropped=$(cat $s/rx_dropped)"
