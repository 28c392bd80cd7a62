/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A back-end is where a port's frames go: a tap today, later macvtap, AF_PACKET, AF_XDP or
 * another port. Frames cross this interface with a virtio-net header of the negotiated length in
 * front, so a kernel device that speaks that header (tap with IFF_VNET_HDR) needs no copy.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct backend;

/* One frame of a burst: its iovecs (header first) and, after the call, bytes moved or -errno. */
struct be_frame {
	const struct iovec *iov;
	unsigned niov;
	ssize_t res;
};

struct backend_ops {
	const char *name;
	/* The device accepts and produces checksum/segmentation offload in the header. */
	bool offloads;
	/* send() reads the frame's bytes (the data path then prefetches them with the header). */
	bool send_reads_data;
	/* Applies the negotiated virtio-net features and header length (10 or 12). */
	int (*configure)(struct backend *be, uint64_t features, unsigned hdr_len);
	/* A pollable fd for queue q: readable when frames wait, writable when it accepts more. */
	int (*queue_fd)(struct backend *be, unsigned q);
	/* Sends one frame (header + data). Returns bytes sent or a negative errno (-EAGAIN: full).
	 */
	ssize_t (*send)(struct backend *be, unsigned q, const struct iovec *iov, unsigned n);
	/* Receives one frame (header + data) into iov. Returns its length (may exceed the space,
	 * meaning truncated), or a negative errno (-EAGAIN: nothing waiting). NULL: never any. */
	ssize_t (*recv)(struct backend *be, unsigned q, const struct iovec *iov, unsigned n);
	/* Optional: sends f[0..n) in one go, setting each f[i].res. Returns 0, or a negative errno
	 * if the burst could not be attempted at all (the caller then sends frame by frame). */
	int (*send_burst)(struct backend *be, unsigned q, struct be_frame *f, unsigned n);
	/* Optional: receives up to n frames, one into each f[i] (in order), as recv() would. */
	int (*recv_burst)(struct backend *be, unsigned q, struct be_frame *f, unsigned n);
	/* Optional: the burst of sends on queue q is over (publish what was batched). */
	void (*flush)(struct backend *be, unsigned q);
	/*
	 * Optional: throws away the frames waiting on queue q (at most `max`), returning how many.
	 * They arrived while no guest listened and belong to none (see vnet_rx_discard()).
	 */
	unsigned (*discard)(struct backend *be, unsigned q, unsigned max);
	/* Largest frame (without header) the device can hand us with the current settings. */
	unsigned (*max_frame)(struct backend *be);
	/*
	 * The guest's MTU is now mtu (68..65535): the device follows it where it has an MTU of
	 * its own, and max_frame() with it. Stores the MTU it had before in *ret_old (when not
	 * NULL; 0 when the device has none to go back to). Returns 0 or a negative errno.
	 */
	int (*set_mtu)(struct backend *be, unsigned mtu, unsigned *ret_old);
	/* Optional: the port is deleted for good; give back what was made to outlive vhostd. */
	void (*release)(struct backend *be);
	void (*destroy)(struct backend *be);
};

struct backend {
	const struct backend_ops *ops;
	/* The device takes and produces UDP segmentation offload (GSO_UDP_L4) frames. */
	bool uso;
};

/*
 * Creates or attaches to tap `ifname` with `queues` queues (IFF_MULTI_QUEUE when > 1), makes it
 * a port of `bridge` (when not NULL or empty), sets it up, and returns it in *ret. Returns 0 or
 * a negative errno (logged).
 */
int backend_tap_create(const char *ifname, unsigned queues, const char *bridge,
		       struct backend **ret);

/*
 * Takes the n queue fds of tap ifname that vhostd-net-helper made (fds[] are set to -1 as they
 * are taken, also on failure, when they are closed) and returns the back-end in *ret. 0 or -errno.
 */
int backend_tap_adopt(const char *ifname, int *fds, unsigned n, struct backend **ret);

/*
 * Creates a null back-end with `queues` queues: transmitted frames are dropped; with gen > 0
 * (14..65535) every receive yields a gen-byte frame. Returns 0 or a negative errno.
 */
int backend_null_create(unsigned queues, unsigned gen, struct backend **ret);

/* What a macvtap port asks for (see backend_macvtap_create). */
struct macvtap_params {
	const char *ifname; /* the link to create */
	const char *dev;    /* the device underneath */
	uint32_t mode;	    /* MACVLAN_MODE_VEPA, _PRIVATE, _BRIDGE or _PASSTHRU */
	const uint8_t *mac; /* the guest's address, for the link (NULL: made up from ifname,
			     * logged); not used in passthrough */
	unsigned queues;
};

/*
 * Creates macvtap link p->ifname over p->dev (replacing one a vhostd that is gone left behind,
 * refusing any other), opens p->queues queues of it, sets it up, and returns it in *ret. The
 * link is deleted when the back-end is destroyed. Returns 0 or a negative errno (logged).
 */
int backend_macvtap_create(const struct macvtap_params *p, struct backend **ret);

struct nethelper_child;

/*
 * Takes the n queue fds of macvtap ifname (over dev) that vhostd-net-helper made, and the
 * helper that keeps the link (child, see nethelper.h): destroying the back-end ends the helper,
 * which deletes the link. Everything passed is taken, also on failure (fds[] are set to -1).
 * Returns 0 or a negative errno.
 */
int backend_macvtap_adopt(const char *ifname, const char *dev, int *fds, unsigned n,
			  struct nethelper_child *child, struct backend **ret);

/*
 * Creates an AF_PACKET back-end on host device `dev`: one packet socket per queue (a fanout
 * group when queues > 1), promiscuous, with vnet headers and a TPACKET_V3 receive ring.
 * Returns 0 or a negative errno (logged).
 */
int backend_packet_create(const char *dev, unsigned queues, struct backend **ret);

/*
 * Creates an AF_XDP back-end on host device `dev`: one XDP socket per queue, on the device's
 * queues first_queue .. first_queue + queues - 1, with the XDP program that steers them loaded
 * (and removed with the last socket). Returns 0 or a negative errno (logged).
 */
int backend_xdp_create(const char *dev, unsigned queues, unsigned first_queue,
		       struct backend **ret);

struct vnet;

/*
 * Creates a port-to-port back-end with `queues` queues: what the guest sends is copied into the
 * receive ring of the peer set with backend_peer_set(). Returns 0 or a negative errno.
 */
int backend_peer_create(unsigned queues, struct backend **ret);

/* Points a port back-end at the device model of its peer (NULL to detach). */
void backend_peer_set(struct backend *be, struct vnet *peer);

/* Destroys a back-end; NULL is fine. */
static inline void backend_destroy(struct backend *be)
{
	if (be)
		be->ops->destroy(be);
}
