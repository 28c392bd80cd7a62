/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Packed virtqueue layout (virtio 1.x section 2.8), behind the API of virtq.h.
 *
 * One descriptor ring carries both directions: the driver makes a descriptor available by
 * writing its flags with AVAIL = its wrap counter and USED = the inverse; we hand a chain back
 * by writing one used descriptor (buffer id, length, AVAIL = USED = our wrap counter) at our
 * used position, which then skips as many slots as the chain took. The driver area (vq->avail)
 * tells us when the guest wants interrupts, the device area (vq->used) tells it when we want
 * kicks.
 *
 * Security model: the guest rewrites descriptors concurrently and may be hostile. Each
 * descriptor is copied once into a local and only the copy is used (the head's flags are the
 * value whose availability was checked). A chain longer than the ring, a descriptor of a chain
 * whose wrap bits say it is not available, a buffer id out of range or already in flight, an
 * indirect descriptor inside a chain or inside its own table, a table of bad length: each marks
 * the ring broken (virtq_fault) and nothing of the chain is used. Ids in flight are tracked here
 * (pk_ndesc), so a guest that reuses one cannot make us complete a chain twice.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "virtq/ring.h"

#define DESC_F_AVAIL (1u << 7)
#define DESC_F_USED  (1u << 15)

#define EVENT_F_ENABLE	0
#define EVENT_F_DISABLE 1
#define EVENT_F_DESC	2
#define EVENT_WRAP	(1u << 15)

/* pk_ndesc: the chain had device-writable descriptors (never batched: its length matters). */
#define NDESC_WRITE 0x8000u
#define NDESC_MASK  0x7fffu

struct pvirtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};
_Static_assert(sizeof(struct pvirtq_desc) == 16, "packed descriptor layout");
/* What the device writes in a used descriptor, len, id and flags, is its last 8 bytes. */
_Static_assert(offsetof(struct pvirtq_desc, len) == 8 && offsetof(struct pvirtq_desc, id) == 12 &&
		       offsetof(struct pvirtq_desc, flags) == 14,
	       "used descriptor fields");

struct pvirtq_event {
	uint16_t off_wrap; /* descriptor offset, bit 15 its wrap counter */
	uint16_t flags;	   /* EVENT_F_* */
};
_Static_assert(sizeof(struct pvirtq_event) == 4, "event suppression layout");

/* True if flags mark a descriptor the driver made available in the lap with wrap counter w. */
static inline bool is_avail(uint16_t flags, bool w)
{
	return !!(flags & DESC_F_AVAIL) == w && !!(flags & DESC_F_USED) != w;
}

/* Moves (slot, wrap) forward by n <= num slots. */
static inline void advance(const struct virtq *vq, uint16_t *slot, bool *wrap, uint32_t n)
{
	uint32_t s = (uint32_t)*slot + n;

	if (s >= vq->num) {
		s -= vq->num;
		*wrap = !*wrap;
	}
	*slot = (uint16_t)s;
}

/* A ring position as a number in [0, 2*num): laps with wrap counter 1 first. */
static inline uint32_t pos2(const struct virtq *vq, uint16_t slot, bool wrap)
{
	return wrap ? slot : slot + vq->num;
}

/* Records ring bytes we wrote at guest-physical gpa + off for the dirty log. */
static inline void log_ring(struct virtq *vq, uint64_t gpa, uint64_t off, uint64_t len)
{
	if (__builtin_expect(vq->log != NULL, 0) && vq->log_used && gpa != UINT64_MAX)
		vlog_batch_add(vq->log, &vq->log_batch, gpa + off, len);
}

int packed_translate(struct virtq *vq, void **desc, void **avail, void **used)
{
	const uint64_t size[3] = { 16 * (uint64_t)vq->num, sizeof(struct pvirtq_event),
				   sizeof(struct pvirtq_event) };
	static const unsigned align[3] = { 16, 4, 4 };

	/* Packed rings need not be a power of two in size. */
	if (vq->num == 0 || vq->num > VIRTQ_MAX_SIZE)
		return -EINVAL;
	return virtq_translate_parts(vq, size, align, desc, avail, used);
}

/* Checks base against the ring size, sizes the per-id arrays and the log; changes no ring state. */
int packed_prepare(struct virtq *vq, uint32_t base)
{
	uint16_t *ids;
	uint64_t *log;

	if ((base & 0x7fff) >= vq->num || ((base >> 16) & 0x7fff) >= vq->num)
		return -EINVAL;
	if (vq->pk_num == vq->num)
		return 0;
	ids = calloc(3 * (size_t)vq->num, sizeof(*ids));
	log = calloc(vq->num, sizeof(*log));
	if (!ids || !log) {
		free(ids);
		free(log);
		return -ENOMEM;
	}
	free(vq->pk_ndesc);
	free(vq->pk_log_mem);
	vq->pk_ndesc = ids;
	vq->pk_start = ids + vq->num;
	vq->pk_order = ids + 2 * (size_t)vq->num;
	vq->pk_log = vq->pk_log_mem = log;
	vq->pk_num = vq->num;
	return 0;
}

void packed_note_gpas(struct virtq *vq)
{
	if (vmem_hva_to_gpa(vq->mem, vq->desc, 16 * (uint64_t)vq->num, &vq->desc_gpa) < 0)
		vq->desc_gpa = UINT64_MAX;
	if (vmem_hva_to_gpa(vq->mem, vq->used, sizeof(struct pvirtq_event), &vq->dev_area_gpa) < 0)
		vq->dev_area_gpa = UINT64_MAX;
}

void packed_start(struct virtq *vq, uint32_t base)
{
	uint16_t avail = base & 0x7fff, used = avail;
	bool avail_wrap = (base >> 15) & 1, used_wrap = avail_wrap;

	if (base >> 16) { /* QEMU's encoding carries the used side too; DPDK's leaves it 0 */
		used = (base >> 16) & 0x7fff;
		used_wrap = base >> 31;
	}
	if (used != avail || used_wrap != avail_wrap)
		log_rl(&vq->rl, LOG_LVL_WARN,
		       "%s: packed ring resumes at used slot %u (wrap %d), not avail slot %u "
		       "(wrap %d): chains in flight are processed again",
		       vq->name ? vq->name : "vq", used, used_wrap, avail, avail_wrap);
	/* Chains the last back-end took but never completed are taken again. */
	vq->last_avail = vq->used_idx = used;
	vq->avail_wrap = vq->used_wrap = used_wrap;
	memset(vq->pk_ndesc, 0, sizeof(*vq->pk_ndesc) * vq->pk_num);
	vq->pk_head = 0;
	vq->pk_log = vq->pk_log_mem;
	vq->pk_log_n = 0;
	vq->pk_state = NULL;
	vq->pk_batch = false;
	vq->dev_event_flags = 0xffff; /* unknown: the first request is written */
	vq->signalled_pos = 0;
	packed_note_gpas(vq);
}

uint32_t packed_base(const struct virtq *vq)
{
	uint32_t avail = vq->last_avail | (uint32_t)vq->avail_wrap << 15;
	uint32_t used = vq->used_idx | (uint32_t)vq->used_wrap << 15;

	return avail | used << 16;
}

uint32_t packed_avail_position(const struct virtq *vq)
{
	const struct pvirtq_desc *desc = vq->desc;
	uint16_t slot = vq->last_avail;
	bool w = vq->avail_wrap;

	if (!desc)
		return virtq_position(vq);
	for (uint32_t i = 0; i < vq->num; i++) {
		if (!is_avail(guest_load16_acquire(&desc[slot].flags), w))
			break;
		advance(vq, &slot, &w, 1);
	}
	return slot | (uint32_t)w << 15;
}

bool packed_has_work(struct virtq *vq)
{
	const struct pvirtq_desc *desc = vq->desc;

	return is_avail(guest_load16_acquire(&desc[vq->last_avail].flags), vq->avail_wrap);
}

/*
 * The pk_ndesc entry of a chain of `count` (1..num) descriptors. A chain may fill the ring, and
 * 32768, a full ring of the largest size, does not fit beside NDESC_WRITE: it is stored as
 * NDESC_WRITE alone (a count of 0 is never taken otherwise), which only costs that chain IN_ORDER
 * batching.
 */
static inline uint16_t ndesc_pack(uint32_t count, bool writes)
{
	if (count > NDESC_MASK)
		return NDESC_WRITE;
	return (uint16_t)(count | (writes ? NDESC_WRITE : 0));
}

/* The descriptor count a pk_ndesc entry stands for (0 for an id not in flight). */
static inline uint32_t ndesc_count(uint16_t v)
{
	return v == NDESC_WRITE ? NDESC_MASK + 1 : v & NDESC_MASK;
}

/* Remembers chain `id` as taken: count descriptors starting at the current position. */
static inline void take(struct virtq *vq, uint16_t id, uint32_t count, bool writes)
{
	vq->pk_ndesc[id] = ndesc_pack(count, writes);
	vq->pk_start[id] = (uint16_t)(vq->last_avail | (uint32_t)vq->avail_wrap << 15);
	vq->pk_order[vq->pk_head] = id;
	vq->pk_head = vq->pk_head + 1 == vq->num ? 0 : vq->pk_head + 1;
	advance(vq, &vq->last_avail, &vq->avail_wrap, count);
}

/* Checks a chain's buffer id; faults the ring when the guest broke a rule. */
static int check_id(struct virtq *vq, uint16_t id)
{
	if (id >= vq->num) {
		virtq_fault(vq, "buffer id %u out of range (ring size %u)", id, vq->num);
		return -EINVAL;
	}
	if (vq->pk_ndesc[id]) {
		virtq_fault(vq, "buffer id %u made available again while in flight", id);
		return -EINVAL;
	}
	return 0;
}

/* Walks an indirect table (the chain's only descriptor) into iov. */
static int walk_indirect(struct virtq *vq, const struct pvirtq_desc *d, struct virtq_walk *w,
			 struct iovec *iov, unsigned max_iov)
{
	uint64_t addr = le64toh(d->addr);
	uint32_t len = le32toh(d->len), entries = len / sizeof(struct pvirtq_desc);
	const struct pvirtq_desc *table;
	int r;

	if (!vq->indirect) {
		virtq_fault(vq, "indirect descriptor without INDIRECT_DESC");
		return -EINVAL;
	}
	if (len == 0 || len % sizeof(struct pvirtq_desc) || entries > vq->num) {
		virtq_fault(vq, "indirect table length %u invalid", len);
		return -EINVAL;
	}
	table = virtq_indirect_table(vq, addr, len);
	if (!table) {
		virtq_fault(vq, "indirect table at 0x%llx+%u not in guest memory",
			    (unsigned long long)addr, len);
		return -EFAULT;
	}
	/* Entries follow each other; only WRITE means something in them (NEXT is ignored). */
	for (uint32_t i = 0; i < entries; i++) {
		struct pvirtq_desc e;
		uint16_t flags;

		memcpy(&e, &table[i], sizeof(e)); /* snapshot: each field is read once */
		flags = le16toh(e.flags);
		if (flags & VRING_DESC_F_INDIRECT) {
			virtq_fault(vq, "nested indirect descriptor");
			return -EINVAL;
		}
		r = virtq_walk_buffer(vq, w, le64toh(e.addr), le32toh(e.len),
				      flags & VRING_DESC_F_WRITE, iov, max_iov);
		if (r < 0)
			return r;
	}
	return 0;
}

int packed_pop(struct virtq *vq, struct iovec *iov, unsigned max_iov, struct virtq_chain *ret)
{
	const struct pvirtq_desc *ring = vq->desc;
	uint16_t slot = vq->last_avail, flags, id;
	bool w = vq->avail_wrap;
	struct virtq_walk walk = { 0 };
	uint32_t count = 0;
	int r;

	flags = guest_load16_acquire(&ring[slot].flags);
	if (!is_avail(flags, w))
		return 0;
	for (;;) {
		struct pvirtq_desc d;

		memcpy(&d, &ring[slot], sizeof(d)); /* snapshot: each field is read once */
		if (count == 0)
			d.flags = htole16(flags); /* the head's flags are the ones checked above */
		flags = le16toh(d.flags);
		/* The driver writes every descriptor of a chain before the head's flags. */
		if (count > 0 && !is_avail(flags, w)) {
			virtq_fault(
				vq,
				"descriptor %u of a chain is not available (flags 0x%x, wrap %d)",
				slot, flags, w);
			return -EINVAL;
		}
		if (++count > vq->num) {
			virtq_fault(vq, "descriptor chain longer than the ring (%u)", vq->num);
			return -ELOOP;
		}
		if (flags & VRING_DESC_F_INDIRECT) {
			if (count > 1 || (flags & VRING_DESC_F_NEXT)) {
				virtq_fault(vq, "indirect descriptor inside a chain");
				return -EINVAL;
			}
			r = walk_indirect(vq, &d, &walk, iov, max_iov);
			if (r < 0)
				return r; /* -ENOBUFS: nothing consumed */
			id = le16toh(d.id);
			break;
		}
		r = virtq_walk_buffer(vq, &walk, le64toh(d.addr), le32toh(d.len),
				      flags & VRING_DESC_F_WRITE, iov, max_iov);
		if (r < 0)
			return r; /* -ENOBUFS: nothing consumed, last_avail untouched */
		if (!(flags & VRING_DESC_F_NEXT)) {
			id = le16toh(d.id); /* the buffer id lives in the last descriptor */
			break;
		}
		advance(vq, &slot, &w, 1);
	}
	r = check_id(vq, id);
	if (r < 0)
		return r;
	r = virtq_walk_finish(vq, &walk, id, ret);
	if (r < 0)
		return r;
	take(vq, id, count, walk.seen_write);
	return 1;
}

unsigned packed_pop_burst(struct virtq *vq, struct iovec *iov, struct virtq_chain *ch, unsigned max)
{
	const struct pvirtq_desc *ring = vq->desc;
	uint16_t flags[VIRTQ_BURST_MAX], slot = vq->last_avail;
	bool w = vq->avail_wrap;
	unsigned n, i;

	max = MIN(max, VIRTQ_BURST_MAX);
	/* Flags first: the run of single available descriptors, their misses overlapping. */
	for (n = 0; n < max; n++) {
		uint16_t f = guest_load16(&ring[slot].flags);

		if (!is_avail(f, w) || (f & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)))
			break;
		flags[n] = f;
		advance(vq, &slot, &w, 1);
	}
	if (!n)
		return 0;
	/* Pairs with the guest's barrier before each flags write: descriptors after flags. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	for (i = 0; i < n; i++) {
		struct pvirtq_desc d;
		uint16_t id;
		void *p;

		memcpy(&d, &ring[vq->last_avail], sizeof(d)); /* snapshot */
		id = le16toh(d.id);
		d.len = le32toh(d.len);
		if (!d.len || id >= vq->num || vq->pk_ndesc[id])
			break; /* the walker decides (and reports the guest's error) */
		p = vmem_gpa_cached(vq->mem, le64toh(d.addr), d.len);
		if (!p)
			p = vmem_gpa_ptr(vq->mem, le64toh(d.addr), d.len); /* another region */
		if (!p)
			break;
		iov[i].iov_base = p;
		iov[i].iov_len = d.len;
		if (flags[i] & VRING_DESC_F_WRITE)
			ch[i] = (struct virtq_chain){ .head = id, .in_iov = 1, .in_len = d.len };
		else
			ch[i] = (struct virtq_chain){ .head = id, .out_iov = 1, .out_len = d.len };
		take(vq, id, 1, flags[i] & VRING_DESC_F_WRITE);
	}
	return i;
}

void packed_unpop(struct virtq *vq, uint16_t n)
{
	/* The caller gives back only chains it took and did not push: their ids are in flight. */
	for (uint16_t k = 0; k < n; k++) {
		uint16_t id;
		uint32_t count;

		vq->pk_head = vq->pk_head ? vq->pk_head - 1 : vq->num - 1;
		id = vq->pk_order[vq->pk_head];
		count = ndesc_count(vq->pk_ndesc[id]);

		vq->pk_ndesc[id] = 0;
		if (vq->last_avail < count) {
			vq->last_avail = (uint16_t)(vq->last_avail + vq->num - count);
			vq->avail_wrap = !vq->avail_wrap;
		} else {
			vq->last_avail = (uint16_t)(vq->last_avail - count);
		}
	}
}

/*
 * Logs a used descriptor for slot; the flush writes it into the ring. The log holds a ring's
 * worth: entries since the last flush each stand for slots after the position the driver was
 * shown, and a driver makes no slot available again before it has been shown it used. Only a
 * driver that breaks that rule overruns it, and gets its ring stopped instead.
 */
static void log_used(struct virtq *vq, uint16_t slot, bool wrap, uint16_t id, uint32_t len)
{
	if (__builtin_expect(vq->pk_log_n >= vq->num, 0)) {
		virtq_fault(vq, "more used descriptors than the ring has slots before a flush");
		return;
	}
	vq->pk_log[vq->pk_log_n++] =
		htole64(virtq_used_entry((uint16_t)(slot | (uint32_t)wrap << 15), id, len));
}

/*
 * The last 8 bytes of the used descriptor a log entry stands for: length, id and flags, which
 * the device writes with one store, so that a descriptor whose flags say used is whole, to the
 * driver as to a back-end restarted after a crash.
 */
static inline uint64_t used_tail(uint64_t e)
{
	uint64_t len = e >> 32, flags = e & 0x8000 ? DESC_F_AVAIL | DESC_F_USED : 0;

	if (len)
		flags |= VRING_DESC_F_WRITE; /* the device wrote len bytes */
	return htole64(len | (e & 0xffff0000) << 16 | flags << 48);
}

/* Where in ring the used descriptor of log entry e goes. */
static inline uint64_t *used_at(struct pvirtq_desc *ring, uint64_t e)
{
	return (uint64_t *)&ring[e & 0x7fff].len;
}

/* Writes the used descriptor of log entry e (for the dirty log too), with release. */
static void write_used(struct virtq *vq, uint64_t e)
{
	__atomic_store_n(used_at(vq->desc, e), used_tail(e), __ATOMIC_RELEASE);
	log_ring(vq, vq->desc_gpa, 16 * (e & 0x7fff), 16);
}

/* Writes the open IN_ORDER batch as one used descriptor carrying its last id. */
static void close_batch(struct virtq *vq)
{
	if (!vq->pk_batch)
		return;
	vq->pk_batch = false;
	log_used(vq, vq->pk_batch_slot, vq->pk_batch_wrap, vq->pk_batch_id, 0);
}

void virtq_packed_push(struct virtq *vq, uint16_t id, uint32_t len)
{
	uint16_t ndesc = vq->pk_ndesc[id], start = vq->pk_start[id];
	uint16_t here = (uint16_t)(vq->used_idx | (uint32_t)vq->used_wrap << 15);

	/*
	 * IN_ORDER: a device-read chain completed in ring order needs no entry of its own; the
	 * batch's last id tells the driver that it and all before it are done.
	 */
	if (vq->in_order && !(ndesc & NDESC_WRITE) && !len && start == here) {
		if (!vq->pk_batch) {
			vq->pk_batch = true;
			vq->pk_batch_slot = vq->used_idx;
			vq->pk_batch_wrap = vq->used_wrap;
		}
		vq->pk_batch_id = id;
	} else {
		close_batch(vq);
		log_used(vq, vq->used_idx, vq->used_wrap, id, len);
	}
	vq->pk_ndesc[id] = 0;
	advance(vq, &vq->used_idx, &vq->used_wrap, ndesc_count(ndesc));
}

/* True if the driver area asks to hear about the used entries published since the last check. */
static bool need_notify(struct virtq *vq)
{
	const struct pvirtq_event *drv = vq->avail;
	uint32_t old = vq->signalled_pos, new = pos2(vq, vq->used_idx, vq->used_wrap);
	uint32_t span = 2 * vq->num, event;
	uint16_t flags, off_wrap;
	bool valid = vq->signalled_valid;

	/* Pairs with the guest's barrier between writing its event request and polling. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	flags = guest_load16(&drv->flags);
	off_wrap = guest_load16(&drv->off_wrap);
	vq->signalled_pos = new;
	vq->signalled_valid = true;
	if (flags == EVENT_F_DISABLE)
		return false;
	/* DESC without EVENT_IDX, and the reserved value 3, are taken as "enabled". */
	if (flags != EVENT_F_DESC || !vq->event_idx || !valid)
		return true;
	if ((off_wrap & ~EVENT_WRAP) >= vq->num)
		return true; /* nonsense from the guest: an interrupt too many hurts nobody */
	event = pos2(vq, off_wrap & ~EVENT_WRAP, off_wrap & EVENT_WRAP);
	/* Notify when the requested position lies in [old, new), as vring_need_event() does. */
	return (event + span - old) % span < (new + span - old) % span;
}

/*
 * Writes the logged entries into the ring. The driver polls the first one's slot, so that one
 * goes last: the whole batch, and every buffer of a merged receive frame, shows at once. With a
 * state word, the flush is recorded before the ring changes and marked done after, so a
 * back-end killed in between finishes it (virtq_packed_resume()) instead of guessing. Returns
 * whether there was anything to write.
 */
static bool publish(struct virtq *vq)
{
	uint16_t shown, end = (uint16_t)(vq->used_idx | (uint32_t)vq->used_wrap << 15);
	struct pvirtq_desc *ring = vq->desc;
	const uint64_t *log;
	uint32_t n;

	close_batch(vq);
	n = vq->pk_log_n;
	if (!n)
		return false;
	vq->pk_log_n = 0;
	log = vq->pk_log;
	shown = (uint16_t)le64toh(log[0]);
	if (vq->pk_state)
		__atomic_store_n(vq->pk_state, htole64(virtq_used_state(shown, end, (uint16_t)n)),
				 __ATOMIC_RELEASE);
	/* The driver sees none of these before the first one's flags: no order among them. */
	for (uint32_t i = 1; i < n; i++) {
		uint64_t e = le64toh(log[i]);

		__atomic_store_n(used_at(ring, e), used_tail(e), __ATOMIC_RELAXED);
	}
	if (__builtin_expect(vq->log != NULL, 0))
		for (uint32_t i = 1; i < n; i++)
			log_ring(vq, vq->desc_gpa, 16 * (le64toh(log[i]) & 0x7fff), 16);
	write_used(vq, le64toh(log[0]));
	if (vq->pk_state)
		__atomic_store_n(vq->pk_state, htole64(virtq_used_state(end, end, 0)),
				 __ATOMIC_RELEASE);
	return true;
}

void packed_publish(struct virtq *vq)
{
	publish(vq);
}

void packed_flush_notify(struct virtq *vq)
{
	if (publish(vq) && vq->call_fd >= 0 && need_notify(vq))
		virtq_signal(vq);
}

/* Writes the device area's flags (and, for DESC, the offset first) when they change. */
static void set_dev_event(struct virtq *vq, uint16_t flags, uint16_t off_wrap)
{
	struct pvirtq_event *dev = vq->used;

	if (flags == EVENT_F_DESC)
		__atomic_store_n(&dev->off_wrap, htole16(off_wrap), __ATOMIC_RELAXED);
	if (flags != vq->dev_event_flags) {
		__atomic_store_n(&dev->flags, htole16(flags), __ATOMIC_RELAXED);
		vq->dev_event_flags = flags;
	}
	log_ring(vq, vq->dev_area_gpa, 0, sizeof(*dev));
	virtq_log_commit(vq);
}

void packed_disable_notify(struct virtq *vq)
{
	/*
	 * Unlike split rings, even with EVENT_IDX the flags say DISABLE: some drivers (DPDK's)
	 * read only the flags, and a stale offset would let them kick anyway.
	 */
	if (vq->dev_event_flags != EVENT_F_DISABLE)
		set_dev_event(vq, EVENT_F_DISABLE, 0);
}

bool packed_enable_notify(struct virtq *vq)
{
	if (vq->event_idx)
		set_dev_event(vq, EVENT_F_DESC, (uint16_t)virtq_position(vq));
	else if (vq->dev_event_flags != EVENT_F_ENABLE)
		set_dev_event(vq, EVENT_F_ENABLE, 0);
	/* Pairs with the guest's barrier between making descriptors available and reading this. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return packed_has_work(vq);
}

void virtq_set_used_log(struct virtq *vq, uint64_t *state, uint64_t *log)
{
	uint16_t here = (uint16_t)(vq->used_idx | (uint32_t)vq->used_wrap << 15);
	uint64_t *to = state && log ? log : vq->pk_log_mem;

	/*
	 * Callers come between passes, with nothing logged. Should one not, the entries move
	 * along and the record says the driver stands before them: they are taken again.
	 */
	if (vq->pk_log_n) {
		if (to != vq->pk_log)
			memmove(to, vq->pk_log, vq->pk_log_n * sizeof(*to));
		here = (uint16_t)le64toh(to[0]);
	}
	vq->pk_log = to;
	vq->pk_state = state && log ? state : NULL;
	if (vq->pk_state)
		__atomic_store_n(vq->pk_state, htole64(virtq_used_state(here, here, 0)),
				 __ATOMIC_RELEASE);
}

/* Slots from position a forward to position b (both slot | wrap << 15 with slot < num). */
static uint32_t pos_dist(const struct virtq *vq, uint16_t a, uint16_t b)
{
	uint32_t span = 2 * vq->num;

	return (pos2(vq, b & 0x7fff, b >> 15) + span - pos2(vq, a & 0x7fff, a >> 15)) % span;
}

/*
 * True when the descriptor ring looks as a driver leaves it when it sets a ring up: each
 * descriptor either made available in the first lap (wrap counter 1) or zero but for its id (a
 * new ring is zeroed: Linux allocates it with __GFP_ZERO; DPDK clears it and numbers the ids,
 * also when its virtio-user resets its packed rings on a reconnect). A ring the device has used
 * is not like that: from the second lap on every descriptor points at a buffer, and in the
 * first lap the used ones are marked AVAIL|USED. The driver may make more available while we
 * look, so the available ones need not come first.
 */
static bool ring_looks_new(const struct virtq *vq)
{
	const struct pvirtq_desc *ring = vq->desc;

	for (uint32_t i = 0; i < vq->num; i++) {
		struct pvirtq_desc d;

		memcpy(&d, &ring[i], sizeof(d)); /* snapshot */
		if (is_avail(le16toh(d.flags), true))
			continue;
		if (d.addr || d.len || d.flags)
			return false;
	}
	return true;
}

/*
 * Checks a record against the ring: positions inside it, a flush in progress starting where
 * the driver stands, its entries (copied to log, read once each) in ring order inside the
 * flush, ids in range. Returns the number of entries or -EINVAL.
 */
static int check_record(const struct virtq *vq, uint64_t state, const uint64_t *saved,
			uint64_t *log)
{
	uint16_t shown = state & 0xffff, end = (state >> 16) & 0xffff;
	uint32_t n = (state >> 32) & 0xffff, span, prev = 0;

	if (state >> 48 || (shown & 0x7fff) >= vq->num || (end & 0x7fff) >= vq->num)
		return -EINVAL;
	if (n == 0)
		return end == shown ? 0 : -EINVAL;
	/* At most a lap ahead (a flush of a whole lap ends at the same slot, one lap on). */
	span = pos_dist(vq, shown, end);
	if (span == 0 || span > vq->num || n > span)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t e = le64toh(__atomic_load_n(&saved[i], __ATOMIC_RELAXED));
		uint16_t pos = e & 0xffff;
		uint32_t d;

		if ((pos & 0x7fff) >= vq->num || ((e >> 16) & 0xffff) >= vq->num)
			return -EINVAL;
		d = pos_dist(vq, shown, pos);
		/* The first entry is where the driver stands; each takes at least one slot. */
		if ((i == 0 && d != 0) || (i > 0 && d <= prev) || d >= span)
			return -EINVAL;
		prev = d;
		log[i] = e;
	}
	return (int)n;
}

int virtq_packed_resume(struct virtq *vq, uint64_t state, const uint64_t *saved)
{
	const struct pvirtq_desc *ring = vq->desc;
	uint16_t here = (uint16_t)(vq->used_idx | (uint32_t)vq->used_wrap << 15), end;
	_cleanup_free_ uint64_t *log = NULL;
	int n, written = 0;

	if (!vq->packed || !ring || vq->pk_log_n || virtq_position(vq) != here)
		return -EINVAL;
	if ((state >> 32) & 0xffff) {
		if (!saved)
			return -EINVAL;
		log = malloc(((state >> 32) & 0xffff) * sizeof(*log));
		if (!log)
			return -ENOMEM;
	}
	n = check_record(vq, state, saved, log);
	if (n < 0)
		return n;
	end = (state >> 16) & 0xffff;
	if (n == 0 && end == here)
		return 0; /* nothing to finish, and the ring starts there anyway */
	if (ring_looks_new(vq))
		return -ESTALE;
	/*
	 * The driver waits at `shown` for the first entry's flags, so it has seen none of them,
	 * unless the flush got that far; then it may have made those slots available again (the
	 * next lap). Either way a slot still holding what the driver made available in the
	 * entry's lap is one the flush did not reach: write it, the first entry last.
	 */
	for (int k = 1; k <= n; k++) {
		uint64_t e = log[k % n];
		uint16_t slot = e & 0x7fff;

		if (!is_avail(guest_load16_acquire(&ring[slot].flags), (e >> 15) & 1))
			continue;
		write_used(vq, e);
		written++;
	}
	virtq_log_commit(vq);
	packed_start(vq, end | (uint32_t)end << 16);
	return written;
}
