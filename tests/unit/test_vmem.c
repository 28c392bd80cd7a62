/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest memory table: every translation must stay inside a region, split exactly at region
 * edges, and refuse wrap-around, gaps and bad geometry. Regions are separate heap blocks (or one
 * byte each) so that an off-by-one or a "contiguous after all" assumption reads the wrong bytes
 * and ASan sees it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/iov.h"
#include "virtq/vmem.h"

#define GPA0 0x100000ull
#define UVA0 0x7f0000000000ull

/* One zeroed table per test, freed by teardown. */
static int setup(void **state)
{
	struct vmem *m = calloc(1, sizeof(*m));

	if (!m)
		return -1;
	vmem_init(m);
	*state = m;
	return 0;
}

/* Frees the table of setup(). */
static int teardown(void **state)
{
	vmem_clear(*state);
	free(*state);
	return 0;
}

/* Fills buf with a position-dependent pattern starting at `seed`. */
static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

/* A single region translates inside itself, refuses its outside and keeps len 0 empty. */
static void test_single_region(void **state)
{
	struct vmem *m = *state;
	uint8_t *buf = malloc(4096);
	struct iovec iov[4];
	unsigned n = 99;

	assert_non_null(buf);
	assert_int_equal(vmem_add_raw(m, GPA0, 4096, UVA0, buf), 0);
	assert_int_equal(m->nregions, 1);

	assert_int_equal(vmem_gpa_iov(m, GPA0 + 100, 200, iov, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_ptr_equal(iov[0].iov_base, buf + 100);
	assert_int_equal(iov[0].iov_len, 200);

	/* The whole region, and exactly its last byte. */
	assert_int_equal(vmem_gpa_iov(m, GPA0, 4096, iov, 1, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(iov[0].iov_len, 4096);
	assert_int_equal(vmem_gpa_iov(m, GPA0 + 4095, 1, iov, 1, &n), 0);
	assert_ptr_equal(iov[0].iov_base, buf + 4095);

	/* One byte past either end. */
	assert_int_equal(vmem_gpa_iov(m, GPA0 + 4095, 2, iov, 4, &n), -EFAULT);
	assert_int_equal(vmem_gpa_iov(m, GPA0 - 1, 2, iov, 4, &n), -EFAULT);
	assert_int_equal(vmem_gpa_iov(m, GPA0 + 4096, 1, iov, 4, &n), -EFAULT);

	/* Length 0 is no iovec, not an error, and needs no room. */
	n = 99;
	assert_int_equal(vmem_gpa_iov(m, GPA0 + 10, 0, iov, 0, &n), 0);
	assert_int_equal(n, 0);

	assert_ptr_equal(vmem_gpa_ptr(m, GPA0 + 1000, 3096), buf + 1000);
	assert_null(vmem_gpa_ptr(m, GPA0 + 1000, 3097));
	assert_null(vmem_gpa_ptr(m, GPA0 + 4096, 1));
	assert_null(vmem_gpa_ptr(m, GPA0 - 1, 1));
	assert_ptr_equal(vmem_uva_ptr(m, UVA0 + 5, 10), buf + 5);
	/* gpa and uva are different address spaces. */
	assert_null(vmem_uva_ptr(m, GPA0, 1));
	assert_null(vmem_gpa_ptr(m, UVA0, 1));
	free(buf);
}

/*
 * 509 one-byte regions, added in a scrambled order: every sub-range translates to one iovec per
 * byte pointing at the right block, -ENOBUFS when max is one short, and copies read every byte.
 */
static void test_one_byte_regions(void **state)
{
	struct vmem *m = *state;
	enum { N = VMEM_MAX_REGIONS };
	uint8_t *blk[N], expect[N], got[N];
	struct iovec *iov = calloc(N, sizeof(*iov));
	unsigned n;

	assert_non_null(iov);
	for (unsigned i = 0; i < N; i++) {
		blk[i] = malloc(1);
		assert_non_null(blk[i]);
		blk[i][0] = expect[i] = (uint8_t)(i * 13 + 5);
	}
	/* 211 is coprime to 509: visits every index once, far from sorted order. */
	for (unsigned k = 0; k < N; k++) {
		unsigned i = (k * 211) % N;

		assert_int_equal(vmem_add_raw(m, GPA0 + i, 1, UVA0 + 2 * i, blk[i]), 0);
	}
	assert_int_equal(m->nregions, N);
	for (unsigned i = 1; i < N; i++)
		assert_true(m->r[i - 1].gpa < m->r[i].gpa);

	/* The table is full now. */
	assert_int_equal(vmem_add_raw(m, GPA0 + 0x10000, 1, 0, blk[0]), -ENOSPC);

	assert_int_equal(vmem_gpa_iov(m, GPA0, N, iov, N, &n), 0);
	assert_int_equal(n, N);
	for (unsigned i = 0; i < N; i++) {
		assert_ptr_equal(iov[i].iov_base, blk[i]);
		assert_int_equal(iov[i].iov_len, 1);
	}
	assert_int_equal(vmem_gpa_iov(m, GPA0, N, iov, N - 1, &n), -ENOBUFS);

	/* Every (start, length) window of the sliced range. */
	for (unsigned a = 0; a < N; a++) {
		for (unsigned len = 1; a + len <= N; len += (len < 8 ? 1 : 37)) {
			assert_int_equal(vmem_gpa_iov(m, GPA0 + a, len, iov, len, &n), 0);
			assert_int_equal(n, len);
			assert_int_equal(iov_to_buf(iov, n, 0, got, len), len);
			assert_memory_equal(got, expect + a, len);
			assert_int_equal(vmem_gpa_iov(m, GPA0 + a, len, iov, len - 1, &n),
					 -ENOBUFS);
			memset(got, 0, len);
			assert_int_equal(vmem_copy_from(m, GPA0 + a, got, len), 0);
			assert_memory_equal(got, expect + a, len);
		}
		/* One byte more than the window has. */
		assert_int_equal(vmem_gpa_iov(m, GPA0 + a, N - a + 1, iov, N, &n), -EFAULT);
		assert_int_equal(vmem_copy_from(m, GPA0 + a, got, N - a + 1), -EFAULT);
		/* A single-region pointer exists for one byte, never for two. */
		assert_ptr_equal(vmem_gpa_ptr(m, GPA0 + a, 1), blk[a]);
		assert_null(vmem_gpa_ptr(m, GPA0 + a, 2));
		assert_ptr_equal(vmem_uva_ptr(m, UVA0 + 2 * a, 1), blk[a]);
		assert_null(vmem_uva_ptr(m, UVA0 + 2 * a, 2));
		assert_null(vmem_uva_ptr(m, UVA0 + 2 * a + 1, 1));
	}
	vmem_clear(m);
	assert_int_equal(m->nregions, 0);
	for (unsigned i = 0; i < N; i++)
		free(blk[i]);
	free(iov);
}

/* A buffer across two separate blocks comes back as two iovecs with the right halves. */
static void test_straddle_two(void **state)
{
	struct vmem *m = *state;
	uint8_t *a = malloc(4096), *b = malloc(4096), got[300], want[300];
	struct iovec iov[2];
	unsigned n;

	assert_non_null(a);
	assert_non_null(b);
	fill(a, 4096, 1);
	fill(b, 4096, 200);
	/* b first: insertion must sort. */
	assert_int_equal(vmem_add_raw(m, GPA0 + 4096, 4096, UVA0 + 0x100000, b), 0);
	assert_int_equal(vmem_add_raw(m, GPA0, 4096, UVA0, a), 0);

	assert_int_equal(vmem_gpa_iov(m, GPA0 + 4000, 200, iov, 2, &n), 0);
	assert_int_equal(n, 2);
	assert_ptr_equal(iov[0].iov_base, a + 4000);
	assert_int_equal(iov[0].iov_len, 96);
	assert_ptr_equal(iov[1].iov_base, b);
	assert_int_equal(iov[1].iov_len, 104);
	assert_int_equal(vmem_gpa_iov(m, GPA0 + 4000, 200, iov, 1, &n), -ENOBUFS);
	/* Ending exactly at the edge needs one iovec only. */
	assert_int_equal(vmem_gpa_iov(m, GPA0 + 4000, 96, iov, 1, &n), 0);
	assert_int_equal(n, 1);

	memcpy(want, a + 3900, 196);
	memcpy(want + 196, b, 104);
	assert_int_equal(vmem_copy_from(m, GPA0 + 3900, got, 300), 0);
	assert_memory_equal(got, want, 300);
	assert_null(vmem_gpa_ptr(m, GPA0 + 4000, 200));
	free(a);
	free(b);
}

/* Bytes between regions are not guest memory: every translation across a gap fails. */
static void test_gaps(void **state)
{
	struct vmem *m = *state;
	uint8_t *a = calloc(1, 0x1000), *b = calloc(1, 0x1000), got[0x200];
	struct iovec iov[8];
	unsigned n = 77;

	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(vmem_add_raw(m, 0x1000, 0x1000, 0x1000, a), 0);
	assert_int_equal(vmem_add_raw(m, 0x3000, 0x1000, 0x3000, b), 0);

	assert_int_equal(vmem_gpa_iov(m, 0x1f00, 0x200, iov, 8, &n), -EFAULT);
	assert_int_equal(n, 77); /* untouched on failure */
	assert_int_equal(vmem_gpa_iov(m, 0x2000, 1, iov, 8, &n), -EFAULT);
	assert_int_equal(vmem_gpa_iov(m, 0x2fff, 2, iov, 8, &n), -EFAULT);
	assert_int_equal(vmem_gpa_iov(m, 0, 1, iov, 8, &n), -EFAULT);
	assert_int_equal(vmem_gpa_iov(m, 0x4000, 1, iov, 8, &n), -EFAULT);
	assert_int_equal(vmem_copy_from(m, 0x1f00, got, 0x200), -EFAULT);
	assert_null(vmem_gpa_ptr(m, 0x2000, 1));
	assert_null(vmem_uva_ptr(m, 0x1f00, 0x200));
	/* The same spans end to end are fine. */
	assert_int_equal(vmem_gpa_iov(m, 0x1f00, 0x100, iov, 8, &n), 0);
	assert_int_equal(vmem_gpa_iov(m, 0x3000, 0x100, iov, 8, &n), 0);
	free(a);
	free(b);
}

/* gpa+len past 2^64 is refused before any lookup, even when gpa itself is mapped. */
static void test_wraparound(void **state)
{
	struct vmem *m = *state;
	uint8_t *a = calloc(1, 0x1000);
	uint64_t top = UINT64_MAX - 0x1fff; /* region [top, top+0x1000) ends below 2^64 */
	struct iovec iov[8];
	uint8_t got[16];
	unsigned n;

	assert_non_null(a);
	assert_int_equal(vmem_add_raw(m, top, 0x1000, 0x1000, a), 0);
	assert_int_equal(vmem_add_raw(m, 0, 0x1000, 0x10000, a), 0);
	assert_int_equal(vmem_gpa_iov(m, top, 0x1000, iov, 8, &n), 0);
	assert_int_equal(vmem_gpa_iov(m, top + 0x800, UINT64_MAX, iov, 8, &n), -EFAULT);
	assert_int_equal(vmem_gpa_iov(m, UINT64_MAX, 2, iov, 8, &n), -EFAULT);
	assert_int_equal(vmem_gpa_iov(m, 0x10, UINT64_MAX, iov, 8, &n), -EFAULT);
	assert_int_equal(vmem_copy_from(m, UINT64_MAX - 3, got, 16), -EFAULT);
	assert_null(vmem_gpa_ptr(m, top + 0x10, UINT64_MAX));
	assert_null(vmem_gpa_ptr(m, 0x10, UINT64_MAX - 0x8));
	assert_null(vmem_uva_ptr(m, 0x1010, UINT64_MAX));
	assert_null(vmem_uva_ptr(m, UINT64_MAX, 2));
	free(a);
}

/* Any shared byte with an existing region is -EEXIST; touching edges is fine. */
static void test_overlap(void **state)
{
	struct vmem *m = *state;
	uint8_t *a = calloc(1, 0x3000);

	assert_non_null(a);
	assert_int_equal(vmem_add_raw(m, 0x2000, 0x1000, 0, a), 0);
	assert_int_equal(vmem_add_raw(m, 0x2000, 0x1000, 0, a), -EEXIST);    /* same */
	assert_int_equal(vmem_add_raw(m, 0x1800, 0x1000, 0, a), -EEXIST);    /* over the start */
	assert_int_equal(vmem_add_raw(m, 0x2fff, 0x1000, 0, a), -EEXIST);    /* over the end */
	assert_int_equal(vmem_add_raw(m, 0x2100, 0x10, 0, a), -EEXIST);	     /* inside */
	assert_int_equal(vmem_add_raw(m, 0x1000, 0x3000, 0, a), -EEXIST);    /* around */
	assert_int_equal(vmem_add_raw(m, 0x1000, 0x1000, 0, a), 0);	     /* just below */
	assert_int_equal(vmem_add_raw(m, 0x3000, 0x1000, 0, a + 0x1000), 0); /* just above */
	assert_int_equal(m->nregions, 3);
	free(a);
}

/* Size 0 and gpa/uva ranges that wrap are -EINVAL, and the table is unchanged. */
static void test_bad_geometry(void **state)
{
	struct vmem *m = *state;
	uint8_t b[16];

	assert_int_equal(vmem_add_raw(m, 0x1000, 0, 0, b), -EINVAL);
	assert_int_equal(vmem_add_raw(m, UINT64_MAX - 7, 16, 0, b), -EINVAL);
	assert_int_equal(vmem_add_raw(m, 0x1000, 16, UINT64_MAX - 7, b), -EINVAL);
	/* Ending exactly at 2^64 also wraps the end address to 0. */
	assert_int_equal(vmem_add_raw(m, UINT64_MAX - 15, 16, 0, b), -EINVAL);
	assert_int_equal(vmem_add_raw(m, 0x1000, UINT64_MAX, 0, b), -EINVAL);
	assert_int_equal(m->nregions, 0);
	assert_int_equal(vmem_add_fd(m, 0x1000, 0, 0, 0, -1), -EINVAL);
	assert_int_equal(vmem_add_fd(m, 0x1000, 16, 0, UINT64_MAX - 7, -1), -EINVAL);
	assert_int_equal(vmem_add_fd(m, UINT64_MAX - 7, 16, 0, 0, -1), -EINVAL);
	assert_int_equal(vmem_add_fd(m, 0x1000, 16, UINT64_MAX - 7, 0, -1), -EINVAL);
}

/* The table holds VMEM_MAX_REGIONS regions; one more is -ENOSPC for both add calls. */
static void test_table_full(void **state)
{
	struct vmem *m = *state;
	uint8_t b[1];
	int fd;

	for (unsigned i = 0; i < VMEM_MAX_REGIONS; i++)
		assert_int_equal(vmem_add_raw(m, 0x1000 * (i + 1), 0x1000, 0, b), 0);
	assert_int_equal(vmem_add_raw(m, 0x10000000, 0x1000, 0, b), -ENOSPC);
	fd = memfd_create("vmem-full", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	assert_int_equal(vmem_add_fd(m, 0x10000000, 4096, 0, 0, fd), -ENOSPC);
	assert_int_equal(m->nregions, VMEM_MAX_REGIONS);
	/* Removing one makes room again. */
	assert_int_equal(vmem_remove(m, 0x1000, 0x1000, 0), 0);
	assert_int_equal(vmem_add_fd(m, 0x10000000, 4096, 0, 0, fd), 0);
	close(fd);
}

/* vmem_remove takes only an exact (gpa, size, uva) match; lookups stop finding what it removed. */
static void test_remove(void **state)
{
	struct vmem *m = *state;
	uint8_t *a = calloc(1, 0x1000), *b = calloc(1, 0x1000);
	struct iovec iov[2];
	unsigned n;

	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(vmem_add_raw(m, 0x1000, 0x1000, 0xa000, a), 0);
	assert_int_equal(vmem_add_raw(m, 0x2000, 0x1000, 0xb000, b), 0);
	/* Warm the lookup cache on the region we are about to remove. */
	assert_ptr_equal(vmem_gpa_ptr(m, 0x2010, 1), b + 0x10);

	assert_int_equal(vmem_remove(m, 0x2000, 0x1000, 0xb001), -ENOENT);
	assert_int_equal(vmem_remove(m, 0x2000, 0xfff, 0xb000), -ENOENT);
	assert_int_equal(vmem_remove(m, 0x2001, 0x1000, 0xb000), -ENOENT);
	assert_int_equal(vmem_remove(m, 0x1000, 0x2000, 0xa000), -ENOENT);
	assert_int_equal(m->nregions, 2);
	assert_int_equal(vmem_remove(m, 0x2000, 0x1000, 0xb000), 0);
	assert_int_equal(m->nregions, 1);
	assert_null(vmem_gpa_ptr(m, 0x2010, 1));
	assert_null(vmem_uva_ptr(m, 0xb010, 1));
	assert_int_equal(vmem_gpa_iov(m, 0x1ff0, 0x20, iov, 2, &n), -EFAULT);
	assert_ptr_equal(vmem_gpa_ptr(m, 0x1010, 1), a + 0x10);
	assert_int_equal(vmem_remove(m, 0x2000, 0x1000, 0xb000), -ENOENT);
	assert_int_equal(vmem_remove(m, 0x1000, 0x1000, 0xa000), 0);
	assert_int_equal(m->nregions, 0);
	assert_null(vmem_gpa_ptr(m, 0x1010, 1));
	free(a);
	free(b);
}

/* vmem_uva_ptr returns a pointer only for a range inside one region, even when uvas touch. */
static void test_uva_contiguity(void **state)
{
	struct vmem *m = *state;
	uint8_t *a = calloc(1, 4096), *b = calloc(1, 4096);

	assert_non_null(a);
	assert_non_null(b);
	/* Adjacent in uva, far apart in gpa and in our memory. */
	assert_int_equal(vmem_add_raw(m, 0x100000, 4096, UVA0, a), 0);
	assert_int_equal(vmem_add_raw(m, 0x900000, 4096, UVA0 + 4096, b), 0);
	assert_ptr_equal(vmem_uva_ptr(m, UVA0, 4096), a);
	assert_ptr_equal(vmem_uva_ptr(m, UVA0 + 4000, 96), a + 4000);
	assert_null(vmem_uva_ptr(m, UVA0 + 4000, 97));
	assert_ptr_equal(vmem_uva_ptr(m, UVA0 + 4096, 1), b);
	assert_ptr_equal(vmem_uva_ptr(m, UVA0 + 8191, 1), b + 4095);
	assert_null(vmem_uva_ptr(m, UVA0 + 8191, 2));
	assert_null(vmem_uva_ptr(m, UVA0 - 1, 1));
	assert_null(vmem_uva_ptr(m, UVA0 + 8192, 1));
	free(a);
	free(b);
}

/* vmem_copy_from gathers across three regions of different sizes and stops at a gap. */
static void test_copy_edges(void **state)
{
	struct vmem *m = *state;
	uint8_t *r[3], all[7 + 1 + 9], got[sizeof(all)];
	const size_t sz[3] = { 7, 1, 9 };
	size_t off = 0;

	for (unsigned i = 0; i < 3; i++) {
		r[i] = malloc(sz[i]);
		assert_non_null(r[i]);
		fill(r[i], sz[i], 31 * i + 3);
		memcpy(all + off, r[i], sz[i]);
		assert_int_equal(vmem_add_raw(m, 0x5000 + off, sz[i], 0x9000 + off, r[i]), 0);
		off += sz[i];
	}
	for (size_t a = 0; a < sizeof(all); a++)
		for (size_t len = 0; a + len <= sizeof(all); len++) {
			memset(got, 0xee, sizeof(got));
			assert_int_equal(vmem_copy_from(m, 0x5000 + a, got, len), 0);
			assert_memory_equal(got, all + a, len);
			if (len < sizeof(got))
				assert_int_equal(got[len], 0xee); /* no byte written past len */
		}
	assert_int_equal(vmem_copy_from(m, 0x5000, got, sizeof(all) + 1), -EFAULT);
	assert_int_equal(vmem_copy_from(m, 0x4fff, got, 2), -EFAULT);
	for (unsigned i = 0; i < 3; i++)
		free(r[i]);
}

/* True while the page holding p is mapped in this process. */
static bool page_mapped(const void *p)
{
	uintptr_t page = (uintptr_t)p & ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1);

	return msync((void *)page, 1, MS_ASYNC) == 0;
}

/*
 * vmem_add_fd maps memfd regions: offset+size beyond the file is refused, a good region reads
 * back what was written through the fd (also at a non-page offset), writes go back to the file,
 * and removing it unmaps it.
 */
static void test_add_fd(void **state)
{
	struct vmem *m = *state;
	uint8_t pattern[3 * 4096], back[64];
	int fd = memfd_create("vmem-test", MFD_CLOEXEC);
	uint8_t *p;
	int pipefd[2];

	assert_true(fd >= 0);
	fill(pattern, sizeof(pattern), 9);
	assert_int_equal(pwrite(fd, pattern, sizeof(pattern), 0), sizeof(pattern));

	/* Past the end of the file, by one byte, by offset, by both. */
	assert_int_equal(vmem_add_fd(m, 0x10000, 3 * 4096 + 1, 0, 0, fd), -EINVAL);
	assert_int_equal(vmem_add_fd(m, 0x10000, 4096, 0, 2 * 4096 + 1, fd), -EINVAL);
	assert_int_equal(vmem_add_fd(m, 0x10000, 8192, 0, 8192, fd), -EINVAL);
	assert_int_equal(m->nregions, 0);
	/* Not an fd, not mappable. */
	assert_true(vmem_add_fd(m, 0x10000, 4096, 0, 0, -1) < 0);
	assert_int_equal(pipe(pipefd), 0);
	assert_true(vmem_add_fd(m, 0x10000, 4096, 0, 0, pipefd[0]) < 0);
	close(pipefd[0]);
	close(pipefd[1]);
	assert_int_equal(m->nregions, 0);

	/* A page-aligned region in the middle of the file. */
	assert_int_equal(vmem_add_fd(m, 0x10000, 4096, UVA0, 4096, fd), 0);
	p = vmem_gpa_ptr(m, 0x10000, 4096);
	assert_non_null(p);
	assert_memory_equal(p, pattern + 4096, 4096);
	assert_ptr_equal(vmem_uva_ptr(m, UVA0, 4096), p);
	/* Shared: a write through the mapping shows in the file. */
	p[10] = 0x5a;
	assert_int_equal(pread(fd, back, 1, 4096 + 10), 1);
	assert_int_equal(back[0], 0x5a);
	/* Overlaps what is mapped. */
	assert_int_equal(vmem_add_fd(m, 0x10800, 4096, 0, 0, fd), -EEXIST);

	/* A region at an odd offset ending exactly at the end of the file. */
	assert_int_equal(vmem_add_fd(m, 0x40000, 3 * 4096 - 100, 0, 100, fd), 0);
	assert_int_equal(vmem_copy_from(m, 0x40000, back, 64), 0);
	assert_memory_equal(back, pattern + 100, 64);
	assert_int_equal(vmem_copy_from(m, 0x40000 + 3 * 4096 - 164, back, 64), 0);
	assert_memory_equal(back, pattern + 3 * 4096 - 64, 64);

	assert_true(page_mapped(p));
	assert_int_equal(vmem_remove(m, 0x10000, 4096, UVA0), 0);
	assert_false(page_mapped(p));
	close(fd);
}

/*
 * An identical vmem_add_fd (same range, offset and file; QEMU repeats ADD_MEM_REG per queue
 * pair) only takes a reference: each vmem_remove drops one and the last unmaps. The same range
 * from another file or offset still overlaps.
 */
static void test_add_fd_refs(void **state)
{
	struct vmem *m = *state;
	int fd = memfd_create("vmem-a", MFD_CLOEXEC), other = memfd_create("vmem-b", MFD_CLOEXEC);
	uint8_t *p;

	assert_true(fd >= 0 && other >= 0);
	assert_int_equal(ftruncate(fd, 8192), 0);
	assert_int_equal(ftruncate(other, 8192), 0);
	assert_int_equal(vmem_add_fd(m, 0x10000, 4096, UVA0, 4096, fd), 0);
	p = vmem_gpa_ptr(m, 0x10000, 4096);
	assert_non_null(p);
	assert_int_equal(vmem_add_fd(m, 0x10000, 4096, UVA0, 4096, fd), 0);
	assert_int_equal(m->nregions, 1);
	assert_ptr_equal(vmem_gpa_ptr(m, 0x10000, 4096), p);
	assert_int_equal(vmem_add_fd(m, 0x10000, 4096, UVA0, 4096, other), -EEXIST);
	assert_int_equal(vmem_add_fd(m, 0x10000, 4096, UVA0, 0, fd), -EEXIST);
	assert_int_equal(vmem_add_fd(m, 0x10000, 4096, UVA0 + 4096, 4096, fd), -EEXIST);
	assert_int_equal(vmem_remove(m, 0x10000, 4096, UVA0), 0);
	assert_int_equal(m->nregions, 1);
	assert_true(page_mapped(p));
	assert_ptr_equal(vmem_gpa_ptr(m, 0x10000, 4096), p);
	assert_int_equal(vmem_remove(m, 0x10000, 4096, UVA0), 0);
	assert_int_equal(m->nregions, 0);
	assert_false(page_mapped(p));
	assert_int_equal(vmem_remove(m, 0x10000, 4096, UVA0), -ENOENT);
	close(fd);
	close(other);
}

/* Runs every test above; the exit status is the number of failures. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_single_region, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_byte_regions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_straddle_two, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gaps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wraparound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_geometry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uva_contiguity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_fd_refs, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
