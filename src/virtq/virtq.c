/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Split virtqueue engine (virtio 1.x section 2.7).
 *
 * Security model: the guest writes the avail ring and descriptors concurrently with us and may
 * be hostile. Every guest-written field is read once into a local (avail->idx per burst, each ring
 * slot, each descriptor), validated, and only the copy is used. Violations of the descriptor-chain
 * rules mark the ring broken; the host side never trusts a length or an index it did not check.
 */
#include "virtq/virtq.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/shared_mem.h"

#define VRING_DESC_F_NEXT	   1
#define VRING_DESC_F_WRITE	   2
#define VRING_DESC_F_INDIRECT	   4
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

/* Loads a guest-written 16-bit field exactly once, without tearing. */
static inline uint16_t guest_load16(const uint16_t *p)
{
	return le16toh(__atomic_load_n(p, __ATOMIC_RELAXED));
}

/* Loads avail->idx; acquire pairs with the guest's write barrier before it bumps idx. */
static inline uint16_t guest_load16_acquire(const uint16_t *p)
{
	return le16toh(__atomic_load_n(p, __ATOMIC_ACQUIRE));
}

void virtq_init(struct virtq *vq, const char *name)
{
	memset(vq, 0, sizeof(*vq));
	vq->call_fd = -1;
	vq->err_fd = -1;
	vq->rl = (struct ratelimit)RATELIMIT_INIT;
	vq->name = name;
}

void virtq_fault(struct virtq *vq, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (!vq->broken) {
		vq->broken = true;
		vq->faults++;
		if (vq->err_fd >= 0) {
			uint64_t one = 1;
			/* An eventfd write only fails when the counter would overflow: nothing to
			 * do. */
			if (write(vq->err_fd, &one, sizeof(one)) < 0) {
			}
		}
	}
	log_rl(&vq->rl, LOG_LVL_ERROR, "%s: guest error, ring stopped: %s",
	       vq->name ? vq->name : "vq", why);
}

void virtq_set_log(struct virtq *vq, struct vlog *log, bool buffers, bool used, uint64_t used_gpa)
{
	/* What was written under the old setting goes to the old log (still mapped here). */
	virtq_log_commit(vq);
	vq->log_buffers = buffers;
	vq->log_used = used;
	vq->log_used_gpa = used_gpa;
	vq->log_used_mark = vq->used_idx;
	vq->log_flushed_mark = vq->used_flushed;
	vq->log_pushed = 0;
	vq->log_hva_len = 0;
	vq->log = log && (buffers || used) ? log : NULL;
}

void virtq_log_write_slow(struct virtq *vq, const struct iovec *iov, unsigned niov, size_t len)
{
	if (!vq->log_buffers)
		return;
	for (unsigned i = 0; i < niov && len > 0; i++) {
		size_t l = MIN(len, iov[i].iov_len);
		uint64_t off = (uint64_t)((uintptr_t)iov[i].iov_base - vq->log_hva), gpa;

		len -= l;
		if (!l)
			continue;
		/* Every buffer iovec lies inside one region (translation splits at edges). */
		if (off < vq->log_hva_len && l <= vq->log_hva_len - off) {
			gpa = vq->log_hva_gpa + off;
		} else {
			const struct vmem_region *r;

			if (vmem_hva_to_gpa(vq->mem, iov[i].iov_base, l, &gpa) < 0)
				continue;
			r = &vq->mem->r[vq->mem->last_hit];
			if (gpa - r->gpa < r->size) { /* cache the region for the next buffers */
				vq->log_hva = (uintptr_t)r->hva;
				vq->log_hva_len = r->size;
				vq->log_hva_gpa = r->gpa;
			}
		}
		vlog_batch_add(vq->log, &vq->log_batch, gpa, l);
	}
}

void virtq_log_commit_slow(struct virtq *vq)
{
	uint32_t n = vq->log_pushed;

	/* Used entries pushed since the last commit, and the index that published them. */
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
	vlog_batch_commit(vq->log, &vq->log_batch);
}

/* Records used-ring bytes [off, off+len) for the log, if the ring logs its used writes. */
static inline void log_used(struct virtq *vq, uint64_t off, uint64_t len)
{
	if (__builtin_expect(vq->log != NULL, 0) && vq->log_used)
		vlog_batch_add(vq->log, &vq->log_batch, vq->log_used_gpa + off, len);
}

/* Marks what the ring recorded for the log since the last commit. */
static inline void log_commit(struct virtq *vq)
{
	virtq_log_commit(vq);
}

/* Translates the three ring parts; stores nothing on failure. */
static int split_translate(struct virtq *vq, void **desc, void **avail, void **used)
{
	uint64_t num = vq->num;
	uint64_t event = (vq->features >> VIRTIO_RING_F_EVENT_IDX) & 1 ? 2 : 0;

	if (num == 0 || num > VIRTQ_MAX_SIZE || (num & (num - 1)))
		return -EINVAL;
	if ((vq->desc_uva & 15) || (vq->avail_uva & 1) || (vq->used_uva & 3))
		return -EINVAL;
	*desc = vmem_uva_ptr(vq->mem, vq->desc_uva, 16 * num);
	*avail = vmem_uva_ptr(vq->mem, vq->avail_uva, 4 + 2 * num + event);
	*used = vmem_uva_ptr(vq->mem, vq->used_uva, 4 + 8 * num + event);
	if (!*desc || !*avail || !*used)
		return -EFAULT;
	/* A region mapped at an odd offset could misalign what the front-end aligned. */
	if (((uintptr_t)*desc & 15) || ((uintptr_t)*avail & 1) || ((uintptr_t)*used & 3))
		return -EINVAL;
	return 0;
}

/* Caches the ring-level feature bits the engine reads on the hot path. */
static void apply_features(struct virtq *vq)
{
	vq->event_idx = (vq->features >> VIRTIO_RING_F_EVENT_IDX) & 1;
	vq->indirect = (vq->features >> VIRTIO_RING_F_INDIRECT_DESC) & 1;
}

int virtq_map(struct virtq *vq, uint16_t base)
{
	void *d, *a, *u;
	int r;

	if (!vq->mem)
		return -EFAULT;
	r = split_translate(vq, &d, &a, &u);
	if (r < 0)
		return r;
	if (!vq->indirect_buf) {
		vq->indirect_buf = malloc(sizeof(struct vring_desc) * VIRTQ_MAX_SIZE);
		if (!vq->indirect_buf)
			return -ENOMEM;
	}
	vq->desc = d;
	vq->avail = a;
	vq->used = u;
	apply_features(vq);
	vq->last_avail = base;
	vq->avail_shadow = base;
	/* used->idx is ours to own from now on; start it where the front-end says we are. */
	vq->used_idx = base;
	vq->used_flushed = base;
	vq->log_used_mark = base;
	vq->log_flushed_mark = base;
	vq->log_pushed = 0;
	vq->log_hva_len = 0;
	vq->signalled_valid = false;
	vq->kicks_off = false;
	vq->broken = false;
	return 0;
}

int virtq_remap(struct virtq *vq)
{
	void *d, *a, *u;
	int r;

	if (!vq->desc)
		return 0;
	r = split_translate(vq, &d, &a, &u);
	if (r < 0) {
		virtq_unmap(vq);
		return r;
	}
	vq->desc = d;
	vq->avail = a;
	vq->used = u;
	vq->log_hva_len = 0; /* regions may have moved */
	apply_features(vq);
	return 0;
}

void virtq_unmap(struct virtq *vq)
{
	/* A stopped ring has marked everything it wrote (GET_VRING_BASE answers after this). */
	log_commit(vq);
	vq->desc = vq->avail = vq->used = NULL;
}

uint16_t virtq_avail_idx(const struct virtq *vq)
{
	const struct vring_avail *avail = vq->avail;

	return avail ? guest_load16_acquire(&avail->idx) : vq->last_avail;
}

uint16_t virtq_used_idx(const struct virtq *vq)
{
	const struct vring_used *used = vq->used;

	return used ? guest_load16_acquire(&used->idx) : vq->used_idx;
}

bool virtq_has_work(struct virtq *vq)
{
	struct vring_avail *avail = vq->avail;

	if (!virtq_ready(vq))
		return false;
	if (vq->avail_shadow != vq->last_avail)
		return true;
	vq->avail_shadow = guest_load16_acquire(&avail->idx);
	return vq->avail_shadow != vq->last_avail;
}

/* Appends the translation of one descriptor's buffer, or returns -EFAULT/-ENOBUFS. */
static int add_buffer(struct virtq *vq, uint64_t addr, uint32_t len, struct iovec *iov,
		      unsigned max, unsigned *n)
{
	unsigned got = 0;
	void *p = vmem_gpa_cached(vq->mem, addr, len);
	int r;

	if (p && *n < max) { /* the usual case: same region as the last buffer */
		iov[*n].iov_base = p;
		iov[*n].iov_len = len;
		(*n)++;
		return 0;
	}
	r = vmem_gpa_iov(vq->mem, addr, len, iov + *n, max - *n, &got);
	if (r < 0)
		return r;
	*n += got;
	return 0;
}

/*
 * Reads an indirect table of `count` descriptors at gpa. Returns a pointer to it in guest memory
 * when it sits in one region, else a snapshot copied into indirect_buf; NULL if unmapped.
 */
static const struct vring_desc *indirect_table(struct virtq *vq, uint64_t gpa, uint32_t count)
{
	size_t bytes = (size_t)count * sizeof(struct vring_desc);
	void *p = vmem_gpa_ptr(vq->mem, gpa, bytes);

	if (p)
		return p;
	/* The table straddles regions: copy it by bytes (not elements) into one place. */
	if (vmem_copy_from(vq->mem, gpa, vq->indirect_buf, bytes) < 0)
		return NULL;
	return vq->indirect_buf;
}

int virtq_pop(struct virtq *vq, struct iovec *iov, unsigned max_iov, struct virtq_chain *ret)
{
	const struct vring_avail *avail = vq->avail;
	const struct vring_desc *table = vq->desc;
	uint32_t table_len = vq->num, count = 0;
	uint64_t out_len = 0, in_len = 0;
	unsigned n = 0, out_iov = 0;
	bool indirect = false, seen_write = false;
	uint16_t head, i;
	int r;

	if (!virtq_ready(vq))
		return 0;
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
			table = indirect_table(vq, d.addr, entries);
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
		r = add_buffer(vq, d.addr, d.len, iov, max_iov, &n);
		if (r == -ENOBUFS)
			return -ENOBUFS; /* nothing consumed: last_avail untouched */
		if (r < 0) {
			virtq_fault(vq, "buffer 0x%llx+%u not in guest memory",
				    (unsigned long long)d.addr, d.len);
			return r;
		}
		if (flags & VRING_DESC_F_WRITE) {
			seen_write = true;
			in_len += d.len;
		} else {
			if (seen_write) {
				virtq_fault(vq, "readable descriptor after a writable one");
				return -EINVAL;
			}
			out_len += d.len;
			out_iov = n;
		}
		if (!(flags & VRING_DESC_F_NEXT))
			break;
		i = le16toh(d.next);
		if (i >= table_len) {
			virtq_fault(vq, "next index %u out of range (%u)", i, table_len);
			return -EINVAL;
		}
	}
	if (out_len > UINT32_MAX || in_len > UINT32_MAX) {
		virtq_fault(vq, "chain longer than 4 GiB");
		return -EINVAL;
	}
	ret->head = head;
	ret->out_iov = out_iov;
	ret->in_iov = n - out_iov;
	ret->out_len = (uint32_t)out_len;
	ret->in_len = (uint32_t)in_len;
	vq->last_avail++;
	return 1;
}

unsigned virtq_pop_burst(struct virtq *vq, struct iovec *iov, struct virtq_chain *ch, unsigned max)
{
	const struct vring_avail *avail = vq->avail;
	const struct vring_desc *table = vq->desc;
	uint16_t heads[VIRTQ_BURST_MAX];
	uint16_t mask = (uint16_t)(vq->num - 1), pending, i, n;

	if (!virtq_ready(vq))
		return 0;
	pending = (uint16_t)(vq->avail_shadow - vq->last_avail);
	if (pending < max) {
		vq->avail_shadow = guest_load16_acquire(&avail->idx);
		pending = (uint16_t)(vq->avail_shadow - vq->last_avail);
	}
	if (pending > vq->num)
		return 0; /* virtq_pop() reports the guest's error */
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

void virtq_unpop(struct virtq *vq, uint16_t n)
{
	vq->last_avail -= n;
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t len)
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

void virtq_flush_notify(struct virtq *vq)
{
	struct vring_used *used = vq->used;

	if (!virtq_ready(vq))
		return;
	if (vq->used_flushed == vq->used_idx)
		return;
	vq->used_flushed = vq->used_idx;
	/* Release: the used elements must be visible before the index that covers them. */
	__atomic_store_n(&used->idx, htole16(vq->used_idx), __ATOMIC_RELEASE);
	if (vq->call_fd >= 0 && need_notify(vq)) {
		uint64_t one = 1;
		if (write(vq->call_fd, &one, sizeof(one)) < 0) {
			/* EAGAIN means the counter is saturated: the guest will see it anyway. */
		}
	}
}

void virtq_disable_notify(struct virtq *vq)
{
	struct vring_used *used = vq->used;

	if (!virtq_ready(vq) || vq->event_idx || vq->kicks_off)
		return; /* with EVENT_IDX we simply stop moving avail_event */
	/* Written only on change: the line is shared with used->idx, which the guest polls. */
	__atomic_store_n(&used->flags, htole16(VRING_USED_F_NO_NOTIFY), __ATOMIC_RELAXED);
	log_used(vq, offsetof(struct vring_used, flags), sizeof(used->flags));
	log_commit(vq);
	vq->kicks_off = true;
}

bool virtq_enable_notify(struct virtq *vq)
{
	struct vring_used *used = vq->used;

	if (!virtq_ready(vq))
		return false;
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
	log_commit(vq);
	/* Pairs with the guest's barrier between bumping avail->idx and reading our request. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return virtq_has_work(vq);
}
