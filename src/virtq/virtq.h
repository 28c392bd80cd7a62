/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ring engine. A device pops descriptor chains as iovecs into guest memory, pushes used
 * entries, flushes them and asks whether the guest wants an interrupt. The layout (split today,
 * packed later) is private to virtq.c: callers only see struct virtq_chain and these calls.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util/log.h"
#include "virtq/log.h"
#include "virtq/vmem.h"

/* Largest queue the spec allows for split rings. */
#define VIRTQ_MAX_SIZE 32768
/* Largest scatter list one chain may translate to (the kernel's UIO_MAXIOV). */
#define VIRTQ_MAX_IOV 1024

/* Virtio feature bits the ring engine itself interprets. */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX	    29
#define VIRTIO_F_VERSION_1	    32

/* One descriptor chain taken from the ring. */
struct virtq_chain {
	uint16_t head;	  /* id to hand back in virtq_push() */
	unsigned out_iov; /* device-readable iovecs, first */
	unsigned in_iov;  /* device-writable iovecs, after them */
	uint32_t out_len; /* readable bytes */
	uint32_t in_len;  /* writable bytes */
};

struct virtq {
	/* Set by the front-end (through the vhost-user layer). */
	uint32_t num;
	uint64_t desc_uva, avail_uva, used_uva;
	uint64_t features;
	struct vmem *mem;
	int call_fd; /* -1: the guest polls */
	int err_fd;  /* -1: none */

	/* Engine state. */
	void *desc, *avail, *used; /* our pointers, valid after virtq_map() */
	uint16_t last_avail;	   /* next avail slot to take */
	uint16_t avail_shadow;	   /* last avail->idx read */
	uint16_t used_idx;	   /* next used slot to fill; published by virtq_flush_notify() */
	uint16_t used_flushed;	   /* used->idx as we last wrote it */
	uint16_t signalled_used;
	bool signalled_valid;
	bool event_idx, indirect;
	bool kicks_off; /* we set VRING_USED_F_NO_NOTIFY (only written when it changes) */
	bool broken;
	uint64_t faults;
	void *indirect_buf; /* scratch copy of an indirect table that straddles regions */
	/* Dirty logging while the front-end migrates the guest; see virtq_set_log(). */
	struct vlog *log; /* NULL unless something of this ring is logged: one test when off */
	bool log_buffers; /* VHOST_F_LOG_ALL: pages the device writes in guest buffers */
	bool log_used;	  /* VHOST_VRING_F_LOG: used-ring writes, at guest-physical log_used_gpa */
	uint64_t log_used_gpa;
	uint16_t log_used_mark;	     /* used entries before this index are marked */
	uint16_t log_flushed_mark;   /* used->idx last marked when it held this */
	uint32_t log_pushed;	     /* entries pushed since the last commit (may exceed 65535) */
	struct vlog_batch log_batch; /* pages written, marked by virtq_log_commit() */
	/* The region of the last buffer logged: most buffers of a ring share one. */
	uintptr_t log_hva;
	uint64_t log_hva_len, log_hva_gpa;
	struct ratelimit rl;
	const char *name; /* for logs: "port/rxN" */
};

/* Bytes of a split ring's used area for `num` entries, avail_event included. */
static inline uint64_t virtq_used_size(uint32_t num)
{
	return 4 + 8 * (uint64_t)num + 2;
}

/* Zeroes vq and sets the fds to -1. */
void virtq_init(struct virtq *vq, const char *name);

/*
 * Translates the ring addresses through vq->mem and resets the engine to start at index `base`.
 * Each ring part must lie inside one region and be aligned as the spec requires. Returns 0,
 * -EINVAL (size/alignment) or -EFAULT (not in guest memory); the vq is unchanged on failure.
 */
int virtq_map(struct virtq *vq, uint16_t base);

/* Re-translates ring addresses after the memory table changed, keeping indices. 0 or -EFAULT. */
int virtq_remap(struct virtq *vq);

/* Forgets ring pointers (memory is going away). Indices are kept for GET_VRING_BASE. */
void virtq_unmap(struct virtq *vq);

/* True when the ring has pointers and is not broken. */
static inline bool virtq_ready(const struct virtq *vq)
{
	return vq->desc && !vq->broken;
}

/*
 * Takes the next available chain, translating its buffers into iov[0..max_iov). Returns 1 with
 * *ret filled, 0 when the ring is empty, -ENOBUFS when the chain needs more than max_iov iovecs
 * (nothing consumed; the caller decides whether that is the guest's fault), or another negative
 * errno after marking the ring broken because the guest broke a rule.
 */
int virtq_pop(struct virtq *vq, struct iovec *iov, unsigned max_iov, struct virtq_chain *ret);

/* Most chains virtq_pop_burst() takes in one call. */
#define VIRTQ_BURST_MAX 64

/*
 * Fast path of virtq_pop() for a burst: takes up to max (<= VIRTQ_BURST_MAX) chains that are each
 * one direct, non-empty descriptor inside one memory region; chain i's buffer is iov[i].
 * The avail entries and descriptors of the whole burst are read (and prefetched) before any is
 * used, so their cache misses overlap. Stops at the first chain of any other shape, leaving it
 * to virtq_pop(), which also reports guest errors. Returns the number of chains taken.
 */
unsigned virtq_pop_burst(struct virtq *vq, struct iovec *iov, struct virtq_chain *ch, unsigned max);

/* Gives back the last n chains popped and not pushed, in reverse order. */
void virtq_unpop(struct virtq *vq, uint16_t n);

/* Records chain `head` as used with `len` bytes written. Visible to the guest after flush. */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t len);

/* Publishes pushed entries and signals the call fd if the guest asked to be told. */
void virtq_flush_notify(struct virtq *vq);

/* Asks the guest not to kick us while we are polling the ring. */
void virtq_disable_notify(struct virtq *vq);

/* Asks the guest to kick again; returns true if buffers arrived meanwhile (poll again). */
bool virtq_enable_notify(struct virtq *vq);

/* The avail index the guest has published (read once, not trusted: compare before use). */
uint16_t virtq_avail_idx(const struct virtq *vq);

/* The used index as it stands in guest memory (read once; the guest can write it too). */
uint16_t virtq_used_idx(const struct virtq *vq);

/* True when the guest has posted buffers we have not taken. */
bool virtq_has_work(struct virtq *vq);

/*
 * Sets what the ring logs into `log` (which the caller owns and keeps mapped until it changes
 * it again): the pages of guest buffers the device writes (`buffers`), and used-ring writes at
 * guest-physical `used_gpa` (`used`). A NULL log, or neither, turns logging off.
 */
void virtq_set_log(struct virtq *vq, struct vlog *log, bool buffers, bool used, uint64_t used_gpa);

/* virtq_log_write() for a logged ring. */
void virtq_log_write_slow(struct virtq *vq, const struct iovec *iov, unsigned niov, size_t len);

/*
 * Records, for the dirty log, the pages behind the first `len` bytes of iov (guest buffers the
 * device just wrote). Call before the chain is pushed; the pages are marked by the next
 * virtq_log_commit(). Costs one test when logging is off.
 */
static inline void virtq_log_write(struct virtq *vq, const struct iovec *iov, unsigned niov,
				   size_t len)
{
	if (__builtin_expect(vq->log != NULL, 0))
		virtq_log_write_slow(vq, iov, niov, len);
}

/*
 * Marks in the dirty log every page recorded since the last call (buffers written, used-ring
 * writes). The device calls it at the end of each pass over the ring; changing the log, stopping
 * the ring and notification changes commit too. One fence per call: marking per burst instead
 * would make every burst wait for its own stores to reach other CPUs. Cheap when logging is off.
 */
void virtq_log_commit_slow(struct virtq *vq);
static inline void virtq_log_commit(struct virtq *vq)
{
	if (__builtin_expect(vq->log != NULL, 0))
		virtq_log_commit_slow(vq);
}

/* Marks the ring broken because of the guest, logs (rate-limited) and signals the err fd. */
void virtq_fault(struct virtq *vq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
