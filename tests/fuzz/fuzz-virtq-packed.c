/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzzes the packed-ring walker: the input is guest memory holding a packed ring (descriptor
 * ring, driver and device event areas) and whatever its descriptors point at, behind a header.
 * As in fuzz-virtq.c, the ring sits in one region and the rest of memory can be sliced into
 * separately allocated regions (down to one byte) with optional holes.
 *
 * Header (8 bytes):
 *   [0]    ring size: 1 + b (packed rings need not be powers of two)
 *   [1]    bit 0 INDIRECT_DESC, bit 1 EVENT_IDX, bit 2 holes, bit 3 a call eventfd, bit 4 burst
 *          pops first, bit 5 IN_ORDER, bit 6 give chains back (unpop) and take them again,
 *          bit 7 complete every other chain one step late (out of order)
 *   [2]    data slice size in bytes (0: one region)
 *   [3]    iovecs per pop (0: VIRTQ_MAX_IOV)
 *   [4..7] ring state as SET_VRING_BASE carries it, little-endian (an out-of-range slot is
 *          refused by virtq_map(): nothing else is run)
 * Guest memory (gpa 0) is the rest of the input, zero-padded to hold the ring: descriptors at 0,
 * the driver area at 16 * num, the device area 4 bytes after it.
 *
 * Checked on every pop: the iovecs stay within max and add up to the reported lengths, every
 * byte of them is readable (and the writable ones writable), the id is in range and not in
 * flight, a refused chain marks the ring broken with exactly one fault and moves nothing,
 * -ENOBUFS consumes nothing, a chain given back comes again with the same id and lengths.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fuzz.h"
#include "util/iov.h"
#include "virtq/virtq.h"
#include "virtq/vmem.h"

#define MAX_MEM	  (256 * 1024)
#define TOUCH_CAP (8u << 20) /* bytes of buffers touched per input */
#define MAX_NUM	  256

static struct fuzz_guest g;
static struct iovec iov[VIRTQ_MAX_IOV];
static int call_fd = -1;
static bool in_flight[MAX_NUM];

/* Completes chain `id` (the engine promised it was in flight). */
static void complete(struct virtq *vq, uint16_t id, uint32_t len)
{
	FUZZ_CHECK(id < vq->num && in_flight[id]);
	in_flight[id] = false;
	virtq_push(vq, id, len);
}

/*
 * Pops once and checks what the engine promised; with `unpop`, gives the chain back and checks
 * that it comes again. Returns the pop's result (an -ENOBUFS is retried once with every iovec).
 */
static int pop_checked(struct virtq *vq, unsigned *max_iov, bool unpop, struct virtq_chain *ret)
{
	struct virtq_chain ch;
	uint32_t pos = virtq_position(vq);
	int r;

	memset(&ch, 0xee, sizeof(ch));
	r = virtq_pop(vq, iov, *max_iov, &ch);
	if (r == -ENOBUFS) {
		FUZZ_CHECK(!vq->broken && vq->faults == 0 && virtq_position(vq) == pos);
		if (*max_iov == VIRTQ_MAX_IOV)
			return r;
		*max_iov = VIRTQ_MAX_IOV;
		return pop_checked(vq, max_iov, unpop, ret);
	}
	if (r < 0) {
		FUZZ_CHECK(vq->broken && vq->faults == 1 && virtq_position(vq) == pos);
		FUZZ_CHECK(virtq_pop(vq, iov, *max_iov, &ch) == 0);
		return r;
	}
	FUZZ_CHECK(!vq->broken && vq->faults == 0);
	if (r == 0) {
		FUZZ_CHECK(virtq_position(vq) == pos);
		return r;
	}
	FUZZ_CHECK(r == 1 && virtq_position(vq) != pos);
	FUZZ_CHECK(ch.head < vq->num && !in_flight[ch.head]);
	FUZZ_CHECK(ch.out_iov + ch.in_iov <= *max_iov);
	FUZZ_CHECK(iov_size(iov, ch.out_iov) == ch.out_len);
	FUZZ_CHECK(iov_size(iov + ch.out_iov, ch.in_iov) == ch.in_len);
	if (unpop) {
		struct virtq_chain again;

		virtq_unpop(vq, 1);
		FUZZ_CHECK(virtq_position(vq) == pos);
		FUZZ_CHECK(virtq_pop(vq, iov, *max_iov, &again) == 1);
		FUZZ_CHECK(again.head == ch.head && again.out_len == ch.out_len &&
			   again.in_len == ch.in_len);
	}
	in_flight[ch.head] = true;
	*ret = ch;
	return r;
}

/* Pops a burst with the fast path and checks its promises; completes the chains. */
static unsigned burst_checked(struct virtq *vq, unsigned max, size_t *budget)
{
	static struct virtq_chain bch[VIRTQ_BURST_MAX];
	unsigned n = virtq_pop_burst(vq, iov, bch, max);

	FUZZ_CHECK(n <= max && !vq->broken && vq->faults == 0);
	for (unsigned i = 0; i < n; i++) {
		FUZZ_CHECK(bch[i].head < vq->num && !in_flight[bch[i].head]);
		FUZZ_CHECK(bch[i].out_iov + bch[i].in_iov == 1);
		FUZZ_CHECK(bch[i].out_len + bch[i].in_len == iov[i].iov_len && iov[i].iov_len > 0);
		fuzz_touch(&bch[i], iov + i, budget);
		in_flight[bch[i].head] = true;
	}
	for (unsigned i = 0; i < n; i++)
		complete(vq, bch[i].head, bch[i].in_len);
	return n;
}

/* Builds guest memory from one input (format at the top) and pops until empty or broken. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t guest[MAX_MEM];
	struct virtq vq;
	struct virtq_chain late = { 0 };
	uint32_t num, ring_end, base;
	unsigned max_iov;
	uint64_t slice;
	size_t mem_len, budget = TOUCH_CAP;
	bool holes, have_late = false;
	int r;

	if (size < 8)
		return 0;
	fuzz_quiet_logs();
	if (call_fd < 0)
		call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	num = 1u + data[0];
	slice = data[2];
	holes = data[1] & 4;
	max_iov = data[3] ? data[3] : VIRTQ_MAX_IOV;
	base = (uint32_t)data[4] | (uint32_t)data[5] << 8 | (uint32_t)data[6] << 16 |
	       (uint32_t)data[7] << 24;
	ring_end = 16 * num + 8;

	mem_len = size - 8 < MAX_MEM ? size - 8 : MAX_MEM;
	memset(guest, 0, ring_end > mem_len ? ring_end : mem_len);
	memcpy(guest, data + 8, mem_len);
	if (mem_len < ring_end)
		mem_len = ring_end;

	fuzz_guest_build(&g, guest, mem_len, ring_end, slice, holes);
	memset(in_flight, 0, sizeof(in_flight));

	fuzz_packed_vq(&vq, &g.mem, num,
		       (data[1] & 1 ? 1ull << VIRTIO_RING_F_INDIRECT_DESC : 0) |
			       (data[1] & 2 ? 1ull << VIRTIO_RING_F_EVENT_IDX : 0) |
			       (data[1] & 32 ? 1ull << VIRTQ_F_IN_ORDER : 0),
		       data[1] & 8 ? call_fd : -1);
	r = virtq_map(&vq, base);
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL &&
			   ((base & 0x7fff) >= num || ((base >> 16) & 0x7fff) >= num));
		FUZZ_CHECK(!vq.desc);
		goto out;
	}

	for (unsigned round = 0; round < 2 * num + 4; round++) {
		struct virtq_chain ch;

		/* Flag 16: the fast path first, as the data path does; the walker for the rest. */
		if ((data[1] & 16) && burst_checked(&vq, (round % VIRTQ_BURST_MAX) + 1, &budget))
			continue;
		r = pop_checked(&vq, &max_iov, (data[1] & 64) && round % 2, &ch);
		if (r != 1)
			break;
		fuzz_touch(&ch, iov, &budget);
		/* Flag 128: every other chain waits for the next one (completion out of order). */
		if ((data[1] & 128) && !have_late) {
			late = ch;
			have_late = true;
		} else {
			complete(&vq, ch.head, ch.in_len);
			if (have_late)
				complete(&vq, late.head, late.in_len);
			have_late = false;
		}
		if (round % 3 == 2)
			virtq_flush_notify(&vq);
		if (round % 5 == 4)
			virtq_disable_notify(&vq);
		if (round % 7 == 6 && virtq_enable_notify(&vq))
			FUZZ_CHECK(virtq_has_work(&vq));
	}
	if (have_late && virtq_ready(&vq))
		complete(&vq, late.head, late.in_len);
	virtq_flush_notify(&vq);
	if (virtq_ready(&vq)) {
		uint32_t b = virtq_base(&vq);

		FUZZ_CHECK((b & 0x7fff) < num && ((b >> 16) & 0x7fff) < num);
		virtq_enable_notify(&vq);
		virtq_disable_notify(&vq);
		virtq_has_work(&vq);
		virtq_avail_position(&vq);
	}
out:
	virtq_free(&vq);
	fuzz_guest_free(&g);
	fuzz_drain(call_fd);
	return 0;
}
