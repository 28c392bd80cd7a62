/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A port: one vhost-user socket, the device behind it, and its back-end. */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#include "dataplane/qp.h"
#include "net/vnet.h"
#include "vhost/proto.h"

struct loop;
struct port;

enum port_backend {
	PORT_BACKEND_TAP,
	PORT_BACKEND_NULL,
	PORT_BACKEND_PORT,
	PORT_BACKEND_MACVTAP,
	PORT_BACKEND_SWITCH,
	PORT_BACKEND_PACKET,
	PORT_BACKEND_XDP,
};

#define PORT_NAME_MAX 32

struct port_config {
	char name[PORT_NAME_MAX];
	char socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool client; /* connect to a listening front-end instead of listening */
	unsigned queues;
	enum port_backend backend;
	char ifname[IFNAMSIZ]; /* tap; macvtap: the link (default: from the name) */
	char dev[IFNAMSIZ];    /* back-ends over a host device (dev=): the device underneath */
	uint8_t mac[6];	       /* the guest's MAC address (mac=), when mac_set */
	bool mac_set;
	uint32_t macvtap_mode; /* macvtap: MACVLAN_MODE_* (macvtap_mode=) */
	char bridge[IFNAMSIZ]; /* tap: the bridge it joins (bridge=) */
	char helper[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* tap: vhostd-net-helper */
	unsigned xdp_queue;	  /* xdp: the device's first queue (queue=) */
	unsigned gen;		  /* null: frame size to generate, 0 for none */
	char peer[PORT_NAME_MAX]; /* port: the peer port's name */
	char sw[PORT_NAME_MAX];	  /* switch=: the VM switch of a switch port or an uplink */
	unsigned vlan;		  /* switch: access VLAN 1..4094, 0 untagged */
	bool uplink;		  /* uplink=1: this port's device is switch sw's uplink */
	unsigned sw_ageing;	  /* switch_ageing=: seconds, 0 for the default */
	enum poll_mode poll;
	unsigned mtu;	       /* tap, macvtap: MTU set at port set-up, 0 to leave it */
	uint64_t features_off; /* virtio features never offered on this port (features=) */
	uint64_t mem_max;      /* mem_max=: guest memory a front-end may map, 0 for the default */
	unsigned worker_base;  /* queue pair q runs on worker (worker_base + q) % workers */
};

/*
 * Creates the back-end, then listens on (or starts connecting to) the socket. Returns 0 with
 * *ret set, or a negative errno after logging why.
 */
int port_new(struct loop *l, const struct port_config *cfg, struct port **ret);

/* The network helper for tap ports without helper= when vhostd is not root (--helper). */
void port_set_default_helper(const char *path);

/* Disconnects, removes the socket we created, destroys the back-end. NULL is fine. */
void port_free(struct port *p);

/*
 * port_free() for a port deleted for good: its ring state file goes too, and a tap vhostd
 * created (persistent so far, for restarts). NULL is fine.
 */
void port_remove(struct port *p);

/* Writes the port's one-line status and counters (with '\n') into buf; returns its length. */
size_t port_format_stats(struct port *p, char *buf, size_t len);

/* Cross-connects two ports whose back-end is `port`. Returns 0 or -EINVAL. */
int port_link_peers(struct port *a, struct port *b);

/* The port's configuration. */
const struct port_config *port_config(const struct port *p);

/* The port's name. */
const char *port_name(const struct port *p);

/* One ring as port_snapshot() saw it. */
struct port_ring_info {
	unsigned size; /* 0 until the front-end set it */
	bool started, enabled, packed, broken;
	bool kick_fd; /* started with a kick eventfd (false: the front-end has us poll it) */
};

/* One queue pair's counters (tx: what the guest sent; rx: what it received). */
struct port_queue_stats {
	struct vnet_stats st;
	uint64_t tx_kicks, rx_kicks, tx_calls, rx_calls, ring_faults;
};

/* What a port is and does, read in one go with the port locked. */
struct port_info {
	bool connected, broken, dirty_log;
	uint64_t offered, features; /* virtio features: offered, negotiated */
	uint64_t offered_proto, proto;
	uint64_t log_overflows, announces;
	uint64_t mem_faults;   /* front-ends dropped because their memory vanished (SIGBUS) */
	uint64_t conn_refused; /* connections refused: a front-end was already connected */
	uint64_t msg_refused;  /* vhost-user messages refused (malformed, over a limit) */
	unsigned nrings;
	struct port_ring_info ring[VU_MAX_VRINGS];
	unsigned nworkers;
	unsigned workers[VU_MAX_QUEUE_PAIRS]; /* indexes, ascending */
	unsigned nqueues;
	struct port_queue_stats q[VU_MAX_QUEUE_PAIRS];
};

/*
 * Drops the front-end if its memory or dirty log vanished (util/memguard.h), with a logged,
 * counted error. Main loop only, after memguard's eventfd fired.
 */
void port_check_memory(struct port *p);

/* Fills *ret from the port's current state and counters. */
void port_snapshot(struct port *p, struct port_info *ret);

/* Switches every queue pair of the port to poll mode m (the port's poll= changes too). */
void port_set_poll(struct port *p, enum poll_mode m);

struct switch_port_stats;

/* A switch port's or uplink's switch counters and its switch's learnt addresses; false when the
 * port is on no switch. */
bool port_switch_stats(struct port *p, struct switch_port_stats *ret, unsigned *ret_macs);

/* Sums the queue pairs of pi into *ret. */
void port_stats_total(const struct port_info *pi, struct port_queue_stats *ret);
