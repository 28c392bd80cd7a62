/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ring engine's common part: set-up, faults, dirty logging, and the calls of virtq.h, each
 * handing over to the layout the ring negotiated (split.c or packed.c).
 */
#include "virtq/virtq.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "virtq/ring.h"

void virtq_init(struct virtq *vq, const char *name)
{
	memset(vq, 0, sizeof(*vq));
	vq->call_fd = -1;
	vq->err_fd = -1;
	vq->rl = (struct ratelimit)RATELIMIT_INIT;
	vq->name = name;
}

void virtq_reset(struct virtq *vq)
{
	struct virtq keep = *vq;

	virtq_init(vq, keep.name);
	vq->faults = keep.faults; /* counters outlive connections */
	vq->calls = keep.calls;
	vq->kicks = keep.kicks;
	vq->indirect_buf = keep.indirect_buf;
	vq->pk_ndesc = keep.pk_ndesc;
	vq->pk_start = keep.pk_start;
	vq->pk_order = keep.pk_order;
	vq->pk_log = vq->pk_log_mem = keep.pk_log_mem; /* a caller's log is the caller's again */
	vq->pk_num = keep.pk_num;
}

void virtq_free(struct virtq *vq)
{
	free(vq->indirect_buf);
	vq->indirect_buf = NULL;
	free(vq->pk_ndesc); /* the one allocation behind all three arrays */
	vq->pk_ndesc = vq->pk_start = vq->pk_order = NULL;
	free(vq->pk_log_mem);
	vq->pk_log = vq->pk_log_mem = vq->pk_state = NULL;
	vq->pk_num = 0;
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

void virtq_signal(struct virtq *vq)
{
	uint64_t one = 1;

	vq->calls++;
	if (write(vq->call_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN means the counter is saturated: the guest will see it anyway. */
	}
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
	/* Packed rings record their ring writes as they make them; split ones count pushes. */
	if (!vq->packed)
		split_log_used_commit(vq);
	vlog_batch_commit(vq->log, &vq->log_batch);
}

/* Translates the ring parts for the ring's layout; stores nothing on failure. */
static int translate(struct virtq *vq, void **desc, void **avail, void **used)
{
	if ((vq->features >> VIRTIO_F_RING_PACKED) & 1)
		return packed_translate(vq, desc, avail, used);
	return split_translate(vq, desc, avail, used);
}

/* Caches the ring-level feature bits the engine reads on the hot path. */
static void apply_features(struct virtq *vq)
{
	vq->event_idx = (vq->features >> VIRTIO_RING_F_EVENT_IDX) & 1;
	vq->indirect = (vq->features >> VIRTIO_RING_F_INDIRECT_DESC) & 1;
	vq->packed = (vq->features >> VIRTIO_F_RING_PACKED) & 1;
	vq->in_order = (vq->features >> VIRTQ_F_IN_ORDER) & 1;
}

int virtq_map(struct virtq *vq, uint32_t base)
{
	bool packed = (vq->features >> VIRTIO_F_RING_PACKED) & 1;
	void *d, *a, *u;
	int r;

	if (!vq->mem)
		return -EFAULT;
	r = translate(vq, &d, &a, &u);
	if (r < 0)
		return r;
	/* Everything that can fail comes before the first change to the ring. */
	if (!packed && base > UINT16_MAX)
		return -EINVAL;
	if (!vq->indirect_buf) {
		vq->indirect_buf = malloc(16 * VIRTQ_MAX_SIZE);
		if (!vq->indirect_buf)
			return -ENOMEM;
	}
	if (packed) {
		r = packed_prepare(vq, base);
		if (r < 0)
			return r;
	}
	vq->desc = d;
	vq->avail = a;
	vq->used = u;
	apply_features(vq);
	if (packed)
		packed_start(vq, base);
	else
		split_start(vq, (uint16_t)base);
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
	r = translate(vq, &d, &a, &u);
	if (r < 0) {
		virtq_unmap(vq);
		return r;
	}
	vq->desc = d;
	vq->avail = a;
	vq->used = u;
	vq->log_hva_len = 0; /* regions may have moved */
	if (vq->packed)
		packed_note_gpas(vq);
	apply_features(vq);
	return 0;
}

void virtq_unmap(struct virtq *vq)
{
	/*
	 * A packed ring publishes what it pushed (virtq_base() counts it as used), and a stopped
	 * ring has marked everything it wrote (GET_VRING_BASE answers after this).
	 */
	if (vq->packed && vq->desc)
		packed_publish(vq);
	virtq_log_commit(vq);
	vq->desc = vq->avail = vq->used = NULL;
}

uint32_t virtq_base(const struct virtq *vq)
{
	return vq->packed ? packed_base(vq) : vq->last_avail;
}

uint32_t virtq_position(const struct virtq *vq)
{
	return vq->packed ? (uint32_t)vq->last_avail | (uint32_t)vq->avail_wrap << 15
			  : vq->last_avail;
}

uint32_t virtq_avail_position(const struct virtq *vq)
{
	return vq->packed ? packed_avail_position(vq) : split_avail_idx(vq);
}

bool virtq_has_work(struct virtq *vq)
{
	if (!virtq_ready(vq))
		return false;
	return vq->packed ? packed_has_work(vq) : split_has_work(vq);
}

int virtq_add_buffer(struct virtq *vq, uint64_t addr, uint32_t len, struct iovec *iov, unsigned max,
		     unsigned *n)
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

int virtq_walk_buffer(struct virtq *vq, struct virtq_walk *w, uint64_t addr, uint32_t len,
		      bool write, struct iovec *iov, unsigned max)
{
	int r = virtq_add_buffer(vq, addr, len, iov, max, &w->n);

	if (r == -ENOBUFS)
		return r;
	if (r < 0) {
		virtq_fault(vq, "buffer 0x%llx+%u not in guest memory", (unsigned long long)addr,
			    len);
		return r;
	}
	if (write) {
		w->seen_write = true;
		w->in_len += len;
		return 0;
	}
	if (w->seen_write) {
		virtq_fault(vq, "readable descriptor after a writable one");
		return -EINVAL;
	}
	w->out_len += len;
	w->out_iov = w->n;
	return 0;
}

int virtq_walk_finish(struct virtq *vq, const struct virtq_walk *w, uint16_t head,
		      struct virtq_chain *ret)
{
	if (w->out_len > UINT32_MAX || w->in_len > UINT32_MAX) {
		virtq_fault(vq, "chain longer than 4 GiB");
		return -EINVAL;
	}
	ret->head = head;
	ret->out_iov = w->out_iov;
	ret->in_iov = w->n - w->out_iov;
	ret->out_len = (uint32_t)w->out_len;
	ret->in_len = (uint32_t)w->in_len;
	return 0;
}

int virtq_translate_parts(struct virtq *vq, const uint64_t size[3], const unsigned align[3],
			  void **desc, void **avail, void **used)
{
	const uint64_t uva[3] = { vq->desc_uva, vq->avail_uva, vq->used_uva };
	void *p[3];

	for (unsigned i = 0; i < 3; i++) {
		if (uva[i] & (align[i] - 1))
			return -EINVAL;
		p[i] = vmem_uva_ptr(vq->mem, uva[i], size[i]);
		if (!p[i])
			return -EFAULT;
	}
	/* A region mapped at an odd offset could misalign what the front-end aligned. */
	for (unsigned i = 0; i < 3; i++)
		if ((uintptr_t)p[i] & (align[i] - 1))
			return -EINVAL;
	*desc = p[0];
	*avail = p[1];
	*used = p[2];
	return 0;
}

const void *virtq_indirect_table(struct virtq *vq, uint64_t gpa, size_t bytes)
{
	void *p = vmem_gpa_ptr(vq->mem, gpa, bytes);

	if (p)
		return p;
	/* The table straddles regions: copy it by bytes (not elements) into one place. */
	if (bytes > 16 * VIRTQ_MAX_SIZE ||
	    vmem_copy_from(vq->mem, gpa, vq->indirect_buf, bytes) < 0)
		return NULL;
	return vq->indirect_buf;
}

int virtq_pop(struct virtq *vq, struct iovec *iov, unsigned max_iov, struct virtq_chain *ret)
{
	if (!virtq_ready(vq))
		return 0;
	return vq->packed ? packed_pop(vq, iov, max_iov, ret) : split_pop(vq, iov, max_iov, ret);
}

unsigned virtq_pop_burst(struct virtq *vq, struct iovec *iov, struct virtq_chain *ch, unsigned max)
{
	if (!virtq_ready(vq))
		return 0;
	return vq->packed ? packed_pop_burst(vq, iov, ch, max) : split_pop_burst(vq, iov, ch, max);
}

void virtq_unpop(struct virtq *vq, uint16_t n)
{
	if (vq->packed)
		packed_unpop(vq, n);
	else
		vq->last_avail -= n;
}

void virtq_flush_notify(struct virtq *vq)
{
	if (!virtq_ready(vq))
		return;
	if (vq->packed)
		packed_flush_notify(vq);
	else
		split_flush_notify(vq);
}

void virtq_disable_notify(struct virtq *vq)
{
	if (!virtq_ready(vq))
		return;
	if (vq->packed)
		packed_disable_notify(vq);
	else
		split_disable_notify(vq);
}

bool virtq_enable_notify(struct virtq *vq)
{
	if (!virtq_ready(vq))
		return false;
	return vq->packed ? packed_enable_notify(vq) : split_enable_notify(vq);
}
