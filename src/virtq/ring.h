/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internal to the ring engine (src/virtq): what virtq.c shares with the two layouts, split.c
 * and packed.c. Nothing outside src/virtq includes this.
 */
#pragma once

#include <endian.h>
#include <stdint.h>

#include "virtq/virtq.h"

/* Descriptor flags, the same bits in both layouts. */
#define VRING_DESC_F_NEXT     1
#define VRING_DESC_F_WRITE    2
#define VRING_DESC_F_INDIRECT 4

/* Loads a guest-written 16-bit field exactly once, without tearing. */
static inline uint16_t guest_load16(const uint16_t *p)
{
	return le16toh(__atomic_load_n(p, __ATOMIC_RELAXED));
}

/* Loads an index or flags word; acquire pairs with the guest's barrier before it wrote it. */
static inline uint16_t guest_load16_acquire(const uint16_t *p)
{
	return le16toh(__atomic_load_n(p, __ATOMIC_ACQUIRE));
}

/*
 * Appends the translation of one guest buffer to iov[*n..max), split at region edges. Returns
 * 0, -EFAULT (not guest memory) or -ENOBUFS (more than max iovecs); *n only grows on success.
 */
int virtq_add_buffer(struct virtq *vq, uint64_t addr, uint32_t len, struct iovec *iov, unsigned max,
		     unsigned *n);

/* A chain being walked: what virtq_walk_buffer() has gathered so far. */
struct virtq_walk {
	unsigned n, out_iov; /* iovecs filled; readable ones among them */
	uint64_t out_len, in_len;
	bool seen_write;
};

/*
 * Adds one descriptor's buffer to the walk: translated into iov[w->n..max), readable ones
 * before writable ones. Returns 0; -ENOBUFS (iov full, no fault: the caller decides); or another
 * negative errno after faulting the ring (not guest memory, readable after writable).
 */
int virtq_walk_buffer(struct virtq *vq, struct virtq_walk *w, uint64_t addr, uint32_t len,
		      bool write, struct iovec *iov, unsigned max);

/* Fills *ret for a walked chain with id `head`; -EINVAL after faulting if it exceeds 4 GiB. */
int virtq_walk_finish(struct virtq *vq, const struct virtq_walk *w, uint16_t head,
		      struct virtq_chain *ret);

/*
 * Translates the three ring parts of the given sizes, each aligned to align[i] in the front-end's
 * and in our address space. Stores nothing on failure: -EINVAL (alignment) or -EFAULT.
 */
int virtq_translate_parts(struct virtq *vq, const uint64_t size[3], const unsigned align[3],
			  void **desc, void **avail, void **used);

/*
 * Reads an indirect table of `bytes` bytes at gpa: a pointer into guest memory when it sits in
 * one region, else a snapshot copied into vq->indirect_buf (at most VIRTQ_MAX_SIZE
 * descriptors); NULL if it is not guest memory.
 */
const void *virtq_indirect_table(struct virtq *vq, uint64_t gpa, size_t bytes);

/* Signals the call eventfd (the guest wants to hear about used buffers). */
void virtq_signal(struct virtq *vq);

/* Split layout (split.c). */
int split_translate(struct virtq *vq, void **desc, void **avail, void **used);
void split_start(struct virtq *vq, uint16_t base);
void split_log_used_commit(struct virtq *vq);
uint16_t split_avail_idx(const struct virtq *vq);
bool split_has_work(struct virtq *vq);
int split_pop(struct virtq *vq, struct iovec *iov, unsigned max_iov, struct virtq_chain *ret);
unsigned split_pop_burst(struct virtq *vq, struct iovec *iov, struct virtq_chain *ch, unsigned max);
void split_flush_notify(struct virtq *vq);
void split_disable_notify(struct virtq *vq);
bool split_enable_notify(struct virtq *vq);

/* Packed layout (packed.c). */
int packed_translate(struct virtq *vq, void **desc, void **avail, void **used);
int packed_prepare(struct virtq *vq, uint32_t base);
void packed_start(struct virtq *vq, uint32_t base);
void packed_note_gpas(struct virtq *vq);
uint32_t packed_base(const struct virtq *vq);
uint32_t packed_avail_position(const struct virtq *vq);
bool packed_has_work(struct virtq *vq);
int packed_pop(struct virtq *vq, struct iovec *iov, unsigned max_iov, struct virtq_chain *ret);
unsigned packed_pop_burst(struct virtq *vq, struct iovec *iov, struct virtq_chain *ch,
			  unsigned max);
void packed_unpop(struct virtq *vq, uint16_t n);
void packed_flush_notify(struct virtq *vq);
/* Makes every used entry pushed since the last flush visible, without notifying. */
void packed_publish(struct virtq *vq);
void packed_disable_notify(struct virtq *vq);
bool packed_enable_notify(struct virtq *vq);
