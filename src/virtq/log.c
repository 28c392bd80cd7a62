/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Dirty-page log. The front-end (QEMU) syncs the bitmap while the guest runs by swapping each
 * word with zero and copying the pages whose bits were set; it does so again after it stopped
 * us (GET_VRING_BASE). So a bit must be set after the data it stands for (else a sync between
 * the two would clear the bit and copy stale data) and set atomically (a plain read-modify-write
 * could undo a clear the front-end made meanwhile, or lose a bit it never saw).
 */
#include "virtq/log.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int vlog_map(int fd, uint64_t size, uint64_t offset, struct vlog **ret)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t start = offset & ~(page - 1), len;
	struct vlog *l;
	struct stat st;
	void *p;

	/* 2^48 bytes of log describe 2^63 bytes of memory: anything larger is nonsense. */
	if (size == 0 || size > (1ull << 48) || offset + size < offset ||
	    offset + size > (uint64_t)SIZE_MAX)
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return -errno;
	/* A log that is not plain shared memory (a pipe, a device) is not a log. */
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size < offset + size)
		return -EINVAL;
	len = offset + size - start;
	p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)start);
	if (p == MAP_FAILED)
		return -errno;
	l = calloc(1, sizeof(*l));
	if (!l) {
		munmap(p, (size_t)len);
		return -ENOMEM;
	}
	l->map_base = p;
	l->map_len = (size_t)len;
	l->bits = (uint8_t *)p + (offset - start);
	l->size = size;
	l->guard_slot = memguard_add(p, (size_t)len, &l->guard, offset);
	if (l->guard_slot < 0) {
		int r = l->guard_slot;

		vlog_free(l);
		return r;
	}
	*ret = l;
	return 0;
}

struct vlog *vlog_wrap(void *bits, uint64_t size)
{
	struct vlog *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->bits = bits;
	l->size = size;
	l->guard_slot = -1;
	return l;
}

void vlog_free(struct vlog *l)
{
	if (!l)
		return;
	memguard_del(l->guard_slot);
	if (l->map_base)
		munmap(l->map_base, l->map_len);
	free(l);
}

bool vlog_covers(const struct vlog *l, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		return true;
	if (gpa + len < gpa)
		return false;
	return vlog_bytes_for(gpa + len) <= l->size;
}

void vlog_batch_add(struct vlog *l, struct vlog_batch *b, uint64_t gpa, uint64_t len)
{
	uint64_t first, last;

	if (len == 0)
		return;
	first = gpa >> VLOG_PAGE_SHIFT;
	last = (gpa + len - 1 < gpa ? UINT64_MAX : gpa + len - 1) >> VLOG_PAGE_SHIFT;
	/* Buffers and used slots of a burst mostly follow each other: extend the last range. */
	if (b->n && first >= b->first[b->n - 1] && first <= b->last[b->n - 1] + 1) {
		if (last > b->last[b->n - 1])
			b->last[b->n - 1] = last;
		return;
	}
	if (b->n == VLOG_BATCH)
		vlog_batch_commit(l, b);
	b->first[b->n] = first;
	b->last[b->n] = last;
	b->n++;
}

void vlog_batch_commit(struct vlog *l, struct vlog_batch *b)
{
	if (b->n == 0)
		return;
	/*
	 * A full fence, not a release: the bytes must be visible before we even read a bit. Else
	 * we could see a bit still set, skip it, and the front-end clear it and copy the page
	 * while our bytes sit in this CPU's store buffer. Pairs with the front-end's exchange.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < b->n; i++) {
		uint64_t first = b->first[i], last = b->last[i];

		if (last >> 3 >= l->size) {
			uint64_t end = l->size * 8; /* first page without a bit */

			/* Bounded: every page from `end` on is beyond the bitmap. */
			__atomic_fetch_add(&l->overflows, last - (first > end ? first : end) + 1,
					   __ATOMIC_RELAXED);
			if (first >= end)
				continue;
			last = end - 1;
		}
		/* A byte at a time: its bits of the range set in one operation. */
		for (uint64_t byte = first >> 3; byte <= last >> 3; byte++) {
			unsigned lo = byte == first >> 3 ? (unsigned)(first & 7) : 0;
			unsigned hi = byte == last >> 3 ? (unsigned)(last & 7) : 7;
			uint8_t mask = (uint8_t)((0xffu >> (7 - hi)) & (0xffu << lo));

			/* Already set: the locked read-modify-write (and its line steal) is
			 * skipped. */
			if ((__atomic_load_n(&l->bits[byte], __ATOMIC_RELAXED) & mask) != mask)
				__atomic_fetch_or(&l->bits[byte], mask, __ATOMIC_RELAXED);
		}
	}
	b->n = 0;
}

void vlog_mark(struct vlog *l, uint64_t gpa, uint64_t len)
{
	struct vlog_batch b = { 0 };

	vlog_batch_add(l, &b, gpa, len);
	vlog_batch_commit(l, &b);
}
