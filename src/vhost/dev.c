/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhost-user device: message table and handlers.
 *
 * Security model: the front-end is untrusted. No received field is assumed sensible. The table
 * below states, per request, its payload size range, its fd count range and whether it names a
 * ring; vu_dev_dispatch() enforces all of it before a handler runs, so handlers index rings and
 * read payload fields without re-checking. Every fd that arrives is either kept by a handler
 * (which sets its slot to -1) or closed by the dispatcher, on success and on every rejection.
 */
#include "vhost/dev.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/cleanup.h"

/* What a message's payload says about rings, checked centrally. */
enum vu_ring_arg {
	RING_NONE,
	RING_STATE, /* u32 ring index at offset 0 (vring state, vring address) */
	RING_FILE,  /* u64: index in bits 0-7, NOFD flag in bit 8, fd count must match the flag */
};

struct vu_msg_spec {
	const char *name;
	int (*handler)(struct vu_dev *dev, struct vu_msg *msg);
	uint16_t size_min, size_max;
	uint8_t fds_min, fds_max;
	enum vu_ring_arg ring;
	bool replies; /* the handler sends a reply of its own; no REPLY_ACK */
};

/* Sends a reply payload for msg. */
static int reply(struct vu_dev *dev, struct vu_msg *msg, const void *payload, uint32_t size)
{
	return vu_send_reply(dev->fd, &msg->hdr, payload, size);
}

/* Sends a u64 reply for msg. */
static int reply_u64(struct vu_dev *dev, struct vu_msg *msg, uint64_t v)
{
	return reply(dev, msg, &v, sizeof(v));
}

/* Takes fd slot i out of msg; the caller now owns it. */
static int take_msg_fd(struct vu_msg *msg, unsigned i)
{
	int fd = msg->fds[i];

	msg->fds[i] = -1;
	return fd;
}

/*
 * Checks that a kick/call/err fd is an eventfd and makes it non-blocking, so that a front-end
 * cannot stall the daemon by handing us a pipe it never drains. Returns 0 or -EINVAL.
 */
static int adopt_eventfd(struct vu_dev *dev, int fd)
{
	char path[64], target[64];
	ssize_t n;
	int fl;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return 0; /* no /proc: nothing to check against */
	target[n] = '\0';
	if (strcmp(target, "anon_inode:[eventfd]") != 0) {
		log_rl(&dev->rl, LOG_LVL_WARN, "%s: ring fd is %s, not an eventfd", dev->name,
		       target);
		return -EINVAL;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0))
		return -EINVAL;
	return 0;
}

/* Calls the device model's hook for a ring whose state changed. */
static void ring_changed(struct vu_dev *dev, unsigned idx)
{
	if (dev->ops && dev->ops->ring_changed)
		dev->ops->ring_changed(dev->opaque, idx);
}

/* Stops ring idx (no more traffic, kick fd closed, pointers dropped); indices are kept. */
static void ring_stop(struct vu_dev *dev, unsigned idx)
{
	struct vu_ring *ring = &dev->ring[idx];
	bool was = ring->started;
	int old_kick = ring->kick_fd;

	ring->started = false;
	ring->owe_call = false;
	ring->kick_fd = -1;
	/* The hook unregisters the old kick fd from epoll, so it must still be open then. */
	if (was)
		ring_changed(dev, idx);
	safe_close(old_kick);
	virtq_unmap(&ring->vq);
}

/* Returns ring idx to its freshly-connected state, closing every fd it holds. */
static void ring_reset(struct vu_dev *dev, unsigned idx)
{
	struct vu_ring *ring = &dev->ring[idx];

	ring_stop(dev, idx);
	safe_close(ring->vq.call_fd);
	safe_close(ring->vq.err_fd);
	virtq_reset(&ring->vq); /* keeps the fault counter: counters outlive connections */
	ring->vq.mem = dev->mem;
	ring->enabled = false;
	ring->num_set = false;
	ring->addr_set = false;
	ring->base = 0;
	ring->log_used = false;
	ring->log_gpa = 0;
	ring->hold = false;
}

/* Forgets everything negotiated on the connection, keeping the connection itself. */
static void dev_reset(struct vu_dev *dev)
{
	for (unsigned i = 0; i < dev->nvrings; i++)
		ring_reset(dev, i);
	vmem_clear(dev->mem);
	vlog_free(dev->log);
	dev->log = NULL;
	dev->features = 0;
	dev->proto = 0;
	dev->status = 0;
}

/* Points every ring at the dirty log as the features and its addresses say. */
static void rings_apply_log(struct vu_dev *dev)
{
	bool all = dev->features & (1ull << VHOST_F_LOG_ALL);

	for (unsigned i = 0; i < dev->nvrings; i++)
		virtq_set_log(&dev->ring[i].vq, dev->log, all, dev->ring[i].log_used,
			      dev->ring[i].log_gpa);
}

/*
 * Checks that the dirty log covers all guest memory and every logged used ring. Returns NULL
 * or what it does not cover, for the log line.
 */
static const char *log_uncovered(const struct vu_dev *dev, const struct vlog *log)
{
	if (!vlog_covers(log, 0, vmem_gpa_end(dev->mem)))
		return "guest memory";
	for (unsigned i = 0; i < dev->nvrings; i++) {
		const struct vu_ring *ring = &dev->ring[i];

		if (ring->log_used &&
		    !vlog_covers(log, ring->log_gpa,
				 virtq_used_size(ring->vq.num,
						 dev->features & (1ull << VIRTIO_F_RING_PACKED))))
			return "a used ring";
	}
	return NULL;
}

/* GET_FEATURES: what we offer, with PROTOCOL_FEATURES. */
static int h_get_features(struct vu_dev *dev, struct vu_msg *msg)
{
	return reply_u64(dev, msg, dev->offered);
}

/* SET_FEATURES: a subset of the offer; the device model reconfigures its back-end. */
static int h_set_features(struct vu_dev *dev, struct vu_msg *msg)
{
	uint64_t f = msg->p.u64;
	int r;

	if (f & ~dev->offered) {
		log_warn("%s: SET_FEATURES 0x%" PRIx64 " has bits never offered (0x%" PRIx64 ")",
			 dev->name, f, f & ~dev->offered);
		return -EINVAL;
	}
	if (dev->ops && dev->ops->features_changed) {
		r = dev->ops->features_changed(dev->opaque, f);
		if (r < 0)
			return r;
	}
	if ((f ^ dev->features) & (1ull << VHOST_F_LOG_ALL))
		log_info("%s: dirty-page logging %s%s", dev->name,
			 f & (1ull << VHOST_F_LOG_ALL) ? "on" : "off",
			 f & (1ull << VHOST_F_LOG_ALL) && !dev->log ? " (no log yet)" : "");
	dev->features = f;
	for (unsigned i = 0; i < dev->nvrings; i++) {
		dev->ring[i].vq.features = f;
		if (virtq_remap(&dev->ring[i].vq) < 0 && dev->ring[i].started)
			ring_stop(dev, i);
	}
	rings_apply_log(dev);
	log_info("%s: features 0x%" PRIx64, dev->name, f);
	return 0;
}

/* SET_OWNER: nothing to do, the connection is the session. */
static int h_set_owner(struct vu_dev *dev, struct vu_msg *msg)
{
	return 0;
}

/*
 * RESET_OWNER: forgets rings, memory and negotiation, keeps the connection. The rings' records
 * go too: whatever the front-end starts next is a new ring.
 */
static int h_reset_owner(struct vu_dev *dev, struct vu_msg *msg)
{
	dev_reset(dev);
	for (unsigned i = 0; i < dev->nvrings; i++)
		ringstate_forget(dev->state, i, NULL);
	return 0;
}

/* Re-translates every ring after the memory table changed; rings that lost memory stop. */
static void rings_remap(struct vu_dev *dev)
{
	/* Pages beyond the log are never marked (and counted); the front-end should resize it. */
	if (dev->log && log_uncovered(dev, dev->log))
		log_rl(&dev->rl, LOG_LVL_WARN,
		       "%s: guest memory now reaches beyond the dirty log of %" PRIu64 " bytes",
		       dev->name, dev->log->size);
	for (unsigned i = 0; i < dev->nvrings; i++) {
		struct vu_ring *ring = &dev->ring[i];

		ring->vq.mem = dev->mem;
		if (ring->started && virtq_remap(&ring->vq) < 0) {
			log_warn("%s: ring %u no longer in guest memory, stopping it", dev->name,
				 i);
			ring_stop(dev, i);
		}
	}
}

/* Maps region r from fd into m, logging why it is refused. */
static int add_region(struct vu_dev *dev, struct vmem *m, const struct vu_region *r, int fd)
{
	int ret = vmem_add_fd(m, r->gpa, r->size, r->uva, r->mmap_offset, fd);

	if (ret < 0)
		log_warn("%s: memory region gpa 0x%" PRIx64 " size 0x%" PRIx64 " uva 0x%" PRIx64
			 " offset 0x%" PRIx64 " refused: %s",
			 dev->name, r->gpa, r->size, r->uva, r->mmap_offset,
			 ret == -E2BIG ? "over the port's mem_max" : strerror(-ret));
	return ret;
}

/* SET_MEM_TABLE: maps a whole new table, then swaps it in and re-translates rings. */
static int h_set_mem_table(struct vu_dev *dev, struct vu_msg *msg)
{
	const struct vu_mem_table *t = &msg->p.mem;
	struct vmem *m, *old;
	uint32_t n = t->nregions;

	if (n == 0 || n > VU_MEM_TABLE_REGIONS ||
	    msg->hdr.size < 8 + n * sizeof(struct vu_region) || msg->nfds != n) {
		log_warn("%s: SET_MEM_TABLE with %u regions, %u bytes, %u fds", dev->name, n,
			 msg->hdr.size, msg->nfds);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->max_bytes = dev->mem_max;
	for (uint32_t i = 0; i < n; i++) {
		int r = add_region(dev, m, &t->regions[i], msg->fds[i]);
		if (r < 0) {
			vmem_clear(m);
			free(m);
			return r;
		}
	}
	/* The mappings now hold the memory; the fds are not needed (dispatcher closes them). */
	old = dev->mem;
	dev->mem = m;
	rings_remap(dev);
	vmem_clear(old);
	free(old);
	log_info("%s: memory table with %u regions", dev->name, n);
	return 0;
}

/* ADD_MEM_REG: maps one more region (an identical repeat only counts a reference). */
static int h_add_mem_reg(struct vu_dev *dev, struct vu_msg *msg)
{
	int r = add_region(dev, dev->mem, &msg->p.mem_reg.region, msg->fds[0]);

	if (r < 0)
		return r;
	rings_remap(dev);
	return 0;
}

/* REM_MEM_REG: unmaps a region; rings that lived in it stop. */
static int h_rem_mem_reg(struct vu_dev *dev, struct vu_msg *msg)
{
	const struct vu_region *r = &msg->p.mem_reg.region;
	int ret = vmem_remove(dev->mem, r->gpa, r->size, r->uva);

	if (ret < 0) {
		log_warn("%s: REM_MEM_REG of unknown region gpa 0x%" PRIx64, dev->name, r->gpa);
		return ret;
	}
	rings_remap(dev);
	return 0;
}

/* GET_MAX_MEM_SLOTS: VMEM_MAX_REGIONS. */
static int h_get_max_mem_slots(struct vu_dev *dev, struct vu_msg *msg)
{
	return reply_u64(dev, msg, VMEM_MAX_REGIONS);
}

/*
 * SET_VRING_NUM: up to 32768, only while the ring is stopped; a power of two unless the ring is
 * packed (then any size will do).
 */
static int h_set_vring_num(struct vu_dev *dev, struct vu_msg *msg)
{
	struct vu_ring *ring = &dev->ring[msg->p.state.index];
	uint32_t num = msg->p.state.num;
	bool packed = dev->features & (1ull << VIRTIO_F_RING_PACKED);

	if (ring->started)
		return -EBUSY;
	if (num == 0 || num > VIRTQ_MAX_SIZE || (!packed && (num & (num - 1)))) {
		log_warn("%s: ring size %u is not %s up to %u", dev->name, num,
			 packed ? "a size" : "a power of two", VIRTQ_MAX_SIZE);
		return -EINVAL;
	}
	ring->vq.num = num;
	ring->num_set = true;
	return 0;
}

/* SET_VRING_ADDR: stored; re-translated at once if the ring runs. */
static int h_set_vring_addr(struct vu_dev *dev, struct vu_msg *msg)
{
	const struct vu_vring_addr *a = &msg->p.addr;
	struct vu_ring *ring = &dev->ring[a->index];
	struct virtq saved = ring->vq;
	bool log = a->flags & (1u << VHOST_VRING_F_LOG);

	if (a->flags & ~(1u << VHOST_VRING_F_LOG)) {
		log_warn("%s: ring %u address flags 0x%x unknown", dev->name, a->index, a->flags);
		return -EINVAL;
	}
	/* The used ring's log address only ever selects bits; they must exist in the log. */
	if (log && dev->log &&
	    !vlog_covers(dev->log, a->log,
			 virtq_used_size(ring->vq.num,
					 dev->features & (1ull << VIRTIO_F_RING_PACKED)))) {
		log_warn("%s: ring %u used-ring log address 0x%" PRIx64
			 " lies outside the dirty log of %" PRIu64 " bytes",
			 dev->name, a->index, a->log, dev->log->size);
		return -EINVAL;
	}
	ring->vq.desc_uva = a->desc;
	ring->vq.avail_uva = a->avail;
	ring->vq.used_uva = a->used;
	if (ring->started && virtq_remap(&ring->vq) < 0) {
		ring->vq = saved;
		return -EFAULT;
	}
	/* Other addresses: another front-end, or a ring the driver set up anew. */
	ringstate_forget_other(dev->state, a->index, a->desc, a->avail, a->used);
	ring->addr_set = true;
	ring->log_used = log;
	ring->log_gpa = log ? a->log : 0;
	rings_apply_log(dev);
	return 0;
}

/*
 * SET_VRING_BASE: where the ring starts, only while it is stopped. Split rings take a 16-bit
 * index; packed ones the slots and wrap counters virtq_map() decodes (and checks against the
 * ring size when the ring starts).
 */
static int h_set_vring_base(struct vu_dev *dev, struct vu_msg *msg)
{
	struct vu_ring *ring = &dev->ring[msg->p.state.index];

	if (ring->started)
		return -EBUSY;
	if (!(dev->features & (1ull << VIRTIO_F_RING_PACKED)) && msg->p.state.num > UINT16_MAX)
		return -EINVAL;
	ring->base = msg->p.state.num;
	return 0;
}

/* GET_VRING_BASE: stops the ring and answers the next index to process. */
static int h_get_vring_base(struct vu_dev *dev, struct vu_msg *msg)
{
	unsigned idx = msg->p.state.index;
	struct vu_ring *ring = &dev->ring[idx];
	struct vu_vring_state st = { .index = idx };

	if (ring->vq.desc)
		ring->base = virtq_base(&ring->vq);
	/* The front-end now holds where the ring stands: the record is not needed any more. */
	ringstate_forget(dev->state, idx, &ring->vq);
	ring_stop(dev, idx);
	st.num = ring->base;
	return reply(dev, msg, &st, sizeof(st));
}

/* Signals the call fd of a ring that owes the guest an interrupt (see vu_ring.owe_call). */
static void call_owed(struct vu_ring *ring)
{
	if (!ring->owe_call || ring->vq.call_fd < 0)
		return;
	ring->vq.calls++;
	if (eventfd_write(ring->vq.call_fd, 1) < 0) {
		/* A saturated counter: the guest will look anyway. */
	}
}

/*
 * A packed ring keeps no used index in guest memory, and a front-end that lost its back-end
 * without an answer to GET_VRING_BASE (QEMU: virtio_queue_packed_restore_last_avail_idx() does
 * nothing) sends the base of the ring's first start again. So a ring the state file has a
 * record of (the same front-end addresses and size: the same front-end process and ring)
 * starts where the record says the last back-end left it, a flush it was killed in finished.
 * From then on the ring keeps its record there.
 */
static void ring_resume_packed(struct vu_dev *dev, unsigned idx)
{
	struct vu_ring *ring = &dev->ring[idx];
	uint32_t base = ring->base, from = virtq_position(&ring->vq), pos;
	const uint64_t *log;
	uint64_t state;
	int r;

	if (!dev->state)
		return;
	if (ringstate_find(dev->state, idx, &ring->vq, &state, &log)) {
		r = virtq_packed_resume(&ring->vq, state, log);
		pos = virtq_position(&ring->vq);
		if (r > 0 || (r == 0 && pos != from)) {
			log_rl(&dev->rl, LOG_LVL_WARN,
			       "%s: ring %u: base 0x%x from the front-end, the state file has the "
			       "ring at used slot %u (wrap %u): starting there%s",
			       dev->name, idx, base, pos & 0x7fff, pos >> 15,
			       r > 0 ? " after finishing a flush the last back-end was killed in"
				     : "");
			ring->base = virtq_base(&ring->vq);
			ring->owe_call = true;
			call_owed(ring);
		} else if (r == -ESTALE) {
			log_rl(&dev->rl, LOG_LVL_INFO,
			       "%s: ring %u: set up anew by the driver since the state file's "
			       "record: starting at the front-end's base 0x%x",
			       dev->name, idx, base);
		} else if (r < 0) {
			log_rl(&dev->rl, LOG_LVL_WARN,
			       "%s: ring %u: the state file's record does not fit the ring (%s): "
			       "starting at the front-end's base 0x%x",
			       dev->name, idx, strerror(-r), base);
		}
	}
	ringstate_claim(dev->state, idx, &ring->vq);
}

/* SET_VRING_KICK: starts the ring (enabled at once without PROTOCOL_FEATURES). */
static int h_set_vring_kick(struct vu_dev *dev, struct vu_msg *msg)
{
	unsigned idx = msg->p.u64 & VU_VRING_IDX_MASK;
	struct vu_ring *ring = &dev->ring[idx];
	int old_kick, r;
	uint16_t used;

	if (msg->nfds && adopt_eventfd(dev, msg->fds[0]) < 0)
		return -EINVAL;
	if (!ring->started) {
		if (!ring->num_set || !ring->addr_set) {
			log_warn("%s: ring %u kicked before its size and addresses", dev->name,
				 idx);
			return -EINVAL;
		}
		ring->vq.mem = dev->mem;
		ring->vq.features = dev->features;
		r = virtq_map(&ring->vq, ring->base);
		if (r < 0) {
			log_warn("%s: ring %u addresses not usable: %s", dev->name, idx,
				 strerror(-r));
			return r;
		}
		/*
		 * The used index in guest memory is where the guest's view of this ring stands.
		 * A front-end that reconnects without resetting its rings (DPDK's virtio-user
		 * sends base 0) or that lost track of chains in flight disagrees with it; starting
		 * anywhere else would fault the ring (avail far ahead) or leave chains the guest
		 * waits for forever. So the ring starts at the used index: chains after it are
		 * processed again (some transmitted frames may be sent twice). A packed ring has
		 * no such index: virtq_map() resumes it at the used half of its base, unless the
		 * state file knows better (ring_resume_packed()).
		 */
		used = virtq_used_idx(&ring->vq);
		if (!ring->vq.packed && used != ring->base) {
			log_rl(&dev->rl, LOG_LVL_WARN,
			       "%s: ring %u: base %u from the front-end, used index %u in guest "
			       "memory: starting at %u",
			       dev->name, idx, ring->base, used, used);
			ring->base = used;
			r = virtq_map(&ring->vq, used);
			if (r < 0)
				return r;
		}
		if (ring->vq.packed)
			ring_resume_packed(dev, idx);
		else
			ringstate_forget(dev->state, idx, NULL);
		ring->started = true;
		/* Without PROTOCOL_FEATURES a ring is enabled the moment it starts. */
		if (!(dev->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)))
			ring->enabled = true;
		/* What the guest posted before we started (an index beyond the ring is its
		 * error, reported when the ring is walked; then nothing is held). */
		ring->hold_avail = virtq_avail_position(&ring->vq);
		ring->hold = !ring->enabled && ring->hold_avail != virtq_position(&ring->vq) &&
			     (ring->vq.packed ||
			      (uint16_t)(ring->hold_avail - ring->base) <= ring->vq.num);
	}
	old_kick = ring->kick_fd;
	ring->kick_fd = msg->nfds ? take_msg_fd(msg, 0) : -1;
	log_debug("%s: ring %u started (kick fd %d, enabled %d)", dev->name, idx, ring->kick_fd,
		  ring->enabled);
	ring_changed(dev, idx);
	safe_close(old_kick); /* after the hook moved epoll off it */
	return 0;
}

/* SET_VRING_CALL: the eventfd to signal the guest with, or none. */
static int h_set_vring_call(struct vu_dev *dev, struct vu_msg *msg)
{
	struct vu_ring *ring = &dev->ring[msg->p.u64 & VU_VRING_IDX_MASK];

	if (msg->nfds && adopt_eventfd(dev, msg->fds[0]) < 0)
		return -EINVAL;
	ring->vq.call_fd = safe_close(ring->vq.call_fd);
	if (msg->nfds)
		ring->vq.call_fd = take_msg_fd(msg, 0);
	call_owed(ring);
	return 0;
}

/* SET_VRING_ERR: the eventfd signalled when the guest breaks the ring, or none. */
static int h_set_vring_err(struct vu_dev *dev, struct vu_msg *msg)
{
	struct vu_ring *ring = &dev->ring[msg->p.u64 & VU_VRING_IDX_MASK];

	if (msg->nfds && adopt_eventfd(dev, msg->fds[0]) < 0)
		return -EINVAL;
	ring->vq.err_fd = safe_close(ring->vq.err_fd);
	if (msg->nfds)
		ring->vq.err_fd = take_msg_fd(msg, 0);
	return 0;
}

/*
 * SET_LOG_BASE (LOG_SHMFD): maps the dirty log the front-end hands us, after checking that it
 * lies inside its file and has a bit for every page of guest memory and of every logged used
 * ring, then swaps it in for the rings. The reply is an empty SET_LOG_BASE (QEMU waits for it at
 * the start of every migration). A refused log ends the connection: answering it would tell the
 * front-end that pages will be logged when none would.
 */
static int h_set_log_base(struct vu_dev *dev, struct vu_msg *msg)
{
	const struct vu_log *lg = &msg->p.log;
	struct vlog *log = NULL, *old;
	const char *gap;
	int r, seals;

	if (!(dev->proto & (1ull << VU_PROTOCOL_F_LOG_SHMFD))) {
		log_warn("%s: SET_LOG_BASE without the LOG_SHMFD protocol feature", dev->name);
		return -EINVAL;
	}
	/* It may describe the memory there is and as much again as mem_max allows (memory
	 * hot-plugged later), not an address space of its own choosing. */
	if (lg->mmap_size >
	    vlog_bytes_for(vmem_gpa_end(dev->mem) + dev->mem_max) + VLOG_PAGE_SIZE) {
		log_warn("%s: dirty log of %" PRIu64
			 " bytes refused: guest memory ending at 0x%" PRIx64
			 " with mem_max %" PRIu64 " bytes needs at most %" PRIu64,
			 dev->name, lg->mmap_size, vmem_gpa_end(dev->mem), dev->mem_max,
			 vlog_bytes_for(vmem_gpa_end(dev->mem) + dev->mem_max));
		return -E2BIG;
	}
	r = vlog_map(msg->fds[0], lg->mmap_size, lg->mmap_offset, &log);
	if (r < 0) {
		log_warn("%s: dirty log of %" PRIu64 " bytes at offset %" PRIu64 " refused: %s",
			 dev->name, lg->mmap_size, lg->mmap_offset,
			 r == -EINVAL ? "empty, wrapping, beyond its file or not a file"
				      : strerror(-r));
		return r;
	}
	gap = log_uncovered(dev, log);
	if (gap) {
		log_warn("%s: dirty log of %" PRIu64
			 " bytes refused: too small for %s (guest memory "
			 "ends at 0x%" PRIx64 ", needing %" PRIu64 " bytes)",
			 dev->name, lg->mmap_size, gap, vmem_gpa_end(dev->mem),
			 vlog_bytes_for(vmem_gpa_end(dev->mem)));
		vlog_free(log);
		return -EINVAL;
	}
	old = dev->log;
	dev->log = log;
	rings_apply_log(dev);
	vlog_free(old);
	/* QEMU seals its log against shrinking; a log that can shrink under us is a SIGBUS a
	 * front-end can trigger at will (see the hardening notes in README.md). */
	seals = fcntl(msg->fds[0], F_GET_SEALS);
	log_info("%s: dirty log of %" PRIu64 " bytes mapped%s", dev->name, lg->mmap_size,
		 seals >= 0 && (seals & F_SEAL_SHRINK) ? "" : " (not sealed against shrinking)");
	return reply(dev, msg, "", 0);
}

/*
 * SEND_RARP: the guest now runs here (after a migration) and cannot announce itself; send a
 * RARP for its MAC (the first 6 payload bytes) from the back-end so switches learn its port.
 */
static int h_send_rarp(struct vu_dev *dev, struct vu_msg *msg)
{
	uint8_t mac[6];

	if (!(dev->proto & (1ull << VU_PROTOCOL_F_RARP))) {
		log_warn("%s: SEND_RARP without the RARP protocol feature", dev->name);
		return -EINVAL;
	}
	memcpy(mac, msg->p.raw, sizeof(mac));
	/* A group or all-zero source address is no guest's address. */
	if ((mac[0] & 1) || !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5])) {
		log_warn("%s: SEND_RARP for %02x:%02x:%02x:%02x:%02x:%02x, not a unicast address",
			 dev->name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
		return -EINVAL;
	}
	if (!dev->ops || !dev->ops->announce)
		return -EOPNOTSUPP;
	/* Best effort, like any frame on the wire: a back-end that cannot take it now (a full
	 * tap, a peer with no room) costs an announcement, not the front-end's connection (QEMU
	 * sends this without asking for a reply, so an error would close it). The device model
	 * logs and counts the failure. */
	dev->ops->announce(dev->opaque, mac);
	return 0;
}

/* True when the front-end negotiated REPLY_ACK and asked for this message's outcome. */
static bool wants_ack(const struct vu_dev *dev, const struct vu_msg *msg)
{
	return (dev->proto & (1ull << VU_PROTOCOL_F_REPLY_ACK)) &&
	       (msg->hdr.flags & VU_FLAG_NEED_REPLY);
}

/*
 * NET_SET_MTU (NET_MTU): the MTU the front-end gave the guest (QEMU's host_mtu, sent before the
 * rings start); the device model has the back-end follow it, or refuses it with a log line. A
 * front-end that asked for the outcome hears the refusal. One that did not keeps its connection
 * and the old MTU: a wrong MTU is no breach of the protocol, and the spec asks nothing more.
 */
static int h_net_set_mtu(struct vu_dev *dev, struct vu_msg *msg)
{
	int r;

	if (!(dev->proto & (1ull << VU_PROTOCOL_F_NET_MTU)) || !dev->ops || !dev->ops->set_mtu) {
		log_warn("%s: NET_SET_MTU without the NET_MTU protocol feature", dev->name);
		return -EINVAL;
	}
	r = dev->ops->set_mtu(dev->opaque, msg->p.u64);
	if (r < 0 && !wants_ack(dev, msg)) {
		log_rl(&dev->rl, LOG_LVL_WARN,
		       "%s: NET_SET_MTU %" PRIu64 " refused (%s) without a reply asked for: MTU "
		       "unchanged, connection kept",
		       dev->name, msg->p.u64, strerror(-r));
		return 0;
	}
	return r;
}

/* GET_PROTOCOL_FEATURES: MQ, REPLY_ACK, CONFIGURE_MEM_SLOTS, STATUS, LOG_SHMFD, RARP, NET_MTU. */
static int h_get_protocol_features(struct vu_dev *dev, struct vu_msg *msg)
{
	return reply_u64(dev, msg, dev->offered_proto);
}

/* SET_PROTOCOL_FEATURES: a subset of the offer. */
static int h_set_protocol_features(struct vu_dev *dev, struct vu_msg *msg)
{
	if (msg->p.u64 & ~dev->offered_proto) {
		log_warn("%s: protocol features 0x%" PRIx64 " were never offered", dev->name,
			 msg->p.u64 & ~dev->offered_proto);
		return -EINVAL;
	}
	dev->proto = msg->p.u64;
	return 0;
}

/* GET_QUEUE_NUM: the port's queue pairs. */
static int h_get_queue_num(struct vu_dev *dev, struct vu_msg *msg)
{
	return reply_u64(dev, msg, dev->nvrings / 2);
}

/* SET_VRING_ENABLE: 0 or 1; a disabled ring carries no traffic. */
static int h_set_vring_enable(struct vu_dev *dev, struct vu_msg *msg)
{
	unsigned idx = msg->p.state.index;

	if (msg->p.state.num > 1)
		return -EINVAL;
	dev->ring[idx].enabled = msg->p.state.num;
	if (msg->p.state.num)
		dev->ring[idx].hold = false; /* held chains go now; later disables discard */
	log_debug("%s: ring %u %s", dev->name, idx, msg->p.state.num ? "enabled" : "disabled");
	ring_changed(dev, idx);
	return 0;
}

/*
 * SET_STATUS: the virtio device status byte, kept for GET_STATUS. 0 is a device reset (QEMU
 * sends it when it stops the device, before GET_VRING_BASE): the rings' records go, whatever
 * starts next is a new ring or comes with a base the front-end took from us.
 */
static int h_set_status(struct vu_dev *dev, struct vu_msg *msg)
{
	if (msg->p.u64 > UINT8_MAX)
		return -EINVAL;
	dev->status = (uint8_t)msg->p.u64;
	if (dev->status == 0)
		for (unsigned i = 0; i < dev->nvrings; i++)
			ringstate_forget(dev->state, i, &dev->ring[i].vq);
	return 0;
}

/* GET_STATUS: the last status set. */
static int h_get_status(struct vu_dev *dev, struct vu_msg *msg)
{
	return reply_u64(dev, msg, dev->status);
}

#define U64   sizeof(uint64_t)
#define STATE sizeof(struct vu_vring_state)
#define MSG(req, h, smin, smax, fmin, fmax, ring_arg, rep)                                         \
	[req] = { #req, h, smin, smax, fmin, fmax, ring_arg, rep }

/* Every request we accept. A request absent from this table is refused. */
static const struct vu_msg_spec msg_table[VU_REQUEST_MAX] = {
	MSG(VU_GET_FEATURES, h_get_features, 0, 0, 0, 0, RING_NONE, true),
	MSG(VU_SET_FEATURES, h_set_features, U64, U64, 0, 0, RING_NONE, false),
	MSG(VU_SET_OWNER, h_set_owner, 0, 0, 0, 0, RING_NONE, false),
	MSG(VU_RESET_OWNER, h_reset_owner, 0, 0, 0, 0, RING_NONE, false),
	MSG(VU_SET_MEM_TABLE, h_set_mem_table, 8 + sizeof(struct vu_region),
	    sizeof(struct vu_mem_table), 1, VU_MEM_TABLE_REGIONS, RING_NONE, false),
	MSG(VU_SET_VRING_NUM, h_set_vring_num, STATE, STATE, 0, 0, RING_STATE, false),
	MSG(VU_SET_VRING_ADDR, h_set_vring_addr, sizeof(struct vu_vring_addr),
	    sizeof(struct vu_vring_addr), 0, 0, RING_STATE, false),
	MSG(VU_SET_VRING_BASE, h_set_vring_base, STATE, STATE, 0, 0, RING_STATE, false),
	MSG(VU_GET_VRING_BASE, h_get_vring_base, STATE, STATE, 0, 0, RING_STATE, true),
	MSG(VU_SET_VRING_KICK, h_set_vring_kick, U64, U64, 0, 1, RING_FILE, false),
	MSG(VU_SET_VRING_CALL, h_set_vring_call, U64, U64, 0, 1, RING_FILE, false),
	MSG(VU_SET_VRING_ERR, h_set_vring_err, U64, U64, 0, 1, RING_FILE, false),
	MSG(VU_GET_PROTOCOL_FEATURES, h_get_protocol_features, 0, 0, 0, 0, RING_NONE, true),
	MSG(VU_SET_PROTOCOL_FEATURES, h_set_protocol_features, U64, U64, 0, 0, RING_NONE, false),
	MSG(VU_GET_QUEUE_NUM, h_get_queue_num, 0, 0, 0, 0, RING_NONE, true),
	MSG(VU_SET_VRING_ENABLE, h_set_vring_enable, STATE, STATE, 0, 0, RING_STATE, false),
	MSG(VU_SET_LOG_BASE, h_set_log_base, sizeof(struct vu_log), sizeof(struct vu_log), 1, 1,
	    RING_NONE, true),
	MSG(VU_SEND_RARP, h_send_rarp, U64, U64, 0, 0, RING_NONE, false),
	MSG(VU_NET_SET_MTU, h_net_set_mtu, U64, U64, 0, 0, RING_NONE, false),
	MSG(VU_GET_MAX_MEM_SLOTS, h_get_max_mem_slots, 0, 0, 0, 0, RING_NONE, true),
	MSG(VU_ADD_MEM_REG, h_add_mem_reg, sizeof(struct vu_mem_reg), sizeof(struct vu_mem_reg), 1,
	    1, RING_NONE, false),
	/* QEMU before 7.1 sent an fd with REM_MEM_REG; the spec allows it, we close it. */
	MSG(VU_REM_MEM_REG, h_rem_mem_reg, sizeof(struct vu_mem_reg), sizeof(struct vu_mem_reg), 0,
	    1, RING_NONE, false),
	MSG(VU_SET_STATUS, h_set_status, U64, U64, 0, 0, RING_NONE, false),
	MSG(VU_GET_STATUS, h_get_status, 0, 0, 0, 0, RING_NONE, true),
};

/* Returns the table entry for a valid message, or NULL after logging why it is refused. */
static const struct vu_msg_spec *check_msg(struct vu_dev *dev, const struct vu_msg *msg)
{
	const struct vu_hdr *h = &msg->hdr;
	const struct vu_msg_spec *spec;

	if (h->request >= VU_REQUEST_MAX || !msg_table[h->request].handler) {
		log_rl(&dev->rl, LOG_LVL_WARN, "%s: unsupported request %u", dev->name, h->request);
		return NULL;
	}
	spec = &msg_table[h->request];
	if ((h->flags & VU_FLAG_VERSION_MASK) != VU_VERSION || (h->flags & VU_FLAG_REPLY)) {
		log_rl(&dev->rl, LOG_LVL_WARN, "%s: %s with bad flags 0x%x", dev->name, spec->name,
		       h->flags);
		return NULL;
	}
	if (h->size < spec->size_min || h->size > spec->size_max) {
		log_rl(&dev->rl, LOG_LVL_WARN, "%s: %s with %u payload bytes (want %u..%u)",
		       dev->name, spec->name, h->size, spec->size_min, spec->size_max);
		return NULL;
	}
	if (msg->nfds < spec->fds_min || msg->nfds > spec->fds_max) {
		log_rl(&dev->rl, LOG_LVL_WARN, "%s: %s with %u fds (want %u..%u)", dev->name,
		       spec->name, msg->nfds, spec->fds_min, spec->fds_max);
		return NULL;
	}
	if (spec->ring == RING_STATE && msg->p.state.index >= dev->nvrings) {
		log_rl(&dev->rl, LOG_LVL_WARN, "%s: %s for ring %u of %u", dev->name, spec->name,
		       msg->p.state.index, dev->nvrings);
		return NULL;
	}
	if (spec->ring == RING_FILE) {
		uint64_t v = msg->p.u64;
		bool nofd = v & VU_VRING_NOFD_FLAG;

		if ((v & ~(VU_VRING_IDX_MASK | VU_VRING_NOFD_FLAG)) ||
		    (v & VU_VRING_IDX_MASK) >= dev->nvrings || msg->nfds != (nofd ? 0u : 1u)) {
			log_rl(&dev->rl, LOG_LVL_WARN,
			       "%s: %s with payload 0x%" PRIx64 " and %u fds (rings: %u)",
			       dev->name, spec->name, v, msg->nfds, dev->nvrings);
			return NULL;
		}
	}
	return spec;
}

/* True when the front-end's memory or dirty log vanished under us (util/memguard.h). */
static bool mem_faulted(const struct vu_dev *dev)
{
	return (dev->mem && memguard_faulted(&dev->mem->guard)) ||
	       (dev->log && memguard_faulted(&dev->log->guard));
}

int vu_dev_dispatch(struct vu_dev *dev, struct vu_msg *msg)
{
	const struct vu_msg_spec *spec;
	bool ack;
	int r;

	/* Its memory is gone: nothing it says can be acted on, and a new table would hide the
	 * fault before the owner counted it. */
	if (mem_faulted(dev)) {
		vu_msg_close_fds(msg);
		return -EFAULT;
	}
	spec = check_msg(dev, msg);
	ack = wants_ack(dev, msg);
	if (!spec) {
		r = -EINVAL;
	} else {
		log_debug("%s: %s", dev->name, spec->name);
		r = spec->handler(dev, msg);
		if (r < 0)
			log_rl(&dev->rl, LOG_LVL_WARN, "%s: %s refused: %s", dev->name, spec->name,
			       strerror(-r));
	}
	vu_msg_close_fds(msg);
	if (r < 0)
		dev->refused++;
	if (spec && spec->replies)
		return r;
	if (ack) {
		/* The front-end asked for the outcome: tell it, and keep the connection. */
		int s = reply_u64(dev, msg, r < 0 ? 1 : 0);
		return s < 0 ? s : 0;
	}
	return r;
}

int vu_dev_on_readable(struct vu_dev *dev)
{
	/* Bounded: a flooding front-end yields to the loop after a batch of messages. */
	for (unsigned i = 0; i < 64 && dev->fd >= 0; i++) {
		int r = vu_read_msg(dev->fd, &dev->rd);

		if (r == 0)
			return 0;
		if (r < 0)
			return r;
		r = vu_dev_dispatch(dev, &dev->rd.msg);
		vu_reader_reset(&dev->rd);
		if (r < 0)
			return r;
	}
	return 0;
}

void vu_dev_attach(struct vu_dev *dev, int fd)
{
	vu_dev_detach(dev);
	dev->fd = fd;
}

void vu_dev_detach(struct vu_dev *dev)
{
	dev_reset(dev);
	vu_reader_reset(&dev->rd);
	dev->fd = safe_close(dev->fd);
}

bool vu_ring_live(const struct vu_dev *dev, unsigned idx)
{
	const struct vu_ring *ring = &dev->ring[idx];

	return ring->started && ring->enabled && virtq_ready(&ring->vq);
}

int vu_dev_init(struct vu_dev *dev, const char *name, unsigned queue_pairs, uint64_t features,
		const struct vu_dev_ops *ops, void *opaque)
{
	memset(dev, 0, sizeof(*dev));
	dev->fd = -1;
	if (queue_pairs == 0 || queue_pairs > VU_MAX_QUEUE_PAIRS)
		return -EINVAL;
	dev->name = name;
	dev->offered =
		features | (1ull << VHOST_USER_F_PROTOCOL_FEATURES) | (1ull << VHOST_F_LOG_ALL);
	dev->offered_proto = (1ull << VU_PROTOCOL_F_MQ) | (1ull << VU_PROTOCOL_F_REPLY_ACK) |
			     (1ull << VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |
			     (1ull << VU_PROTOCOL_F_STATUS) | (1ull << VU_PROTOCOL_F_LOG_SHMFD);
	if (ops && ops->announce)
		dev->offered_proto |= 1ull << VU_PROTOCOL_F_RARP;
	if (ops && ops->set_mtu)
		dev->offered_proto |= 1ull << VU_PROTOCOL_F_NET_MTU;
	dev->nvrings = 2 * queue_pairs;
	dev->ops = ops;
	dev->opaque = opaque;
	dev->rl = (struct ratelimit)RATELIMIT_INIT;
	dev->mem = calloc(1, sizeof(*dev->mem));
	if (!dev->mem)
		return -ENOMEM;
	vu_dev_set_mem_max(dev, 0);
	for (unsigned i = 0; i < dev->nvrings; i++) {
		struct vu_ring *ring = &dev->ring[i];

		snprintf(ring->name, sizeof(ring->name), "%s/%s%u", name, i % 2 ? "tx" : "rx",
			 i / 2);
		virtq_init(&ring->vq, ring->name);
		ring->vq.mem = dev->mem;
		ring->kick_fd = -1;
	}
	return 0;
}

void vu_dev_set_mem_max(struct vu_dev *dev, uint64_t bytes)
{
	dev->mem_max = bytes ? bytes : VU_MEM_MAX_DEFAULT;
	dev->mem->max_bytes = dev->mem_max;
}

void vu_dev_withdraw(struct vu_dev *dev, uint64_t features, uint64_t proto)
{
	dev->offered &= ~(features & ~(1ull << VHOST_USER_F_PROTOCOL_FEATURES));
	dev->offered_proto &= ~proto;
}

void vu_dev_free(struct vu_dev *dev)
{
	if (!dev->mem)
		return;
	vu_dev_detach(dev);
	for (unsigned i = 0; i < dev->nvrings; i++)
		virtq_free(&dev->ring[i].vq);
	free(dev->mem);
	dev->mem = NULL;
}
