/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Split virtqueue layout (virtio 1.x section 2.7), behind the API of virtq.h.
 *
 * Security model: the guest writes the avail ring and descriptors concurrently with us and may
 * be hostile. Every guest-written field is read once into a local (avail->idx per burst, each ring
 * slot, each descriptor), validated, and only the copy is used. Violations of the descriptor-chain
 * rules mark the ring broken; the host side never trusts a length or an index it did not check.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/shared_mem.h"
#include "virtq/ring.h"

#define VRING_USED_F_NO_NOTIFY	   1
#define VRING_AVAIL_F_NO_INTERRUPT 1

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
_Static_assert(sizeof(struct vring_desc) == 16, "descriptor layout");

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* num entries, then used_event */
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};
_Static_assert(sizeof(struct vring_used_elem) == 8, "used element layout");

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[]; /* num entries, then avail_event */
};

/* Records used-ring bytes [off, off+len) for the log, if the ring logs its used writes. */
static inline void log_used(struct virtq *vq, uint64_t off, uint64_t len)
{
	if (__builtin_expect(vq->log != NULL, 0) && vq->log_used)
		vlog_batch_add(vq->log, &vq->log_batch, vq->log_used_gpa + off, len);
}

/* Records the used entries pushed and the used->idx written since the last commit. */
void split_log_used_commit(struct virtq *vq)
{
	uint32_t n = vq->log_pushed;

	if (vq->log_used && n) {
		uint64_t ring = vq->log_used_gpa + 4, mask = vq->num - 1;
		uint64_t first = vq->log_used_mark & mask;

		if (n >= vq->num) {
			vlog_batch_add(vq->log, &vq->log_batch, ring, 8 * (uint64_t)vq->num);
		} else if (first + n <= vq->num) {
			vlog_batch_add(vq->log, &vq->log_batch, ring + 8 * first, 8 * (uint64_t)n);
		} else {
			vlog_batch_add(vq->log, &vq->log_batch, ring + 8 * first,
				       8 * (vq->num - first));
			vlog_batch_add(vq->log, &vq->log_batch, ring, 8 * (first + n - vq->num));
		}
	}
	vq->log_used_mark = vq->used_idx;
	vq->log_pushed = 0;
	/* used->idx, if it was written since (it may trail the entries by a flush). */
	if (vq->log_used && (vq->log_flushed_mark != vq->used_flushed || n)) {
		vlog_batch_add(vq->log, &vq->log_batch, vq->log_used_gpa + 2, 2);
		vq->log_flushed_mark = vq->used_flushed;
	}
}

/* Translates the three ring parts; stores nothing on failure. */
int split_translate(struct virtq *vq, void **desc, void **avail, void **used)
{
	uint64_t num = vq->num;
	uint64_t event = (vq->features >> VIRTIO_RING_F_EVENT_IDX) & 1 ? 2 : 0;
	const uint64_t size[3] = { 16 * num, 4 + 2 * num + event, 4 + 8 * num + event };
	static const unsigned align[3] = { 16, 2, 4 };

	if (num == 0 || num > VIRTQ_MAX_SIZE || (num & (num - 1)))
		return -EINVAL;
	return virtq_translate_parts(vq, size, align, desc, avail, used);
}

/* Sets the indices of a freshly mapped ring to start at `base`. */
void split_start(struct virtq *vq, uint16_t base)
{
	vq->last_avail = base;
	vq->avail_shadow = base;
	/* used->idx is ours to own from now on; start it where the front-end says we are. */
	vq->used_idx = base;
	vq->used_flushed = base;
	vq->log_used_mark = base;
	vq->log_flushed_mark = base;
}

/* avail->idx as the guest published it, or our index while unmapped. */
uint16_t split_avail_idx(const struct virtq *vq)
{
	const struct vring_avail *avail = vq->avail;

	return avail ? guest_load16_acquire(&avail->idx) : vq->last_avail;
}

uint16_t virtq_used_idx(const struct virtq *vq)
{
	const struct vring_used *used = vq->used;

	if (vq->packed)
		return vq->used_idx;
	return used ? guest_load16_acquire(&used->idx) : vq->used_idx;
}

/* True when avail->idx moved past last_avail (refreshes the shadow). */
bool split_has_work(struct virtq *vq)
{
	struct vring_avail *avail = vq->avail;

	if (vq->avail_shadow != vq->last_avail)
		return true;
	vq->avail_shadow = guest_load16_acquire(&avail->idx);
	return vq->avail_shadow != vq->last_avail;
}

/* The general walker: any chain shape, every checklist rule. */
int split_pop(struct virtq *vq, struct iovec *iov, unsigned max_iov, struct virtq_chain *ret)
{
	const struct vring_avail *avail = vq->avail;
	const struct vring_desc *table = vq->desc;
	uint32_t table_len = vq->num, count = 0;
	struct virtq_walk w = { 0 };
	bool indirect = false;
	uint16_t head, i;
	int r;

	if (vq->avail_shadow == vq->last_avail) {
		vq->avail_shadow = guest_load16_acquire(&avail->idx);
		if (vq->avail_shadow == vq->last_avail)
			return 0;
	}
	/* The guest can only have posted as many entries as the ring holds. */
	if ((uint16_t)(vq->avail_shadow - vq->last_avail) > vq->num) {
		virtq_fault(vq, "avail index moved from %u to %u, more than the ring size %u",
			    vq->last_avail, vq->avail_shadow, vq->num);
		return -EINVAL;
	}
	head = guest_load16(&avail->ring[vq->last_avail & (vq->num - 1)]);
	if (head >= vq->num) {
		virtq_fault(vq, "head %u out of range (ring size %u)", head, vq->num);
		return -EINVAL;
	}
	i = head;
	for (;;) {
		struct vring_desc d;
		uint16_t flags;

		/* A chain visits each slot at most once; more means a loop. */
		if (++count > table_len) {
			virtq_fault(vq, "descriptor chain from head %u loops or exceeds %u entries",
				    head, table_len);
			return -ELOOP;
		}
		memcpy(&d, &table[i], sizeof(d)); /* snapshot: each field is read once */
		flags = le16toh(d.flags);
		d.addr = le64toh(d.addr);
		d.len = le32toh(d.len);
		if (flags & VRING_DESC_F_INDIRECT) {
			uint32_t entries = d.len / sizeof(struct vring_desc);

			if (!vq->indirect) {
				virtq_fault(vq, "indirect descriptor without INDIRECT_DESC");
				return -EINVAL;
			}
			if (indirect) {
				virtq_fault(vq, "nested indirect descriptor");
				return -EINVAL;
			}
			if (flags & VRING_DESC_F_NEXT) {
				virtq_fault(vq, "indirect descriptor with NEXT set");
				return -EINVAL;
			}
			if (d.len == 0 || d.len % sizeof(struct vring_desc) || entries > vq->num) {
				virtq_fault(vq, "indirect table length %u invalid", d.len);
				return -EINVAL;
			}
			table = virtq_indirect_table(vq, d.addr, d.len);
			if (!table) {
				virtq_fault(vq, "indirect table at 0x%llx+%u not in guest memory",
					    (unsigned long long)d.addr, d.len);
				return -EFAULT;
			}
			table_len = entries;
			indirect = true;
			count = 0;
			i = 0;
			continue;
		}
		r = virtq_walk_buffer(vq, &w, d.addr, d.len, flags & VRING_DESC_F_WRITE, iov,
				      max_iov);
		if (r < 0)
			return r; /* -ENOBUFS: nothing consumed, last_avail untouched */
		if (!(flags & VRING_DESC_F_NEXT))
			break;
		i = le16toh(d.next);
		if (i >= table_len) {
			virtq_fault(vq, "next index %u out of range (%u)", i, table_len);
			return -EINVAL;
		}
	}
	r = virtq_walk_finish(vq, &w, head, ret);
	if (r < 0)
		return r;
	vq->last_avail++;
	return 1;
}

/* The burst fast path: single direct descriptors in one region each (see virtq_pop_burst). */
unsigned split_pop_burst(struct virtq *vq, struct iovec *iov, struct virtq_chain *ch, unsigned max)
{
	const struct vring_avail *avail = vq->avail;
	const struct vring_desc *table = vq->desc;
	uint16_t heads[VIRTQ_BURST_MAX];
	uint16_t mask = (uint16_t)(vq->num - 1), pending, i, n;

	pending = (uint16_t)(vq->avail_shadow - vq->last_avail);
	if (pending < max) {
		vq->avail_shadow = guest_load16_acquire(&avail->idx);
		pending = (uint16_t)(vq->avail_shadow - vq->last_avail);
	}
	if (pending > vq->num)
		return 0; /* split_pop() reports the guest's error */
	n = (uint16_t)MIN(MIN(max, (unsigned)pending), VIRTQ_BURST_MAX);
	/* Independent loads first: the misses on the ring and the descriptors overlap. */
	for (i = 0; i < n; i++) {
		heads[i] = guest_load16(&avail->ring[(uint16_t)(vq->last_avail + i) & mask]);
		if (heads[i] < vq->num)
			__builtin_prefetch(&table[heads[i]]);
	}
	for (i = 0; i < n; i++) {
		struct vring_desc d;
		uint16_t flags;
		void *p;

		if (heads[i] >= vq->num)
			break;
		memcpy(&d, &table[heads[i]], sizeof(d)); /* snapshot: each field is read once */
		flags = le16toh(d.flags);
		d.len = le32toh(d.len);
		if (flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT))
			break;
		if (!d.len)
			break;
		p = vmem_gpa_cached(vq->mem, le64toh(d.addr), d.len);
		if (!p)
			p = vmem_gpa_ptr(vq->mem, le64toh(d.addr), d.len); /* another region */
		if (!p)
			break; /* across regions, or not guest memory: the walker decides */
		iov[i].iov_base = p;
		iov[i].iov_len = d.len;
		if (flags & VRING_DESC_F_WRITE)
			ch[i] = (struct virtq_chain){ .head = heads[i],
						      .in_iov = 1,
						      .in_len = d.len };
		else
			ch[i] = (struct virtq_chain){ .head = heads[i],
						      .out_iov = 1,
						      .out_len = d.len };
	}
	vq->last_avail = (uint16_t)(vq->last_avail + i);
	return i;
}

void virtq_split_push(struct virtq *vq, uint16_t head, uint32_t len)
{
	struct vring_used *used = vq->used;
	struct vring_used_elem e = { .id = htole32(head), .len = htole32(len) };
	uint32_t slot = vq->used_idx & (vq->num - 1);

	/* In-order rings recycle slots with the same id and length: leave those lines shared. */
	store_if_changed(&used->ring[slot], &e, sizeof(e));
	vq->used_idx++; /* logged by virtq_log_commit(), with used->idx */
	if (__builtin_expect(vq->log != NULL, 0))
		vq->log_pushed++; /* 16-bit indices alone cannot tell 65536 pushes from none */
}

/* True if the guest asked (flags or used_event) to be told about the entries just published. */
static bool need_notify(struct virtq *vq)
{
	const struct vring_avail *avail = vq->avail;
	uint16_t old, new, event;
	bool valid;

	/* Pairs with the guest's barrier between writing used_event/flags and reading used->idx. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(guest_load16(&avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
	old = vq->signalled_used;
	valid = vq->signalled_valid;
	new = vq->signalled_used = vq->used_idx;
	vq->signalled_valid = true;
	if (!valid)
		return true;
	event = guest_load16(&avail->ring[vq->num]);
	/* Notify when used_event lies in (old, new]: the guest wants to hear about that entry. */
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

/* Publishes used->idx and signals the guest if it asked. */
void split_flush_notify(struct virtq *vq)
{
	struct vring_used *used = vq->used;

	if (vq->used_flushed == vq->used_idx)
		return;
	vq->used_flushed = vq->used_idx;
	/* Release: the used elements must be visible before the index that covers them. */
	__atomic_store_n(&used->idx, htole16(vq->used_idx), __ATOMIC_RELEASE);
	if (vq->call_fd >= 0 && need_notify(vq))
		virtq_signal(vq);
}

/* Sets VRING_USED_F_NO_NOTIFY (without EVENT_IDX; with it, avail_event simply stays). */
void split_disable_notify(struct virtq *vq)
{
	struct vring_used *used = vq->used;

	if (vq->event_idx || vq->kicks_off)
		return; /* with EVENT_IDX we simply stop moving avail_event */
	/* Written only on change: the line is shared with used->idx, which the guest polls. */
	__atomic_store_n(&used->flags, htole16(VRING_USED_F_NO_NOTIFY), __ATOMIC_RELAXED);
	log_used(vq, offsetof(struct vring_used, flags), sizeof(used->flags));
	virtq_log_commit(vq);
	vq->kicks_off = true;
}

/* Asks for kicks again (avail_event or flags), then re-checks the ring. */
bool split_enable_notify(struct virtq *vq)
{
	struct vring_used *used = vq->used;

	if (vq->event_idx) {
		uint16_t *avail_event = (uint16_t *)&used->ring[vq->num];
		__atomic_store_n(avail_event, htole16(vq->last_avail), __ATOMIC_RELAXED);
		log_used(vq, offsetof(struct vring_used, ring) + 8 * (uint64_t)vq->num,
			 sizeof(*avail_event));
	} else {
		__atomic_store_n(&used->flags, 0, __ATOMIC_RELAXED);
		log_used(vq, offsetof(struct vring_used, flags), sizeof(used->flags));
		vq->kicks_off = false;
	}
	virtq_log_commit(vq);
	/* Pairs with the guest's barrier between bumping avail->idx and reading our request. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return split_has_work(vq);
}
