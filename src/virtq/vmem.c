/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Security model: every address and length comes from the front-end or the guest. Arithmetic is
 * checked for wrap-around before use, a translation never returns a byte outside a region, and
 * the file behind a region must be at least as long as the region so that a later access cannot
 * run past its end at map time.
 */
#include "virtq/vmem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void vmem_init(struct vmem *m)
{
	m->nregions = 0;
	m->last_hit = 0;
	m->mapped = 0;
	memset(&m->guard, 0, sizeof(m->guard));
}

/* True when [a, a+alen) and [b, b+blen) share a byte; inputs are already wrap-checked. */
static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Checks geometry and inserts r keeping gpa order. Returns 0 or a negative errno. */
static int vmem_insert(struct vmem *m, const struct vmem_region *r)
{
	unsigned pos = 0;

	if (r->size == 0 || r->gpa + r->size < r->gpa || r->uva + r->size < r->uva)
		return -EINVAL;
	if (m->nregions >= VMEM_MAX_REGIONS)
		return -ENOSPC;
	for (unsigned i = 0; i < m->nregions; i++) {
		if (ranges_overlap(r->gpa, r->size, m->r[i].gpa, m->r[i].size))
			return -EEXIST;
		if (m->r[i].gpa < r->gpa)
			pos = i + 1;
	}
	memmove(&m->r[pos + 1], &m->r[pos], (m->nregions - pos) * sizeof(m->r[0]));
	m->r[pos] = *r;
	m->nregions++;
	m->last_hit = 0;
	return 0;
}

int vmem_add_raw(struct vmem *m, uint64_t gpa, uint64_t size, uint64_t uva, void *hva)
{
	struct vmem_region r = {
		.gpa = gpa, .size = size, .uva = uva, .hva = hva, .refs = 1, .guard_slot = -1
	};

	return vmem_insert(m, &r);
}

int vmem_add_fd(struct vmem *m, uint64_t gpa, uint64_t size, uint64_t uva, uint64_t offset, int fd)
{
	struct vmem_region r = {
		.gpa = gpa, .size = size, .uva = uva, .refs = 1, .guard_slot = -1
	};
	struct stat st;
	uint64_t map_len, align;
	void *p;
	int ret;

	if (size == 0 || offset + size < offset || gpa + size < gpa || uva + size < uva)
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return -errno;
	for (unsigned i = 0; i < m->nregions; i++) {
		struct vmem_region *o = &m->r[i];

		if (o->gpa == gpa && o->size == size && o->uva == uva && o->offset == offset &&
		    o->dev == (uint64_t)st.st_dev && o->ino == (uint64_t)st.st_ino && o->refs) {
			o->refs++;
			return 0;
		}
		if (ranges_overlap(gpa, size, o->gpa, o->size))
			return -EEXIST;
	}
	if (m->nregions >= VMEM_MAX_REGIONS)
		return -ENOSPC;
	/* A region past the end of its file would SIGBUS us on first touch. */
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < offset + size)
		return -EINVAL;
	/* hugetlbfs wants lengths in whole huge pages; st_blksize is the page size there. */
	align = st.st_blksize > 0 ? (uint64_t)st.st_blksize : 4096;
	if (align & (align - 1))
		align = 4096;
	map_len = offset + size;
	if (map_len + align - 1 < map_len || map_len + align - 1 > SIZE_MAX)
		return -EINVAL;
	map_len = (map_len + align - 1) & ~(align - 1);
	if (m->max_bytes && (map_len > m->max_bytes || m->mapped > m->max_bytes - map_len))
		return -E2BIG;
	p = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	r.map_base = p;
	r.map_len = map_len;
	r.offset = offset;
	r.dev = (uint64_t)st.st_dev;
	r.ino = (uint64_t)st.st_ino;
	r.hva = (uint8_t *)p + offset;
	r.guard_slot = memguard_add(p, map_len, &m->guard, gpa);
	ret = r.guard_slot < 0 ? r.guard_slot : vmem_insert(m, &r);
	if (ret < 0) {
		memguard_del(r.guard_slot);
		munmap(p, map_len);
		return ret;
	}
	m->mapped += map_len;
	return 0;
}

/* Unmaps one region if we mapped it (no fault can be handled for it from then on). */
static void region_unmap(struct vmem_region *r)
{
	memguard_del(r->guard_slot);
	r->guard_slot = -1;
	if (r->map_base)
		munmap(r->map_base, r->map_len);
	r->map_base = NULL;
}

int vmem_remove(struct vmem *m, uint64_t gpa, uint64_t size, uint64_t uva)
{
	for (unsigned i = 0; i < m->nregions; i++) {
		struct vmem_region *r = &m->r[i];

		if (r->gpa != gpa || r->size != size || r->uva != uva)
			continue;
		if (--r->refs > 0)
			return 0;
		m->mapped -= r->map_len;
		region_unmap(r);
		memmove(r, r + 1, (m->nregions - i - 1) * sizeof(*r));
		m->nregions--;
		m->last_hit = 0;
		return 0;
	}
	return -ENOENT;
}

void vmem_clear(struct vmem *m)
{
	for (unsigned i = 0; i < m->nregions; i++)
		region_unmap(&m->r[i]);
	vmem_init(m);
}

/* Returns the region holding gpa, or NULL. Binary search with a one-entry cache. */
static struct vmem_region *find_gpa(struct vmem *m, uint64_t gpa)
{
	unsigned lo = 0, hi = m->nregions;
	struct vmem_region *r;

	if (m->last_hit < m->nregions) {
		r = &m->r[m->last_hit];
		if (gpa - r->gpa < r->size)
			return r;
	}
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		r = &m->r[mid];
		if (gpa < r->gpa)
			hi = mid;
		else if (gpa - r->gpa >= r->size)
			lo = mid + 1;
		else {
			m->last_hit = mid;
			return r;
		}
	}
	return NULL;
}

int vmem_gpa_iov(struct vmem *m, uint64_t gpa, uint64_t len, struct iovec *iov, unsigned max,
		 unsigned *ret_n)
{
	unsigned n = 0;

	if (gpa + len < gpa)
		return -EFAULT;
	while (len > 0) {
		struct vmem_region *r = find_gpa(m, gpa);
		uint64_t off, chunk;

		if (!r)
			return -EFAULT;
		if (n >= max)
			return -ENOBUFS;
		off = gpa - r->gpa;
		chunk = r->size - off;
		if (chunk > len)
			chunk = len;
		iov[n].iov_base = r->hva + off;
		iov[n].iov_len = (size_t)chunk;
		n++;
		gpa += chunk;
		len -= chunk;
	}
	*ret_n = n;
	return 0;
}

void *vmem_gpa_ptr(struct vmem *m, uint64_t gpa, uint64_t len)
{
	struct vmem_region *r = find_gpa(m, gpa);

	if (!r || len > r->size - (gpa - r->gpa))
		return NULL;
	return r->hva + (gpa - r->gpa);
}

void *vmem_uva_ptr(const struct vmem *m, uint64_t uva, uint64_t len)
{
	for (unsigned i = 0; i < m->nregions; i++) {
		const struct vmem_region *r = &m->r[i];

		if (uva - r->uva < r->size && len <= r->size - (uva - r->uva))
			return r->hva + (uva - r->uva);
	}
	return NULL;
}

int vmem_copy_from(struct vmem *m, uint64_t gpa, void *dst, size_t len)
{
	uint8_t *out = dst;

	if (gpa + len < gpa)
		return -EFAULT;
	while (len > 0) {
		struct vmem_region *r = find_gpa(m, gpa);
		uint64_t off, chunk;

		if (!r)
			return -EFAULT;
		off = gpa - r->gpa;
		chunk = r->size - off;
		if (chunk > len)
			chunk = len;
		memcpy(out, r->hva + off, (size_t)chunk);
		out += chunk;
		gpa += chunk;
		len -= (size_t)chunk;
	}
	return 0;
}

int vmem_hva_to_gpa(const struct vmem *m, const void *hva, uint64_t len, uint64_t *ret_gpa)
{
	const uint8_t *p = hva;

	/* The data path's buffers cluster in the region of the last lookup: try it first. */
	for (unsigned k = 0; k <= m->nregions; k++) {
		unsigned i = k == 0 ? m->last_hit : k - 1;
		const struct vmem_region *r;
		uint64_t off;

		if (i >= m->nregions)
			continue;
		r = &m->r[i];
		off = (uint64_t)((uintptr_t)p - (uintptr_t)r->hva);
		if (off < r->size && len <= r->size - off) {
			*ret_gpa = r->gpa + off;
			return 0;
		}
	}
	return -EFAULT;
}

uint64_t vmem_gpa_end(const struct vmem *m)
{
	/* Sorted by gpa and non-overlapping: the last region ends highest. */
	if (m->nregions == 0)
		return 0;
	return m->r[m->nregions - 1].gpa + m->r[m->nregions - 1].size;
}
