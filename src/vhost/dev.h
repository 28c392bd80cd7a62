/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A vhost-user device: one front-end connection, its negotiated features, its guest memory and
 * its rings, driven by messages. It knows nothing of networking: the device model above it
 * (src/net) is told through two hooks when rings change state and when features change.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util/log.h"
#include "vhost/msg.h"
#include "vhost/proto.h"
#include "vhost/ringstate.h"
#include "virtq/virtq.h"

/*
 * Ring state per the spec: stopped (no kick yet, or after GET_VRING_BASE), started (kick fd
 * received or polling requested) and, independently, enabled. Only started+enabled rings carry
 * traffic; a started but disabled ring is processed without side effects.
 */
struct vu_ring {
	struct virtq vq;
	int kick_fd; /* -1 while stopped or when the front-end asked us to poll */
	bool started;
	bool enabled;
	bool num_set;
	bool addr_set;
	uint32_t base; /* SET_VRING_BASE value: where the ring starts (see virtq_map()) */
	/*
	 * Chains the guest had posted when the ring started (up to position hold_avail) wait
	 * for SET_VRING_ENABLE instead of being discarded as a disabled ring's new ones are: a
	 * front-end that reconnects (or a migration destination) starts rings before it enables
	 * them, and the guest's pending frames must not be lost in between.
	 */
	bool hold;
	uint32_t hold_avail;
	/*
	 * Resumed from the state file: the guest may be owed an interrupt the last back-end did
	 * not send. QEMU sets the call fd it means after the kick, so each call fd set until the
	 * ring stops gets one (a spare interrupt costs the guest a look at the ring).
	 */
	bool owe_call;
	bool log_used; /* SET_VRING_ADDR asked for used-ring logging at log_gpa */
	uint64_t log_gpa;
	char name[48];
};

struct vu_dev_ops {
	/* Ring idx started, stopped, was enabled/disabled or got a new kick fd. */
	void (*ring_changed)(void *opaque, unsigned idx);
	/* Negotiated virtio features changed. A negative errno refuses SET_FEATURES. */
	int (*features_changed)(void *opaque, uint64_t features);
	/* The guest moved here (SEND_RARP): announce `mac` on the back-end. 0 or -errno. */
	int (*announce)(void *opaque, const uint8_t mac[6]);
	/* The front-end gave the guest this MTU (NET_SET_MTU): follow it. 0 or -errno. */
	int (*set_mtu)(void *opaque, uint64_t mtu);
};

struct vu_dev {
	int fd; /* the front-end connection, -1 when none */
	const char *name;
	uint64_t offered;  /* virtio features we offer (with PROTOCOL_FEATURES) */
	uint64_t features; /* negotiated */
	uint64_t offered_proto;
	uint64_t proto;
	uint8_t status;
	unsigned nvrings;
	struct vmem *mem;
	struct vlog *log; /* the dirty log from SET_LOG_BASE, NULL when none */
	/* Where packed rings keep what a restart after a crash needs (owner's; NULL: none). */
	struct ringstate *state;
	struct vu_ring ring[VU_MAX_VRINGS];
	struct vu_reader rd;
	const struct vu_dev_ops *ops;
	void *opaque;
	struct ratelimit rl;
	uint64_t refused; /* messages refused (malformed, out of order, over a limit); kept */
	uint64_t mem_max; /* most bytes of guest memory one front-end may have us map */
};

/*
 * Default of mem_max: 1 TiB. 64 ports at the default fit in half of x86-64's 128 TiB of user
 * address space, so no front-end can exhaust it for the others.
 */
#define VU_MEM_MAX_DEFAULT (1ull << 40)

/*
 * Prepares dev for `queue_pairs` queue pairs offering `features` (device bits; the protocol bit
 * is added here). Returns 0, -EINVAL (queue count) or -ENOMEM. Free with vu_dev_free().
 */
int vu_dev_init(struct vu_dev *dev, const char *name, unsigned queue_pairs, uint64_t features,
		const struct vu_dev_ops *ops, void *opaque);

/*
 * Stops offering the virtio feature bits `features` and the protocol feature bits `proto` (a
 * port's features= switches), before any front-end connects. PROTOCOL_FEATURES stays.
 */
void vu_dev_withdraw(struct vu_dev *dev, uint64_t features, uint64_t proto);

/*
 * Sets how many bytes of guest memory (regions mapped, whole huge pages counted) a front-end may
 * have this device map; a region beyond it is refused. 0 restores VU_MEM_MAX_DEFAULT. A dirty
 * log may describe guest-physical space up to the end of the memory table plus that much.
 */
void vu_dev_set_mem_max(struct vu_dev *dev, uint64_t bytes);

/* Releases what vu_dev_init() and any connection took. Accepts a zeroed or half-built dev. */
void vu_dev_free(struct vu_dev *dev);

/* Binds a new front-end connection (non-blocking socket); the device takes ownership of fd. */
void vu_dev_attach(struct vu_dev *dev, int fd);

/*
 * Reads and handles every complete message available on the connection. Returns 0 while the
 * connection is healthy, or a negative errno when it must be dropped (the caller then calls
 * vu_dev_detach()).
 */
int vu_dev_on_readable(struct vu_dev *dev);

/*
 * Handles one message: checks it against the message table (size, fd count, ring index, flags)
 * before any handler runs, then dispatches and acks. Takes ownership of msg->fds and closes every
 * fd not kept. Returns 0, or a negative errno when the connection must be closed.
 */
int vu_dev_dispatch(struct vu_dev *dev, struct vu_msg *msg);

/* Drops the connection: stops every ring, closes its fds, unmaps memory, forgets negotiation. */
void vu_dev_detach(struct vu_dev *dev);

/* True when ring idx is started, enabled and healthy: it may carry traffic. */
bool vu_ring_live(const struct vu_dev *dev, unsigned idx);
