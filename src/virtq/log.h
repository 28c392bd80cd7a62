/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Dirty-page log for live migration (vhost's VHOST_F_LOG_ALL): a bitmap shared with the
 * front-end, one bit per 4 KiB page of guest-physical memory, bit (gpa / 4096) % 8 of byte
 * (gpa / 4096) / 8. The front-end reads and clears it concurrently, so bits are only ever set,
 * atomically, and only after the bytes they describe were written.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/memguard.h"

#define VLOG_PAGE_SHIFT 12
#define VLOG_PAGE_SIZE	(1ull << VLOG_PAGE_SHIFT)

struct vlog {
	uint8_t *bits;	/* the bitmap: our mapping at the front-end's offset */
	uint64_t size;	/* bytes of bitmap, > 0 */
	void *map_base; /* what munmap() takes; NULL for a buffer we did not map */
	size_t map_len;
	uint64_t overflows; /* pages beyond the bitmap that could not be marked */
	/* Marked when the front-end shrank the log's file under us (see util/memguard.h). */
	struct memguard_owner guard;
	int guard_slot;
};

/* Bytes of bitmap needed to describe guest-physical [0, gpa_end). */
static inline uint64_t vlog_bytes_for(uint64_t gpa_end)
{
	return gpa_end ? ((gpa_end - 1) >> VLOG_PAGE_SHIFT) / 8 + 1 : 0;
}

/*
 * Maps `size` bytes at `offset` of fd (shared, read-write) as a log, after checking for
 * overflow and that the file holds them. The caller keeps fd. Returns 0 with *ret set, -EINVAL
 * (size 0, wrap-around, beyond the file, not a regular or memfd file), -ENOSPC (memguard full)
 * or the errno of fstat/mmap. A file that shrinks later marks ->guard (util/memguard.h). Free
 * with vlog_free().
 */
int vlog_map(int fd, uint64_t size, uint64_t offset, struct vlog **ret);

/* Wraps a buffer we own (tests). Returns NULL on allocation failure. */
struct vlog *vlog_wrap(void *bits, uint64_t size);

/* Unmaps and frees; NULL is fine. */
void vlog_free(struct vlog *l);

/* True when the log has a bit for every page of guest-physical [gpa, gpa + len). */
bool vlog_covers(const struct vlog *l, uint64_t gpa, uint64_t len);

/* Page ranges waiting to be marked: a burst of writes costs one fence, not one per write. */
#define VLOG_BATCH 16
struct vlog_batch {
	unsigned n;
	uint64_t first[VLOG_BATCH], last[VLOG_BATCH]; /* page numbers, inclusive */
};

/*
 * Records that [gpa, gpa + len) was written (merging with the previous range when they touch);
 * commits the batch to l first when it is full. Commit before the front-end may look: in
 * practice before used entries are published and whenever logging changes.
 */
void vlog_batch_add(struct vlog *l, struct vlog_batch *b, uint64_t gpa, uint64_t len);

/* Marks every page recorded in b (see vlog_mark()) and empties it. */
void vlog_batch_commit(struct vlog *l, struct vlog_batch *b);

/*
 * Marks every page that [gpa, gpa + len) touches. A page the bitmap does not reach is counted
 * in l->overflows and not written: no store ever leaves the mapping. Call after the bytes were
 * written; a full fence orders them before the bits.
 */
void vlog_mark(struct vlog *l, uint64_t gpa, uint64_t len);
