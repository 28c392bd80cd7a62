/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest memory table: the regions a front-end shares with us, and translation of guest physical
 * addresses (descriptor buffers) and front-end virtual addresses (ring locations) into our own.
 * Every translation takes (address, length) and fails rather than reach outside a region.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util/memguard.h"

/* vhost-user's CONFIGURE_MEM_SLOTS limit we promise (QEMU's own maximum). */
#define VMEM_MAX_REGIONS 509

struct vmem_region {
	uint64_t gpa;	/* guest physical start */
	uint64_t size;	/* bytes, > 0 */
	uint64_t uva;	/* front-end virtual start */
	uint8_t *hva;	/* our mapping of gpa */
	void *map_base; /* what munmap() takes; NULL for regions we did not map */
	size_t map_len;
	uint64_t offset;   /* mmap offset in the backing file */
	uint64_t dev, ino; /* backing file identity (0 for raw regions) */
	unsigned refs;	   /* identical adds: QEMU 7.2 repeats ADD_MEM_REG per queue pair */
	int guard_slot;	   /* memguard registration of the mapping, -1 when none */
};

/* Regions sorted by gpa, non-overlapping in gpa. */
struct vmem {
	unsigned nregions;
	unsigned last_hit;  /* index of the last region a lookup found: packets cluster */
	uint64_t mapped;    /* bytes mapped for all regions (whole huge pages included) */
	uint64_t max_bytes; /* most bytes the table may map (the device's mem_max); 0: no limit */
	/* Marked when a mapping vanished under us (see util/memguard.h); tag: the region's gpa. */
	struct memguard_owner guard;
	struct vmem_region r[VMEM_MAX_REGIONS];
};

/*
 * Empties a table that holds nothing mapped and forgets a past fault, keeping max_bytes
 * (zero-initialised memory is also a valid empty table, without a limit).
 */
void vmem_init(struct vmem *m);

/*
 * Maps `size` bytes at `offset` of fd (MAP_SHARED) as the region [gpa, gpa+size) known to the
 * front-end at uva, after checking for overflow, overlap and that the file is large enough. The
 * caller keeps fd. Adding a region identical to an existing one (same range, offset and file)
 * only counts a reference. The mapping is registered with memguard: if the file shrinks later,
 * a touch of the lost pages marks m->guard instead of killing us. Returns 0, -EINVAL (bad
 * geometry), -EEXIST (overlap), -ENOSPC (table or memguard full), -E2BIG (the table would map
 * more than max_bytes), or the errno of fstat/mmap.
 */
int vmem_add_fd(struct vmem *m, uint64_t gpa, uint64_t size, uint64_t uva, uint64_t offset, int fd);

/* Adds an already-mapped buffer as a region (tests, internal users). Same checks as vmem_add_fd. */
int vmem_add_raw(struct vmem *m, uint64_t gpa, uint64_t size, uint64_t uva, void *hva);

/* Drops a reference to the region matching (gpa, size, uva) exactly and unmaps it when none is
 * left. Returns 0 or -ENOENT. */
int vmem_remove(struct vmem *m, uint64_t gpa, uint64_t size, uint64_t uva);

/* Unmaps every region and empties the table. */
void vmem_clear(struct vmem *m);

/*
 * Translates guest-physical [gpa, gpa+len) into at most `max` iovecs appended at iov, split at
 * region edges. Stores the count in *ret_n. len 0 yields no iovec. Returns 0, -EFAULT (some byte is
 * not in guest memory or the range wraps) or -ENOBUFS (needs more than max iovecs).
 */
int vmem_gpa_iov(struct vmem *m, uint64_t gpa, uint64_t len, struct iovec *iov, unsigned max,
		 unsigned *ret_n);

/* Returns our pointer to guest-physical [gpa, gpa+len) if it lies in one region, else NULL. */
void *vmem_gpa_ptr(struct vmem *m, uint64_t gpa, uint64_t len);

/* Returns our pointer to front-end-virtual [uva, uva+len) if it lies in one region, else NULL. */
void *vmem_uva_ptr(const struct vmem *m, uint64_t uva, uint64_t len);

/* Copies guest-physical [gpa, gpa+len) into dst across region edges. Returns 0 or -EFAULT. */
int vmem_copy_from(struct vmem *m, uint64_t gpa, void *dst, size_t len);

/*
 * Translates our pointer [hva, hva+len) back to guest-physical (for the dirty log): *ret_gpa set
 * and 0 when it lies inside one region, else -EFAULT.
 */
int vmem_hva_to_gpa(const struct vmem *m, const void *hva, uint64_t len, uint64_t *ret_gpa);

/* The end of the highest region (the guest-physical span a dirty log must cover); 0 if empty. */
uint64_t vmem_gpa_end(const struct vmem *m);

/*
 * Fast path of the translations: our pointer to [gpa, gpa+len) when it lies in the region the
 * last lookup found, else NULL (use vmem_gpa_iov()). len must be > 0.
 */
static inline void *vmem_gpa_cached(const struct vmem *m, uint64_t gpa, uint64_t len)
{
	const struct vmem_region *r = &m->r[m->last_hit];

	if (len && m->last_hit < m->nregions && gpa - r->gpa < r->size &&
	    len <= r->size - (gpa - r->gpa))
		return r->hva + (gpa - r->gpa);
	return NULL;
}
