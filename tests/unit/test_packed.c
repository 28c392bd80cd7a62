/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The packed-ring engine (src/virtq/packed.c) against a packed-ring driver written here from the
 * virtio 1.x spec, section 2.8. The driver makes a chain available by writing its descriptors in
 * ring order with AVAIL = its wrap counter and USED = the inverse, the buffer id in the last one
 * and the head's flags last; it reads used descriptors (AVAIL == USED == its used wrap counter) at
 * its own position and skips by the chain the entry stands for (with IN_ORDER, by every chain up
 * to the entry's id).
 *
 * Guest memory is a set of separately allocated blocks registered with vmem_add_raw(): the
 * descriptor ring and each event suppression area in a block of exactly its size, so reading past
 * a ring part, or treating two regions as contiguous, touches memory outside a block (ASan sees
 * it). Buffers and indirect tables are also placed in memory sliced into one-byte regions.
 *
 * Each malformed ring must fail the pop with a negative errno, mark the ring broken, count one
 * fault, signal the error eventfd once and consume nothing.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/iov.h"
#include "virtq/virtq.h"
#include "virtq/vmem.h"

/* Guest physical layout of every test. */
#define DRV_GPA	  0x10000ull	    /* driver area: 4 bytes, a block of its own */
#define DEV_GPA	  0x10040ull	    /* device area: 4 bytes, a block of its own */
#define HOLE_GPA  0x30000ull	    /* never mapped */
#define DATA_GPA  0x40000ull	    /* buffers and indirect tables, sliced as each test wants */
#define DATA_SIZE 0x10000ull	    /* (ends at 0x50000: nothing mapped after it) */
#define RING_GPA  0x100000ull	    /* descriptor ring: a block of exactly 16 * num bytes */
#define UVA_DELTA 0x7f0000000000ull /* the front-end's address of gpa is gpa + UVA_DELTA */

/* Descriptor flags and event suppression values, as the spec spells them. */
#define F_NEXT	   1
#define F_WRITE	   2
#define F_INDIRECT 4
#define F_AVAIL	   (1u << 7)
#define F_USED	   (1u << 15)
#define EV_ENABLE  0
#define EV_DISABLE 1
#define EV_DESC	   2

#define FEAT_BASE     ((1ull << VIRTIO_F_RING_PACKED) | (1ull << VIRTIO_F_VERSION_1))
#define FEAT_INDIRECT (1ull << VIRTIO_RING_F_INDIRECT_DESC)
#define FEAT_EVENT    (1ull << VIRTIO_RING_F_EVENT_IDX)
#define FEAT_IN_ORDER (1ull << VIRTQ_F_IN_ORDER)

/* A fresh ring's base: slot 0, wrap counter 1 (both halves). */
#define FRESH 0x8000u

enum { MAX_IOV = 2048, MAX_RANDOM_CHAIN = 64 };

/* A packed descriptor as the driver writes it (little-endian fields). */
struct pdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};
_Static_assert(sizeof(struct pdesc) == 16, "packed descriptor");

/* An event suppression area (driver area or device area). */
struct pevent {
	uint16_t off_wrap;
	uint16_t flags;
};
_Static_assert(sizeof(struct pevent) == 4, "event suppression area");

/* One buffer of a chain: what the driver posts and what the pop must give back. */
struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* A block of test memory registered as one region. */
struct block {
	uint64_t gpa, size;
	uint8_t *hva;
};

/* What the driver keeps per buffer id while the chain is in flight. */
struct posted {
	uint16_t ndesc;	 /* descriptors the chain took; 0 when the id is free */
	bool write;	 /* it has device-writable buffers */
	uint32_t in_len; /* writable bytes */
	uint32_t seed;	 /* random chains: regenerates the buffers (gen_segs) */
	uint16_t nind;	 /* random chains: entries of its indirect table, 0 if direct */
};

struct guest {
	struct vmem mem;
	unsigned n;
	struct block b[VMEM_MAX_REGIONS]; /* data blocks, filled with pat() */
	struct block ring;		  /* the descriptor ring, zeroed */
	struct pevent *drv, *dev;	  /* the event suppression areas */
	struct virtq vq;
	int err_fd, call_fd;
	struct iovec iov[MAX_IOV];
	struct virtq_chain ch;
	uint32_t rng;

	/* The driver. */
	uint32_t num;
	struct pdesc *desc;
	uint16_t avail_slot, used_slot; /* next descriptor to make available / to read used */
	bool avail_wrap, used_wrap;	/* the driver's wrap counters there */
	uint32_t free_desc;		/* descriptors not in flight */
	bool in_order;
	struct posted posted[VIRTQ_MAX_SIZE];
	uint16_t order[VIRTQ_MAX_SIZE]; /* ids in the order made available (IN_ORDER batches) */
	uint32_t order_head, order_n;

	/* What a back-end leaves for the next one (virtq_set_used_log()). */
	uint64_t rec_state;
	uint64_t rec_log[VIRTQ_USED_LOG_MAX];
};

static struct guest *g;

/* The byte the guest keeps at gpa until a test writes there. */
static uint8_t pat(uint64_t gpa)
{
	return (uint8_t)(gpa * 167 + (gpa >> 9) * 13 + 5);
}

/* xorshift32 step. */
static uint32_t xorshift(uint32_t x)
{
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x;
}

/* The test's random numbers, from a fixed seed: a failure reproduces. */
static uint32_t rnd(void)
{
	g->rng = xorshift(g->rng);
	return g->rng;
}

/* ---- guest memory ---- */

/* Registers [gpa, gpa+size) as one freshly allocated block filled with pat(). */
static void g_block(uint64_t gpa, uint64_t size)
{
	struct block *b = &g->b[g->n];

	assert_true(g->n < VMEM_MAX_REGIONS - 3); /* the ring and the two event areas */
	b->hva = malloc(size);
	assert_non_null(b->hva);
	for (uint64_t i = 0; i < size; i++)
		b->hva[i] = pat(gpa + i);
	b->gpa = gpa;
	b->size = size;
	assert_int_equal(vmem_add_raw(&g->mem, gpa, size, gpa + UVA_DELTA, b->hva), 0);
	g->n++;
}

/*
 * Maps the data area: its first `nsliced` pieces of `slice` bytes as separate blocks, the rest of
 * DATA_SIZE as one more block. slice 0 maps it as a single block.
 */
static void g_data(uint64_t slice, unsigned nsliced)
{
	uint64_t off = 0;

	for (unsigned i = 0; slice && i < nsliced; i++, off += slice)
		g_block(DATA_GPA + off, slice);
	g_block(DATA_GPA + off, DATA_SIZE - off);
}

/* The block holding gpa, or NULL. */
static struct block *g_find(uint64_t gpa)
{
	for (unsigned i = 0; i < g->n; i++)
		if (gpa - g->b[i].gpa < g->b[i].size)
			return &g->b[i];
	return NULL;
}

/* Our pointer to the data byte at gpa; fails the test when it is not test memory. */
static uint8_t *g_byte(uint64_t gpa)
{
	struct block *b = g_find(gpa);

	if (!b)
		fail_msg("gpa 0x%llx is not test memory", (unsigned long long)gpa);
	return b->hva + (gpa - b->gpa);
}

/* Writes len bytes at gpa, byte by byte, across any block edges. */
static void g_write(uint64_t gpa, const void *src, size_t len)
{
	for (size_t i = 0; i < len; i++)
		*g_byte(gpa + i) = ((const uint8_t *)src)[i];
}

/* Number of blocks [gpa, gpa+len) touches: the iovecs a correct translation yields. */
static unsigned g_pieces(uint64_t gpa, uint64_t len)
{
	unsigned n = 0;

	while (len > 0) {
		struct block *b = g_find(gpa);
		uint64_t chunk;

		assert_non_null(b);
		chunk = b->size - (gpa - b->gpa);
		if (chunk > len)
			chunk = len;
		gpa += chunk;
		len -= chunk;
		n++;
	}
	return n;
}

/* True when [p, p+len) lies inside one data block. */
static bool iov_in_guest(const void *p, size_t len)
{
	const uint8_t *q = p;

	for (unsigned i = 0; i < g->n; i++)
		if (q >= g->b[i].hva && len <= g->b[i].size &&
		    (size_t)(q - g->b[i].hva) <= g->b[i].size - len)
			return true;
	return false;
}

/* Reads and resets an eventfd counter; 0 when it was not signalled. */
static uint64_t efd_take(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* Fresh guest: the two event areas mapped, both eventfds; the ring is mapped by ring_start(). */
static int setup(void **state)
{
	g = calloc(1, sizeof(*g));
	if (!g)
		return -1;
	vmem_init(&g->mem);
	g->rng = 0x2545f491;
	g->err_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	g->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	g->drv = calloc(1, sizeof(*g->drv));
	g->dev = calloc(1, sizeof(*g->dev));
	if (g->err_fd < 0 || g->call_fd < 0 || !g->drv || !g->dev)
		return -1;
	if (vmem_add_raw(&g->mem, DRV_GPA, sizeof(*g->drv), DRV_GPA + UVA_DELTA, g->drv) < 0 ||
	    vmem_add_raw(&g->mem, DEV_GPA, sizeof(*g->dev), DEV_GPA + UVA_DELTA, g->dev) < 0)
		return -1;
	virtq_init(&g->vq, "test/tx0");
	return 0;
}

/* Frees what setup() and the test created. */
static int teardown(void **state)
{
	virtq_free(&g->vq);
	for (unsigned i = 0; i < g->n; i++)
		free(g->b[i].hva);
	free(g->ring.hva);
	free(g->drv);
	free(g->dev);
	close(g->err_fd);
	close(g->call_fd);
	free(g);
	g = NULL;
	return 0;
}

/* ---- the driver ---- */

/* The AVAIL/USED bits of a descriptor made available in the driver's lap with wrap counter w. */
static uint16_t avail_bits(bool w)
{
	return w ? F_AVAIL : F_USED;
}

/* Moves a ring position forward by n <= num slots, toggling its wrap counter past the end. */
static void pos_step(uint16_t *slot, bool *wrap, uint32_t n)
{
	uint32_t s = (uint32_t)*slot + n;

	if (s >= g->num) {
		s -= g->num;
		*wrap = !*wrap;
	}
	*slot = (uint16_t)s;
}

/* A position as virtq_position() and virtq_base() encode it: slot | wrap << 15. */
static uint32_t pos_enc(uint16_t slot, bool wrap)
{
	return slot | (uint32_t)wrap << 15;
}

/* Where the driver makes the next descriptor available. */
static uint32_t drv_avail_pos(void)
{
	return pos_enc(g->avail_slot, g->avail_wrap);
}

/* Where the driver expects the next used descriptor. */
static uint32_t drv_used_pos(void)
{
	return pos_enc(g->used_slot, g->used_wrap);
}

/* Writes descriptor `slot` except its flags. */
static void desc_fill(uint16_t slot, uint64_t addr, uint32_t len, uint16_t id)
{
	g->desc[slot].addr = htole64(addr);
	g->desc[slot].len = htole32(len);
	g->desc[slot].id = htole16(id);
}

/* Stores descriptor `slot`'s flags with release: what was written before is visible first. */
static void desc_publish(uint16_t slot, uint16_t flags)
{
	__atomic_store_n(&g->desc[slot].flags, htole16(flags), __ATOMIC_RELEASE);
}

/* Descriptor `slot`'s flags as the driver polls them. */
static uint16_t desc_flags(uint16_t slot)
{
	return le16toh(__atomic_load_n(&g->desc[slot].flags, __ATOMIC_ACQUIRE));
}

/*
 * Makes n descriptors available from the driver's position as the spec's driver does: each
 * gets the AVAIL/USED bits of the lap it lands in (the wrap counter toggles past the last slot),
 * and the head's flags are stored last. d[i].flags holds only NEXT/WRITE/INDIRECT. Returns the
 * head's slot.
 */
static uint16_t drv_put(const struct pdesc *d, unsigned n)
{
	uint16_t head = g->avail_slot, head_flags = 0;

	for (unsigned i = 0; i < n; i++) {
		uint16_t f = d[i].flags | avail_bits(g->avail_wrap);

		desc_fill(g->avail_slot, d[i].addr, d[i].len, d[i].id);
		if (i == 0)
			head_flags = f;
		else
			desc_publish(g->avail_slot, f);
		pos_step(&g->avail_slot, &g->avail_wrap, 1);
	}
	desc_publish(head, head_flags);
	return head;
}

/* Notes chain `id` of n descriptors as in flight. */
static void drv_track(uint16_t id, unsigned n, bool write, uint32_t in_len)
{
	assert_true(id < g->num);
	assert_int_equal(g->posted[id].ndesc, 0);
	assert_true(n <= g->free_desc);
	g->posted[id] = (struct posted){ .ndesc = (uint16_t)n, .write = write, .in_len = in_len };
	g->free_desc -= n;
	if (g->in_order) {
		g->order[(g->order_head + g->order_n) % g->num] = id;
		g->order_n++;
	}
}

/*
 * Makes the chain s[0..n) available under buffer id `id`: NEXT on all but the last descriptor,
 * the id in the last. The others carry the same id for even ids (as Linux's driver writes them)
 * and an out-of-range one for odd ids: the device must read only the last. Returns the head's
 * slot.
 */
static uint16_t drv_post(const struct seg *s, unsigned n, uint16_t id)
{
	static struct pdesc d[VIRTQ_MAX_SIZE];
	uint32_t in_len = 0;
	bool write = false;

	assert_true(n >= 1 && n <= g->num);
	for (unsigned i = 0; i < n; i++) {
		d[i] = (struct pdesc){ .addr = s[i].gpa,
				       .len = s[i].len,
				       .id = i + 1 < n && (id & 1) ? (uint16_t)0xbeef : id,
				       .flags = (uint16_t)((i + 1 < n ? F_NEXT : 0) |
							   (s[i].write ? F_WRITE : 0)) };
		if (s[i].write) {
			write = true;
			in_len += s[i].len;
		}
	}
	drv_track(id, n, write, in_len);
	return drv_put(d, n);
}

/* Makes one descriptor available that points at an indirect table of `len` bytes at gpa. */
static uint16_t drv_post_indirect(uint64_t gpa, uint32_t len, uint16_t id, uint32_t in_len)
{
	const struct pdesc d = { .addr = gpa, .len = len, .id = id, .flags = F_INDIRECT };

	drv_track(id, 1, in_len > 0, in_len);
	return drv_put(&d, 1);
}

/*
 * Reads the next used descriptor if the device has written one there (AVAIL == USED == the
 * driver's used wrap counter), and moves past what it stands for: its own chain, or with IN_ORDER
 * every chain made available up to and including its id. Stores the buffers it completes in
 * ids[] (in ring order) and the entry's length in *ret_len; returns how many, 0 when the device
 * has not published a used descriptor there.
 */
static unsigned drv_reap(uint16_t *ids, uint32_t *ret_len)
{
	uint16_t f = desc_flags(g->used_slot), id;
	uint32_t len, skip = 0;
	unsigned done = 0;

	if (!!(f & F_AVAIL) != g->used_wrap || !!(f & F_USED) != g->used_wrap)
		return 0;
	id = le16toh(g->desc[g->used_slot].id);
	len = le32toh(g->desc[g->used_slot].len);
	assert_true(id < g->num);
	assert_int_not_equal(g->posted[id].ndesc, 0); /* the device names a buffer in flight */
	/* WRITE in a used descriptor: the device wrote len bytes (len is reserved otherwise). */
	assert_int_equal(!!(f & F_WRITE), len != 0);
	if (g->in_order) {
		for (;;) {
			uint16_t oldest;

			assert_true(g->order_n > 0);
			oldest = g->order[g->order_head];
			g->order_head = (g->order_head + 1) % g->num;
			g->order_n--;
			skip += g->posted[oldest].ndesc;
			g->posted[oldest].ndesc = 0;
			ids[done++] = oldest;
			if (oldest == id)
				break;
		}
	} else {
		skip = g->posted[id].ndesc;
		g->posted[id].ndesc = 0;
		ids[done++] = id;
	}
	pos_step(&g->used_slot, &g->used_wrap, skip);
	g->free_desc += skip;
	*ret_len = len;
	return done;
}

/* The driver reads one used descriptor for buffer `id` of `len` bytes alone. */
static void expect_used(uint16_t id, uint32_t len)
{
	uint16_t ids[1];
	uint32_t l;

	assert_int_equal(drv_reap(ids, &l), 1);
	assert_int_equal(ids[0], id);
	assert_int_equal(l, len);
}

/* The driver finds no new used descriptor. */
static void expect_no_used(void)
{
	uint16_t ids[VIRTQ_MAX_SIZE];
	uint32_t l;

	assert_int_equal(drv_reap(ids, &l), 0);
}

/* ---- the device side ---- */

/* Replaces the descriptor ring by a zeroed block of exactly 16 * num bytes. */
static void ring_block(uint32_t num)
{
	if (g->ring.hva) {
		assert_int_equal(vmem_remove(&g->mem, RING_GPA, g->ring.size, RING_GPA + UVA_DELTA),
				 0);
		free(g->ring.hva);
	}
	g->ring.gpa = RING_GPA;
	g->ring.size = 16 * (uint64_t)num;
	g->ring.hva = aligned_alloc(16, g->ring.size); /* size: a multiple of 16 */
	assert_non_null(g->ring.hva);
	memset(g->ring.hva, 0, g->ring.size);
	assert_int_equal(
		vmem_add_raw(&g->mem, RING_GPA, g->ring.size, RING_GPA + UVA_DELTA, g->ring.hva),
		0);
	g->desc = (struct pdesc *)g->ring.hva;
}

/*
 * Resets the driver to ring state `base` (virtq_map()'s encoding), nothing in flight, and lays
 * the ring out as a ring standing there looks: descriptors before the used slot were used in the
 * current lap, the others in the previous one (a zeroed descriptor reads as used in a lap with
 * wrap counter 0, so a fresh ring is all zeroes).
 */
static void drv_reset(uint32_t num, uint64_t features, uint32_t base)
{
	uint32_t used = base >> 16 ? base >> 16 : base & 0xffff;
	bool w = (used >> 15) & 1;

	g->num = num;
	g->avail_slot = base & 0x7fff;
	g->avail_wrap = (base >> 15) & 1;
	g->used_slot = used & 0x7fff;
	g->used_wrap = (used >> 15) & 1;
	g->free_desc = num;
	g->in_order = features & FEAT_IN_ORDER;
	g->order_head = g->order_n = 0;
	memset(g->posted, 0, sizeof(g->posted));
	memset(g->drv, 0, sizeof(*g->drv));
	memset(g->dev, 0, sizeof(*g->dev));
	for (uint32_t i = 0; i < num; i++)
		if (i < (used & 0x7fff) ? w : !w)
			g->desc[i].flags = htole16(F_AVAIL | F_USED);
}

/* Points the vq at the ring of `num` descriptors and the two event areas (no virtq_map()). */
static void vq_setup(uint32_t num, uint64_t features)
{
	g->vq.num = num;
	g->vq.desc_uva = RING_GPA + UVA_DELTA;
	g->vq.avail_uva = DRV_GPA + UVA_DELTA;
	g->vq.used_uva = DEV_GPA + UVA_DELTA;
	g->vq.mem = &g->mem;
	g->vq.features = FEAT_BASE | features;
	g->vq.err_fd = g->err_fd;
	g->vq.call_fd = g->call_fd;
}

/* A fresh zeroed ring of num descriptors, the driver and the engine both starting at `base`. */
static void ring_start(uint32_t num, uint64_t features, uint32_t base)
{
	ring_block(num);
	drv_reset(num, features, base);
	vq_setup(num, features);
	assert_int_equal(virtq_map(&g->vq, base), 0);
	assert_true(g->vq.packed);
	assert_true(virtq_ready(&g->vq));
}

/*
 * Checks a popped chain against the buffers the driver posted: head, lengths, iovec counts (one
 * per block piece), every iovec inside guest memory, readable bytes equal to guest memory, and
 * writable iovecs landing on the right guest bytes (put back afterwards).
 */
static void check_chain(uint16_t head, const struct seg *s, unsigned n)
{
	static uint8_t buf[1 << 17];
	uint32_t out_len = 0, in_len = 0, k = 0;
	unsigned out_iov = 0, in_iov = 0;

	for (unsigned i = 0; i < n; i++) {
		if (s[i].write) {
			in_len += s[i].len;
			in_iov += g_pieces(s[i].gpa, s[i].len);
		} else {
			out_len += s[i].len;
			out_iov += g_pieces(s[i].gpa, s[i].len);
		}
	}
	assert_int_equal(g->ch.head, head);
	assert_int_equal(g->ch.out_len, out_len);
	assert_int_equal(g->ch.in_len, in_len);
	assert_int_equal(g->ch.out_iov, out_iov);
	assert_int_equal(g->ch.in_iov, in_iov);
	for (unsigned i = 0; i < out_iov + in_iov; i++)
		assert_true(iov_in_guest(g->iov[i].iov_base, g->iov[i].iov_len));
	assert_int_equal(iov_size(g->iov, out_iov), out_len);
	assert_int_equal(iov_size(g->iov + out_iov, in_iov), in_len);

	assert_true(out_len <= sizeof(buf) && in_len <= sizeof(buf));
	assert_int_equal(iov_to_buf(g->iov, out_iov, 0, buf, out_len), out_len);
	for (unsigned i = 0; i < n; i++)
		for (uint32_t b = 0; !s[i].write && b < s[i].len; b++, k++)
			if (buf[k] != pat(s[i].gpa + b))
				fail_msg("readable byte %u (gpa 0x%llx) is %u, want %u", k,
					 (unsigned long long)(s[i].gpa + b), buf[k],
					 pat(s[i].gpa + b));

	for (uint32_t b = 0; b < in_len; b++)
		buf[b] = (uint8_t)~pat(b * 5 + 3);
	assert_int_equal(iov_from_buf(g->iov + out_iov, in_iov, 0, buf, in_len), in_len);
	k = 0;
	for (unsigned i = 0; i < n; i++)
		for (uint32_t b = 0; s[i].write && b < s[i].len; b++, k++)
			assert_int_equal(*g_byte(s[i].gpa + b), buf[k]);
	for (unsigned i = 0; i < n; i++)
		for (uint32_t b = 0; s[i].write && b < s[i].len; b++)
			*g_byte(s[i].gpa + b) = pat(s[i].gpa + b);
}

/* Pops with all iovecs and expects a chain. */
static void pop_ok(void)
{
	assert_int_equal(virtq_pop(&g->vq, g->iov, MAX_IOV, &g->ch), 1);
	assert_false(g->vq.broken);
}

/* Asserts the ring is empty and healthy. */
static void pop_empty(void)
{
	assert_int_equal(virtq_pop(&g->vq, g->iov, MAX_IOV, &g->ch), 0);
	assert_false(g->vq.broken);
	assert_int_equal(g->vq.faults, 0);
}

/*
 * The guest broke a rule: the pop fails with an errno other than -ENOBUFS, the ring is broken,
 * exactly one more fault is counted, the error eventfd fired once, nothing was consumed, and the
 * broken ring yields nothing more (nor faults again).
 */
static void pop_fault(void)
{
	struct virtq_chain bch[VIRTQ_BURST_MAX];
	uint32_t pos = virtq_position(&g->vq), base = virtq_base(&g->vq);
	uint64_t faults = g->vq.faults;
	int r = virtq_pop(&g->vq, g->iov, MAX_IOV, &g->ch);

	assert_true(r < 0);
	assert_int_not_equal(r, -ENOBUFS);
	assert_true(g->vq.broken);
	assert_false(virtq_ready(&g->vq));
	assert_int_equal(g->vq.faults, faults + 1);
	assert_int_equal(efd_take(g->err_fd), 1);
	assert_int_equal(virtq_position(&g->vq), pos);
	assert_int_equal(virtq_base(&g->vq), base);
	assert_int_equal(virtq_pop(&g->vq, g->iov, MAX_IOV, &g->ch), 0);
	assert_int_equal(virtq_pop_burst(&g->vq, g->iov, bch, VIRTQ_BURST_MAX), 0);
	assert_false(virtq_has_work(&g->vq));
	assert_int_equal(efd_take(g->err_fd), 0);
	assert_int_equal(g->vq.faults, faults + 1);
}

/* Pops the chain just posted and pushes it back with `len` bytes written; flushes. */
static void pop_push_flush(uint16_t id, uint32_t len)
{
	pop_ok();
	assert_int_equal(g->ch.head, id);
	virtq_push(&g->vq, id, len);
	virtq_flush_notify(&g->vq);
}

/* ---- good chains ---- */

/*
 * One readable descriptor comes back as one iovec over the guest's bytes; pushed and flushed, it
 * is the used descriptor the driver finds at its position, and both sides move on by one slot.
 */
static void test_single(void **state)
{
	const struct seg s = { DATA_GPA + 100, 200, false };

	g_data(0, 0);
	ring_start(8, 0, FRESH);
	assert_false(virtq_has_work(&g->vq));
	pop_empty();
	drv_post(&s, 1, 5);
	assert_true(virtq_has_work(&g->vq));
	pop_ok();
	check_chain(5, &s, 1);
	assert_ptr_equal(g->iov[0].iov_base, g_byte(DATA_GPA + 100));
	assert_int_equal(virtq_position(&g->vq), 0x8001);
	assert_false(virtq_has_work(&g->vq));
	pop_empty();
	virtq_push(&g->vq, 5, 0);
	virtq_flush_notify(&g->vq);
	expect_used(5, 0);
	expect_no_used();
	assert_int_equal(virtq_base(&g->vq), 0x80018001);
	assert_int_equal(efd_take(g->err_fd), 0);
}

/* A writable buffer: the used descriptor carries WRITE and the length the device wrote. */
static void test_single_write(void **state)
{
	const struct seg s = { DATA_GPA + 0x1000, 1500, true };

	g_data(0, 0);
	ring_start(4, 0, FRESH);
	drv_post(&s, 1, 0);
	pop_ok();
	check_chain(0, &s, 1);
	virtq_push(&g->vq, 0, 1000);
	virtq_flush_notify(&g->vq);
	assert_int_equal(desc_flags(0), F_AVAIL | F_USED | F_WRITE);
	expect_used(0, 1000);
}

/*
 * A chain of two readable and two writable buffers with a zero-length one among them: five
 * descriptors taken, four iovecs (the empty buffer adds none, as with split rings), one used
 * descriptor; the driver skips all five slots.
 */
static void test_chain(void **state)
{
	const struct seg s[] = {
		{ DATA_GPA + 0x1000, 12, false },   { DATA_GPA + 0x5000, 0, false },
		{ DATA_GPA + 0x2000, 1500, false }, { DATA_GPA + 0x3000, 64, true },
		{ DATA_GPA + 0x100, 3000, true },
	};

	g_data(0, 0);
	ring_start(16, 0, FRESH);
	drv_post(s, 5, 9);
	pop_ok();
	check_chain(9, s, 5);
	assert_int_equal(g->ch.out_iov, 2);
	assert_int_equal(g->ch.in_iov, 2);
	assert_int_equal(virtq_position(&g->vq), 0x8005);
	pop_empty();
	virtq_push(&g->vq, 9, 3064);
	virtq_flush_notify(&g->vq);
	expect_used(9, 3064);
	expect_no_used();
	assert_int_equal(virtq_base(&g->vq), 0x80058005);
}

/* Two chains made available together come back in order and are used in order. */
static void test_two_chains(void **state)
{
	const struct seg a[] = { { DATA_GPA, 10, false }, { DATA_GPA + 50, 20, true } };
	const struct seg b[] = { { DATA_GPA + 200, 30, true } };

	g_data(0, 0);
	ring_start(4, 0, FRESH);
	drv_post(a, 2, 3);
	drv_post(b, 1, 0);
	pop_ok();
	check_chain(3, a, 2);
	pop_ok();
	check_chain(0, b, 1);
	pop_empty();
	virtq_push(&g->vq, 3, 20);
	virtq_push(&g->vq, 0, 30);
	virtq_flush_notify(&g->vq);
	expect_used(3, 20);
	expect_used(0, 30);
	expect_no_used();
	assert_int_equal(virtq_base(&g->vq), 0x80038003);
}

/*
 * An indirect descriptor stands for its table's buffers, one slot in the ring. Inside the table
 * only WRITE counts (NEXT and ids are ignored); WRITE on the indirect descriptor itself is
 * reserved and ignored.
 */
static void test_indirect(void **state)
{
	const struct seg s[] = {
		{ DATA_GPA + 0x1000, 100, false },
		{ DATA_GPA + 0x2000, 200, false },
		{ DATA_GPA + 0x3000, 300, true },
	};
	const struct pdesc t[] = {
		{ s[0].gpa, s[0].len, 77, F_NEXT },
		{ s[1].gpa, s[1].len, 0, 0 },
		{ s[2].gpa, s[2].len, 0xffff, F_WRITE | F_NEXT },
	};
	const struct pdesc d = { DATA_GPA + 0x800, sizeof(t), 2, F_INDIRECT | F_WRITE };

	g_data(0, 0);
	ring_start(8, FEAT_INDIRECT, FRESH);
	g_write(DATA_GPA + 0x800, t, sizeof(t));
	drv_track(2, 1, true, 300);
	drv_put(&d, 1);
	pop_ok();
	check_chain(2, s, 3);
	assert_int_equal(virtq_position(&g->vq), 0x8001);
	pop_empty();
	virtq_push(&g->vq, 2, 300);
	virtq_flush_notify(&g->vq);
	expect_used(2, 300);
}

/*
 * An indirect table straddling two separately allocated regions (one entry cut in its address
 * field) is read byte for byte: reading it as contiguous, or copying in elements instead of
 * bytes, yields other descriptors.
 */
static void test_indirect_straddle(void **state)
{
	const struct seg s[] = {
		{ DATA_GPA + 0x1000, 17, false }, { DATA_GPA + 0x1100, 33, false },
		{ DATA_GPA + 0x1200, 65, false }, { DATA_GPA + 0x1300, 129, true },
		{ DATA_GPA + 0x1400, 257, true },
	};
	struct pdesc t[5];

	for (unsigned i = 0; i < 5; i++)
		t[i] = (struct pdesc){ s[i].gpa, s[i].len, (uint16_t)i,
				       (uint16_t)(s[i].write ? F_WRITE : 0) };
	g_data(40, 1); /* [DATA, DATA+40) then [DATA+40, DATA_SIZE) */
	ring_start(8, FEAT_INDIRECT, FRESH);
	g_write(DATA_GPA + 4, t, sizeof(t)); /* bytes 4..84: entry 2 straddles at 40 */
	drv_post_indirect(DATA_GPA + 4, sizeof(t), 6, 386);
	pop_ok();
	check_chain(6, s, 5);
	pop_empty();
}

/* An indirect table in one-byte regions, one of its buffers too. */
static void test_indirect_one_byte(void **state)
{
	const struct seg s[] = {
		{ DATA_GPA + 0x1000, 40, false },
		{ DATA_GPA + 200, 9, false }, /* itself in one-byte regions */
		{ DATA_GPA + 0x1800, 70, true },
	};
	const struct pdesc t[] = {
		{ s[0].gpa, s[0].len, 0, 0 },
		{ s[1].gpa, s[1].len, 0, 0 },
		{ s[2].gpa, s[2].len, 0, F_WRITE },
	};

	g_data(1, 300);
	ring_start(4, FEAT_INDIRECT, FRESH);
	g_write(DATA_GPA + 3, t, sizeof(t));
	drv_post_indirect(DATA_GPA + 3, sizeof(t), 1, 70);
	pop_ok();
	check_chain(1, s, 3);
	assert_int_equal(g->ch.out_iov, 10);
	pop_empty();
}

/* Buffers across region edges are split exactly there, each piece pointing into its own block. */
static void test_split_at_edges(void **state)
{
	const struct seg s[] = {
		{ DATA_GPA + 100, 300, false }, /* [100,400): edges 128, 256, 384 */
		{ DATA_GPA + 500, 12, true },	/* [500,512): ends on an edge */
		{ DATA_GPA + 512, 1, true },	/* first byte of a region */
	};

	g_data(128, 8);
	ring_start(8, 0, FRESH);
	drv_post(s, 3, 7);
	pop_ok();
	check_chain(7, s, 3);
	assert_int_equal(g->ch.out_iov, 4);
	assert_ptr_equal(g->iov[0].iov_base, g_byte(DATA_GPA + 100));
	assert_int_equal(g->iov[0].iov_len, 28);
	assert_ptr_equal(g->iov[1].iov_base, g_byte(DATA_GPA + 128));
	assert_int_equal(g->iov[3].iov_len, 16);
	assert_int_equal(g->ch.in_iov, 2);
}

/*
 * Memory sliced into one-byte regions: one iovec per byte. One iovec short is -ENOBUFS with
 * nothing consumed, no fault and the ring healthy; the same chain pops whole afterwards and the
 * ring goes on.
 */
static void test_enobufs(void **state)
{
	const struct seg s[] = {
		{ DATA_GPA + 10, 37, false },
		{ DATA_GPA + 300, 1, false },
		{ DATA_GPA + 100, 120, true },
	};
	const struct seg next = { DATA_GPA + 0x2000, 10, false };

	g_data(1, 480);
	ring_start(4, 0, 0x8002); /* the chain wraps past the end of the ring */
	drv_post(s, 3, 2);
	drv_post(&next, 1, 0);
	assert_int_equal(virtq_pop(&g->vq, g->iov, 157, &g->ch), -ENOBUFS);
	assert_int_equal(virtq_pop(&g->vq, g->iov, 37, &g->ch), -ENOBUFS);
	assert_int_equal(virtq_pop(&g->vq, g->iov, 0, &g->ch), -ENOBUFS);
	assert_false(g->vq.broken);
	assert_true(virtq_ready(&g->vq));
	assert_int_equal(g->vq.faults, 0);
	assert_int_equal(efd_take(g->err_fd), 0);
	assert_int_equal(virtq_position(&g->vq), 0x8002);
	assert_int_equal(virtq_pop(&g->vq, g->iov, 158, &g->ch), 1);
	check_chain(2, s, 3);
	assert_int_equal(g->ch.out_iov, 38);
	assert_int_equal(g->ch.in_iov, 120);
	assert_int_equal(virtq_position(&g->vq), 0x0001);
	pop_ok();
	check_chain(0, &next, 1);
	pop_empty();
	virtq_push(&g->vq, 2, 120);
	virtq_push(&g->vq, 0, 0);
	virtq_flush_notify(&g->vq);
	expect_used(2, 120);
	expect_used(0, 0);
	assert_int_equal(virtq_base(&g->vq), 0x00020002);
}

/* -ENOBUFS from an indirect chain also consumes nothing. */
static void test_enobufs_indirect(void **state)
{
	const struct seg s[] = { { DATA_GPA + 0x1000, 8, false }, { DATA_GPA + 0x2000, 8, true } };
	const struct pdesc t[] = { { s[0].gpa, 8, 0, 0 }, { s[1].gpa, 8, 0, F_WRITE } };

	g_data(0, 0);
	ring_start(4, FEAT_INDIRECT, FRESH);
	g_write(DATA_GPA, t, sizeof(t));
	drv_post_indirect(DATA_GPA, sizeof(t), 3, 8);
	assert_int_equal(virtq_pop(&g->vq, g->iov, 1, &g->ch), -ENOBUFS);
	assert_false(g->vq.broken);
	assert_int_equal(g->vq.faults, 0);
	assert_int_equal(virtq_position(&g->vq), 0x8000);
	assert_int_equal(virtq_pop(&g->vq, g->iov, 2, &g->ch), 1);
	check_chain(3, s, 2);
}

/* ---- wrap-around ---- */

/* The buffers of random chain (seed, n): some readable then the rest writable, a few empty. */
static void gen_segs(uint32_t seed, unsigned n, struct seg *s)
{
	uint32_t x = xorshift(seed | 1);
	unsigned nread = x % (n + 1);

	for (unsigned i = 0; i < n; i++) {
		x = xorshift(x);
		s[i].gpa = DATA_GPA + x % (DATA_SIZE - 64);
		x = xorshift(x);
		s[i].len = x % 16 == 0 ? 0 : 1 + x % 48;
		s[i].write = i >= nread;
	}
}

/* A chain length the driver might use now: mostly single descriptors, some short chains, a few
 * long ones (which fill a small ring). */
static unsigned random_chain_len(void)
{
	uint32_t r = rnd() % 64, room = g->free_desc;

	if (r == 0)
		return room < MAX_RANDOM_CHAIN ? room : MAX_RANDOM_CHAIN;
	if (r < 32)
		return 1;
	return 1 + rnd() % (room < 8 ? room : 8);
}

/* Where random chain `id` keeps its indirect table (ids below 128, 8 entries at most). */
static uint64_t random_table_gpa(uint16_t id)
{
	return DATA_GPA + 0xc000 + 128 * (uint64_t)id;
}

/*
 * Makes a random chain available under a random free id: n descriptors, or (with INDIRECT_DESC,
 * now and then) one descriptor pointing at a table of up to 8. Returns the descriptors it took.
 */
static unsigned post_random(unsigned n)
{
	struct seg s[MAX_RANDOM_CHAIN];
	uint32_t seed = rnd(), in_len = 0;
	uint16_t id = (uint16_t)(rnd() % g->num);

	while (g->posted[id].ndesc)
		id = (uint16_t)((id + 1) % g->num);
	if (g->vq.indirect && id < 128 && rnd() % 4 == 0) {
		struct pdesc t[8];
		unsigned nind = 1 + rnd() % (g->num < 8 ? g->num : 8); /* at most num entries */

		gen_segs(seed, nind, s);
		for (unsigned i = 0; i < nind; i++) {
			t[i] = (struct pdesc){ s[i].gpa, s[i].len, 0,
					       (uint16_t)(s[i].write ? F_WRITE : 0) };
			in_len += s[i].write ? s[i].len : 0;
		}
		g_write(random_table_gpa(id), t, nind * sizeof(t[0]));
		/* Writable entries of 0 bytes leave nothing to report: the chain may batch. */
		drv_post_indirect(random_table_gpa(id), nind * sizeof(t[0]), id, in_len);
		g->posted[id].nind = (uint16_t)nind;
		g->posted[id].seed = seed;
		return 1;
	}
	gen_segs(seed, n, s);
	drv_post(s, n, id);
	g->posted[id].seed = seed;
	return n;
}

/* Checks chain c, taken into iov, against the random chain the driver posted under its id. */
static void check_random(const struct virtq_chain *c, const struct iovec *iov)
{
	struct seg s[MAX_RANDOM_CHAIN];
	const struct posted *p = &g->posted[c->head];
	unsigned k = 0, out_iov = 0, n = p->nind ? p->nind : p->ndesc;
	uint32_t out_len = 0, in_len = 0;

	assert_true(c->head < g->num);
	assert_int_not_equal(p->ndesc, 0);
	gen_segs(p->seed, n, s);
	for (unsigned i = 0; i < n; i++) {
		if (!s[i].len)
			continue;
		assert_ptr_equal(iov[k].iov_base, g_byte(s[i].gpa));
		assert_int_equal(iov[k].iov_len, s[i].len);
		k++;
		if (s[i].write) {
			in_len += s[i].len;
		} else {
			out_len += s[i].len;
			out_iov = k;
		}
	}
	assert_int_equal(c->out_len, out_len);
	assert_int_equal(c->in_len, in_len);
	assert_int_equal(c->out_iov, out_iov);
	assert_int_equal(c->in_iov, k - out_iov);
}

/*
 * Runs the ring of `num` descriptors from `base` for `laps` laps of the driver's descriptors:
 * the driver makes random chains available whenever it has room (chains that wrap past the end
 * of the ring included); the device takes them all (by bursts and single pops), completes some
 * (in ring order, or not unless IN_ORDER), flushes; the driver reads every used descriptor at
 * its own position and must find exactly the ids pushed, in push order, with their lengths.
 * Chains the device keeps stay in flight across rounds. At the end both sides stand at the same
 * slot and wrap counter, which virtq_base() encodes in both halves.
 */
static void run_laps(uint32_t num, unsigned laps, uint64_t features, uint32_t base)
{
	static uint16_t held[VIRTQ_MAX_SIZE], done[VIRTQ_MAX_SIZE];
	static struct {
		uint16_t id;
		uint32_t len;
	} pushed[VIRTQ_MAX_SIZE];
	struct virtq_chain bch[VIRTQ_BURST_MAX];
	uint64_t target = (uint64_t)laps * num, made = 0;
	unsigned nheld = 0;

	ring_start(num, features, base);
	while (made < target || g->free_desc < num) {
		unsigned npush, npushed = 0;

		for (unsigned k = 1 + rnd() % 6; made < target && k > 0 && g->free_desc > 0; k--)
			made += post_random(random_chain_len());
		assert_int_equal(virtq_avail_position(&g->vq), drv_avail_pos());
		assert_int_equal(virtq_has_work(&g->vq), virtq_position(&g->vq) != drv_avail_pos());
		for (;;) {
			unsigned got = 0;

			if (rnd() & 1) {
				got = virtq_pop_burst(&g->vq, g->iov, bch,
						      1 + rnd() % VIRTQ_BURST_MAX);
				for (unsigned i = 0; i < got; i++) {
					check_random(&bch[i], &g->iov[i]);
					held[nheld++] = bch[i].head;
				}
			}
			if (!got) {
				int r = virtq_pop(&g->vq, g->iov, MAX_IOV, &g->ch);

				assert_true(r == 0 || r == 1);
				if (!r)
					break;
				check_random(&g->ch, g->iov);
				held[nheld++] = g->ch.head;
			}
		}
		assert_false(g->vq.broken);
		assert_int_equal(virtq_position(&g->vq), drv_avail_pos());

		npush = rnd() % 4 ? nheld : rnd() % (nheld + 1);
		while (npush-- > 0) {
			unsigned j = g->in_order || (rnd() & 1) ? 0 : rnd() % nheld;
			uint16_t id = held[j];
			uint32_t in_len = g->posted[id].in_len;
			uint32_t len = in_len && (rnd() & 3) ? rnd() % (in_len + 1) : 0;

			memmove(&held[j], &held[j + 1], (nheld - j - 1) * sizeof(held[0]));
			nheld--;
			virtq_push(&g->vq, id, len);
			pushed[npushed].id = id;
			pushed[npushed++].len = len;
		}
		virtq_flush_notify(&g->vq);

		for (unsigned k = 0; k < npushed;) {
			uint32_t len;
			unsigned nd = drv_reap(done, &len);

			/* Nothing where the driver looks: the two sides' positions disagree. */
			assert_int_not_equal(nd, 0);
			assert_true(k + nd <= npushed);
			for (unsigned i = 0; i < nd; i++) {
				assert_int_equal(done[i], pushed[k + i].id);
				/* Batched (IN_ORDER): only device-read chains completed with 0. */
				if (i + 1 < nd) {
					assert_int_equal(pushed[k + i].len, 0);
					assert_false(g->posted[done[i]].write);
				}
			}
			assert_int_equal(len, pushed[k + nd - 1].len);
			k += nd;
		}
		expect_no_used();
		if (!nheld)
			assert_int_equal(virtq_base(&g->vq) >> 16, drv_used_pos());
	}
	assert_int_equal(drv_used_pos(), drv_avail_pos());
	assert_int_equal(virtq_base(&g->vq), drv_avail_pos() * 0x10001u);
	assert_int_equal(virtq_position(&g->vq), drv_avail_pos());
	assert_int_equal(g->vq.faults, 0);
	assert_int_equal(efd_take(g->err_fd), 0);
}

/* Every ring size from 1 to 64, and larger ones up to the largest, several laps each. */
static void test_wrap_sizes(void **state)
{
	const uint32_t big[] = { 255, 256, 1000, 1024, 4096 };

	g_data(0, 0);
	for (uint32_t num = 1; num <= 64; num++)
		run_laps(num, 5, 0, FRESH);
	for (unsigned i = 0; i < sizeof(big) / sizeof(big[0]); i++)
		run_laps(big[i], 3, 0, FRESH);
	run_laps(VIRTQ_MAX_SIZE, 2, 0, FRESH);
}

/*
 * The same from bases in the middle of a lap with either wrap counter, with indirect chains mixed
 * in and EVENT_IDX.
 */
static void test_wrap_bases(void **state)
{
	const uint64_t f = FEAT_INDIRECT | FEAT_EVENT;

	g_data(0, 0);
	for (uint32_t num = 1; num <= 40; num++) {
		run_laps(num, 4, f, (num / 2) | 0x8000);
		run_laps(num, 4, f, num - 1); /* the last slot, wrap counter 0 */
	}
	run_laps(1000, 3, f, 999);
	run_laps(VIRTQ_MAX_SIZE, 1, f, 0x7ff0);
}

/* IN_ORDER: the device completes in ring order; read-only chains completed with 0 batch. */
static void test_wrap_in_order(void **state)
{
	g_data(0, 0);
	for (uint32_t num = 1; num <= 40; num++)
		run_laps(num, 5, FEAT_IN_ORDER | (num % 2 ? FEAT_INDIRECT : 0), FRESH);
	run_laps(256, 4, FEAT_IN_ORDER | FEAT_INDIRECT, 0x00c0);
	run_laps(VIRTQ_MAX_SIZE, 1, FEAT_IN_ORDER, FRESH);
}

/*
 * A chain of exactly num descriptors (every slot of the ring; legal: the spec only forbids
 * longer ones), at several sizes up to the largest, starting at slot 0 and mid-ring (so it
 * wraps): it pops whole, and once used both sides are one full lap further, on the same slot
 * with the wrap counter toggled. Its descriptors are empty but the first and the last, so even
 * 32768 of them fit in a few iovecs.
 */
static void chain_of_num(uint32_t num, uint32_t base, uint64_t features, uint32_t len)
{
	static struct seg s[VIRTQ_MAX_SIZE];
	uint32_t start;

	ring_start(num, features, base);
	start = drv_avail_pos();
	for (uint32_t i = 0; i < num; i++)
		s[i] = (struct seg){ DATA_GPA + i % 1024, 0, false };
	s[0].len = 10;
	if (num > 1) {
		s[num - 1].len = 20;
		s[num - 1].write = len > 0;
	}
	for (unsigned lap = 0; lap < 2; lap++) {
		drv_post(s, num, (uint16_t)(num - 1));
		assert_int_equal(virtq_avail_position(&g->vq), start ^ 0x8000);
		pop_ok();
		check_chain((uint16_t)(num - 1), s, num);
		assert_int_equal(virtq_position(&g->vq), start ^ 0x8000);
		pop_empty();
		virtq_push(&g->vq, (uint16_t)(num - 1), num > 1 ? len : 0);
		virtq_flush_notify(&g->vq);
		expect_used((uint16_t)(num - 1), num > 1 ? len : 0);
		expect_no_used();
		start ^= 0x8000;
		assert_int_equal(drv_used_pos(), start);
		assert_int_equal(virtq_base(&g->vq), start * 0x10001u);
	}
	/* And the ring goes on with an ordinary chain. */
	s[0].len = 5;
	drv_post(s, 1, 0);
	pop_push_flush(0, 0);
	expect_used(0, 0);
	assert_false(g->vq.broken);
}

/* Full-ring chains at sizes 1 to 32768, from slot 0 and mid-ring, with and without IN_ORDER. */
static void test_chain_of_num(void **state)
{
	const uint32_t sizes[] = { 1, 2, 7, 256, 1024, VIRTQ_MAX_SIZE };

	g_data(0, 0);
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		chain_of_num(sizes[i], FRESH, 0, 20);
		chain_of_num(sizes[i], (sizes[i] / 3) | 0x8000, 0, 20);
		chain_of_num(sizes[i], sizes[i] - 1, FEAT_IN_ORDER, 0);
		chain_of_num(sizes[i], FRESH, FEAT_IN_ORDER, 20);
	}
}

/* The same chain taken and given back with virtq_unpop() at the largest size. */
static void test_chain_of_num_unpop(void **state)
{
	static struct seg s[VIRTQ_MAX_SIZE];
	const uint32_t num = VIRTQ_MAX_SIZE;

	g_data(0, 0);
	ring_start(num, 0, 0x8005);
	for (uint32_t i = 0; i < num; i++)
		s[i] = (struct seg){ DATA_GPA + i % 1024, i == 0 ? 3 : 0, false };
	drv_post(s, num, 17);
	pop_ok();
	assert_int_equal(virtq_position(&g->vq), 0x0005);
	virtq_unpop(&g->vq, 1);
	assert_int_equal(virtq_position(&g->vq), 0x8005);
	pop_ok();
	check_chain(17, s, num);
	virtq_push(&g->vq, 17, 0);
	virtq_flush_notify(&g->vq);
	expect_used(17, 0);
	assert_int_equal(virtq_base(&g->vq), 0x00050005);
}

/* ---- malformed rings ---- */

/* Writes descriptor slot with explicit flags (AVAIL/USED bits included): a hostile driver. */
static void raw_desc(uint16_t slot, uint64_t addr, uint32_t len, uint16_t id, uint16_t flags)
{
	desc_fill(slot, addr, len, id);
	desc_publish(slot, flags);
}

/* The flags of a descriptor available in the lap with wrap counter w. */
static uint16_t av(bool w, uint16_t flags)
{
	return flags | avail_bits(w);
}

/* Every descriptor of the ring chained with NEXT: the chain never ends. */
static void test_chain_longer_than_ring(void **state)
{
	g_data(0, 0);
	ring_start(4, 0, FRESH);
	for (uint16_t i = 0; i < 4; i++)
		raw_desc(i, DATA_GPA + 16 * i, 16, i, av(1, F_NEXT));
	pop_fault();
}

/* The same starting mid-ring: the descriptors after the wrap carry the next lap's bits. */
static void test_chain_longer_than_ring_wrapped(void **state)
{
	g_data(0, 0);
	ring_start(4, 0, 0x8002);
	raw_desc(3, DATA_GPA + 16, 16, 0, av(1, F_NEXT));
	raw_desc(0, DATA_GPA + 32, 16, 0, av(0, F_NEXT));
	raw_desc(1, DATA_GPA + 48, 16, 0, av(0, F_NEXT));
	raw_desc(2, DATA_GPA, 16, 0, av(1, F_NEXT));
	pop_fault();
}

/* A chain's second descriptor was never made available (flags still zero). */
static void test_next_not_available(void **state)
{
	g_data(0, 0);
	ring_start(8, 0, FRESH);
	desc_fill(1, DATA_GPA + 100, 10, 1);
	raw_desc(0, DATA_GPA, 10, 0, av(1, F_NEXT));
	pop_fault();
}

/* A chain's second descriptor carries the other lap's bits: the wrap counter disagrees. */
static void test_next_wrong_lap(void **state)
{
	g_data(0, 0);
	ring_start(8, 0, FRESH);
	raw_desc(1, DATA_GPA + 100, 10, 1, av(0, 0));
	raw_desc(0, DATA_GPA, 10, 0, av(1, F_NEXT));
	pop_fault();
}

/* A chain's second descriptor says "used" (AVAIL == USED). */
static void test_next_used_bits(void **state)
{
	g_data(0, 0);
	ring_start(8, 0, FRESH);
	raw_desc(1, DATA_GPA + 100, 10, 1, F_AVAIL | F_USED);
	raw_desc(0, DATA_GPA, 10, 0, av(1, F_NEXT));
	pop_fault();
}

/* A chain that wraps past the end whose descriptor after the wrap kept the old lap's bits. */
static void test_next_wrap_not_toggled(void **state)
{
	g_data(0, 0);
	ring_start(4, 0, 0x8003);
	raw_desc(0, DATA_GPA + 100, 10, 1, av(1, 0)); /* should be av(0, 0) */
	raw_desc(3, DATA_GPA, 10, 0, av(1, F_NEXT));
	pop_fault();
}

/* A buffer id equal to the ring size. */
static void test_bad_id(void **state)
{
	g_data(0, 0);
	ring_start(8, 0, FRESH);
	raw_desc(0, DATA_GPA, 10, 8, av(1, 0));
	pop_fault();
}

/* The largest id, in the last descriptor of a chain (the head's id is ignored and fine). */
static void test_bad_id_chain(void **state)
{
	g_data(0, 0);
	ring_start(8, 0, 0x8006);
	raw_desc(7, DATA_GPA + 10, 10, 0, av(1, F_NEXT));
	raw_desc(0, DATA_GPA + 20, 10, 0xffff, av(0, F_WRITE));
	raw_desc(6, DATA_GPA, 10, 1, av(1, F_NEXT));
	pop_fault();
}

/*
 * A buffer id made available again while its first chain is in flight (taken, not pushed). Once
 * the device has pushed it, the id is free again even before the driver read it.
 */
static void test_id_in_flight(void **state)
{
	const struct seg s = { DATA_GPA, 10, false };

	g_data(0, 0);
	ring_start(8, 0, FRESH);
	drv_post(&s, 1, 3);
	pop_ok();
	raw_desc(1, DATA_GPA + 10, 10, 4, av(1, F_NEXT));
	raw_desc(2, DATA_GPA + 20, 10, 3, av(1, 0));
	pop_fault();
}

/* Once pushed (even before the flush), an id may be made available again. */
static void test_id_free_after_push(void **state)
{
	const struct seg s = { DATA_GPA, 10, false };

	g_data(0, 0);
	ring_start(8, 0, FRESH);
	drv_post(&s, 1, 3);
	pop_ok();
	virtq_push(&g->vq, 3, 0);
	raw_desc(1, DATA_GPA + 10, 10, 3, av(1, 0));
	pop_ok();
	assert_int_equal(g->ch.head, 3);
}

/* An indirect descriptor when INDIRECT_DESC was not negotiated. */
static void test_indirect_without_feature(void **state)
{
	const struct pdesc t = { DATA_GPA + 0x100, 10, 0, 0 };

	g_data(0, 0);
	ring_start(8, 0, FRESH);
	g_write(DATA_GPA, &t, sizeof(t));
	raw_desc(0, DATA_GPA, sizeof(t), 0, av(1, F_INDIRECT));
	pop_fault();
}

/* An indirect descriptor with NEXT: it must be a chain's only descriptor. */
static void test_indirect_with_next(void **state)
{
	const struct pdesc t = { DATA_GPA + 0x100, 10, 0, 0 };

	g_data(0, 0);
	ring_start(8, FEAT_INDIRECT, FRESH);
	g_write(DATA_GPA, &t, sizeof(t));
	raw_desc(1, DATA_GPA + 0x200, 10, 0, av(1, 0));
	raw_desc(0, DATA_GPA, sizeof(t), 0, av(1, F_INDIRECT | F_NEXT));
	pop_fault();
}

/* An indirect descriptor as the second element of a chain. */
static void test_indirect_second(void **state)
{
	const struct pdesc t = { DATA_GPA + 0x100, 10, 0, 0 };

	g_data(0, 0);
	ring_start(8, FEAT_INDIRECT, FRESH);
	g_write(DATA_GPA, &t, sizeof(t));
	raw_desc(1, DATA_GPA, sizeof(t), 0, av(1, F_INDIRECT));
	raw_desc(0, DATA_GPA + 0x200, 10, 0, av(1, F_NEXT));
	pop_fault();
}

/* An indirect table with an INDIRECT entry (nested tables). */
static void test_indirect_nested(void **state)
{
	const struct pdesc inner = { DATA_GPA + 0x300, 10, 0, 0 };
	const struct pdesc t[] = { { DATA_GPA + 0x100, 10, 0, 0 },
				   { DATA_GPA + 0x200, sizeof(inner), 0, F_INDIRECT } };

	g_data(0, 0);
	ring_start(8, FEAT_INDIRECT, FRESH);
	g_write(DATA_GPA, t, sizeof(t));
	g_write(DATA_GPA + 0x200, &inner, sizeof(inner));
	raw_desc(0, DATA_GPA, sizeof(t), 0, av(1, F_INDIRECT));
	pop_fault();
}

/* An indirect descriptor of table length len over a valid 9-entry table, on a ring of 8. */
static void indirect_len_case(uint32_t len)
{
	struct pdesc t[9];

	for (unsigned i = 0; i < 9; i++)
		t[i] = (struct pdesc){ DATA_GPA + 0x1000 + i, 1, 0, 0 };
	g_data(0, 0);
	ring_start(8, FEAT_INDIRECT, FRESH);
	g_write(DATA_GPA, t, sizeof(t));
	raw_desc(0, DATA_GPA, len, 0, av(1, F_INDIRECT));
}

/* Indirect table length 0. */
static void test_indirect_len_zero(void **state)
{
	indirect_len_case(0);
	pop_fault();
}

/* Indirect table length not a multiple of 16 (one and a half entries). */
static void test_indirect_len_not_multiple(void **state)
{
	indirect_len_case(24);
	pop_fault();
}

/* Indirect table length shorter than one entry. */
static void test_indirect_len_short(void **state)
{
	indirect_len_case(8);
	pop_fault();
}

/* More entries than the ring has descriptors (9 > 8). */
static void test_indirect_too_many(void **state)
{
	indirect_len_case(9 * 16);
	pop_fault();
}

/* Exactly as many entries as the ring has descriptors is fine. */
static void test_indirect_num_entries(void **state)
{
	indirect_len_case(8 * 16);
	pop_ok();
	assert_int_equal(g->ch.out_len, 8);
	assert_int_equal(g->ch.out_iov, 8);
}

/* A table length near 4 GiB (more entries than any ring, and past guest memory). */
static void test_indirect_len_huge(void **state)
{
	indirect_len_case(0xfffffff0u);
	pop_fault();
}

/* An indirect table in unmapped memory. */
static void test_indirect_unmapped(void **state)
{
	g_data(0, 0);
	ring_start(8, FEAT_INDIRECT, FRESH);
	raw_desc(0, HOLE_GPA, 32, 0, av(1, F_INDIRECT));
	pop_fault();
}

/* An indirect table whose second entry lies past the end of guest memory. */
static void test_indirect_outside(void **state)
{
	const struct pdesc t = { DATA_GPA, 10, 0, 0 };

	g_data(0, 0);
	ring_start(8, FEAT_INDIRECT, FRESH);
	g_write(DATA_GPA + DATA_SIZE - 16, &t, sizeof(t));
	raw_desc(0, DATA_GPA + DATA_SIZE - 16, 32, 0, av(1, F_INDIRECT));
	pop_fault();
}

/* A buffer in unmapped memory, in a chain's second descriptor. */
static void test_buffer_unmapped(void **state)
{
	g_data(0, 0);
	ring_start(8, 0, FRESH);
	raw_desc(1, HOLE_GPA, 10, 0, av(1, F_WRITE));
	raw_desc(0, DATA_GPA, 10, 0, av(1, F_NEXT));
	pop_fault();
}

/* A buffer running past the end of guest memory. */
static void test_buffer_partly_outside(void **state)
{
	g_data(0, 0);
	ring_start(8, 0, FRESH);
	raw_desc(0, DATA_GPA + DATA_SIZE - 8, 16, 0, av(1, 0));
	pop_fault();
}

/* A buffer whose end wraps around the 64-bit address space. */
static void test_buffer_wraps(void **state)
{
	g_data(0, 0);
	ring_start(8, 0, FRESH);
	raw_desc(0, UINT64_MAX - 4, 16, 0, av(1, 0));
	pop_fault();
}

/* A buffer of an indirect table in unmapped memory. */
static void test_indirect_buffer_unmapped(void **state)
{
	const struct pdesc t[] = { { DATA_GPA + 0x100, 10, 0, 0 }, { HOLE_GPA, 10, 0, F_WRITE } };

	g_data(0, 0);
	ring_start(8, FEAT_INDIRECT, FRESH);
	g_write(DATA_GPA, t, sizeof(t));
	raw_desc(0, DATA_GPA, sizeof(t), 0, av(1, F_INDIRECT));
	pop_fault();
}

/* A readable buffer after a writable one. */
static void test_read_after_write(void **state)
{
	g_data(0, 0);
	ring_start(8, 0, FRESH);
	raw_desc(1, DATA_GPA + 0x100, 10, 0, av(1, F_NEXT | F_WRITE));
	raw_desc(2, DATA_GPA + 0x200, 10, 0, av(1, 0));
	raw_desc(0, DATA_GPA, 10, 0, av(1, F_NEXT));
	pop_fault();
}

/* The same inside an indirect table. */
static void test_read_after_write_indirect(void **state)
{
	const struct pdesc t[] = { { DATA_GPA + 0x100, 10, 0, F_WRITE },
				   { DATA_GPA + 0x200, 10, 0, 0 } };

	g_data(0, 0);
	ring_start(8, FEAT_INDIRECT, FRESH);
	g_write(DATA_GPA, t, sizeof(t));
	raw_desc(0, DATA_GPA, sizeof(t), 0, av(1, F_INDIRECT));
	pop_fault();
}

/*
 * A head that is not available for the current lap is an empty ring, never a fault: flags never
 * written, "used" bits, the other lap's bits; after a wrap, the previous lap's bits.
 */
static void test_head_not_available(void **state)
{
	const uint16_t not_avail[] = { 0, F_AVAIL | F_USED, F_USED, F_NEXT | F_USED, F_WRITE };
	const struct seg s = { DATA_GPA, 10, false };

	g_data(0, 0);
	ring_start(4, 0, FRESH);
	for (unsigned i = 0; i < sizeof(not_avail) / sizeof(not_avail[0]); i++) {
		raw_desc(0, DATA_GPA, 10, 0, not_avail[i]);
		pop_empty();
		assert_false(virtq_has_work(&g->vq));
		assert_int_equal(virtq_avail_position(&g->vq), 0x8000);
	}
	raw_desc(0, DATA_GPA, 10, 0, 0);
	for (unsigned i = 0; i < 4; i++) { /* one lap: the ring stands at slot 0, wrap 0 */
		drv_post(&s, 1, (uint16_t)i);
		pop_push_flush((uint16_t)i, 0);
		expect_used((uint16_t)i, 0);
	}
	for (unsigned i = 0; i < 4; i++)
		raw_desc((uint16_t)i, DATA_GPA, 10, 0, av(1, 0)); /* the last lap's bits */
	pop_empty();
	raw_desc(0, DATA_GPA, 10, 0, F_AVAIL | F_USED);
	pop_empty();
	raw_desc(0, DATA_GPA, 10, 0, 0);
	pop_empty();
	assert_int_equal(efd_take(g->err_fd), 0);
	assert_int_equal(virtq_position(&g->vq), 0x0000);
}

/* A fault is counted and signalled once however often the ring is touched afterwards. */
static void test_fault_once(void **state)
{
	g_data(0, 0);
	ring_start(8, 0, FRESH);
	raw_desc(0, DATA_GPA, 10, 9, av(1, 0));
	pop_fault();
	virtq_fault(&g->vq, "again");
	assert_int_equal(g->vq.faults, 1);
	assert_int_equal(efd_take(g->err_fd), 0);
	virtq_flush_notify(&g->vq);
	assert_false(virtq_enable_notify(&g->vq));
	assert_int_equal(efd_take(g->call_fd), 0);
	/* A new map (the front-end restarts the ring) clears the broken state, not the count. */
	raw_desc(0, DATA_GPA, 10, 1, av(1, 0));
	assert_int_equal(virtq_map(&g->vq, FRESH), 0);
	assert_true(virtq_ready(&g->vq));
	assert_int_equal(virtq_pop(&g->vq, g->iov, MAX_IOV, &g->ch), 1);
	assert_int_equal(g->vq.faults, 1);
}

/* ---- the burst fast path ---- */

/* Pops up to max chains with virtq_pop_burst() into g->iov and bch; returns how many. */
static unsigned burst(struct virtq_chain *bch, unsigned max)
{
	unsigned n = virtq_pop_burst(&g->vq, g->iov, bch, max);

	assert_true(n <= max);
	assert_false(g->vq.broken);
	return n;
}

/* Asserts chain c (taken by a burst, its buffer at iov) is buffer [gpa, gpa+len) of id. */
static void burst_chain(const struct virtq_chain *c, const struct iovec *iov, uint16_t id,
			uint64_t gpa, uint32_t len, bool write)
{
	assert_int_equal(c->head, id);
	assert_int_equal(c->out_iov, write ? 0 : 1);
	assert_int_equal(c->in_iov, write ? 1 : 0);
	assert_int_equal(c->out_len, write ? 0 : len);
	assert_int_equal(c->in_len, write ? len : 0);
	assert_ptr_equal(iov->iov_base, g_byte(gpa));
	assert_int_equal(iov->iov_len, len);
}

/*
 * Single direct descriptors come in bursts, in ring order and across the wrap; a burst stops
 * before a chain, an indirect descriptor, an empty buffer and a buffer straddling two regions
 * (virtq_pop() takes each), and before an id out of range, which virtq_pop() then faults.
 */
static void test_burst_stops_for_walker(void **state)
{
	struct virtq_chain bch[VIRTQ_BURST_MAX];
	const struct pdesc ind[] = { { DATA_GPA + 0x3000, 40, 0, F_WRITE } };
	const struct seg chained[] = { { DATA_GPA + 0x2000, 10, false },
				       { DATA_GPA + 0x2100, 20, false } };
	const struct seg straddle = { DATA_GPA + 0xff0, 0x20, false };
	const struct seg empty = { DATA_GPA + 0x500, 0, true };
	struct seg one;

	g_data(0x1000, 1); /* two regions meeting at DATA_GPA + 0x1000 */
	ring_start(16, FEAT_INDIRECT, 0x800e);
	assert_int_equal(burst(bch, VIRTQ_BURST_MAX), 0);
	for (unsigned i = 0; i < 3; i++) { /* ids 5, 6, 7 in slots 14, 15, 0 */
		one = (struct seg){ DATA_GPA + 0x100 * i, 60 + i, false };
		drv_post(&one, 1, (uint16_t)(5 + i));
	}
	drv_post(chained, 2, 0);	   /* slots 1, 2 */
	for (unsigned i = 0; i < 2; i++) { /* ids 9, 10 */
		one = (struct seg){ DATA_GPA + 0x1000 + 0x100 * i, 1500, true };
		drv_post(&one, 1, (uint16_t)(9 + i));
	}
	g_write(DATA_GPA + 0x4000, ind, sizeof(ind));
	drv_post_indirect(DATA_GPA + 0x4000, sizeof(ind), 2, 40);
	drv_post(&empty, 1, 3);
	drv_post(&straddle, 1, 11);
	one = (struct seg){ DATA_GPA + 0x600, 70, false };
	drv_post(&one, 1, 12);
	raw_desc(g->avail_slot, DATA_GPA + 0x700, 10, 16, av(g->avail_wrap, 0)); /* bad id */

	assert_int_equal(burst(bch, VIRTQ_BURST_MAX), 3);
	for (unsigned i = 0; i < 3; i++)
		burst_chain(&bch[i], &g->iov[i], (uint16_t)(5 + i), DATA_GPA + 0x100 * i, 60 + i,
			    false);
	assert_int_equal(virtq_position(&g->vq), 0x0001);
	assert_int_equal(burst(bch, VIRTQ_BURST_MAX), 0);
	pop_ok();
	check_chain(0, chained, 2);
	assert_int_equal(burst(bch, VIRTQ_BURST_MAX), 2);
	for (unsigned i = 0; i < 2; i++)
		burst_chain(&bch[i], &g->iov[i], (uint16_t)(9 + i), DATA_GPA + 0x1000 + 0x100 * i,
			    1500, true);
	assert_int_equal(burst(bch, VIRTQ_BURST_MAX), 0);
	pop_ok(); /* the indirect one */
	assert_int_equal(g->ch.head, 2);
	assert_int_equal(g->ch.in_len, 40);
	assert_int_equal(burst(bch, VIRTQ_BURST_MAX), 0);
	pop_ok(); /* the empty one */
	assert_int_equal(g->ch.head, 3);
	assert_int_equal(g->ch.in_iov + g->ch.out_iov, 0);
	assert_int_equal(burst(bch, VIRTQ_BURST_MAX), 0);
	pop_ok(); /* the straddling buffer: two iovecs */
	check_chain(11, &straddle, 1);
	assert_int_equal(burst(bch, VIRTQ_BURST_MAX), 1);
	burst_chain(&bch[0], &g->iov[0], 12, DATA_GPA + 0x600, 70, false);
	assert_int_equal(virtq_position(&g->vq), 0x0009);
	assert_int_equal(burst(bch, VIRTQ_BURST_MAX), 0);
	assert_int_equal(g->vq.faults, 0);
	pop_fault();
}

/* An id twice in one run: the burst takes the chains before the second, virtq_pop() faults. */
static void test_burst_duplicate_id(void **state)
{
	struct virtq_chain bch[VIRTQ_BURST_MAX];
	const uint16_t ids[] = { 1, 2, 3, 2, 4 };

	g_data(0, 0);
	ring_start(8, 0, FRESH);
	for (uint16_t i = 0; i < 5; i++)
		raw_desc(i, DATA_GPA + 0x100 * i, 32, ids[i], av(1, 0));
	assert_int_equal(burst(bch, VIRTQ_BURST_MAX), 3);
	for (unsigned i = 0; i < 3; i++)
		burst_chain(&bch[i], &g->iov[i], ids[i], DATA_GPA + 0x100 * i, 32, false);
	assert_int_equal(burst(bch, VIRTQ_BURST_MAX), 0);
	pop_fault();
}

/* An id still in flight from an earlier pop: the burst takes nothing, virtq_pop() faults. */
static void test_burst_id_in_flight(void **state)
{
	struct virtq_chain bch[VIRTQ_BURST_MAX];
	const struct seg s = { DATA_GPA, 10, false };

	g_data(0, 0);
	ring_start(8, 0, FRESH);
	drv_post(&s, 1, 6);
	assert_int_equal(burst(bch, VIRTQ_BURST_MAX), 1);
	raw_desc(1, DATA_GPA + 0x100, 10, 6, av(1, 0));
	raw_desc(2, DATA_GPA + 0x200, 10, 7, av(1, 0));
	assert_int_equal(burst(bch, VIRTQ_BURST_MAX), 0);
	pop_fault();
}

/* A burst never takes more than asked, nor more than one lap of the ring. */
static void test_burst_max(void **state)
{
	struct virtq_chain bch[VIRTQ_BURST_MAX];
	struct seg one;
	unsigned got, n;

	g_data(0, 0);
	ring_start(128, 0, FRESH);
	for (unsigned i = 0; i < 100; i++) {
		one = (struct seg){ DATA_GPA + 64 * i, 64, true };
		drv_post(&one, 1, (uint16_t)(99 - i));
	}
	assert_int_equal(burst(bch, 7), 7);
	got = 7;
	while ((n = burst(bch, VIRTQ_BURST_MAX)) > 0) {
		assert_true(n <= VIRTQ_BURST_MAX);
		for (unsigned i = 0; i < n; i++)
			burst_chain(&bch[i], &g->iov[i], (uint16_t)(99 - got - i),
				    DATA_GPA + 64 * (got + i), 64, true);
		got += n;
	}
	assert_int_equal(got, 100);
	assert_int_equal(virtq_position(&g->vq), 0x8000 | 100);
	virtq_unpop(&g->vq, 3); /* what a burst took can be given back */
	assert_int_equal(burst(bch, VIRTQ_BURST_MAX), 3);
	assert_int_equal(bch[0].head, 2);
	pop_empty();

	/* A full ring smaller than the burst: one lap, then the wrap counter stops it. */
	ring_start(4, 0, 0x8001);
	for (unsigned i = 0; i < 4; i++) {
		one = (struct seg){ DATA_GPA + 64 * i, 64, false };
		drv_post(&one, 1, (uint16_t)i);
	}
	assert_int_equal(burst(bch, VIRTQ_BURST_MAX), 4);
	assert_int_equal(virtq_position(&g->vq), 0x0001);
	assert_int_equal(burst(bch, VIRTQ_BURST_MAX), 0);
	pop_empty();
	/* Given back one at a time: to slot 0 of this lap, then across the wrap. */
	virtq_unpop(&g->vq, 1);
	assert_int_equal(virtq_position(&g->vq), 0x0000);
	virtq_unpop(&g->vq, 1);
	assert_int_equal(virtq_position(&g->vq), 0x8003);
	assert_int_equal(burst(bch, VIRTQ_BURST_MAX), 2);
	assert_int_equal(bch[0].head, 2);
	assert_int_equal(bch[1].head, 3);
	pop_empty();
}

/* ---- virtq_unpop ---- */

/* A copy of what one pop returned. */
struct popped {
	struct virtq_chain ch;
	struct iovec iov[8];
	uint32_t pos; /* virtq_position() before the pop */
};

/* Pops one chain and records it. */
static void pop_record(struct popped *p)
{
	p->pos = virtq_position(&g->vq);
	pop_ok();
	assert_true(g->ch.out_iov + g->ch.in_iov <= 8);
	p->ch = g->ch;
	memcpy(p->iov, g->iov, sizeof(p->iov));
}

/* Pops one chain and asserts it is the recorded one. */
static void pop_same(const struct popped *p)
{
	assert_int_equal(virtq_position(&g->vq), p->pos);
	pop_ok();
	assert_int_equal(g->ch.head, p->ch.head);
	assert_int_equal(g->ch.out_iov, p->ch.out_iov);
	assert_int_equal(g->ch.in_iov, p->ch.in_iov);
	assert_int_equal(g->ch.out_len, p->ch.out_len);
	assert_int_equal(g->ch.in_len, p->ch.in_len);
	for (unsigned i = 0; i < p->ch.out_iov + p->ch.in_iov; i++) {
		assert_ptr_equal(g->iov[i].iov_base, p->iov[i].iov_base);
		assert_int_equal(g->iov[i].iov_len, p->iov[i].iov_len);
	}
}

/*
 * Chains of mixed lengths across the wrap point: after pushing the first two, unpop gives back
 * the rest; the next pops return the same chains and virtq_position() is where it was. Giving
 * back a chain that crossed the wrap moves the wrap counter back too.
 */
static void test_unpop(void **state)
{
	const struct seg a = { DATA_GPA + 0x100, 10, false };
	const struct seg b[] = { { DATA_GPA + 0x200, 20, false },
				 { DATA_GPA + 0x300, 30, false },
				 { DATA_GPA + 0x400, 40, true } };
	const struct seg c[] = { { DATA_GPA + 0x500, 50, false }, { DATA_GPA + 0x600, 60, true } };
	const struct seg d = { DATA_GPA + 0x700, 70, true };
	const struct seg e[] = { { DATA_GPA + 0x800, 80, false }, { DATA_GPA + 0x900, 0, false } };
	struct virtq_chain bch[VIRTQ_BURST_MAX];
	struct popped p[5];
	uint32_t end;

	g_data(0, 0);
	ring_start(8, 0, 0x8005);
	drv_post(&a, 1, 4); /* slot 5 */
	drv_post(b, 3, 0);  /* 6, 7, 0: wraps */
	drv_post(c, 2, 7);  /* 1, 2 */
	drv_post(&d, 1, 2); /* 3 */
	for (unsigned i = 0; i < 4; i++)
		pop_record(&p[i]);
	end = virtq_position(&g->vq);
	assert_int_equal(end, 0x0004);
	/* Back across the wrap: b, c and d given back, the wrap counter returns to 1. */
	virtq_unpop(&g->vq, 3);
	assert_int_equal(virtq_position(&g->vq), p[1].pos);
	assert_int_equal(p[1].pos, 0x8006);
	for (unsigned i = 1; i < 4; i++)
		pop_same(&p[i]);
	assert_int_equal(virtq_position(&g->vq), end);
	/* a and b completed, c and d given back. */
	virtq_push(&g->vq, 4, 0);
	virtq_push(&g->vq, 0, 40);
	virtq_unpop(&g->vq, 2);
	assert_int_equal(virtq_position(&g->vq), p[2].pos);
	pop_same(&p[2]);
	pop_same(&p[3]);
	assert_int_equal(virtq_position(&g->vq), end);
	pop_empty();
	/* A chain a burst took gives back the same way. */
	virtq_unpop(&g->vq, 1);
	assert_int_equal(burst(bch, VIRTQ_BURST_MAX), 1);
	assert_int_equal(bch[0].head, 2);
	virtq_unpop(&g->vq, 1);
	pop_same(&p[3]);

	virtq_flush_notify(&g->vq);
	expect_used(4, 0);
	expect_used(0, 40);
	virtq_push(&g->vq, 7, 60);
	virtq_push(&g->vq, 2, 70);
	virtq_flush_notify(&g->vq);
	expect_used(7, 60);
	expect_used(2, 70);
	expect_no_used();
	assert_int_equal(virtq_base(&g->vq), 0x00040004);

	/* Everything taken given back, then taken again: the ids were freed by the unpop. */
	drv_post(e, 2, 1);
	pop_record(&p[4]);
	virtq_unpop(&g->vq, 1);
	assert_int_equal(virtq_position(&g->vq), 0x0004);
	pop_same(&p[4]);
	pop_empty();
}

/* ---- used descriptors ---- */

/*
 * Pushed entries stay invisible to the driver until the flush: the first one's flags are
 * written last, at the flush; then all of them appear at once, in push order, each where the
 * driver expects it after skipping the chains before.
 */
static void test_used_after_flush(void **state)
{
	const struct seg a = { DATA_GPA, 10, true };
	const struct seg b[] = { { DATA_GPA + 0x100, 10, false }, { DATA_GPA + 0x200, 20, true } };
	const struct seg c = { DATA_GPA + 0x300, 30, false };
	uint16_t head_flags;

	g_data(0, 0);
	ring_start(8, 0, 0x8006); /* b wraps */
	drv_post(&a, 1, 1);
	drv_post(b, 2, 2);
	drv_post(&c, 1, 3);
	head_flags = desc_flags(6);
	for (unsigned i = 0; i < 3; i++)
		pop_ok();
	virtq_push(&g->vq, 1, 10);
	virtq_push(&g->vq, 2, 5);
	virtq_push(&g->vq, 3, 0);
	expect_no_used();
	assert_int_equal(desc_flags(6), head_flags);
	virtq_flush_notify(&g->vq);
	assert_int_equal(desc_flags(6), F_AVAIL | F_USED | F_WRITE);
	expect_used(1, 10); /* slot 6 */
	expect_used(2, 5);  /* slot 7, skips 2 */
	expect_used(3, 0);  /* slot 1, wrap 0 */
	assert_int_equal(desc_flags(1), 0);
	expect_no_used();
	/* A flush with nothing pushed changes nothing. */
	virtq_flush_notify(&g->vq);
	expect_no_used();
	assert_int_equal(virtq_base(&g->vq), 0x00020002);
}

/*
 * Completions out of ring order: used descriptors are written in push order from the device's
 * used position, and the driver skips by each one's own chain.
 */
static void test_used_out_of_order(void **state)
{
	const struct seg a[] = { { DATA_GPA, 10, false }, { DATA_GPA + 0x100, 20, true } };
	const struct seg b = { DATA_GPA + 0x200, 30, true };
	const struct seg c[] = { { DATA_GPA + 0x300, 1, false },
				 { DATA_GPA + 0x400, 2, false },
				 { DATA_GPA + 0x500, 3, false } };

	g_data(0, 0);
	ring_start(8, 0, FRESH);
	drv_post(a, 2, 0);  /* slots 0, 1 */
	drv_post(&b, 1, 1); /* 2 */
	drv_post(c, 3, 2);  /* 3, 4, 5 */
	for (unsigned i = 0; i < 3; i++)
		pop_ok();
	virtq_push(&g->vq, 1, 30);
	virtq_push(&g->vq, 2, 0);
	virtq_push(&g->vq, 0, 20);
	virtq_flush_notify(&g->vq);
	assert_int_equal(le16toh(g->desc[0].id), 1);
	assert_int_equal(le16toh(g->desc[1].id), 2);
	assert_int_equal(le16toh(g->desc[4].id), 0);
	expect_used(1, 30); /* slot 0, skips 1 */
	expect_used(2, 0);  /* slot 1, skips 3 */
	expect_used(0, 20); /* slot 4, skips 2 */
	expect_no_used();
	assert_int_equal(virtq_base(&g->vq), 0x80068006);
	/* The ring goes on from there, across the wrap. */
	drv_post(a, 2, 2);
	drv_post(&b, 1, 0);
	pop_ok();
	pop_ok();
	virtq_push(&g->vq, 0, 0);
	virtq_push(&g->vq, 2, 0);
	virtq_flush_notify(&g->vq);
	expect_used(0, 0);
	expect_used(2, 0);
	assert_int_equal(virtq_base(&g->vq), 0x00010001);
}

/* ---- IN_ORDER batching ---- */

/* The driver reads one used descriptor completing the n buffers ids[] (IN_ORDER). */
static void expect_batch(const uint16_t *ids, unsigned n, uint32_t len)
{
	uint16_t done[VIRTQ_MAX_SIZE];
	uint32_t l;

	assert_int_equal(drv_reap(done, &l), n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(done[i], ids[i]);
	assert_int_equal(l, len);
}

/*
 * Device-read chains completed in ring order with nothing written come back as one used
 * descriptor at the batch's first slot carrying the last id; the slots it covers are left as the
 * driver wrote them.
 */
static void test_in_order_batch(void **state)
{
	const struct seg one = { DATA_GPA, 10, false };
	const struct seg two[] = { { DATA_GPA + 0x100, 10, false },
				   { DATA_GPA + 0x200, 0, false } };
	const uint16_t ids[] = { 3, 0, 9, 4 };

	g_data(0, 0);
	ring_start(16, FEAT_IN_ORDER, FRESH);
	drv_post(&one, 1, 3); /* slot 0 */
	drv_post(two, 2, 0);  /* 1, 2 */
	drv_post(&one, 1, 9); /* 3 */
	drv_post(&one, 1, 4); /* 4 */
	for (unsigned i = 0; i < 4; i++) {
		pop_ok();
		assert_int_equal(g->ch.head, ids[i]);
		virtq_push(&g->vq, ids[i], 0);
	}
	expect_no_used();
	virtq_flush_notify(&g->vq);
	assert_int_equal(desc_flags(0), F_AVAIL | F_USED);
	assert_int_equal(le16toh(g->desc[0].id), 4);
	for (uint16_t s = 1; s < 5; s++)
		assert_int_equal(desc_flags(s) & (F_AVAIL | F_USED), F_AVAIL);
	expect_batch(ids, 4, 0);
	expect_no_used();
	assert_int_equal(virtq_base(&g->vq), 0x80058005);

	/* A flush ends a batch: two flushes, two used descriptors. */
	drv_post(&one, 1, 1);
	drv_post(&one, 1, 2);
	drv_post(&one, 1, 5);
	pop_push_flush(1, 0);
	pop_ok();
	virtq_push(&g->vq, 2, 0);
	pop_ok();
	virtq_push(&g->vq, 5, 0);
	virtq_flush_notify(&g->vq);
	expect_batch((const uint16_t[]){ 1 }, 1, 0);
	expect_batch((const uint16_t[]){ 2, 5 }, 2, 0);
	expect_no_used();
}

/*
 * A chain the device wrote into (len > 0) closes the batch and gets its own used descriptor; so
 * does a chain with writable buffers completed with len 0 (a skipped buffer counts as entirely
 * written), and any chain completed with a length (which a batch would lose). Read-only chains
 * around them batch.
 */
static void test_in_order_writable(void **state)
{
	const struct seg r = { DATA_GPA, 10, false };
	const struct seg w[] = { { DATA_GPA + 0x100, 10, false }, { DATA_GPA + 0x200, 100, true } };
	const uint16_t ids[] = { 0, 1, 2, 3, 4, 5, 6 };
	const uint32_t lens[] = { 0, 0, 100, 0, 0, 0, 0 };

	g_data(0, 0);
	ring_start(8, FEAT_IN_ORDER, 0x8004); /* the chains wrap */
	drv_post(&r, 1, 0);		      /* slot 4 */
	drv_post(&r, 1, 1);		      /* 5 */
	drv_post(w, 2, 2);		      /* 6, 7 */
	drv_post(&r, 1, 3);		      /* 0 */
	drv_post(&r, 1, 4);		      /* 1 */
	drv_post(w, 2, 5);		      /* 2, 3: pushed with len 0 */
	for (unsigned i = 0; i < 6; i++) {
		pop_ok();
		virtq_push(&g->vq, ids[i], lens[i]);
	}
	virtq_flush_notify(&g->vq);
	assert_int_equal(le16toh(g->desc[4].id), 1);
	assert_int_equal(le16toh(g->desc[6].id), 2);
	assert_int_equal(desc_flags(6), F_AVAIL | F_USED | F_WRITE);
	assert_int_equal(le16toh(g->desc[0].id), 4);
	assert_int_equal(le16toh(g->desc[2].id), 5);
	expect_batch((const uint16_t[]){ 0, 1 }, 2, 0);
	expect_batch((const uint16_t[]){ 2 }, 1, 100);
	expect_batch((const uint16_t[]){ 3, 4 }, 2, 0);
	expect_batch((const uint16_t[]){ 5 }, 1, 0);
	expect_no_used();
	assert_int_equal(virtq_base(&g->vq), 0x00040004);

	drv_post(&r, 1, 6); /* slot 4 */
	drv_post(&r, 1, 7); /* 5 */
	drv_post(&r, 1, 0); /* 6 */
	for (uint16_t id = 6; id < 9; id++) {
		pop_ok();
		virtq_push(&g->vq, id % 8, id == 7 ? 9 : 0);
	}
	virtq_flush_notify(&g->vq);
	expect_batch((const uint16_t[]){ 6 }, 1, 0);
	expect_batch((const uint16_t[]){ 7 }, 1, 9);
	expect_batch((const uint16_t[]){ 0 }, 1, 0);
	expect_no_used();
}

/*
 * Completions out of ring order are never batched: each gets its own used descriptor in push
 * order (the IN_ORDER driver model does not apply, so the ring is read directly).
 */
static void test_in_order_out_of_order(void **state)
{
	const struct seg r = { DATA_GPA, 10, false };

	g_data(0, 0);
	ring_start(8, FEAT_IN_ORDER, FRESH);
	for (uint16_t i = 0; i < 4; i++)
		drv_post(&r, 1, i);
	for (unsigned i = 0; i < 4; i++)
		pop_ok();
	virtq_push(&g->vq, 1, 0);
	virtq_push(&g->vq, 0, 0);
	virtq_push(&g->vq, 3, 0);
	virtq_push(&g->vq, 2, 0);
	virtq_flush_notify(&g->vq);
	for (uint16_t s = 0; s < 4; s++)
		assert_int_equal(desc_flags(s), F_AVAIL | F_USED);
	assert_int_equal(le16toh(g->desc[0].id), 1);
	assert_int_equal(le16toh(g->desc[1].id), 0);
	assert_int_equal(le16toh(g->desc[2].id), 3);
	assert_int_equal(le16toh(g->desc[3].id), 2);
	assert_int_equal(virtq_base(&g->vq), 0x80048004);
}

/* ---- driver area: used buffer notifications ---- */

/* Sets the driver area as the guest does. */
static void drv_event(uint16_t flags, uint16_t off_wrap)
{
	g->drv->off_wrap = htole16(off_wrap);
	__atomic_store_n(&g->drv->flags, htole16(flags), __ATOMIC_RELEASE);
}

/*
 * The driver makes a chain of n read-only descriptors available, the device takes it, pushes it
 * and flushes, the driver reads it back. Returns how often the call eventfd was written.
 */
static uint64_t round_trip(unsigned n)
{
	struct seg s[8];

	assert_true(n <= 8);
	for (unsigned i = 0; i < n; i++)
		s[i] = (struct seg){ DATA_GPA + 0x100 * i, 16, false };
	drv_post(s, n, 0);
	pop_push_flush(0, 0);
	expect_used(0, 0);
	return efd_take(g->call_fd);
}

/*
 * Without EVENT_IDX: DISABLE suppresses every call, ENABLE gives one per flush that published
 * something (however many entries), DESC (and the reserved 3) behave as ENABLE.
 */
static void test_call_flags(void **state)
{
	const struct seg s = { DATA_GPA, 16, false };

	g_data(0, 0);
	ring_start(8, 0, FRESH);
	drv_event(EV_DISABLE, 0);
	assert_int_equal(round_trip(1), 0);
	assert_int_equal(round_trip(3), 0);
	drv_event(EV_ENABLE, 0);
	assert_int_equal(round_trip(1), 1);
	assert_int_equal(round_trip(2), 1);
	for (uint16_t i = 0; i < 3; i++)
		drv_post(&s, 1, i);
	for (uint16_t i = 0; i < 3; i++) {
		pop_ok();
		virtq_push(&g->vq, i, 0);
	}
	virtq_flush_notify(&g->vq);
	assert_int_equal(efd_take(g->call_fd), 1);
	for (uint16_t i = 0; i < 3; i++)
		expect_used(i, 0);
	virtq_flush_notify(&g->vq); /* nothing new */
	assert_int_equal(efd_take(g->call_fd), 0);
	drv_event(EV_DESC, 0x8000 | 7);
	assert_int_equal(round_trip(1), 1);
	assert_int_equal(round_trip(1), 1);
	drv_event(3, 0);
	assert_int_equal(round_trip(1), 1);
	drv_event(EV_DISABLE, 0);
	assert_int_equal(round_trip(1), 0);
}

/*
 * EVENT_IDX with DESC: a call exactly when the used position passes the descriptor the driver
 * named (offset and wrap counter): not before it, at it, inside a chain, across the wrap; a wrap
 * counter from another lap names another position. The first flush after virtq_map() always
 * calls (nothing to compare with yet, as vhost does).
 */
static void test_call_event_idx(void **state)
{
	const struct seg s = { DATA_GPA, 16, false };

	g_data(0, 0);
	ring_start(8, FEAT_EVENT, FRESH);
	/* Positions in the comments: slot, plus 8 in a lap with wrap counter 0. */
	drv_event(EV_DESC, 0x8000 | 5);
	assert_int_equal(round_trip(1), 1); /* 0 -> 1: the first */
	drv_event(EV_DESC, 0x8000 | 3);
	assert_int_equal(round_trip(1), 0); /* 1 -> 2 */
	assert_int_equal(round_trip(1), 0); /* 2 -> 3: just before */
	assert_int_equal(round_trip(1), 1); /* 3 -> 4: at it */
	assert_int_equal(round_trip(1), 0); /* 4 -> 5: after */
	drv_event(EV_DESC, 0x8000 | 6);
	assert_int_equal(round_trip(3), 1); /* 5 -> 8: inside the chain, which wraps */
	drv_event(EV_DESC, 0x8000 | 7);
	assert_int_equal(round_trip(1), 0); /* 8 -> 9: 7 is past */
	drv_event(EV_DESC, 1);
	assert_int_equal(round_trip(1), 1); /* 9 -> 10: slot 1 of lap 0 */
	drv_event(EV_DESC, 0x8000 | 0);	    /* slot 0 of the next lap */
	assert_int_equal(round_trip(1), 0); /* 10 -> 11 */
	assert_int_equal(round_trip(2), 0); /* 11 -> 13 */
	assert_int_equal(round_trip(2), 0); /* 13 -> 15: just before */
	assert_int_equal(round_trip(2), 1); /* 15 -> 1: across the wrap */
	drv_event(EV_DESC, 0x8000 | 3);
	assert_int_equal(round_trip(2), 0); /* 1 -> 3 */
	assert_int_equal(round_trip(1), 1); /* 3 -> 4 */

	/* The wrap counter names the lap: slot 4 of lap 0 is not slot 4 of lap 1. */
	drv_event(EV_DESC, 4);
	assert_int_equal(round_trip(1), 0); /* 4 -> 5 */
	drv_event(EV_DESC, 0x8000 | 5);
	assert_int_equal(round_trip(1), 1); /* 5 -> 6 */
	drv_event(EV_DESC, 5);		    /* 13 */
	assert_int_equal(round_trip(1), 0); /* 6 -> 7 */
	assert_int_equal(round_trip(2), 0); /* 7 -> 9 */
	assert_int_equal(round_trip(3), 0); /* 9 -> 12 */
	assert_int_equal(round_trip(2), 1); /* 12 -> 14 */
	drv_event(EV_DESC, 6);		    /* 14: the current position, the next one used */
	assert_int_equal(round_trip(8), 1); /* 14 -> 6: a whole lap */

	/* Several entries in one flush: one call when the target lies among them. */
	drv_event(EV_DESC, 0x8000 | 7);
	for (uint16_t i = 0; i < 3; i++)
		drv_post(&s, 1, i);
	for (uint16_t i = 0; i < 3; i++) {
		pop_ok();
		virtq_push(&g->vq, i, 0);
	}
	virtq_flush_notify(&g->vq); /* 6 -> 9 */
	assert_int_equal(efd_take(g->call_fd), 1);
	for (uint16_t i = 0; i < 3; i++)
		expect_used(i, 0);

	/* Nonsense offsets (>= num) notify; DISABLE and ENABLE keep their meaning. */
	drv_event(EV_DESC, 8);
	assert_int_equal(round_trip(1), 1);
	drv_event(EV_DESC, 0x7fff);
	assert_int_equal(round_trip(1), 1);
	drv_event(EV_DISABLE, 7);
	assert_int_equal(round_trip(1), 0);
	drv_event(EV_ENABLE, 0);
	assert_int_equal(round_trip(1), 1);
	assert_int_equal(round_trip(1), 1);
	assert_int_equal(g->vq.faults, 0);
}

/* DESC without EVENT_IDX negotiated is taken as ENABLE, whatever the offset says. */
static void test_call_desc_without_event_idx(void **state)
{
	g_data(0, 0);
	ring_start(8, 0, FRESH);
	drv_event(EV_DESC, 0x8000 | 6);
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(round_trip(1 + i % 3), 1);
}

/* No call fd: flushes still publish and nothing is signalled. */
static void test_no_call_fd(void **state)
{
	const struct seg s = { DATA_GPA, 16, false };

	g_data(0, 0);
	ring_start(8, FEAT_EVENT, FRESH);
	g->vq.call_fd = -1;
	drv_event(EV_ENABLE, 0);
	drv_post(&s, 1, 1);
	pop_push_flush(1, 0);
	expect_used(1, 0);
	assert_int_equal(efd_take(g->call_fd), 0);
}

/* ---- device area: available buffer notifications ---- */

/* The device area as the driver reads it. */
static uint16_t dev_flags(void)
{
	return le16toh(__atomic_load_n(&g->dev->flags, __ATOMIC_ACQUIRE));
}

/* The device area's offset and wrap counter. */
static uint16_t dev_off_wrap(void)
{
	return le16toh(__atomic_load_n(&g->dev->off_wrap, __ATOMIC_ACQUIRE));
}

/*
 * Without EVENT_IDX: disable writes DISABLE, enable writes ENABLE and says whether a descriptor
 * is already available.
 */
static void test_kick_flags(void **state)
{
	const struct seg s = { DATA_GPA, 16, false };

	g_data(0, 0);
	ring_start(4, 0, FRESH);
	g->dev->flags = htole16(0x5555);
	virtq_disable_notify(&g->vq);
	assert_int_equal(dev_flags(), EV_DISABLE);
	assert_false(virtq_enable_notify(&g->vq));
	assert_int_equal(dev_flags(), EV_ENABLE);
	virtq_disable_notify(&g->vq);
	assert_int_equal(dev_flags(), EV_DISABLE);
	drv_post(&s, 1, 2);
	assert_true(virtq_enable_notify(&g->vq));
	assert_int_equal(dev_flags(), EV_ENABLE);
	assert_true(virtq_enable_notify(&g->vq));
	pop_ok();
	assert_false(virtq_enable_notify(&g->vq));
	assert_int_equal(dev_flags(), EV_ENABLE);
}

/*
 * With EVENT_IDX: enable writes DESC with off_wrap = the next slot to take and its wrap counter
 * (the first descriptor whose availability we want to hear about); disable writes DISABLE.
 */
static void test_kick_event_idx(void **state)
{
	const struct seg s = { DATA_GPA, 16, false };
	const struct seg two[] = { { DATA_GPA, 16, false }, { DATA_GPA + 0x100, 16, false } };

	g_data(0, 0);
	ring_start(4, FEAT_EVENT, FRESH);
	assert_false(virtq_enable_notify(&g->vq));
	assert_int_equal(dev_flags(), EV_DESC);
	assert_int_equal(dev_off_wrap(), 0x8000);
	virtq_disable_notify(&g->vq);
	assert_int_equal(dev_flags(), EV_DISABLE);
	drv_post(two, 2, 0);
	drv_post(&s, 1, 1);
	assert_true(virtq_enable_notify(&g->vq));
	assert_int_equal(dev_flags(), EV_DESC);
	assert_int_equal(dev_off_wrap(), 0x8000);
	pop_ok();
	assert_true(virtq_enable_notify(&g->vq));
	assert_int_equal(dev_off_wrap(), 0x8002);
	pop_ok();
	assert_false(virtq_enable_notify(&g->vq));
	assert_int_equal(dev_off_wrap(), 0x8003);
	virtq_push(&g->vq, 0, 0);
	virtq_push(&g->vq, 1, 0);
	virtq_flush_notify(&g->vq);
	expect_used(0, 0);
	expect_used(1, 0);
	drv_post(two, 2, 1); /* slots 3, 0: wraps */
	pop_ok();
	assert_false(virtq_enable_notify(&g->vq));
	assert_int_equal(dev_off_wrap(), 0x0001);
	virtq_disable_notify(&g->vq);
	assert_int_equal(dev_flags(), EV_DISABLE);
	drv_post(&s, 1, 2);
	assert_true(virtq_enable_notify(&g->vq));
	assert_int_equal(dev_flags(), EV_DESC);
	assert_int_equal(dev_off_wrap(), 0x0001);
}

/* ---- virtq_map's base ---- */

/* A fresh ring: base 0x8000 (slot 0, wrap counter 1), in both encodings. */
static void test_map_fresh(void **state)
{
	g_data(0, 0);
	ring_start(8, 0, FRESH);
	assert_int_equal(virtq_position(&g->vq), 0x8000);
	assert_int_equal(virtq_base(&g->vq), 0x80008000);
	assert_int_equal(virtq_avail_position(&g->vq), 0x8000);
	ring_start(8, 0, 0x80008000);
	assert_int_equal(virtq_position(&g->vq), 0x8000);
	assert_int_equal(virtq_base(&g->vq), 0x80008000);
}

/* A mid-ring base with wrap counter 0 (DPDK's encoding): the first chain wraps. */
static void test_map_mid_ring(void **state)
{
	const struct seg s[] = { { DATA_GPA, 1, false },
				 { DATA_GPA + 1, 2, false },
				 { DATA_GPA + 3, 3, false },
				 { DATA_GPA + 6, 4, true } };

	g_data(0, 0);
	ring_start(8, 0, 0x0005);
	assert_int_equal(virtq_position(&g->vq), 0x0005);
	assert_int_equal(virtq_base(&g->vq), 0x00050005);
	pop_empty();
	drv_post(s, 4, 6); /* slots 5, 6, 7 (wrap 0) and 0 (wrap 1) */
	assert_int_equal(desc_flags(0), F_AVAIL | F_WRITE);
	assert_int_equal(desc_flags(5), F_USED | F_NEXT);
	pop_ok();
	check_chain(6, s, 4);
	assert_int_equal(virtq_position(&g->vq), 0x8001);
	virtq_push(&g->vq, 6, 4);
	virtq_flush_notify(&g->vq);
	assert_int_equal(desc_flags(5), F_WRITE);
	expect_used(6, 4);
	assert_int_equal(virtq_base(&g->vq), 0x80018001);
}

/* QEMU's encoding with both halves, and DPDK's with the used half 0, agree. */
static void test_map_encodings(void **state)
{
	const struct seg s = { DATA_GPA, 8, false };

	g_data(0, 0);
	ring_start(8, 0, 0x80038003);
	assert_int_equal(virtq_position(&g->vq), 0x8003);
	assert_int_equal(virtq_base(&g->vq), 0x80038003);
	drv_post(&s, 1, 0);
	pop_push_flush(0, 0);
	expect_used(0, 0);
	assert_int_equal(virtq_base(&g->vq), 0x80048004);

	ring_start(8, 0, 0x8003);
	assert_int_equal(virtq_base(&g->vq), 0x80038003);
	ring_start(8, 0, 0x00060006);
	assert_int_equal(virtq_position(&g->vq), 0x0006);
	drv_post(&s, 1, 7);
	pop_push_flush(7, 0);
	expect_used(7, 0);
	assert_int_equal(virtq_base(&g->vq), 0x00070007);
	/* The largest ring's last slot. */
	ring_start(VIRTQ_MAX_SIZE, 0, 0x7fff7fff);
	assert_int_equal(virtq_position(&g->vq), 0x7fff);
	drv_post(&s, 1, 1);
	pop_push_flush(1, 0);
	expect_used(1, 0);
	assert_int_equal(virtq_base(&g->vq), 0x80008000);
}

/* A base whose slot (either half) is not below num: -EINVAL, and the vq is left as it was. */
static void test_map_bad_base(void **state)
{
	const uint32_t bad[] = {
		8, 0x8008, 0x7fff, 0xffff, (8u << 16) | 0x8000, (0x8009u << 16) | 0x8001, 0xffffffff
	};
	const struct seg s = { DATA_GPA, 8, false };
	struct virtq before;

	g_data(0, 0);
	ring_start(8, 0, 0x8002);
	drv_post(&s, 1, 4);
	pop_ok();
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(&before, &g->vq, sizeof(before));
		assert_int_equal(virtq_map(&g->vq, bad[i]), -EINVAL);
		assert_memory_equal(&before, &g->vq, sizeof(before));
	}
	/* Still the same live ring: the chain in flight completes. */
	virtq_push(&g->vq, 4, 0);
	virtq_flush_notify(&g->vq);
	expect_used(4, 0);
	assert_int_equal(virtq_base(&g->vq), 0x80038003);
}

/*
 * A base whose used half is behind its avail half (chains were taken, never completed): the
 * ring resumes at the used position and those chains are taken again, here across the wrap.
 */
static void test_map_used_behind(void **state)
{
	const struct seg a[] = { { DATA_GPA, 10, false }, { DATA_GPA + 0x10, 20, true } };
	const struct seg b = { DATA_GPA + 0x100, 30, true };
	const struct seg c = { DATA_GPA + 0x200, 40, false };
	uint32_t base;

	g_data(0, 0);
	ring_start(8, 0, 0x8006);
	drv_post(a, 2, 5);  /* slots 6, 7 */
	drv_post(&b, 1, 1); /* 0 (wrap 0) */
	drv_post(&c, 1, 2); /* 1 */
	for (unsigned i = 0; i < 3; i++)
		pop_ok();
	base = virtq_base(&g->vq);
	assert_int_equal(base, (0x8006u << 16) | 0x0002);
	/* The back-end goes away with them in flight; a new one starts from that base. */
	assert_int_equal(virtq_map(&g->vq, base), 0);
	assert_int_equal(virtq_position(&g->vq), 0x8006);
	assert_int_equal(virtq_base(&g->vq), 0x80068006);
	pop_ok();
	check_chain(5, a, 2);
	pop_ok();
	check_chain(1, &b, 1);
	pop_ok();
	check_chain(2, &c, 1);
	pop_empty();
	virtq_push(&g->vq, 5, 20);
	virtq_push(&g->vq, 1, 30);
	virtq_push(&g->vq, 2, 0);
	virtq_flush_notify(&g->vq);
	expect_used(5, 20);
	expect_used(1, 30);
	expect_used(2, 0);
	assert_int_equal(virtq_base(&g->vq), 0x00020002);

	/* Resuming mid-flight with the used half in the same lap. */
	drv_post(&c, 1, 0); /* 2 */
	drv_post(&b, 1, 3); /* 3 */
	pop_ok();
	virtq_push(&g->vq, 0, 0);
	virtq_flush_notify(&g->vq);
	expect_used(0, 0);
	pop_ok();
	base = virtq_base(&g->vq);
	assert_int_equal(base, (0x0003u << 16) | 0x0004);
	assert_int_equal(virtq_map(&g->vq, base), 0);
	pop_ok();
	check_chain(3, &b, 1);
	pop_empty();
}

/* ---- restarting after a crash: virtq_set_used_log(), virtq_packed_resume() ---- */

/* The driver's side of the ring at one moment, to play a moment again (rings of <= 64). */
struct drv_snap {
	uint16_t avail_slot, used_slot;
	bool avail_wrap, used_wrap;
	uint32_t free_desc, order_head, order_n;
	struct posted posted[64];
	uint16_t order[64];
	struct pdesc desc[64];
};

/* Takes a snapshot of the driver and of the descriptor ring. */
static void drv_save(struct drv_snap *d)
{
	assert_true(g->num <= 64);
	d->avail_slot = g->avail_slot;
	d->avail_wrap = g->avail_wrap;
	d->used_slot = g->used_slot;
	d->used_wrap = g->used_wrap;
	d->free_desc = g->free_desc;
	d->order_head = g->order_head;
	d->order_n = g->order_n;
	memcpy(d->posted, g->posted, sizeof(d->posted));
	memcpy(d->order, g->order, sizeof(d->order));
	memcpy(d->desc, g->desc, 16 * (size_t)g->num);
}

/* Puts the driver and the descriptor ring back as drv_save() found them. */
static void drv_restore(const struct drv_snap *d)
{
	g->avail_slot = d->avail_slot;
	g->avail_wrap = d->avail_wrap;
	g->used_slot = d->used_slot;
	g->used_wrap = d->used_wrap;
	g->free_desc = d->free_desc;
	g->order_head = d->order_head;
	g->order_n = d->order_n;
	memcpy(g->posted, d->posted, sizeof(d->posted));
	memcpy(g->order, d->order, sizeof(d->order));
	memcpy(g->desc, d->desc, 16 * (size_t)g->num);
}

/* A new back-end starts the ring at the front-end's base, as after a reconnect. */
static void ring_restart(uint32_t base)
{
	assert_int_equal(virtq_map(&g->vq, base), 0);
	assert_int_equal(virtq_base(&g->vq), base & 0xffff ? (base & 0xffff) * 0x10001u : base);
}

/* The engine's used position, as a state word and virtq_base() encode it. */
static uint16_t used_pos(void)
{
	return (uint16_t)(virtq_base(&g->vq) >> 16);
}

/* One chain of a restart scenario: what the driver posts and what the device reports. */
struct rchain {
	struct seg seg[3];
	unsigned nseg;
	uint16_t id;
	uint32_t len;
};

/*
 * A flush taken apart: the driver and ring before it and after it, the record it makes while it
 * writes the ring, and the entries in the order the flush writes them.
 */
struct flush_cut {
	struct drv_snap before, after;
	uint64_t intent;
	uint16_t end;
	unsigned n;
	uint64_t log[64];   /* as the flush left it (little-endian) */
	uint64_t order[64]; /* entries in the order the flush writes them */
};

/*
 * Posts, takes and pushes the chains with the engine recording into g->rec_*, then flushes, and
 * fills *c. n is the number of used descriptors the flush writes (IN_ORDER batches several
 * chains into one).
 */
static void flush_scenario(const struct rchain *ch, unsigned nch, unsigned n, struct flush_cut *c)
{
	uint16_t shown;

	virtq_set_used_log(&g->vq, &g->rec_state, g->rec_log);
	shown = used_pos();
	assert_int_equal(le64toh(g->rec_state), virtq_used_state(shown, shown, 0));
	for (unsigned i = 0; i < nch; i++)
		drv_post(ch[i].seg, ch[i].nseg, ch[i].id);
	for (unsigned i = 0; i < nch; i++) {
		pop_ok();
		assert_int_equal(g->ch.head, ch[i].id);
		virtq_push(&g->vq, ch[i].id, ch[i].len);
	}
	/* Pushes log; the ring is untouched until the flush. */
	expect_no_used();
	c->end = used_pos();
	drv_save(&c->before);
	virtq_flush_notify(&g->vq);
	drv_save(&c->after);
	assert_int_equal(le64toh(g->rec_state), virtq_used_state(c->end, c->end, 0));
	c->n = n;
	c->intent = virtq_used_state(shown, c->end, (uint16_t)n);
	assert_int_equal(le64toh(g->rec_log[0]) & 0xffff, shown);
	memcpy(c->log, g->rec_log, sizeof(c->log));
	for (unsigned j = 0; j < n; j++)
		c->order[j] = le64toh(g->rec_log[(j + 1) % n]);
}

/* The driver takes every chain of the scenario back, in order, each exactly once. */
static void reap_scenario(const struct rchain *ch, unsigned nch, bool in_order)
{
	uint16_t ids[64];
	uint32_t len;
	unsigned got = 0;

	while (got < nch) {
		unsigned k = drv_reap(ids, &len);

		assert_true(k > 0);
		for (unsigned i = 0; i < k; i++)
			assert_int_equal(ids[i], ch[got + i].id);
		/* One entry per chain, or an IN_ORDER batch carrying its last chain's length. */
		assert_true(in_order || k == 1);
		assert_int_equal(len, ch[got + k - 1].len);
		got += k;
	}
	assert_int_equal(got, nch);
	expect_no_used();
}

/* After a restart the ring goes on: a new chain is taken at `at` and comes back. */
static void ring_goes_on(uint16_t at, uint16_t id)
{
	const struct seg s = { DATA_GPA + 0x3000, 40, true };

	drv_post(&s, 1, id);
	assert_int_equal(virtq_position(&g->vq), at);
	pop_ok();
	check_chain(id, &s, 1);
	virtq_push(&g->vq, id, 33);
	virtq_flush_notify(&g->vq);
	expect_used(id, 33);
	expect_no_used();
}

/*
 * Killed at every point of a flush: after k of its n used descriptors reached the ring, and
 * with the next one's id and length written but not its flags. The driver sees none of them
 * until the first one's flags, so it still waits where it was; the front-end hands the new
 * back-end the stale base of the ring's first start. Resuming finishes the flush (writing
 * exactly the descriptors it had not), and the driver gets every chain once, in order.
 */
static void resume_every_cut(const struct rchain *ch, unsigned nch, unsigned n, uint64_t features,
			     uint32_t num, uint32_t base)
{
	struct flush_cut c;

	g_data(0, 0);
	ring_start(num, features, base);
	flush_scenario(ch, nch, n, &c);
	for (unsigned k = 0; k <= n; k++) {
		for (int half = 0; half <= (k < n); half++) {
			drv_restore(&c.before);
			for (unsigned j = 0; j < k; j++) {
				uint16_t slot = c.order[j] & 0x7fff;

				g->desc[slot] = c.after.desc[slot];
			}
			if (half) {
				uint16_t slot = c.order[k] & 0x7fff;

				g->desc[slot].id = c.after.desc[slot].id;
				g->desc[slot].len = c.after.desc[slot].len;
			}
			ring_restart(FRESH);
			if (virtq_packed_resume(&g->vq, c.intent, c.log) != (int)(n - k))
				fail_msg("cut after %u entries%s: not %u written", k,
					 half ? " and a half" : "", n - k);
			assert_int_equal(virtq_position(&g->vq), c.end);
			assert_int_equal(virtq_base(&g->vq), c.end * 0x10001u);
			assert_false(g->vq.broken);
			reap_scenario(ch, nch, features & FEAT_IN_ORDER);
			virtq_set_used_log(&g->vq, &g->rec_state, g->rec_log);
			ring_goes_on(c.end, 6);
		}
	}
	/* Killed after the flush was marked done: nothing to finish. */
	drv_restore(&c.after);
	ring_restart(FRESH);
	assert_int_equal(virtq_packed_resume(&g->vq, virtq_used_state(c.end, c.end, 0), NULL), 0);
	assert_int_equal(virtq_position(&g->vq), c.end);
	reap_scenario(ch, nch, features & FEAT_IN_ORDER);
	ring_goes_on(c.end, 6);
}

/* Chains of one to three descriptors, read and written, wrapping round the end of the ring. */
static void test_resume_mid_flush(void **state)
{
	const struct rchain ch[] = {
		{ { { DATA_GPA, 10, false }, { DATA_GPA + 0x100, 20, true } }, 2, 4, 15 },
		{ { { DATA_GPA + 0x200, 30, false } }, 1, 0, 0 },
		{ { { DATA_GPA + 0x300, 8, true } }, 1, 7, 7 },
		{ { { DATA_GPA + 0x400, 1, false },
		    { DATA_GPA + 0x500, 2, false },
		    { DATA_GPA + 0x600, 3, true } },
		  3,
		  2,
		  3 },
	};

	resume_every_cut(ch, 4, 4, 0, 8, 0x8005);
}

/* The same with IN_ORDER: device-read chains in a row are one used descriptor. */
static void test_resume_mid_flush_in_order(void **state)
{
	const struct rchain ch[] = {
		{ { { DATA_GPA, 10, false } }, 1, 1, 0 },
		{ { { DATA_GPA + 0x100, 10, false }, { DATA_GPA + 0x200, 5, false } }, 2, 2, 0 },
		{ { { DATA_GPA + 0x300, 16, true } }, 1, 3, 9 },
		{ { { DATA_GPA + 0x400, 10, false } }, 1, 4, 0 },
		{ { { DATA_GPA + 0x500, 10, false } }, 1, 5, 0 },
	};

	resume_every_cut(ch, 5, 3, FEAT_IN_ORDER, 8, 0x0006);
}

/*
 * Killed after the flush's last store to the ring but before marking it done, and the driver
 * took everything and made those slots available again: finishing the flush writes nothing over
 * the new descriptors, and they are the next chains taken.
 */
static void test_resume_after_driver_moved_on(void **state)
{
	const struct rchain ch[] = {
		{ { { DATA_GPA, 10, false } }, 1, 1, 0 },
		{ { { DATA_GPA + 0x100, 10, true } }, 1, 2, 4 },
		{ { { DATA_GPA + 0x200, 10, false } }, 1, 3, 0 },
	};
	const struct seg s = { DATA_GPA + 0x1000, 64, false };
	struct flush_cut c;
	struct drv_snap now;

	g_data(0, 0);
	ring_start(4, 0, 0x8002);
	flush_scenario(ch, 3, 3, &c); /* slots 2, 3 and 0 of the next lap */
	reap_scenario(ch, 3, false);
	for (uint16_t id = 0; id < 3; id++)
		drv_post(&s, 1, id); /* slots 1, 2, 3: two of the flush's, a lap on */
	drv_save(&now);
	ring_restart(FRESH);
	assert_int_equal(virtq_packed_resume(&g->vq, c.intent, c.log), 0);
	assert_memory_equal(g->desc, now.desc, 16 * 4);
	assert_int_equal(virtq_position(&g->vq), c.end);
	for (uint16_t id = 0; id < 3; id++) {
		pop_ok();
		check_chain(id, &s, 1);
		virtq_push(&g->vq, id, 0);
	}
	virtq_flush_notify(&g->vq);
	for (uint16_t id = 0; id < 3; id++)
		expect_used(id, 0);
	expect_no_used();
}

/*
 * Killed between pushes and their flush: the ring is as the driver left it, the record says
 * nothing is in progress, and the new back-end starts where the driver stands: the chains are
 * taken again (as a split ring restarts at its used index), whatever base the front-end sends.
 */
static void test_resume_unflushed(void **state)
{
	const struct seg a[] = { { DATA_GPA, 10, false }, { DATA_GPA + 0x100, 20, true } };
	const struct seg b = { DATA_GPA + 0x200, 30, true };
	uint16_t shown;

	g_data(0, 0);
	ring_start(8, 0, 0x0003);
	virtq_set_used_log(&g->vq, &g->rec_state, g->rec_log);
	pop_empty();
	drv_post(a, 2, 6);
	drv_post(&b, 1, 2);
	pop_push_flush(6, 20);
	expect_used(6, 20);
	shown = used_pos();
	assert_int_equal(le64toh(g->rec_state), virtq_used_state(shown, shown, 0));
	drv_post(a, 2, 1);
	pop_ok(); /* 2 */
	pop_ok(); /* 1 */
	virtq_push(&g->vq, 2, 30);
	virtq_push(&g->vq, 1, 7);
	ring_restart(0x80008000);
	assert_int_equal(virtq_packed_resume(&g->vq, le64toh(g->rec_state), g->rec_log), 0);
	assert_int_equal(virtq_position(&g->vq), shown);
	pop_ok();
	check_chain(2, &b, 1);
	pop_ok();
	check_chain(1, a, 2);
	pop_empty();
	virtq_push(&g->vq, 2, 30);
	virtq_push(&g->vq, 1, 7);
	virtq_flush_notify(&g->vq);
	expect_used(2, 30);
	expect_used(1, 7);
	expect_no_used();
}

/*
 * A ring the driver set up again since the record was written (it reset the device while the
 * back-end was away: the ring is zeroed, chains made available from slot 0): the record is not
 * used and nothing is written, whatever it says.
 */
static void test_resume_new_ring(void **state)
{
	const struct seg s = { DATA_GPA, 10, false };
	uint64_t log[2] = { htole64(virtq_used_entry(0x8003, 1, 0)),
			    htole64(virtq_used_entry(0x8004, 2, 0)) };
	struct drv_snap now;

	g_data(0, 0);
	ring_start(8, 0, FRESH);
	/* DPDK numbers the ids of a ring it sets up (also a packed ring it resets on reconnect). */
	for (uint16_t i = 0; i < 8; i++)
		g->desc[i].id = htole16(i);
	drv_post(&s, 1, 5);
	drv_post(&s, 1, 6);
	drv_save(&now);
	assert_int_equal(virtq_packed_resume(&g->vq, virtq_used_state(0x8003, 0x8003, 0), NULL),
			 -ESTALE);
	assert_int_equal(virtq_packed_resume(&g->vq, virtq_used_state(0x8003, 0x8005, 2), log),
			 -ESTALE);
	/* Nothing to move and nothing to finish: nothing to check either. */
	assert_int_equal(virtq_packed_resume(&g->vq, virtq_used_state(FRESH, FRESH, 0), NULL), 0);
	assert_memory_equal(g->desc, now.desc, 16 * 8);
	assert_int_equal(virtq_position(&g->vq), FRESH);
	pop_push_flush(5, 0);
	expect_used(5, 0);
	/* Once the device has used it, the ring no longer looks new. */
	ring_restart(FRESH);
	assert_int_equal(virtq_packed_resume(&g->vq, virtq_used_state(0x8001, 0x8001, 0), NULL), 0);
	assert_int_equal(virtq_position(&g->vq), 0x8001);
	pop_push_flush(6, 0);
	expect_used(6, 0);
}

/*
 * Records that do not fit the ring, or a ring that is not just started, are refused with
 * nothing written and the ring where it was.
 */
static void test_resume_bad_record(void **state)
{
	const struct seg s = { DATA_GPA, 10, false };
	const struct {
		uint64_t state;
		uint64_t log[3];
	} bad[] = {
		{ virtq_used_state(0x0002, 0x0002, 0) | 1ull << 48 }, /* reserved bits */
		{ virtq_used_state(0x0008, 0x0008, 0) },	      /* slot beyond the ring */
		{ virtq_used_state(0x0002, 0x0004, 0) },	      /* ends elsewhere, no flush */
		{ virtq_used_state(0x0002, 0x0002, 1), { 0x0002 } },  /* a flush of no slots */
		{ virtq_used_state(0x0002, 0x000a, 1), { 0x0002 } },  /* its end beyond the ring */
		{ virtq_used_state(0x0002, 0x0004, 3),		      /* more entries than slots */
		  { 0x0002, 0x0003, 0x0003 } },
		{ virtq_used_state(0x0002, 0x0004, 1), { 0x0003 } }, /* not where the driver is */
		{ virtq_used_state(0x0002, 0x0005, 2), { 0x0002, 0x0002 } }, /* same slot twice */
		{ virtq_used_state(0x0002, 0x0005, 2), { 0x0002, 0x0005 } }, /* past the end */
		{ virtq_used_state(0x0002, 0x0005, 2), { 0x0002, 0x8003 } }, /* a lap on */
		{ virtq_used_state(0x0002, 0x0005, 2), { 0x0002, 0x0003 | 8ull << 16 } }, /* id */
		{ virtq_used_state(0x0002, 0x0005, 2), { 0x0002, 0x000b } }, /* slot 11 */
		{ virtq_used_state(0x0002, 0x0001, 2), { 0x0002, 0x0003 } }, /* end behind */
	};
	struct drv_snap now;

	g_data(0, 0);
	ring_start(8, 0, 0x0001);
	drv_post(&s, 1, 1);
	pop_push_flush(1, 0);
	expect_used(1, 0);
	drv_save(&now);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t log[3];

		for (unsigned k = 0; k < 3; k++)
			log[k] = htole64(bad[i].log[k]);
		ring_restart(FRESH);
		if (virtq_packed_resume(&g->vq, bad[i].state, log) != -EINVAL)
			fail_msg("record %u was not refused", i);
		assert_memory_equal(g->desc, now.desc, 16 * 8);
		assert_int_equal(virtq_position(&g->vq), FRESH);
	}
	assert_int_equal(virtq_packed_resume(&g->vq, virtq_used_state(2, 4, 1), NULL), -EINVAL);
	/* Only a ring with nothing taken is moved. */
	ring_restart(0x0002);
	drv_post(&s, 1, 3);
	pop_ok();
	assert_int_equal(virtq_packed_resume(&g->vq, virtq_used_state(2, 2, 0), NULL), -EINVAL);
	assert_int_equal(virtq_position(&g->vq), 0x0003);
}

/*
 * A driver that makes a slot available again before it was shown it used (here a whole lap
 * pushed and not yet flushed, then slot 0 of the next lap) would have the device keep more used
 * descriptors waiting than the ring has slots: the ring is stopped as for any broken rule.
 */
static void test_log_overrun(void **state)
{
	const struct seg s = { DATA_GPA, 10, false };

	g_data(0, 0);
	ring_start(4, 0, FRESH);
	for (uint16_t id = 0; id < 4; id++)
		drv_post(&s, 1, id);
	for (uint16_t id = 0; id < 4; id++) {
		pop_ok();
		virtq_push(&g->vq, id, 0);
	}
	expect_no_used();
	desc_fill(0, DATA_GPA, 10, 2);
	desc_publish(0, avail_bits(false));
	pop_ok();
	assert_int_equal(g->ch.head, 2);
	virtq_push(&g->vq, 2, 0);
	assert_true(g->vq.broken);
	assert_int_equal(g->vq.faults, 1);
	assert_int_equal(efd_take(g->err_fd), 1);
}

/*
 * Pointing a ring at a record stores its position there; entries pushed meanwhile (a caller
 * that did not wait for the flush) move with it; NULLs go back to the engine's own log.
 */
static void test_set_used_log(void **state)
{
	const struct seg s = { DATA_GPA, 10, true };

	g_data(0, 0);
	ring_start(8, 0, 0x0005);
	g->rec_state = ~0ull;
	virtq_set_used_log(&g->vq, &g->rec_state, g->rec_log);
	assert_int_equal(le64toh(g->rec_state), virtq_used_state(0x0005, 0x0005, 0));
	drv_post(&s, 1, 3);
	pop_ok();
	virtq_push(&g->vq, 3, 9);
	virtq_set_used_log(&g->vq, NULL, NULL);
	assert_int_equal(le64toh(g->rec_state), virtq_used_state(0x0005, 0x0005, 0));
	virtq_flush_notify(&g->vq);
	expect_used(3, 9);
	assert_int_equal(le64toh(g->rec_state), virtq_used_state(0x0005, 0x0005, 0));
	drv_post(&s, 1, 4);
	pop_ok();
	virtq_push(&g->vq, 4, 1);
	/* Not flushed yet: the record says the driver stands before it. */
	virtq_set_used_log(&g->vq, &g->rec_state, g->rec_log);
	assert_int_equal(le64toh(g->rec_state), virtq_used_state(0x0006, 0x0006, 0));
	virtq_flush_notify(&g->vq);
	expect_used(4, 1);
	assert_int_equal(le64toh(g->rec_state), virtq_used_state(0x0007, 0x0007, 0));
	/* A ring started again records nothing until it is pointed at a record again. */
	ring_restart(0x0007);
	g->rec_state = 0;
	drv_post(&s, 1, 5);
	pop_push_flush(5, 2);
	expect_used(5, 2);
	assert_int_equal(g->rec_state, 0);
}

/* ---- virtq_avail_position ---- */

/*
 * The end of the run of available descriptors after the next one to take: the driver's avail
 * position; one full lap ahead (same slot, wrap counter toggled) when every descriptor is
 * available.
 */
static void test_avail_position(void **state)
{
	const struct seg s = { DATA_GPA, 8, false };
	const struct seg three[] = { { DATA_GPA, 8, false },
				     { DATA_GPA + 8, 8, false },
				     { DATA_GPA + 16, 8, true } };

	g_data(0, 0);
	ring_start(8, 0, FRESH);
	assert_int_equal(virtq_avail_position(&g->vq), 0x8000);
	drv_post(three, 3, 0);
	assert_int_equal(virtq_avail_position(&g->vq), 0x8003);
	for (uint16_t i = 1; i < 6; i++)
		drv_post(&s, 1, i);
	assert_int_equal(virtq_avail_position(&g->vq), 0x0000); /* all 8: one lap */
	pop_ok();
	assert_int_equal(virtq_position(&g->vq), 0x8003);
	assert_int_equal(virtq_avail_position(&g->vq), 0x0000);
	for (uint16_t i = 1; i < 6; i++) {
		pop_ok();
		virtq_push(&g->vq, i, 0);
	}
	virtq_push(&g->vq, 0, 0);
	assert_int_equal(virtq_avail_position(&g->vq), 0x0000);
	assert_int_equal(virtq_position(&g->vq), 0x0000);
	virtq_flush_notify(&g->vq);
	for (uint16_t i = 1; i < 6; i++)
		expect_used(i, 0);
	expect_used(0, 0);
	/* The next lap (wrap counter 0), from a ring full of used descriptors. */
	assert_int_equal(virtq_avail_position(&g->vq), 0x0000);
	drv_post(&s, 1, 2);
	drv_post(three, 3, 3);
	assert_int_equal(virtq_avail_position(&g->vq), 0x0004);
	pop_ok();
	assert_int_equal(virtq_avail_position(&g->vq), 0x0004);
	pop_ok();
	assert_int_equal(virtq_avail_position(&g->vq), virtq_position(&g->vq));
}

/* ---- dirty log ---- */

/* Pages of the bitmap the log tests use (up to the end of the descriptor ring and beyond). */
#define LOG_BYTES 64

/* Bit of page `gpa` in bits. */
static bool log_bit(const uint8_t *bits, uint64_t gpa)
{
	uint64_t pg = gpa >> VLOG_PAGE_SHIFT;

	return bits[pg / 8] & (1u << (pg % 8));
}

/* Pages marked in bits. */
static unsigned log_count(const uint8_t *bits)
{
	unsigned n = 0;

	for (unsigned i = 0; i < LOG_BYTES; i++)
		n += (unsigned)__builtin_popcount(bits[i]);
	return n;
}

/*
 * While migrating, what the device writes is in the log: the buffer a receive chain was filled
 * into, the used descriptor in the descriptor ring (at its slot, also after a wrap and on the
 * ring's second page) and the device area; with ring logging off only the buffers.
 */
static void test_log(void **state)
{
	static uint8_t bits[LOG_BYTES];
	const struct seg s = { DATA_GPA + 0x2000, 64, true };
	struct vlog *log = vlog_wrap(bits, LOG_BYTES);
	const uint32_t num = 300; /* 4800 bytes of descriptors: two pages */

	assert_non_null(log);
	g_data(0, 0);
	ring_start(num, FEAT_EVENT, 290 | 0x8000);
	virtq_set_log(&g->vq, log, true, true, DEV_GPA);
	for (unsigned i = 0; i < 12; i++) { /* slots 290..299, then 0 and 1 */
		drv_post(&s, 1, (uint16_t)i);
		pop_ok();
		virtq_log_write(&g->vq, g->iov, g->ch.in_iov, 64);
		virtq_push(&g->vq, (uint16_t)i, 64);
		virtq_flush_notify(&g->vq);
		expect_used((uint16_t)i, 64);
	}
	virtq_log_commit(&g->vq); /* (a batch that fills up is marked before) */
	assert_true(log_bit(bits, DATA_GPA + 0x2000));
	assert_true(log_bit(bits, RING_GPA + 16 * 290)); /* the ring's second page */
	assert_true(log_bit(bits, RING_GPA));		 /* slots 0 and 1 after the wrap */
	assert_int_equal(log_count(bits), 3);
	/* Asking for kicks writes the device area. */
	memset(bits, 0, sizeof(bits));
	virtq_enable_notify(&g->vq);
	assert_true(log_bit(bits, DEV_GPA));
	assert_int_equal(log_count(bits), 1);
	/* Buffers only: the ring's writes are not logged. */
	memset(bits, 0, sizeof(bits));
	virtq_set_log(&g->vq, log, true, false, DEV_GPA);
	drv_post(&s, 1, 20);
	pop_ok();
	virtq_log_write(&g->vq, g->iov, g->ch.in_iov, 64);
	virtq_push(&g->vq, 20, 64);
	virtq_flush_notify(&g->vq);
	virtq_log_commit(&g->vq);
	expect_used(20, 64);
	assert_true(log_bit(bits, DATA_GPA + 0x2000));
	assert_int_equal(log_count(bits), 1);
	virtq_set_log(&g->vq, NULL, false, false, 0);
	vlog_free(log);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* Runs every test above; the exit status is the number of failures. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_single),
		T(test_single_write),
		T(test_chain),
		T(test_two_chains),
		T(test_indirect),
		T(test_indirect_straddle),
		T(test_indirect_one_byte),
		T(test_split_at_edges),
		T(test_enobufs),
		T(test_enobufs_indirect),
		T(test_wrap_sizes),
		T(test_wrap_bases),
		T(test_wrap_in_order),
		T(test_chain_of_num),
		T(test_chain_of_num_unpop),
		T(test_chain_longer_than_ring),
		T(test_chain_longer_than_ring_wrapped),
		T(test_next_not_available),
		T(test_next_wrong_lap),
		T(test_next_used_bits),
		T(test_next_wrap_not_toggled),
		T(test_bad_id),
		T(test_bad_id_chain),
		T(test_id_in_flight),
		T(test_id_free_after_push),
		T(test_indirect_without_feature),
		T(test_indirect_with_next),
		T(test_indirect_second),
		T(test_indirect_nested),
		T(test_indirect_len_zero),
		T(test_indirect_len_not_multiple),
		T(test_indirect_len_short),
		T(test_indirect_too_many),
		T(test_indirect_num_entries),
		T(test_indirect_len_huge),
		T(test_indirect_unmapped),
		T(test_indirect_outside),
		T(test_buffer_unmapped),
		T(test_buffer_partly_outside),
		T(test_buffer_wraps),
		T(test_indirect_buffer_unmapped),
		T(test_read_after_write),
		T(test_read_after_write_indirect),
		T(test_head_not_available),
		T(test_fault_once),
		T(test_burst_stops_for_walker),
		T(test_burst_duplicate_id),
		T(test_burst_id_in_flight),
		T(test_burst_max),
		T(test_unpop),
		T(test_used_after_flush),
		T(test_used_out_of_order),
		T(test_in_order_batch),
		T(test_in_order_writable),
		T(test_in_order_out_of_order),
		T(test_call_flags),
		T(test_call_event_idx),
		T(test_call_desc_without_event_idx),
		T(test_no_call_fd),
		T(test_kick_flags),
		T(test_kick_event_idx),
		T(test_map_fresh),
		T(test_map_mid_ring),
		T(test_map_encodings),
		T(test_map_bad_base),
		T(test_map_used_behind),
		T(test_resume_mid_flush),
		T(test_resume_mid_flush_in_order),
		T(test_resume_after_driver_moved_on),
		T(test_resume_unflushed),
		T(test_resume_new_ring),
		T(test_resume_bad_record),
		T(test_set_used_log),
		T(test_log_overrun),
		T(test_avail_position),
		T(test_log),
	};

	log_set_level(LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
