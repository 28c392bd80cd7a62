/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzzes the vhost-user message stream (framing, message table, handlers) the way a front-end
 * reaches it: bytes and fds through a socketpair into vu_dev_on_readable(), in small chunks so
 * that messages arrive split at every possible point (after systemd's fuzz-varlink).
 *
 * Input: a 16-bit little-endian length L, then L bytes of stream, then guest memory (the rest,
 * copied to the start of a 64 KiB memfd, so rings mapped through SET_MEM_TABLE hold fuzzer
 * bytes; started rings are popped after every chunk). The stream is a list of chunks, each a
 * control byte and then its bytes:
 *   bits 0-4: chunk length - 1 (1..32 bytes)   bits 5-6: fds sent with it (0..3)
 *   bit 7: kind of those fds (0: the guest-memory memfd, 1: an eventfd)
 * When the device drops the connection, the harness reconnects (as a front-end would) and goes
 * on with the rest of the stream.
 *
 * Checked: no crash or sanitizer report, and no fd leaked once the device is freed. Rings that
 * run have their writable buffers filled and logged (when a dirty log is set), as receive does.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "vhost/dev.h"
#include "vhost/proto.h"

#define MEMFD_SIZE (64 * 1024)
#define FEATURES                                                                                   \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |                    \
	 (1ull << VIRTIO_RING_F_EVENT_IDX))

static int memfd = -1, evfd = -1;

/* Number of open fds of this process. */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Opens a fresh connection to dev; returns the front-end's end, or -1. */
static int connect_dev(struct vu_dev *dev)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	vu_dev_attach(dev, sv[0]);
	return sv[1];
}

/* Sends one chunk with nfds copies of fd; returns 0 or -1 (the device is not reading). */
static int send_chunk(int sock, const uint8_t *buf, size_t len, int fd, unsigned nfds)
{
	char control[CMSG_SPACE(sizeof(int) * 3)] = { 0 };
	struct iovec v = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &v, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c;

		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		for (unsigned i = 0; i < nfds; i++)
			memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)len ? 0 : -1;
}

/* Reads and drops whatever the device replied, so its replies never block. */
static void drain(int sock)
{
	uint8_t buf[4096];

	while (recv(sock, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
	}
}

/* Pops, pushes and flushes a few chains on every ring that is live, as the data path would. */
static void run_rings(struct vu_dev *dev)
{
	static struct iovec iov[VIRTQ_MAX_IOV];

	for (unsigned i = 0; i < dev->nvrings; i++) {
		struct virtq *vq = &dev->ring[i].vq;
		struct virtq_chain ch;

		if (!dev->ring[i].started || !virtq_ready(vq))
			continue;
		for (unsigned k = 0; k < 8 && virtq_pop(vq, iov, VIRTQ_MAX_IOV, &ch) == 1; k++) {
			FUZZ_CHECK(ch.out_iov + ch.in_iov <= VIRTQ_MAX_IOV);
			log_debug("fuzz: ring %u: chain %u, %u+%u bytes", i, ch.head, ch.out_len,
				  ch.in_len);
			/* As a receive path would: write into the chain (and log it), then push. */
			for (unsigned k2 = ch.out_iov; k2 < ch.out_iov + ch.in_iov; k2++)
				memset(iov[k2].iov_base, 0xab, iov[k2].iov_len);
			virtq_log_write(vq, iov + ch.out_iov, ch.in_iov, ch.in_len);
			virtq_push(vq, ch.head, ch.in_len);
		}
		virtq_flush_notify(vq);
		virtq_enable_notify(vq);
	}
}

/* SEND_RARP hook: the device model's part is not fuzzed here, only the message's checks. */
static int announce(void *opaque, const uint8_t mac[6])
{
	FUZZ_CHECK(!(mac[0] & 1));
	return 0;
}

static const struct vu_dev_ops fuzz_ops = { .announce = announce };

/* Runs one input (format at the top) against a fresh device and checks no fd leaked. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vu_dev dev;
	const uint8_t *guest;
	size_t i, guest_len;
	int fds_before, sock;

	if (size < 2)
		return 0;
	i = (size_t)(data[0] | data[1] << 8);
	guest = data + 2 + (i < size - 2 ? i : size - 2);
	guest_len = (size_t)(data + size - guest);
	size = (size_t)(guest - data);
	i = 2;

	fuzz_quiet_logs();
	if (memfd < 0) {
		memfd = memfd_create("fuzz-guest", MFD_CLOEXEC);
		evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		FUZZ_CHECK(memfd >= 0 && evfd >= 0);
	}
	/* Same guest memory for the same input: reset it, then put the input in. */
	FUZZ_CHECK(ftruncate(memfd, 0) == 0 && ftruncate(memfd, MEMFD_SIZE) == 0);
	FUZZ_CHECK(pwrite(memfd, guest, guest_len < MEMFD_SIZE ? guest_len : MEMFD_SIZE, 0) >= 0);

	fds_before = count_fds();
	FUZZ_CHECK(vu_dev_init(&dev, "fuzz", 2, FEATURES, &fuzz_ops, NULL) == 0);
	sock = connect_dev(&dev);
	FUZZ_CHECK(sock >= 0);
	while (i < size) {
		uint8_t ctl = data[i++];
		size_t len = (ctl & 31u) + 1;
		unsigned nfds = (ctl >> 5) & 3u;

		if (len > size - i)
			len = size - i;
		if (len == 0)
			break;
		if (send_chunk(sock, data + i, len, ctl & 0x80 ? evfd : memfd, nfds) < 0)
			break;
		i += len;
		if (vu_dev_on_readable(&dev) < 0) {
			/* Dropped: reconnect like a front-end and keep going. */
			vu_dev_detach(&dev);
			close(sock);
			sock = connect_dev(&dev);
			FUZZ_CHECK(sock >= 0);
			continue;
		}
		drain(sock);
		run_rings(&dev);
	}
	vu_dev_free(&dev);
	close(sock);
	FUZZ_CHECK(count_fds() == fds_before);
	return 0;
}
