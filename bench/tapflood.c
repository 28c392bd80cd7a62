// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tapflood: send Ethernet frames out of one interface as fast as the kernel takes them, for a
 * fixed time or until SIGTERM/SIGINT, and print how many the kernel accepted.
 *
 * The benchmark (bench/run.sh) runs it inside its network namespace against the tap of the
 * back-end under test: every frame the sender pushes out of the tap lands in the tap's queue,
 * where the back-end (vhostd or DPDK's net_tap) reads it and hands it to the guest. The rate
 * is measured on the guest side (testpmd rxonly), not here; this tool only has to be fast.
 *
 * One AF_PACKET socket with PACKET_QDISC_BYPASS (no qdisc between the socket and tun's ring),
 * sendmmsg() of BATCH identical IPv4/UDP frames (198.18.0.2 -> 198.18.0.1, UDP port 9) per
 * call, then a sleep of -w microseconds after every call. The bench runs it with SCHED_FIFO
 * (chrt) on the front-end's CPU, because a two-CPU machine has no third one: as a real-time
 * task that sleeps after every batch it takes the CPU back within microseconds and gives it up
 * just as regularly, so the front-end (testpmd, which never sleeps) runs in short, frequent gaps
 * and always refills its 256-entry receive ring in time. Under the normal scheduler both would
 * get millisecond slices, the ring would overflow during every one of the sender's, and the
 * rate would be capped at one ring per slice whatever the back-end does.
 *
 * When tun's ring is full the kernel refuses the frame (ENOBUFS, or a short count): the
 * back-end is behind, which is what the bench wants (the bench sets txqueuelen 10000 so that
 * the back-end never runs dry between two batches). The summary line reports how many calls
 * found the ring full: if hardly any did, the sender, not the back-end, set the rate.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
	ETH_HDR_LEN = 14,
	IP4_HDR_LEN = 20,
	UDP_HDR_LEN = 8,
	FRAME_MIN = 60,
	FRAME_MAX = 9216,
	BATCH_MAX = 1024,
	WAIT_MAX_US = 100000,
};

static const uint8_t dst_mac[ETH_ALEN] = { 0x02, 0x76, 0x68, 0x64, 0x00, 0x02 };
static const uint8_t src_mac[ETH_ALEN] = { 0x02, 0x76, 0x68, 0x64, 0x00, 0x01 };

static volatile sig_atomic_t stop;

/* SIGTERM/SIGINT/SIGALRM: finish the current call, then report and exit. */
static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: tapflood -i IFNAME [-s SIZE] [-t SECONDS] [-b BATCH] [-w USEC]\n"
		   "  -i IFNAME   interface to send on (in the current network namespace)\n"
		   "  -s SIZE     frame length without FCS, 60..9216 (default 64)\n"
		   "  -t SECONDS  stop after this long (default: run until SIGTERM)\n"
		   "  -b BATCH    frames per sendmmsg() call, 1..1024 (default 64)\n"
		   "  -w USEC     sleep after every call, 0..100000 (default 10; 0: never)\n");
}

/* Parses a decimal number in [min, max]; returns 0 or -EINVAL. */
static int parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t inet_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* Writes one size-byte IPv4/UDP frame into buf. */
static void build_frame(uint8_t *buf, size_t size)
{
	uint8_t *ip = buf + ETH_HDR_LEN, *udp = ip + IP4_HDR_LEN;
	size_t ip_len = size - ETH_HDR_LEN;
	uint16_t csum;

	memset(buf, 0, size);
	memcpy(buf, dst_mac, ETH_ALEN);
	memcpy(buf + ETH_ALEN, src_mac, ETH_ALEN);
	put_be16(buf + 2 * ETH_ALEN, ETHERTYPE_IP);
	ip[0] = 0x45;
	put_be16(ip + 2, (uint16_t)ip_len);
	put_be16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = IPPROTO_UDP;
	memcpy(ip + 12, (const uint8_t[]){ 198, 18, 0, 2 }, 4);
	memcpy(ip + 16, (const uint8_t[]){ 198, 18, 0, 1 }, 4);
	csum = inet_csum(ip, IP4_HDR_LEN);
	memcpy(ip + 10, &csum, sizeof(csum));
	put_be16(udp, 10000);
	put_be16(udp + 2, 9);
	put_be16(udp + 4, (uint16_t)(ip_len - IP4_HDR_LEN));
	for (size_t i = ETH_HDR_LEN + IP4_HDR_LEN + UDP_HDR_LEN; i < size; i++)
		buf[i] = (uint8_t)i;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static struct mmsghdr msgs[BATCH_MAX];
	struct sockaddr_ll addr = { .sll_family = AF_PACKET };
	const char *ifname = NULL;
	unsigned long size = 64, secs = 0, batch = 64, wait_us = 10, v;
	unsigned long long accepted = 0, calls = 0, full = 0;
	struct timespec pause;
	struct sigaction sa = { .sa_handler = on_signal };
	struct iovec iov;
	uint8_t *frame;
	double t0, t1;
	int c, fd, one = 1;

	while ((c = getopt(argc, argv, "i:s:t:b:w:h")) != -1) {
		switch (c) {
		case 'i':
			ifname = optarg;
			break;
		case 's':
			if (parse_ulong(optarg, FRAME_MIN, FRAME_MAX, &v) < 0)
				goto bad;
			size = v;
			break;
		case 't':
			if (parse_ulong(optarg, 1, 86400, &v) < 0)
				goto bad;
			secs = v;
			break;
		case 'b':
			if (parse_ulong(optarg, 1, BATCH_MAX, &v) < 0)
				goto bad;
			batch = v;
			break;
		case 'w':
			if (parse_ulong(optarg, 0, WAIT_MAX_US, &v) < 0)
				goto bad;
			wait_us = v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (!ifname || optind != argc || strlen(ifname) >= IFNAMSIZ)
		goto bad;

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	if (secs)
		alarm((unsigned int)secs);

	frame = malloc(size);
	if (!frame)
		return 1;
	build_frame(frame, size);
	addr.sll_ifindex = (int)if_nametoindex(ifname);
	if (addr.sll_ifindex == 0) {
		fprintf(stderr, "tapflood: %s: %s\n", ifname, strerror(errno));
		return 1;
	}
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		fprintf(stderr, "tapflood: AF_PACKET socket on %s: %s\n", ifname, strerror(errno));
		return 1;
	}
	/* Straight to the driver: tun's own ring is the only queue. */
	if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0)
		fprintf(stderr, "tapflood: PACKET_QDISC_BYPASS: %s (going through the qdisc)\n",
			strerror(errno));
	addr.sll_halen = ETH_ALEN;
	memcpy(addr.sll_addr, dst_mac, ETH_ALEN);
	iov = (struct iovec){ .iov_base = frame, .iov_len = size };
	for (unsigned long i = 0; i < batch; i++)
		msgs[i].msg_hdr = (struct msghdr){
			.msg_name = &addr,
			.msg_namelen = sizeof(addr),
			.msg_iov = &iov,
			.msg_iovlen = 1,
		};

	pause = (struct timespec){ .tv_nsec = (long)wait_us * 1000 };
	/* Sleep what was asked, not the default 50 us of timer slack on top. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	t0 = now_s();
	while (!stop) {
		int r = sendmmsg(fd, msgs, (unsigned int)batch, 0);

		calls++;
		if (r > 0)
			accepted += (unsigned int)r;
		if (r < 0 && errno != EINTR && errno != ENOBUFS && errno != EAGAIN) {
			fprintf(stderr, "tapflood: sendmmsg: %s\n", strerror(errno));
			return 1;
		}
		/* A refused frame (ENOBUFS, or a short count) means tun's ring is full. */
		if ((r >= 0 && (unsigned long)r < batch) || (r < 0 && errno != EINTR))
			full++;
		if (wait_us)
			nanosleep(&pause, NULL);
	}
	t1 = now_s();
	printf("tapflood: if=%s size=%lu seconds=%.3f accepted=%llu calls=%llu queue_full=%llu "
	       "accepted_mpps=%.3f\n",
	       ifname, size, t1 - t0, accepted, calls, full, (double)accepted / (t1 - t0) / 1e6);
	close(fd);
	free(frame);
	return 0;
bad:
	usage(stderr);
	return 2;
}
