// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tapinject: send exactly N Ethernet frames out of one interface through an AF_PACKET socket.
 *
 * The DPDK interop test uses it to push a known number of frames into vhostd's tap, so that
 * the frames reach the guest (here: testpmd through virtio-user) and can be counted there.
 * Every frame is IPv4/UDP from 198.18.0.2 to 198.18.0.1 (the benchmarking range), addressed
 * to a fixed locally administered unicast MAC, UDP destination port 9 (discard), with a payload
 * that starts with the magic "vhostd-tapinject" and a big-endian sequence number. The UDP
 * source port cycles through -f FLOWS values so that a multi-queue tap spreads the frames over
 * its queues by flow hash.
 *
 * Only frames the kernel accepted are counted: sendmmsg() may accept part of a batch, and
 * ENOBUFS (qdisc full) means the frame was not sent, so it is retried after a short back-off.
 * The exit status is 0 only if all N frames were accepted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
	ETH_HDR_LEN = 14,
	IP4_HDR_LEN = 20,
	UDP_HDR_LEN = 8,
	HDRS_LEN = ETH_HDR_LEN + IP4_HDR_LEN + UDP_HDR_LEN,
	MAGIC_LEN = 16,
	SEQ_LEN = 4,
	FRAME_MIN = 60, /* shortest Ethernet frame without FCS */
	FRAME_MAX = 9216,
	BATCH_MAX = 64,
	UDP_SRC_BASE = 10000,
	UDP_DST_PORT = 9,
	RETRY_DEADLINE_MS = 10000,
};

static const char magic[MAGIC_LEN] = "vhostd-tapinject";
static const uint8_t default_dst[ETH_ALEN] = { 0x02, 0x76, 0x68, 0x64, 0x00, 0x02 };
static const uint8_t src_mac[ETH_ALEN] = { 0x02, 0x76, 0x68, 0x64, 0x00, 0x01 };

struct options {
	const char *ifname;
	unsigned long count;
	unsigned int size;
	unsigned int flows;
	uint8_t dst[ETH_ALEN];
};

/* Prints the command line summary to f. */
static void usage(FILE *f)
{
	fprintf(f,
		"usage: tapinject -i IFNAME -n COUNT [-s SIZE] [-f FLOWS] [-d DSTMAC]\n"
		"  -i IFNAME  interface to send on (in the current network namespace)\n"
		"  -n COUNT   number of frames to send, all of which must be accepted\n"
		"  -s SIZE    frame length without FCS, %d..%d (default 64)\n"
		"  -f FLOWS   number of distinct UDP source ports to cycle through (default 1)\n"
		"  -d DSTMAC  destination MAC (default 02:76:68:64:00:02)\n",
		FRAME_MIN, FRAME_MAX);
}

/* Parses a decimal number in [min, max] into *ret; returns 0 or -EINVAL, *ret untouched then. */
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

/* Parses "xx:xx:xx:xx:xx:xx" into ret; returns 0 or -EINVAL, ret untouched then. */
static int parse_mac(const char *s, uint8_t ret[ETH_ALEN])
{
	unsigned int b[ETH_ALEN];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != ETH_ALEN)
		return -EINVAL;
	for (int i = 0; i < ETH_ALEN; i++)
		ret[i] = (uint8_t)b[i];
	return 0;
}

/* Fills *ret from argv; returns 0, or -EINVAL after printing why (usage included). */
static int parse_options(int argc, char **argv, struct options *ret)
{
	struct options o = { .size = 64, .flows = 1 };
	unsigned long v;
	int c;

	memcpy(o.dst, default_dst, ETH_ALEN);
	while ((c = getopt(argc, argv, "i:n:s:f:d:h")) != -1) {
		switch (c) {
		case 'i':
			if (strlen(optarg) == 0 || strlen(optarg) >= IFNAMSIZ)
				goto bad;
			o.ifname = optarg;
			break;
		case 'n':
			if (parse_ulong(optarg, 1, ULONG_MAX, &o.count) < 0)
				goto bad;
			break;
		case 's':
			if (parse_ulong(optarg, FRAME_MIN, FRAME_MAX, &v) < 0)
				goto bad;
			o.size = (unsigned int)v;
			break;
		case 'f':
			if (parse_ulong(optarg, 1, 65535 - UDP_SRC_BASE, &v) < 0)
				goto bad;
			o.flows = (unsigned int)v;
			break;
		case 'd':
			if (parse_mac(optarg, o.dst) < 0)
				goto bad;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		default:
			goto bad;
		}
	}
	if (optind != argc || !o.ifname || o.count == 0)
		goto bad;
	*ret = o;
	return 0;
bad:
	usage(stderr);
	return -EINVAL;
}

/* Returns the Internet checksum (RFC 1071) of len bytes at p, in network byte order. */
static uint16_t inet_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* Stores v big-endian at p (p need not be aligned). */
static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Stores v big-endian at p (p need not be aligned). */
static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

/*
 * Writes frame number seq (o->size bytes) into buf: the headers, the magic, the sequence
 * number and a byte pattern up to the end. The UDP checksum is left 0 (allowed for IPv4).
 */
static void build_frame(const struct options *o, uint32_t seq, uint8_t *buf)
{
	uint8_t *ip = buf + ETH_HDR_LEN;
	uint8_t *udp = ip + IP4_HDR_LEN;
	uint8_t *payload = udp + UDP_HDR_LEN;
	size_t ip_len = o->size - ETH_HDR_LEN;
	uint16_t csum;

	memset(buf, 0, o->size);
	memcpy(buf, o->dst, ETH_ALEN);
	memcpy(buf + ETH_ALEN, src_mac, ETH_ALEN);
	put_be16(buf + 2 * ETH_ALEN, ETHERTYPE_IP);

	ip[0] = 0x45; /* version 4, 5 words of header */
	put_be16(ip + 2, (uint16_t)ip_len);
	put_be16(ip + 4, (uint16_t)seq); /* identification */
	put_be16(ip + 6, 0x4000);	 /* don't fragment */
	ip[8] = 64;			 /* ttl */
	ip[9] = IPPROTO_UDP;
	put_be32(ip + 12, 0xc6120002); /* 198.18.0.2 */
	put_be32(ip + 16, 0xc6120001); /* 198.18.0.1 */
	csum = inet_csum(ip, IP4_HDR_LEN);
	memcpy(ip + 10, &csum, sizeof(csum)); /* already in network order */

	put_be16(udp, (uint16_t)(UDP_SRC_BASE + seq % o->flows));
	put_be16(udp + 2, UDP_DST_PORT);
	put_be16(udp + 4, (uint16_t)(ip_len - IP4_HDR_LEN));

	/* The minimum frame (60) leaves 18 bytes of payload: room for magic and sequence. */
	memcpy(payload, magic, MAGIC_LEN);
	put_be32(payload + MAGIC_LEN, seq);
	for (size_t i = HDRS_LEN + MAGIC_LEN + SEQ_LEN; i < o->size; i++)
		buf[i] = (uint8_t)i;
}

/* Returns a monotonic timestamp in milliseconds. */
static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Sleeps for us microseconds; a signal may cut it short, which only means an earlier retry. */
static void pause_us(unsigned int us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

/*
 * Opens an AF_PACKET socket that can send on o->ifname and receives nothing (protocol 0), and
 * fills *ret_addr with the link-layer destination. Returns the fd or a negative errno.
 */
static int open_packet_socket(const struct options *o, struct sockaddr_ll *ret_addr)
{
	struct sockaddr_ll addr = { .sll_family = AF_PACKET };
	unsigned int ifindex;
	int fd, r;

	ifindex = if_nametoindex(o->ifname);
	if (ifindex == 0)
		return -errno;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	addr.sll_ifindex = (int)ifindex;
	/* Protocol 0 in bind: the socket is bound to the device but hooks no receive path. */
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		r = -errno;
		goto close_fd;
	}
	addr.sll_halen = ETH_ALEN;
	memcpy(addr.sll_addr, o->dst, ETH_ALEN);
	*ret_addr = addr;
	return fd;
close_fd:
	close(fd);
	return r;
}

/*
 * Sends frames [first, first + n) (n <= BATCH_MAX) on fd, retrying what the kernel did not
 * accept, and adds each accepted frame to *sent as it goes (so a failure still tells how far
 * it got). Returns 0 when all n were accepted, else a negative errno.
 */
static int send_batch(int fd, const struct options *o, struct sockaddr_ll *addr, uint32_t first,
		      unsigned int n, uint8_t *frames, unsigned long *sent)
{
	struct mmsghdr msgs[BATCH_MAX];
	struct iovec iovs[BATCH_MAX];
	unsigned int done = 0, backoff_us = 50;
	uint64_t deadline = 0;

	for (unsigned int i = 0; i < n; i++) {
		uint8_t *buf = frames + (size_t)i * o->size;

		build_frame(o, first + i, buf);
		iovs[i] = (struct iovec){ .iov_base = buf, .iov_len = o->size };
		msgs[i] = (struct mmsghdr){ .msg_hdr = {
						    .msg_name = addr,
						    .msg_namelen = sizeof(*addr),
						    .msg_iov = &iovs[i],
						    .msg_iovlen = 1,
					    } };
	}

	while (done < n) {
		int r = sendmmsg(fd, msgs + done, n - done, 0);

		if (r > 0) {
			/* Progress: the kernel took r frames; forget any earlier back-off. */
			done += (unsigned int)r;
			*sent += (unsigned int)r;
			backoff_us = 50;
			deadline = 0;
			continue;
		}
		if (r == 0)
			errno = EIO; /* no progress and no reason: treat as a failure */
		if (errno == EINTR)
			continue;
		if (errno != ENOBUFS && errno != EAGAIN)
			return -errno;
		/*
		 * The device queue is full and the frame was dropped, not queued. There is no
		 * event for "queue has room again", so back off briefly, up to a deadline.
		 */
		if (deadline == 0)
			deadline = now_ms() + RETRY_DEADLINE_MS;
		else if (now_ms() > deadline)
			return -ENOBUFS;
		pause_us(backoff_us);
		if (backoff_us < 10000)
			backoff_us *= 2;
	}
	return 0;
}

/*
 * Sends o->count frames, adding each accepted one to *sent. Returns 0 when all were accepted,
 * else a negative errno.
 */
static int run(const struct options *o, unsigned long *sent)
{
	struct sockaddr_ll addr;
	uint8_t *frames;
	int fd, r = 0;

	frames = malloc((size_t)BATCH_MAX * o->size);
	if (!frames)
		return -ENOMEM;
	fd = open_packet_socket(o, &addr);
	if (fd < 0) {
		r = fd;
		goto free_frames;
	}
	while (*sent < o->count) {
		unsigned long left = o->count - *sent;
		unsigned int n = left < BATCH_MAX ? (unsigned int)left : BATCH_MAX;

		r = send_batch(fd, o, &addr, (uint32_t)*sent, n, frames, sent);
		if (r < 0)
			break;
	}
	close(fd);
free_frames:
	free(frames);
	return r;
}

/* Entry point: exit status 0 only if every requested frame was accepted by the kernel. */
int main(int argc, char **argv)
{
	struct options o;
	unsigned long sent = 0;
	int r;

	if (parse_options(argc, argv, &o) < 0)
		return 2;
	r = run(&o, &sent);
	printf("tapinject: sent=%lu requested=%lu size=%u ifname=%s\n", sent, o.count, o.size,
	       o.ifname);
	if (r < 0) {
		fprintf(stderr, "tapinject: %s: %s\n", o.ifname, strerror(-r));
		return 1;
	}
	return sent == o.count ? 0 : 1;
}
