#!/bin/sh
# /init of the vhostd test guest (busybox sh, PID 1). It reads its job from the
# kernel command line, brings up the virtio-net NIC, exercises it and prints one
# "VHOSTD-RESULT <what> <details>" line per finding on the console, where the
# host-side script greps them. Then it powers the VM off; QEMU exits.
#
# Command line parameters:
#   vhostd.ip=ADDR/LEN    address for eth0                (default 198.18.0.2/24)
#   vhostd.peer=ADDR      host end of the link            (default 198.18.0.1)
#   vhostd.job=test|demo|NAME  demo prints ping/iperf3 output for a human; NAME runs
#                         /jobs/NAME.sh (tests/qemu/jobs/) once eth0 is up
#   vhostd.arg=VALUE      free parameter for a job (read as $ARG)
#   vhostd.queues=N       queue pairs to enable (ethtool -L) and check
#   vhostd.time=SECONDS   length of each iperf3 run       (default 3)
#   vhostd.streams=N      parallel iperf3 streams         (default 1)

export PATH=/bin:/sbin:/usr/bin:/usr/sbin

# result WHAT DETAILS...: one machine-readable line on the console.
result() {
	echo "VHOSTD-RESULT $*"
}

# say TEXT...: a human-readable progress line (kept distinct from results).
say() {
	echo "vhostd-guest: $*"
}

# finish: report completion and switch the VM off (QEMU then exits).
finish() {
	result "done"
	sync
	poweroff -f
	# poweroff -f does not return; if it ever does, panic=-1 reboots and
	# QEMU's -no-reboot turns that into an exit as well.
	echo o >/proc/sysrq-trigger
}

# fail WHAT REASON...: report a failed step and stop the VM.
fail() {
	result "$1" fail "${2:-}"
	finish
}

# iperf_summary DIRECTION JSONFILE: prints the per-second rates for humans and
# one result line with the bytes and rate seen by the receiving side.
iperf_summary() {
	awk -v dir="$1" '
	# Intervals carry a "sum" object; the end section has sum_sent/sum_received.
	/"intervals"/ { in_iv = 1 }
	/"end"[ \t]*:[ \t]*\{/ { in_iv = 0 }
	in_iv && /"sum"[ \t]*:/ { blk = "iv"; next }
	/"sum_sent"[ \t]*:/ { blk = "sent"; next }
	/"sum_received"[ \t]*:/ { blk = "recv"; next }
	blk != "" && /"(start|end|bytes|bits_per_second)"[ \t]*:/ {
		key = $1; gsub(/[":]/, "", key)
		val = $2; gsub(/[^0-9.eE+-]/, "", val)
		v[blk, key] = val
	}
	blk != "" && /}/ {
		if (blk == "iv")
			printf "vhostd-guest: iperf3 %s %5.2f-%5.2f s %10.0f bytes %9.2f Mbit/s\n",
				dir, v["iv", "start"], v["iv", "end"], v["iv", "bytes"],
				v["iv", "bits_per_second"] / 1e6
		else
			seen[blk] = 1
		blk = ""
	}
	END {
		if (!seen["recv"]) {
			print "VHOSTD-RESULT iperf-" dir " fail no-summary"
			exit 1
		}
		printf "VHOSTD-RESULT iperf-%s bytes=%.0f bits_per_second=%.0f sent_bytes=%.0f\n",
			dir, v["recv", "bytes"], v["recv", "bits_per_second"], v["sent", "bytes"]
		exit !(v["recv", "bytes"] > 0)
	}' "$2"
}

# run_iperf DIRECTION EXTRA-ARGS...: one iperf3 client run against the peer,
# retried briefly in case the server is not listening yet.
run_iperf() {
	dir=$1
	shift
	tries=0
	while :; do
		if iperf3 -c "$PEER" -t "$TIME" -P "$STREAMS" -J "$@" >/tmp/iperf-"$dir".json 2>&1; then
			break
		fi
		tries=$((tries + 1))
		if [ $tries -ge 3 ]; then
			grep '"error"' /tmp/iperf-"$dir".json
			result "iperf-$dir" fail "iperf3 exited non-zero"
			return 1
		fi
		sleep 1
	done
	iperf_summary "$dir" /tmp/iperf-"$dir".json
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
# Keep kernel messages from splitting our result lines on the console.
echo 1 >/proc/sys/kernel/printk

IP=198.18.0.2/24
PEER=198.18.0.1
JOB="test"
QUEUES=1
TIME=3
STREAMS=1
ARG=""
read -r cmdline </proc/cmdline
for arg in $cmdline; do
	case "$arg" in
	vhostd.ip=*) IP=${arg#*=} ;;
	vhostd.peer=*) PEER=${arg#*=} ;;
	vhostd.job=*) JOB=${arg#*=} ;;
	vhostd.queues=*) QUEUES=${arg#*=} ;;
	vhostd.time=*) TIME=${arg#*=} ;;
	vhostd.streams=*) STREAMS=${arg#*=} ;;
	vhostd.arg=*) ARG=${arg#*=} ;;
	esac
done
result boot "kernel=$(uname -r) job=$JOB ip=$IP peer=$PEER queues=$QUEUES"

while read -r mod; do
	insmod "/lib/modules/$mod.ko" || fail modules "insmod $mod"
done </lib/modules/load-order
result modules ok

# The PCI probe normally finishes inside insmod; allow a short grace period.
n=0
while [ ! -e /sys/class/net/eth0 ]; do
	n=$((n + 1))
	[ $n -gt 50 ] && fail eth0 "no eth0 after loading virtio_net"
	sleep 0.1
done

result features "$(cat /sys/class/net/eth0/device/features)"

ip link set lo up
if [ "$QUEUES" -gt 1 ]; then
	ethtool -L eth0 combined "$QUEUES" || fail queues "ethtool -L eth0 combined $QUEUES"
fi
ip addr add "$IP" dev eth0 || fail eth0 "ip addr add $IP"
ip link set eth0 up || fail eth0 "ip link set up"
rxq=0
for q in /sys/class/net/eth0/queues/rx-*; do [ -e "$q" ] && rxq=$((rxq + 1)); done
txq=0
for q in /sys/class/net/eth0/queues/tx-*; do [ -e "$q" ] && txq=$((txq + 1)); done
result queues "rx=$rxq tx=$txq"
result offloads "$(ethtool -k eth0 | awk '/^(tx-checksumming|rx-checksumming|tcp-segmentation-offload|generic-receive-offload):/ { sub(":", "", $1); printf "%s%s=%s", sep, $1, $2; sep = "," }')"

# The link may report down for a moment after the back-end connects.
n=0
while [ "$(cat /sys/class/net/eth0/operstate)" != up ]; do
	n=$((n + 1))
	[ $n -gt 50 ] && break
	sleep 0.1
done
result link "$(cat /sys/class/net/eth0/operstate)"

# Other jobs live in tests/qemu/jobs/JOB.sh (installed as /jobs/JOB.sh): sourced here,
# with result/say/fail and the parameters above, after eth0 is up.
if [ -f "/jobs/$JOB.sh" ]; then
	. "/jobs/$JOB.sh"
	finish
fi

if [ "$JOB" = demo ]; then
	say "ping -c 5 -i 0.2 $PEER"
	ping -c 5 -i 0.2 -W 2 "$PEER" | tee /tmp/ping.out
else
	ping -c 5 -i 0.2 -W 2 "$PEER" >/tmp/ping.out 2>&1
fi
got=$(awk '/packets transmitted/ { print $4 }' /tmp/ping.out)
if [ "${got:-0}" -gt 0 ]; then
	result ping "ok received=$got/5"
else
	cat /tmp/ping.out
	fail ping "no replies from $PEER"
fi

[ "$JOB" = demo ] && say "iperf3 -c $PEER -t $TIME (guest sends)"
run_iperf tx
[ "$JOB" = demo ] && say "iperf3 -c $PEER -t $TIME -R (guest receives)"
run_iperf rx -R

if [ "$QUEUES" -gt 1 ]; then
	# Per-queue packet counters from virtio_net: every queue should have moved
	# traffic when several parallel streams ran in both directions.
	ethtool -S eth0 | awk '/[rt]x_queue_[0-9]+_packets:/ { sub(":", "", $1); printf "%s%s=%s", sep, $1, $2; sep = " " } END { print "" }' >/tmp/qstats
	result queue-stats "$(cat /tmp/qstats)"
fi

s=/sys/class/net/eth0/statistics
result guest-stats "rx_packets=$(cat $s/rx_packets) tx_packets=$(cat $s/tx_packets) rx_errors=$(cat $s/rx_errors) tx_errors=$(cat $s/tx_errors) rx_dropped=$(cat $s/rx_dropped)"
finish
