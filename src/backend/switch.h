/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VM switch: an L2 learning switch inside vhostd between the ports that name it
 * (backend=switch,switch=NAME) and at most one uplink, the host device of a port of another
 * back-end (switch=NAME,uplink=1). A switch exists while a port names it. Every port of one switch
 * runs on one worker, so forwarding takes no lock: join and leave need that worker's lock.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct backend;
struct loop;
struct vnet;

enum {
	SWITCH_MAX_PORTS = 64,	     /* ports of one switch, the uplink included */
	SWITCH_MAX_MACS = 4096,	     /* learnt addresses of one switch */
	SWITCH_AGEING_DEFAULT = 300, /* seconds */
	SWITCH_AGEING_MAX = 1000000, /* seconds (11 days) */
	SWITCH_FLOOD_MAX = 65536,    /* frames a port may flood per second */
};

/* One switch port's counters (written by the switch's worker). */
struct switch_port_stats {
	uint64_t unicast;	 /* frames sent to the one port their destination was learnt on */
	uint64_t flooded;	 /* broadcast, multicast and unknown unicast frames flooded */
	uint64_t to_uplink;	 /* frames sent out of the uplink */
	uint64_t drop_tagged;	 /* guest frames with an 802.1Q/802.1ad tag */
	uint64_t drop_src_mcast; /* frames with a multicast source address */
	uint64_t drop_gone;	 /* frames to an address learnt on a port that has left */
	uint64_t drop_local;	 /* frames to an address learnt on the port they came from */
	uint64_t drop_flood;	 /* floods above SWITCH_FLOOD_MAX a second */
	uint64_t drop_vlan;	 /* uplink frames double-tagged, 802.1ad or of VLAN 4095 */
	uint64_t drop_runt;	 /* frames shorter than an Ethernet header */
	uint64_t no_room;	 /* frames for this port dropped: its guest had no buffers */
	uint64_t mac_moves;	 /* addresses that moved to this port */
	uint64_t moves_refused;	 /* moves refused (pinned by mac=, or moved < 1 s ago) */
	uint64_t table_full;	 /* source addresses not learnt: the table was full */
};

/*
 * Creates the back-end of a guest port of switch `sw` (made when no port names it yet) in
 * VLAN `vlan` (0: untagged; 1..4094: an access port), with ageing `ageing_s` seconds for a switch
 * it makes (0: SWITCH_AGEING_DEFAULT), and, when mac is not NULL, that address pinned to the
 * port. The port takes no traffic before backend_switch_join(). Returns 0 or a negative errno.
 */
int backend_switch_create(const char *sw, unsigned vlan, unsigned ageing_s, const uint8_t *mac,
			  struct backend **ret);

/*
 * Replaces *dev (any back-end with a queue 0) by the uplink of switch `sw`, which owns it from
 * then on (also on failure, when it is destroyed). The device is configured without offloads.
 * Returns 0 or a negative errno.
 */
int backend_switch_uplink(struct backend **dev, const char *sw, unsigned ageing_s);

/* True when be is a switch port or uplink made here. */
bool backend_is_switch(const struct backend *be);

/*
 * Attaches the port to its switch: a guest port's frames are then delivered into net's receive
 * ring; an uplink's device is read from worker loop `l`. `domain` is the worker's index: every
 * port of one switch must give the same one. Needs that worker's lock. Returns 0, -EEXIST (a
 * second uplink), -EXDEV (another worker) or -ENOSPC (SWITCH_MAX_PORTS).
 */
int backend_switch_join(struct backend *be, struct vnet *net, struct loop *l, unsigned domain);

/* Detaches the port (no-op when not joined): addresses learnt on it are then dropped and
 * counted until they age or move. Needs the worker's lock. */
void backend_switch_leave(struct backend *be);

/* Copies the port's counters (with the worker's lock held); false when be is not a switch port. */
bool backend_switch_stats(const struct backend *be, struct switch_port_stats *ret);

/* Learnt addresses in the port's switch (with the worker's lock held). */
unsigned backend_switch_macs(const struct backend *be);
