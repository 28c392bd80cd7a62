/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The virtio-net device model: moves frames between a vhost-user device's rings and a back-end.
 * Queue pair q uses ring 2q (guest receive) and ring 2q+1 (guest transmit), back-end queue q.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct vu_dev;
struct backend;
struct be_frame;

/* Per-port counters. tx: frames the guest sent; rx: frames the guest received. */
struct vnet_stats {
	uint64_t tx_packets, tx_bytes, tx_dropped, tx_errors;
	uint64_t rx_packets, rx_bytes, rx_dropped;
	/* Of rx_dropped: frames larger than the guest's receive buffers (without MRG_RXBUF, one
	 * chain; with it, all the chains the ring had), never delivered in part. */
	uint64_t rx_oversize;
	/* Of rx_dropped: frames the back-end queued while no guest listened, thrown away when the
	 * receive ring started (vnet_rx_discard()). */
	uint64_t rx_stale;
	uint64_t announces; /* RARPs sent on the back-end for the guest after a migration */
};

/* Outcome of one pass over a queue. */
enum vnet_result {
	VNET_IDLE,	  /* nothing left to do: wait for the next event */
	VNET_MORE,	  /* budget used up with work left: run again soon */
	VNET_WAIT_GUEST,  /* rx: no guest buffers; wait for a kick (notifications are on) */
	VNET_WAIT_BACKEND /* tx: back-end full; wait until it is writable */
};

struct vnet;

/* Virtio-net features offered for `queue_pairs` queue pairs over back-end be (its offloads). */
uint64_t vnet_offered_features(unsigned queue_pairs, const struct backend *be);

/* Creates the device model for dev and be (neither owned). Returns NULL on allocation failure. */
struct vnet *vnet_new(struct vu_dev *dev, struct backend *be);
void vnet_free(struct vnet *n);

/* Applies negotiated features: header length, offload checks, back-end configuration. */
int vnet_set_features(struct vnet *n, uint64_t features);

/*
 * The guest's MTU is mtu (VHOST_USER_NET_SET_MTU, or the port's mtu=): checks it against the
 * spec's 68..65535 and has the back-end follow (a tap takes it as its own MTU, so frames that
 * large go both ways). *ret_old as backend_ops.set_mtu. Needs the port locked. Returns 0 or a
 * negative errno (logged).
 */
int vnet_set_mtu(struct vnet *n, uint64_t mtu, unsigned *ret_old);

/*
 * Moves guest transmissions of queue pair q to the back-end, at most a budget's worth (256 frames
 * or 512 KiB), and stores the number of frames taken in *ret_done. With poll, guest notifications
 * stay off (the caller polls); otherwise they are re-enabled once the ring is drained. Needs
 * vnet_thread_init().
 */
enum vnet_result vnet_tx(struct vnet *n, unsigned q, bool poll, unsigned *ret_done);

/* Moves back-end frames of queue pair q into guest buffers; as vnet_tx() otherwise. */
enum vnet_result vnet_rx(struct vnet *n, unsigned q, bool poll, unsigned *ret_done);

/* Allocates the calling thread's scratch buffers (once per data-path thread). 0 or -ENOMEM. */
int vnet_thread_init(void);
void vnet_thread_fini(void);

/*
 * Copies one frame (iov minus its first `skip` header bytes) into the receive ring of queue pair
 * q (modulo the queue count) of n, for port-to-port forwarding. Used entries are published by
 * vnet_rx_flush(). Returns 0, -ENOBUFS (no guest buffers: dropped) or -EIO (ring not live).
 */
int vnet_deliver(struct vnet *n, unsigned q, const struct iovec *iov, unsigned niov, size_t skip);

/*
 * vnet_deliver() for a burst: frame i is f[i].iov minus its first `skip` bytes, its outcome goes
 * to f[i].res (the bytes of f[i].iov, or vnet_deliver()'s error). Frames in one buffer landing in
 * receive chains of one buffer each take a batched path; the others go through vnet_deliver().
 */
void vnet_deliver_burst(struct vnet *n, unsigned q, struct be_frame *f, unsigned count,
			size_t skip);

/* Publishes what vnet_deliver() put in queue pair q's receive ring and notifies the guest. */
void vnet_rx_flush(struct vnet *n, unsigned q);

/* Queue pair q's counters (announces aside); call with the owning workers' locks held. */
void vnet_stats_queue(const struct vnet *n, unsigned q, struct vnet_stats *ret);

/* RARPs sent for the guest after migrations; call with the port locked. */
uint64_t vnet_announces(const struct vnet *n);

/* Sums the per-queue counters; call with the owning workers' locks held. */
void vnet_stats_sum(const struct vnet *n, struct vnet_stats *ret);

/*
 * Sends a RARP with source `mac` on the back-end's queue 0, as the guest would after moving here,
 * so switches learn where it is. Needs the port locked and vnet_thread_init() on the calling
 * thread (a peer back-end delivers through the scratch buffers). Returns 0 or a negative errno.
 */
int vnet_announce(struct vnet *n, const uint8_t mac[6]);

/*
 * Throws away what waits on the back-end's queue q when the guest's receive ring starts: those
 * frames arrived while no guest listened on this port (a previous front-end's, or the port's
 * before a migration moved the guest here and back) and would reach it late, out of order, or
 * reach another guest. Counted in rx_dropped. Needs the port locked. Returns how many.
 */
unsigned vnet_rx_discard(struct vnet *n, unsigned q);
