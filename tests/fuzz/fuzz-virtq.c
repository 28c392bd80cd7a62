/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzzes the descriptor walker: the input is guest memory holding a split ring (descriptor
 * table, avail and used rings) and whatever the descriptors point at, behind a small header.
 * The ring sits in one region; the rest of memory can be sliced into separately allocated
 * regions (down to one byte each) with optional holes, so every translation and indirect-table
 * copy crosses region edges and any byte read outside a region is an ASan report.
 *
 * Header (8 bytes):
 *   [0]    ring size: 1 << (b % 9)
 *   [1]    bit 0 INDIRECT_DESC, bit 1 EVENT_IDX, bit 2 holes (every other data slice is left
 *          unmapped), bit 3 a call eventfd to signal, bit 4 burst pops (virtq_pop_burst()
 *          first, the walker when it takes nothing, as the data path does)
 *   [2]    data slice size in bytes (0: the data is one region)
 *   [3]    iovecs per pop (0: VIRTQ_MAX_IOV)
 *   [4..5] start index, little-endian; [6] burst size - 1 (mod VIRTQ_BURST_MAX); [7] unused
 * Guest memory (gpa 0, front-end address gpa + FUZZ_UVA) is the rest of the input, zero-padded
 * to hold the rings: desc at 0, avail at 16 * num, used at the next 4-byte boundary after avail.
 *
 * Checked on every pop: the iovecs stay within max and add up to the reported lengths, every
 * byte of them is readable (and the writable ones writable), a refused chain marks the ring
 * broken with exactly one fault, -ENOBUFS consumes nothing; a burst never breaks the ring and
 * yields one non-empty buffer per chain.
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

static struct fuzz_guest g;
static struct iovec iov[VIRTQ_MAX_IOV];
static int call_fd = -1;

/*
 * Pops once and checks what the engine promised. Returns the pop's result, after retrying an
 * -ENOBUFS once with every iovec; *max_iov is raised to VIRTQ_MAX_IOV then.
 */
static int pop_checked(struct virtq *vq, unsigned *max_iov, size_t *budget)
{
	struct virtq_chain ch;
	uint16_t last = vq->last_avail;
	int r;

	memset(&ch, 0xee, sizeof(ch));
	r = virtq_pop(vq, iov, *max_iov, &ch);
	if (r == -ENOBUFS) {
		FUZZ_CHECK(!vq->broken && vq->faults == 0 && vq->last_avail == last);
		if (*max_iov == VIRTQ_MAX_IOV)
			return r;
		*max_iov = VIRTQ_MAX_IOV;
		return pop_checked(vq, max_iov, budget);
	}
	if (r < 0) {
		FUZZ_CHECK(vq->broken && vq->faults == 1 && vq->last_avail == last);
		FUZZ_CHECK(virtq_pop(vq, iov, *max_iov, &ch) == 0);
		return r;
	}
	FUZZ_CHECK(!vq->broken && vq->faults == 0);
	if (r == 0) {
		FUZZ_CHECK(vq->last_avail == last);
		return r;
	}
	FUZZ_CHECK(r == 1);
	FUZZ_CHECK(vq->last_avail == (uint16_t)(last + 1));
	FUZZ_CHECK(ch.head < vq->num);
	FUZZ_CHECK(ch.out_iov + ch.in_iov <= *max_iov);
	FUZZ_CHECK(iov_size(iov, ch.out_iov) == ch.out_len);
	FUZZ_CHECK(iov_size(iov + ch.out_iov, ch.in_iov) == ch.in_len);
	fuzz_touch(&ch, iov, budget);
	virtq_push(vq, ch.head, ch.in_len);
	return r;
}

/*
 * Pops a burst of up to max chains with the fast path and checks its promises: nothing broken,
 * ring order kept, one non-empty buffer per chain. Returns the chains taken (pushed back).
 */
static unsigned burst_checked(struct virtq *vq, unsigned max, size_t *budget)
{
	static struct virtq_chain bch[VIRTQ_BURST_MAX];
	uint16_t last = vq->last_avail;
	unsigned n = virtq_pop_burst(vq, iov, bch, max);

	FUZZ_CHECK(n <= max && !vq->broken && vq->faults == 0);
	FUZZ_CHECK(vq->last_avail == (uint16_t)(last + n));
	for (unsigned i = 0; i < n; i++) {
		FUZZ_CHECK(bch[i].head < vq->num);
		FUZZ_CHECK(bch[i].out_iov + bch[i].in_iov == 1);
		FUZZ_CHECK(bch[i].out_len + bch[i].in_len == iov[i].iov_len && iov[i].iov_len > 0);
		fuzz_touch(&bch[i], iov + i, budget);
		virtq_push(vq, bch[i].head, bch[i].in_len);
	}
	return n;
}

/* Builds guest memory from one input (format at the top) and pops until empty or broken. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t guest[MAX_MEM];
	struct virtq vq;
	uint32_t num, avail_off, used_off, ring_end;
	unsigned max_iov;
	uint64_t slice;
	size_t mem_len, budget = TOUCH_CAP;
	uint16_t base;
	bool holes;
	int r;

	if (size < 8)
		return 0;
	fuzz_quiet_logs();
	if (call_fd < 0)
		call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	num = 1u << (data[0] % 9);
	slice = data[2];
	holes = data[1] & 4;
	max_iov = data[3] ? data[3] : VIRTQ_MAX_IOV;
	base = (uint16_t)(data[4] | data[5] << 8);
	avail_off = 16 * num;
	used_off = (avail_off + 6 + 2 * num + 3) & ~3u;
	ring_end = used_off + 6 + 8 * num;

	mem_len = size - 8 < MAX_MEM ? size - 8 : MAX_MEM;
	memset(guest, 0, ring_end > mem_len ? ring_end : mem_len);
	memcpy(guest, data + 8, mem_len);
	if (mem_len < ring_end)
		mem_len = ring_end;

	fuzz_guest_build(&g, guest, mem_len, ring_end, slice, holes);

	virtq_init(&vq, "fuzz");
	vq.num = num;
	vq.desc_uva = FUZZ_UVA;
	vq.avail_uva = FUZZ_UVA + avail_off;
	vq.used_uva = FUZZ_UVA + used_off;
	vq.mem = &g.mem;
	vq.features = (data[1] & 1 ? 1ull << VIRTIO_RING_F_INDIRECT_DESC : 0) |
		      (data[1] & 2 ? 1ull << VIRTIO_RING_F_EVENT_IDX : 0);
	vq.call_fd = data[1] & 8 ? call_fd : -1;
	FUZZ_CHECK(virtq_map(&vq, base) == 0);

	for (unsigned round = 0; round < 2 * num + 4; round++) {
		/* Flag 16: the fast path first, as the data path does; the walker for the rest. */
		if ((data[1] & 16) && burst_checked(&vq, data[6] % VIRTQ_BURST_MAX + 1, &budget))
			continue;
		r = pop_checked(&vq, &max_iov, &budget);
		if (r != 1)
			break;
		if (round % 3 == 2)
			virtq_flush_notify(&vq);
		if (round % 5 == 4)
			virtq_disable_notify(&vq);
		if (round % 7 == 6 && virtq_enable_notify(&vq))
			FUZZ_CHECK(virtq_has_work(&vq));
	}
	virtq_flush_notify(&vq);
	if (virtq_ready(&vq)) {
		virtq_enable_notify(&vq);
		virtq_disable_notify(&vq);
		virtq_has_work(&vq);
	}

	virtq_free(&vq);
	fuzz_guest_free(&g);
	fuzz_drain(call_fd);
	return 0;
}
