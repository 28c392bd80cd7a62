/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ring engine. A device pops descriptor chains as iovecs into guest memory, pushes used
 * entries, flushes them and asks whether the guest wants an interrupt. The layout (split rings in
 * split.c, packed rings in packed.c, chosen by VIRTIO_F_RING_PACKED) is private to the engine:
 * callers only see struct virtq_chain, these calls and opaque ring positions.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util/log.h"
#include "virtq/log.h"
#include "virtq/vmem.h"

/* Largest queue the spec allows (split and packed rings alike). */
#define VIRTQ_MAX_SIZE 32768
/* Largest scatter list one chain may translate to (the kernel's UIO_MAXIOV). */
#define VIRTQ_MAX_IOV 1024

/* Virtio feature bits the ring engine itself interprets. */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX	    29
#define VIRTIO_F_VERSION_1	    32
#define VIRTIO_F_RING_PACKED	    34
/* VIRTIO_F_IN_ORDER (35): packed rings then batch used entries of device-read chains. */
#define VIRTQ_F_IN_ORDER 35

/* One descriptor chain taken from the ring. */
struct virtq_chain {
	uint16_t head; /* id to hand back in virtq_push() (split: head index; packed: buffer id) */
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

	/* Engine state. Packed rings: avail is the driver area, used the device area. */
	void *desc, *avail, *used; /* our pointers, valid after virtq_map() */
	uint16_t last_avail;	   /* next avail index (packed: slot, with avail_wrap) */
	uint16_t avail_shadow;	   /* last avail->idx read (split) */
	uint16_t used_idx;	   /* next used index (packed: slot, with used_wrap) */
	uint16_t used_flushed;	   /* used->idx as we last wrote it (split) */
	uint16_t signalled_used;
	bool signalled_valid;
	bool event_idx, indirect, packed, in_order;
	bool kicks_off; /* split: we set VRING_USED_F_NO_NOTIFY (only written when it changes) */
	bool broken;
	uint64_t faults;
	/* Counters for the operator (they outlive connections): notifications we sent the
	 * guest, and kicks the worker read from the kick eventfd (polled rings take none). */
	uint64_t calls, kicks;
	void *indirect_buf; /* scratch copy of an indirect table that straddles regions */
	/* Packed rings (virtio 1.x 2.8); see packed.c. */
	bool avail_wrap,
		used_wrap;	  /* driver / device ring wrap counters at last_avail / used_idx */
	uint16_t dev_event_flags; /* what we last wrote to the device area's flags */
	uint32_t signalled_pos;	  /* used position (0..2*num) at the last notification check */
	/*
	 * Per buffer id (one allocation of pk_num entries each): descriptors its chain took, 0
	 * when not in flight, bit 15 set when it had device-writable ones (pk_ndesc; a chain of
	 * 32768 descriptors is bit 15 alone, see ndesc_pack() in packed.c); the ring
	 * position it started at (pk_start); and the ids in the order they were taken, indexed
	 * in a circle of the ring's size whose next slot is pk_head (pk_order, for virtq_unpop()).
	 */
	uint16_t *pk_ndesc, *pk_start, *pk_order;
	uint32_t pk_num;
	uint32_t pk_head;
	/*
	 * Used entries pushed since the last flush, written into the ring by the flush (see
	 * virtq_set_used_log()): pk_log_n of them in pk_log, which is pk_log_mem (pk_num
	 * entries, ours) or a caller's log that outlives us, with its state word pk_state.
	 */
	uint64_t *pk_log, *pk_log_mem, *pk_state;
	uint32_t pk_log_n;
	/* An open IN_ORDER batch: device-read chains completed in order, written as one entry. */
	bool pk_batch;
	uint16_t pk_batch_slot, pk_batch_id;
	bool pk_batch_wrap;
	uint64_t desc_gpa, dev_area_gpa; /* for the dirty log: where packed used writes land */
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

/*
 * Bytes of a ring's used area for `num` entries: the split used ring with avail_event, or the
 * packed device event area (what a front-end's used-ring log address points at).
 */
static inline uint64_t virtq_used_size(uint32_t num, bool packed)
{
	return packed ? 4 : 4 + 8 * (uint64_t)num + 2;
}

/* Zeroes vq and sets the fds to -1. */
void virtq_init(struct virtq *vq, const char *name);

/* virtq_init() that keeps the engine's buffers and the fault counter (a new connection). */
void virtq_reset(struct virtq *vq);

/* Frees what the engine allocated for vq (safe on a vq never mapped). */
void virtq_free(struct virtq *vq);

/*
 * Translates the ring addresses through vq->mem and resets the engine to start at `base`, the
 * ring state as vhost-user's SET_VRING_BASE carries it: the avail index for split rings; for
 * packed rings bits 0-14 the next avail slot and bit 15 its wrap counter, bits 16-30 and 31 the
 * same for the used side (QEMU's encoding), or 0 there to mean "same as avail" (DPDK's). A
 * packed ring with chains in flight (used behind avail) resumes at used: they are processed
 * again. Each ring part must lie inside one region and be aligned as the spec requires.
 * Returns 0, -EINVAL (size/alignment/base) -EFAULT (not in guest memory) or -ENOMEM; the vq is
 * unchanged on failure.
 */
int virtq_map(struct virtq *vq, uint32_t base);

/* The ring state for GET_VRING_BASE, in the encoding virtq_map() takes. */
uint32_t virtq_base(const struct virtq *vq);

/*
 * An opaque 32-bit position of the next chain to take (virtq_map()'s `base` while nothing was
 * taken). Positions only compare for equality.
 */
uint32_t virtq_position(const struct virtq *vq);

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

void virtq_split_push(struct virtq *vq, uint16_t head, uint32_t len);
void virtq_packed_push(struct virtq *vq, uint16_t id, uint32_t len);

/* Records chain `head` as used with `len` bytes written. Visible to the guest after flush. */
static inline void virtq_push(struct virtq *vq, uint16_t head, uint32_t len)
{
	if (vq->packed)
		virtq_packed_push(vq, head, len);
	else
		virtq_split_push(vq, head, len);
}

/* Publishes pushed entries and signals the call fd if the guest asked to be told. */
void virtq_flush_notify(struct virtq *vq);

/*
 * Restarting a packed ring after a crash. A packed ring has no used index in guest memory to
 * resume from, so a flush leaves a record a restarted back-end can finish it from. Pushes put
 * used entries in a log and touch nothing in the ring; a flush stores in the state word the
 * flush it is about to make (where the driver stands, where the flush ends, how many entries),
 * writes the logged entries into the ring (the first one's flags last, as the driver wants),
 * then stores that it is done. A back-end killed at any point leaves a ring that is either
 * untouched since the last flush or covered by that record (virtq_packed_resume()).
 *
 * State word (little-endian 64 bits): bits 0-15 the used position the driver has been shown
 * (slot | wrap << 15), bits 16-31 where the flush in progress ends, bits 32-47 its number of
 * entries (0: no flush in progress; then both positions are equal), bits 48-63 zero. Log entry
 * (little-endian 64 bits): bits 0-15 the position of the used descriptor, bits 16-31 the buffer
 * id, bits 32-63 the length the device wrote. A log holds VIRTQ_USED_LOG_MAX entries.
 */
#define VIRTQ_USED_LOG_MAX VIRTQ_MAX_SIZE

/* A state word: the driver shown up to `shown`, a flush of n entries ending at `end`. */
static inline uint64_t virtq_used_state(uint16_t shown, uint16_t end, uint16_t n)
{
	return shown | (uint64_t)end << 16 | (uint64_t)n << 32;
}

/* A log entry: buffer `id` used with `len` bytes, its descriptor at position `pos`. */
static inline uint64_t virtq_used_entry(uint16_t pos, uint16_t id, uint32_t len)
{
	return pos | (uint64_t)id << 16 | (uint64_t)len << 32;
}

/*
 * Points a started packed ring's flushes at *state and log[0..VIRTQ_USED_LOG_MAX) (memory that
 * outlives the process, such as a shared file mapping; the caller keeps it mapped until it
 * calls this again) and stores the ring's position there as a state word with nothing in
 * progress. NULLs go back to the engine's own log and record nothing. Call only between passes
 * over the ring (every push flushed). Starting a ring (virtq_map()) also goes back to its own.
 */
void virtq_set_used_log(struct virtq *vq, uint64_t *state, uint64_t *log);

/*
 * Moves a packed ring that was just started (virtq_map(), nothing taken) to where the back-end
 * that last ran it stopped, as the state word and log it left (what virtq_set_used_log() had
 * pointed it at; untrusted) say. A flush in progress is finished: each logged entry is written
 * where the driver still has the descriptor it made available in that lap, never over one it
 * has made available again since; the ring then starts where the flush ends. Otherwise the ring
 * starts at the position the driver was shown, so chains pushed but never flushed are taken
 * again. Returns the number of used entries it wrote (the caller then signals the guest),
 * -EINVAL when the record does not fit this ring (sizes, slots, order), -ESTALE when the ring
 * looks newly set up by a driver (descriptors made available from slot 0 in the first lap, the
 * rest zero: a driver that reset the device since), or -ENOMEM; nothing changed on errors.
 */
int virtq_packed_resume(struct virtq *vq, uint64_t state, const uint64_t *log);

/* Asks the guest not to kick us while we are polling the ring. */
void virtq_disable_notify(struct virtq *vq);

/* Asks the guest to kick again; returns true if buffers arrived meanwhile (poll again). */
bool virtq_enable_notify(struct virtq *vq);

/*
 * The position (as virtq_position()) the ring reaches once it has taken every chain the guest
 * has made available now: the split avail index; for a packed ring, the end of the run of
 * available descriptors after the next one to take (a bounded scan, not for the data path).
 * Not trusted: the guest moves it.
 */
uint32_t virtq_avail_position(const struct virtq *vq);

/*
 * Where the guest's view of a split ring stands: used->idx in guest memory (read once; the
 * guest can write it too). A packed ring keeps no such index: its own used position.
 */
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
