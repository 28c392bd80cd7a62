/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The queues of a tap-like character device: /dev/net/tun in IFF_TAP|IFF_VNET_HDR mode and
 * macvtap's /dev/tapN speak the same interface (one fd per queue, a virtio-net header in front
 * of every frame, TUNSETVNETHDRSZ and TUNSETOFFLOAD), so the tap and macvtap back-ends share
 * everything that moves frames; each keeps only how its device is made, found and removed.
 */
#pragma once

#include <net/if.h>
#include <stdbool.h>

#include "backend/backend.h"
#include "util/log.h"

#define TAPQ_MAX_QUEUES 16

/* UDP segmentation offload (Linux 6.2); older headers lack the flags. The kernel takes them
 * only together and with TUN_F_CSUM. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

/* The shared part of a tap-like back-end; the back-end's own struct embeds it first. */
struct tapq {
	struct backend be;
	char ifname[IFNAMSIZ];
	unsigned nq;
	int fds[TAPQ_MAX_QUEUES];
	unsigned mtu;
	unsigned gso;  /* nonzero when the kernel may hand us GSO frames */
	bool no_burst; /* the kernel refused RWF_NOWAIT on the fd: one syscall per frame */
	struct ratelimit rl;
};

/* Sets t up with no queue open yet (every fd -1) and ops as its back-end operations. */
void tapq_init(struct tapq *t, const struct backend_ops *ops);

/* Closes every queue fd (safe on a half-built t). */
void tapq_close(struct tapq *t);

/*
 * Probes whether the device takes UDP segmentation offload (TUN_F_USO4|TUN_F_USO6 on queue 0)
 * and records it in t->be.uso. Leaves the offloads as the next configure sets them.
 */
void tapq_probe_uso(struct tapq *t);

/* backend_ops for a tap-like device (be is a struct tapq). */
int tapq_configure(struct backend *be, uint64_t features, unsigned hdr_len);
int tapq_queue_fd(struct backend *be, unsigned q);
ssize_t tapq_send(struct backend *be, unsigned q, const struct iovec *iov, unsigned n);
ssize_t tapq_recv(struct backend *be, unsigned q, const struct iovec *iov, unsigned n);
int tapq_send_burst(struct backend *be, unsigned q, struct be_frame *f, unsigned n);
int tapq_recv_burst(struct backend *be, unsigned q, struct be_frame *f, unsigned n);
unsigned tapq_discard(struct backend *be, unsigned q, unsigned max);
unsigned tapq_max_frame(struct backend *be);
int tapq_set_mtu(struct backend *be, unsigned mtu, unsigned *ret_old);
