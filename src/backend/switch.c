/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VM switch (see switch.h): MAC learning per VLAN with ageing, flooding of broadcast,
 * multicast and unknown unicast within the VLAN, access ports (untagged towards the guest) and
 * one 802.1Q-tagged uplink.
 *
 * Guest to guest is one copy: a guest port's transmit burst is looked up frame by frame and each
 * destination gets its frames delivered straight from the sender's buffers into its receive ring
 * (vnet_deliver_burst()), then published once per burst. The uplink's device is read into the
 * switch's own buffers (the destination is not known before the frame is read) and delivered
 * from there; frames to the uplink are written from the guest's buffers, a VLAN tag spliced in
 * with an iovec.
 *
 * Untrusted guests: every frame is parsed from a copy of its first bytes; a guest cannot tag its
 * frames (access ports), use a multicast source, make the switch hairpin, steal an address more
 * than once a second (or ever, one pinned with mac=), fill the table past SWITCH_MAX_MACS
 * (new addresses are then not learnt, old ones stay until they age) or flood more than
 * SWITCH_FLOOD_MAX frames a second. Every such frame is counted on the port it came from.
 */
#include "backend/switch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "net/vnet.h"
#include "util/cleanup.h"
#include "util/iov.h"
#include "util/log.h"
#include "util/loop.h"

enum {
	SW_BURST = 32,			/* frames handled per lookup pass */
	SW_SLOTS = 2 * SWITCH_MAX_MACS, /* hash table slots (load at most 1/2) */
	SW_UP_HDR = 10,			/* virtio-net header on the uplink's device (no offloads) */
	SW_RX_SLOT = 2048,		/* uplink receive buffer per frame of a burst */
	SW_RX_BIG = 65536 + 64,		/* uplink receive buffer for one frame larger than a slot */
	SW_RX_BUDGET = 256,		/* uplink frames per wake-up */
	SW_UP_IOV = 512,		/* iovecs of one burst towards the uplink */
	SW_MOVE_HOLD = 1000,		/* milliseconds an address stays put after it moved */
	SW_ETH_HLEN = 14,
	SW_VLAN_HLEN = 4,
};

#define SW_KEY_USED   (1ull << 63)
#define SW_KEY_STATIC (1ull << 62) /* pinned with mac=: never ages, never moves */
#define SW_KEY_MASK   ((1ull << 60) - 1)

/* One learnt address: key = VLAN << 48 | MAC, with the flags above. */
struct sw_entry {
	uint64_t key;
	uint32_t seen;	/* coarse milliseconds when last seen as a source */
	uint32_t moved; /* coarse milliseconds of its last move */
	uint32_t gen;	/* the generation of `slot` it was learnt on */
	uint16_t slot;
};

struct sw_port;

/* Frames of one burst bound for one port. */
struct sw_batch {
	struct be_frame f[SW_BURST];
	uint8_t idx[SW_BURST]; /* the frame's index in the input burst */
	unsigned n;
};

struct vswitch {
	char name[32];
	unsigned refs;	 /* ports created that name it (control thread) */
	unsigned ageing; /* seconds */
	int domain;	 /* worker index of its ports, -1 while none has joined */
	unsigned joined;
	struct sw_port *port[SWITCH_MAX_PORTS];
	uint32_t gen[SWITCH_MAX_PORTS]; /* bumped when a port leaves its slot */
	unsigned nslots;		/* slots in use are below this */
	struct sw_port *uplink;
	struct sw_entry *table;
	unsigned macs;
	uint32_t last_sweep;
	struct ratelimit rl;
	/* Towards the uplink: the frames of one burst and their iovecs and heads. */
	struct iovec up_iov[SW_UP_IOV];
	uint8_t up_head[SW_BURST][SW_UP_HDR + 12 + SW_VLAN_HLEN];
	unsigned up_niov;
	/* From the uplink: receive buffers and the iovecs frames are delivered from. */
	uint8_t *rx_slots, *rx_big;
	struct iovec rx_iov[SW_BURST][3];
	struct vswitch *next;
};

/* A port's back-end: a guest port, or the uplink wrapping its device. */
struct sw_port {
	struct backend be;
	struct vswitch *sw;
	struct backend *dev; /* uplink: the device underneath (owned) */
	struct vnet *net;    /* guest port: its device model, once joined */
	struct loop *loop;   /* uplink: the worker loop reading dev */
	struct ev ev;
	int fd; /* guest port: its queue fd, an eventfd never readable */
	int slot;
	uint16_t vlan;
	unsigned hdr_len; /* the header in front of the frames this port sends */
	bool touched;	  /* frames delivered into its ring since the last publication */
	bool pinned;
	uint8_t mac[6];
	uint32_t flood_sec, flood_n; /* start (ms) and floods of the current second */
	struct sw_batch batch;
	struct switch_port_stats st;
	struct ratelimit rl;
};

/* Every switch, by name (control thread). */
static struct vswitch *switches;

static const struct backend_ops sw_guest_ops, sw_uplink_ops;

/* Returns the switch port behind a backend pointer. */
static struct sw_port *to_sw(struct backend *be)
{
	return (struct sw_port *)be;
}

/*
 * Milliseconds of the coarse monotonic clock (vDSO, no system call, a tick of resolution: enough
 * for ageing). 32 bits: times are only ever subtracted, and ageing stays below 2^31 ms.
 */
static uint32_t sw_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

/* The table key of (vlan, mac). */
static uint64_t sw_key(uint16_t vlan, const uint8_t *mac)
{
	uint64_t k = (uint64_t)vlan << 48;

	for (unsigned i = 0; i < 6; i++)
		k |= (uint64_t)mac[i] << (40 - 8 * i);
	return k;
}

/* Home slot of a key. */
static unsigned sw_hash(uint64_t key)
{
	return (unsigned)((key * 0x9e3779b97f4a7c15ull) >> 51) & (SW_SLOTS - 1);
}

/* Removes the entry at slot i, shifting later entries of its probe run back (no tombstones). */
static void sw_table_del(struct vswitch *sw, unsigned i)
{
	unsigned j = i;

	sw->table[i].key = 0;
	sw->macs--;
	for (;;) {
		unsigned h;

		j = (j + 1) & (SW_SLOTS - 1);
		if (!(sw->table[j].key & SW_KEY_USED))
			return;
		h = sw_hash(sw->table[j].key & SW_KEY_MASK);
		/* Entry j may fill hole i when its home is not in (i, j] (cyclically). */
		if ((i <= j) ? (h > i && h <= j) : (h > i || h <= j))
			continue;
		sw->table[i] = sw->table[j];
		sw->table[j].key = 0;
		i = j;
	}
}

/* True when entry e has not been seen for longer than the ageing time. */
static bool sw_aged(const struct vswitch *sw, const struct sw_entry *e, uint32_t now)
{
	return !(e->key & SW_KEY_STATIC) && now - e->seen > sw->ageing * 1000u;
}

/*
 * Finds (vlan, mac); an aged entry found on the way is removed. Returns the entry, or NULL with
 * *ret_free set to the slot an insertion would use.
 */
static struct sw_entry *sw_lookup(struct vswitch *sw, uint64_t key, uint32_t now,
				  unsigned *ret_free)
{
	unsigned i = sw_hash(key);

	for (;;) {
		struct sw_entry *e = &sw->table[i];

		if (!(e->key & SW_KEY_USED)) {
			*ret_free = i;
			return NULL;
		}
		if ((e->key & SW_KEY_MASK) == key) {
			if (!sw_aged(sw, e, now))
				return e;
			sw_table_del(sw, i);
			return sw_lookup(sw, key, now, ret_free);
		}
		i = (i + 1) & (SW_SLOTS - 1);
	}
}

/* Removes every aged entry (at most once a second: a full table costs one scan). */
static void sw_sweep(struct vswitch *sw, uint32_t now)
{
	if (now - sw->last_sweep < 1000u)
		return;
	sw->last_sweep = now;
	for (unsigned i = 0; i < SW_SLOTS; i++)
		while ((sw->table[i].key & SW_KEY_USED) && sw_aged(sw, &sw->table[i], now))
			sw_table_del(sw, i); /* a later entry may have moved into i */
}

/* Formats a MAC for logs into buf (18 bytes). */
static const char *sw_mac_str(const uint8_t *m, char *buf)
{
	static const char hx[] = "0123456789abcdef";

	for (unsigned i = 0; i < 6; i++) {
		buf[3 * i] = hx[m[i] >> 4];
		buf[3 * i + 1] = hx[m[i] & 15];
		buf[3 * i + 2] = i < 5 ? ':' : '\0';
	}
	return buf;
}

/* Name of the port in slot s for logs. */
static const char *sw_port_desc(const struct vswitch *sw, unsigned s)
{
	return sw->port[s] == sw->uplink ? "the uplink" : "a guest port";
}

/*
 * Learns that (vlan, src) lives behind port p. A known address moves at most once per
 * SW_MOVE_HOLD ms (unless the port it was on has gone), never when pinned; a new one is
 * not learnt while the table is full.
 */
static void sw_learn(struct vswitch *sw, struct sw_port *p, uint16_t vlan, const uint8_t *src,
		     uint32_t now)
{
	uint64_t key = sw_key(vlan, src);
	unsigned fr;
	struct sw_entry *e = sw_lookup(sw, key, now, &fr);
	char mb[18];

	if (e) {
		bool old_live;

		if (e->slot == p->slot && e->gen == sw->gen[p->slot]) {
			if (e->seen != now)
				e->seen = now;
			return;
		}
		old_live = e->gen == sw->gen[e->slot] && sw->port[e->slot];
		if (old_live && ((e->key & SW_KEY_STATIC) || now - e->moved < SW_MOVE_HOLD)) {
			p->st.moves_refused++;
			log_rl(&p->rl, LOG_LVL_WARN,
			       "switch %s: %s on VLAN %u sent from another port than %s it is %s "
			       "to: "
			       "not moved",
			       sw->name, sw_mac_str(src, mb), vlan, sw_port_desc(sw, e->slot),
			       (e->key & SW_KEY_STATIC) ? "pinned" : "learnt");
			return;
		}
		log_rl(&sw->rl, LOG_LVL_INFO, "switch %s: %s on VLAN %u moved from %s to %s",
		       sw->name, sw_mac_str(src, mb), vlan, sw_port_desc(sw, e->slot),
		       sw_port_desc(sw, (unsigned)p->slot));
		e->slot = (uint16_t)p->slot;
		e->gen = sw->gen[p->slot];
		e->key &= ~SW_KEY_STATIC;
		e->seen = e->moved = now;
		p->st.mac_moves++;
		return;
	}
	if (sw->macs >= SWITCH_MAX_MACS) {
		sw_sweep(sw, now);
		if (sw->macs >= SWITCH_MAX_MACS) {
			p->st.table_full++;
			log_rl(&p->rl, LOG_LVL_WARN,
			       "switch %s: address table full (%u): %s not learnt", sw->name,
			       SWITCH_MAX_MACS, sw_mac_str(src, mb));
			return;
		}
		sw_lookup(sw, key, now, &fr); /* the sweep moved entries */
	}
	sw->table[fr] = (struct sw_entry){ .key = key | SW_KEY_USED,
					   .seen = now,
					   .moved = now - SW_MOVE_HOLD,
					   .gen = sw->gen[p->slot],
					   .slot = (uint16_t)p->slot };
	sw->macs++;
}

/* True when port p may flood one more frame this second. */
static bool sw_flood_ok(struct sw_port *p, uint32_t now)
{
	if (now - p->flood_sec >= 1000u) {
		p->flood_sec = now;
		p->flood_n = 0;
	}
	if (p->flood_n >= SWITCH_FLOOD_MAX) {
		p->st.drop_flood++;
		return false;
	}
	p->flood_n++;
	return true;
}

/* Queues frame i (f) of the burst for port d. */
static void sw_queue(struct sw_port *d, const struct be_frame *f, unsigned i)
{
	struct sw_batch *b = &d->batch;

	b->f[b->n] = (struct be_frame){ .iov = f->iov, .niov = f->niov };
	b->idx[b->n++] = (uint8_t)i;
}

/*
 * Queues frame i for the uplink: a zero header, then the frame minus its `skip`-byte header,
 * tagged with vlan when it is not 0 (eth: the frame's first 12 bytes). Returns false when the
 * burst's iovecs are used up (the caller sends what is queued and tries again).
 */
static bool sw_queue_uplink(struct vswitch *sw, const struct be_frame *f, unsigned i, size_t skip,
			    uint16_t vlan, const uint8_t *eth)
{
	struct sw_port *u = sw->uplink;
	struct iovec *out = sw->up_iov + sw->up_niov;
	uint8_t *head = sw->up_head[u->batch.n];
	unsigned room = SW_UP_IOV - sw->up_niov;
	size_t rest = skip;
	int k;

	if (room < 2)
		return false;
	memset(head, 0, SW_UP_HDR);
	out[0].iov_base = head;
	out[0].iov_len = SW_UP_HDR;
	if (vlan) {
		memcpy(head + SW_UP_HDR, eth, 12);
		head[SW_UP_HDR + 12] = 0x81;
		head[SW_UP_HDR + 13] = 0x00;
		head[SW_UP_HDR + 14] = (uint8_t)(vlan >> 8);
		head[SW_UP_HDR + 15] = (uint8_t)vlan;
		out[0].iov_len += 12 + SW_VLAN_HLEN;
		rest += 12;
	}
	k = iov_tail(f->iov, f->niov, rest, out + 1, room - 1);
	if (k < 0)
		return false;
	u->batch.f[u->batch.n] = (struct be_frame){ .iov = out, .niov = (unsigned)k + 1 };
	u->batch.idx[u->batch.n++] = (uint8_t)i;
	sw->up_niov += (unsigned)k + 1;
	return true;
}

/* Sends the uplink's queued frames; marks those that went out in *sent. */
static void sw_send_uplink(struct vswitch *sw, bool *sent)
{
	struct sw_port *u = sw->uplink;
	struct backend *dev = u->dev;
	struct sw_batch *b = &u->batch;

	if (!b->n)
		return;
	if (b->n == 1 || !dev->ops->send_burst || dev->ops->send_burst(dev, 0, b->f, b->n) < 0)
		for (unsigned j = 0; j < b->n; j++)
			b->f[j].res = dev->ops->send(dev, 0, b->f[j].iov, b->f[j].niov);
	if (dev->ops->flush)
		dev->ops->flush(dev, 0);
	for (unsigned j = 0; j < b->n; j++) {
		if (b->f[j].res >= 0) {
			u->st.to_uplink++;
			if (sent)
				sent[b->idx[j]] = true;
		} else {
			u->st.no_room++;
		}
	}
	b->n = 0;
	sw->up_niov = 0;
}

/*
 * Delivers every port's batch (frames carrying a `skip`-byte header) and publishes them; frame
 * i that reached at least one port gets sent[i] set.
 */
static void sw_deliver(struct vswitch *sw, size_t skip, bool *sent)
{
	for (unsigned s = 0; s < sw->nslots; s++) {
		struct sw_port *d = sw->port[s];

		if (!d || !d->batch.n || d == sw->uplink)
			continue;
		vnet_deliver_burst(d->net, 0, d->batch.f, d->batch.n, skip);
		for (unsigned j = 0; j < d->batch.n; j++) {
			if (d->batch.f[j].res >= 0)
				sent[d->batch.idx[j]] = true;
			else
				d->st.no_room++;
		}
		d->batch.n = 0;
		vnet_rx_flush(d->net, 0);
	}
	if (sw->uplink)
		sw_send_uplink(sw, sent);
}

/* An Ethernet type that carries a VLAN tag (802.1Q, 802.1ad, the pre-standard QinQ 0x9100). */
static bool sw_is_tag(const uint8_t *type)
{
	uint16_t t = (uint16_t)(type[0] << 8 | type[1]);

	return t == 0x8100 || t == 0x88a8 || t == 0x9100;
}

/*
 * Forwards one frame from port p in VLAN vlan (eth: its first 14 bytes; f: the frame with a
 * `skip`-byte header) to the batches of its destinations. Returns false when it went nowhere
 * (counted), true when queued (or when the uplink's iovecs ran out: then *ret_full).
 */
static bool sw_forward(struct vswitch *sw, struct sw_port *p, const struct be_frame *f, unsigned i,
		       size_t skip, uint16_t vlan, const uint8_t *eth, uint32_t now, bool *ret_full)
{
	struct sw_port *d = NULL;
	unsigned fr;

	if (!(eth[0] & 1)) {
		struct sw_entry *e = sw_lookup(sw, sw_key(vlan, eth), now, &fr);

		if (e) {
			if (e->gen != sw->gen[e->slot] || !sw->port[e->slot]) {
				p->st.drop_gone++;
				return false;
			}
			d = sw->port[e->slot];
			if (d == p) {
				p->st.drop_local++;
				return false;
			}
		}
	}
	if (d) {
		p->st.unicast++;
		if (d != sw->uplink) {
			sw_queue(d, f, i);
			return true;
		}
		*ret_full = !sw_queue_uplink(sw, f, i, skip, vlan, eth);
		return true;
	}
	if (!sw_flood_ok(p, now))
		return false;
	p->st.flooded++;
	for (unsigned s = 0; s < sw->nslots; s++) {
		struct sw_port *o = sw->port[s];

		if (o && o != p && o != sw->uplink && o->vlan == vlan && o->net)
			sw_queue(o, f, i);
	}
	if (sw->uplink && p != sw->uplink)
		*ret_full = !sw_queue_uplink(sw, f, i, skip, vlan, eth);
	return true;
}

/* Copies the first 14 bytes of the frame after `skip` into buf; returns them, or NULL (runt). */
static const uint8_t *sw_eth(const struct be_frame *f, size_t skip, uint8_t *buf)
{
	if (f->niov >= 2 && f->iov[0].iov_len == skip && f->iov[1].iov_len >= SW_ETH_HLEN) {
		memcpy(buf, f->iov[1].iov_base, SW_ETH_HLEN); /* one read of guest memory */
		return buf;
	}
	if (iov_to_buf(f->iov, f->niov, skip, buf, SW_ETH_HLEN) < SW_ETH_HLEN)
		return NULL;
	return buf;
}

/* backend_ops.send_burst of a guest port: switches the burst, one copy per destination. */
static int sw_guest_send_burst(struct backend *be, unsigned q, struct be_frame *f, unsigned n)
{
	struct sw_port *p = to_sw(be);
	struct vswitch *sw = p->sw;
	uint32_t now = sw_now();

	for (unsigned base = 0; base < n; base += SW_BURST) {
		unsigned m = MIN(n - base, (unsigned)SW_BURST);
		bool sent[SW_BURST] = { false };
		bool queued[SW_BURST] = { false };

		for (unsigned i = 0; i < m; i++) {
			struct be_frame *fi = &f[base + i];
			uint8_t buf[SW_ETH_HLEN];
			const uint8_t *eth;
			bool full = false;

			fi->res = -ENOBUFS;
			if (p->slot < 0)
				continue; /* not joined (or left): counted as tx_dropped */
			eth = sw_eth(fi, p->hdr_len, buf);
			if (!eth) {
				p->st.drop_runt++;
				continue;
			}
			if (eth[6] & 1) { /* a source address must be a station's */
				p->st.drop_src_mcast++;
				continue;
			}
			if (sw_is_tag(eth + 12)) { /* access port: only untagged frames */
				p->st.drop_tagged++;
				continue;
			}
			sw_learn(sw, p, p->vlan, eth + 6, now);
			queued[i] = sw_forward(sw, p, fi, i, p->hdr_len, p->vlan, eth, now, &full);
			if (full) { /* uplink iovecs used up: send those, then this one */
				sw_send_uplink(sw, sent);
				sw_queue_uplink(sw, fi, i, p->hdr_len, p->vlan, eth);
			}
		}
		sw_deliver(sw, p->hdr_len, sent);
		for (unsigned i = 0; i < m; i++)
			if (queued[i] && sent[i])
				f[base + i].res =
					(ssize_t)iov_size(f[base + i].iov, f[base + i].niov);
	}
	return 0;
}

/* backend_ops.send of a guest port: a burst of one. */
static ssize_t sw_guest_send(struct backend *be, unsigned q, const struct iovec *iov, unsigned n)
{
	struct be_frame f = { .iov = iov, .niov = n };

	sw_guest_send_burst(be, q, &f, 1);
	return f.res;
}

/* backend_ops.configure of a guest port: remembers the header length its frames carry. */
static int sw_guest_configure(struct backend *be, uint64_t features, unsigned hdr_len)
{
	to_sw(be)->hdr_len = hdr_len;
	return 0;
}

/* backend_ops.queue_fd of a guest port: an eventfd never readable (frames are pushed to it). */
static int sw_guest_queue_fd(struct backend *be, unsigned q)
{
	return to_sw(be)->fd;
}

/* backend_ops.max_frame: the largest frame a guest may send. */
static unsigned sw_guest_max_frame(struct backend *be)
{
	return 65535 + SW_ETH_HLEN + SW_VLAN_HLEN;
}

/* backend_ops.set_mtu of a guest port: the switch has no MTU; each guest keeps its own. */
static int sw_guest_set_mtu(struct backend *be, unsigned mtu, unsigned *ret_old)
{
	if (ret_old)
		*ret_old = 0;
	return 0;
}

/* Drops the switch reference of p; the last one frees the switch. */
static void sw_put(struct vswitch *sw)
{
	if (--sw->refs)
		return;
	for (struct vswitch **pp = &switches; *pp; pp = &(*pp)->next)
		if (*pp == sw) {
			*pp = sw->next;
			break;
		}
	free(sw->table);
	free(sw->rx_slots);
	free(sw->rx_big);
	free(sw);
}

/* backend_ops.destroy: leaves the switch reference and frees (the uplink its device too). */
static void sw_destroy(struct backend *be)
{
	struct sw_port *p = to_sw(be);

	if (p->sw) {
		if (p->slot >= 0) /* not left by its port: the worker is quiet by now */
			backend_switch_leave(be);
		sw_put(p->sw);
	}
	backend_destroy(p->dev);
	safe_close(p->fd);
	free(p);
}

/* Finds switch name, or makes it (ageing seconds, 0 for the default). */
static int sw_get(const char *name, unsigned ageing, struct vswitch **ret)
{
	struct vswitch *sw;

	if (strlen(name) >= sizeof(sw->name) || !*name)
		return -EINVAL;
	for (sw = switches; sw; sw = sw->next)
		if (strcmp(sw->name, name) == 0)
			break;
	if (!sw) {
		sw = calloc(1, sizeof(*sw));
		if (!sw)
			return -ENOMEM;
		sw->table = calloc(SW_SLOTS, sizeof(*sw->table));
		if (!sw->table) {
			free(sw);
			return -ENOMEM;
		}
		strcpy(sw->name, name);
		sw->ageing = ageing ? ageing : SWITCH_AGEING_DEFAULT;
		sw->domain = -1;
		sw->rl = (struct ratelimit)RATELIMIT_INIT;
		sw->next = switches;
		switches = sw;
		log_info("switch %s: created (ageing %u s)", name, sw->ageing);
	} else if (ageing && ageing != sw->ageing) {
		log_warn("switch %s: keeps its ageing of %u s (a port asked for %u)", name,
			 sw->ageing, ageing);
	}
	sw->refs++;
	*ret = sw;
	return 0;
}

/* Allocates a switch port of switch name with ops. */
static int sw_port_new(const char *name, unsigned ageing, const struct backend_ops *ops,
		       struct sw_port **ret)
{
	struct sw_port *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	p->be.ops = ops;
	p->fd = -1;
	p->slot = -1;
	p->hdr_len = 10;
	p->rl = (struct ratelimit)RATELIMIT_INIT;
	r = sw_get(name, ageing, &p->sw);
	if (r < 0) {
		free(p);
		return r;
	}
	*ret = p;
	return 0;
}

int backend_switch_create(const char *sw, unsigned vlan, unsigned ageing_s, const uint8_t *mac,
			  struct backend **ret)
{
	struct sw_port *p;
	int r;

	if (vlan > 4094 || ageing_s > SWITCH_AGEING_MAX)
		return -EINVAL;
	r = sw_port_new(sw, ageing_s, &sw_guest_ops, &p);
	if (r < 0)
		return r;
	p->vlan = (uint16_t)vlan;
	if (mac) {
		memcpy(p->mac, mac, 6);
		p->pinned = true;
	}
	/* Never readable (the switch pushes to us), always writable. */
	p->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->fd < 0) {
		sw_destroy(&p->be);
		return -ENOMEM;
	}
	*ret = &p->be;
	return 0;
}

/*
 * Reads a burst from the uplink's device into the switch's buffers, or one frame into the big
 * buffer when a frame may not fit a slot. Returns how many entries of f it filled (a length or
 * an error in each f[].res; -EAGAIN: none there, and a later entry may still hold a frame that
 * arrived meanwhile), 0 when the device had nothing at all.
 */
static unsigned sw_uplink_read(struct vswitch *sw, struct backend *dev, struct be_frame *f,
			       struct iovec *bufs)
{
	size_t want = SW_UP_HDR + dev->ops->max_frame(dev) + 1;
	unsigned n = 0;

	if (want <= SW_RX_SLOT && dev->ops->recv_burst) {
		for (unsigned i = 0; i < SW_BURST; i++) {
			bufs[i] =
				(struct iovec){ sw->rx_slots + (size_t)i * SW_RX_SLOT, SW_RX_SLOT };
			f[i] = (struct be_frame){ .iov = &bufs[i], .niov = 1 };
		}
		if (dev->ops->recv_burst(dev, 0, f, SW_BURST) < 0)
			return 0;
		for (unsigned i = 0; i < SW_BURST; i++)
			n += f[i].res != -EAGAIN;
		return n ? SW_BURST : 0;
	}
	bufs[0] = (struct iovec){ want <= SW_RX_SLOT ? sw->rx_slots : sw->rx_big,
				  want <= SW_RX_SLOT ? SW_RX_SLOT : SW_RX_BIG };
	f[0] = (struct be_frame){ .iov = &bufs[0], .niov = 1 };
	f[0].res = dev->ops->recv(dev, 0, &bufs[0], 1);
	return f[0].res == -EAGAIN ? 0 : 1;
}

/*
 * Switches frame i read from the uplink (res bytes in buf): the VLAN from its tag (stripped;
 * untagged and priority-tagged frames belong to VLAN 0), then learning and forwarding.
 */
static void sw_uplink_frame(struct vswitch *sw, struct sw_port *u, struct be_frame *f, unsigned i,
			    uint32_t now, struct iovec *iov)
{
	uint8_t *buf = f->iov[0].iov_base;
	ssize_t res = f->res;
	uint8_t *eth = buf + SW_UP_HDR;
	size_t len;
	uint16_t vlan = 0;
	bool full = false;

	if (res < 0 || (size_t)res >= f->iov[0].iov_len) {
		u->st.no_room++; /* an error, or a frame larger than our buffer: cut short */
		return;
	}
	if ((size_t)res < SW_UP_HDR + SW_ETH_HLEN) {
		u->st.drop_runt++;
		return;
	}
	len = (size_t)res - SW_UP_HDR;
	iov[0] = (struct iovec){ buf, SW_UP_HDR };
	if (eth[12] == 0x81 && eth[13] == 0x00) {
		if (len < SW_ETH_HLEN + SW_VLAN_HLEN || sw_is_tag(eth + 16)) {
			u->st.drop_vlan++; /* cut short, or a second tag: no access port takes it */
			return;
		}
		vlan = (uint16_t)((eth[14] & 0x0f) << 8 | eth[15]);
		iov[1] = (struct iovec){ eth, 12 };
		iov[2] = (struct iovec){ eth + 16, len - 16 };
		*f = (struct be_frame){ .iov = iov, .niov = 3 };
	} else if (sw_is_tag(eth + 12)) {
		u->st.drop_vlan++; /* 802.1ad and others: not ours to untag */
		return;
	} else {
		iov[1] = (struct iovec){ eth, len };
		*f = (struct be_frame){ .iov = iov, .niov = 2 };
	}
	if (vlan == 4095) {
		u->st.drop_vlan++;
		return;
	}
	if (eth[6] & 1) {
		u->st.drop_src_mcast++;
		return;
	}
	sw_learn(sw, u, vlan, eth + 6, now);
	sw_forward(sw, u, f, i, SW_UP_HDR, vlan, eth, now, &full);
}

/* The uplink's device is readable: switches what it holds, a budget's worth per wake-up. */
static void sw_uplink_ready(struct ev *ev, uint32_t events)
{
	struct sw_port *u = container_of(ev, struct sw_port, ev);
	struct vswitch *sw = u->sw;
	struct be_frame f[SW_BURST];
	struct iovec bufs[SW_BURST];
	uint32_t now = sw_now();

	for (unsigned done = 0; done < SW_RX_BUDGET && u->slot >= 0;) {
		bool sent[SW_BURST] = { false };
		unsigned n = sw_uplink_read(sw, u->dev, f, bufs);

		if (!n)
			break;
		for (unsigned i = 0; i < n; i++)
			if (f[i].res != -EAGAIN)
				sw_uplink_frame(sw, u, &f[i], i, now, sw->rx_iov[i]);
		sw_deliver(sw, SW_UP_HDR, sent);
		done += n;
	}
}

/* backend_ops of the uplink port: its device's, for what the port itself asks of it. */
static int sw_uplink_queue_fd(struct backend *be, unsigned q)
{
	struct backend *dev = to_sw(be)->dev;

	return dev->ops->queue_fd(dev, q);
}

/* backend_ops.send of the uplink port: what the port sends (a RARP) goes to the device. */
static ssize_t sw_uplink_send(struct backend *be, unsigned q, const struct iovec *iov, unsigned n)
{
	struct backend *dev = to_sw(be)->dev;

	return dev->ops->send(dev, 0, iov, n);
}

/* backend_ops.configure of the uplink port: the device keeps the switch's settings. */
static int sw_uplink_configure(struct backend *be, uint64_t features, unsigned hdr_len)
{
	return 0;
}

/* backend_ops.max_frame of the uplink port: the device's. */
static unsigned sw_uplink_max_frame(struct backend *be)
{
	struct backend *dev = to_sw(be)->dev;

	return dev->ops->max_frame(dev);
}

/* backend_ops.set_mtu of the uplink port (mtu=): the device's MTU. */
static int sw_uplink_set_mtu(struct backend *be, unsigned mtu, unsigned *ret_old)
{
	struct backend *dev = to_sw(be)->dev;

	return dev->ops->set_mtu(dev, mtu, ret_old);
}

/* backend_ops.release of the uplink port: the device's (a tap vhostd made goes). */
static void sw_uplink_release(struct backend *be)
{
	struct backend *dev = to_sw(be)->dev;

	if (dev->ops->release)
		dev->ops->release(dev);
}

int backend_switch_uplink(struct backend **dev, const char *sw, unsigned ageing_s)
{
	struct backend *d = *dev;
	struct sw_port *p;
	int r;

	*dev = NULL;
	if (ageing_s > SWITCH_AGEING_MAX) {
		backend_destroy(d);
		return -EINVAL;
	}
	r = sw_port_new(sw, ageing_s, &sw_uplink_ops, &p);
	if (r < 0) {
		backend_destroy(d);
		return r;
	}
	p->dev = d;
	p->hdr_len = SW_UP_HDR;
	ev_init(&p->ev, sw_uplink_ready);
	r = d->ops->configure(d, 0, SW_UP_HDR);
	if (r < 0) {
		sw_destroy(&p->be);
		return r;
	}
	if (!p->sw->rx_slots) {
		/*
		 * Zeroed once, though every read fills what is used: the device's io_uring reads
		 * land here without a system call valgrind can see, so memcheck would take these
		 * bytes for uninitialised forever (make check-valgrind runs the switch).
		 */
		p->sw->rx_slots = calloc(SW_BURST, SW_RX_SLOT);
		p->sw->rx_big = calloc(1, SW_RX_BIG);
		if (!p->sw->rx_slots || !p->sw->rx_big) {
			sw_destroy(&p->be);
			return -ENOMEM;
		}
	}
	*dev = &p->be;
	return 0;
}

bool backend_is_switch(const struct backend *be)
{
	return be && (be->ops == &sw_guest_ops || be->ops == &sw_uplink_ops);
}

/* Installs the pinned address of guest port p (its VLAN, its slot, never ageing). */
static void sw_pin(struct vswitch *sw, struct sw_port *p)
{
	uint64_t key = sw_key(p->vlan, p->mac);
	uint32_t now = sw_now();
	unsigned fr;
	struct sw_entry *e = sw_lookup(sw, key, now, &fr);
	char mb[18];

	if (!e && sw->macs >= SWITCH_MAX_MACS) {
		log_warn("switch %s: address table full: %s not pinned", sw->name,
			 sw_mac_str(p->mac, mb));
		return;
	}
	if (!e) {
		e = &sw->table[fr];
		sw->macs++;
	}
	*e = (struct sw_entry){ .key = key | SW_KEY_USED | SW_KEY_STATIC,
				.seen = now,
				.moved = now,
				.gen = sw->gen[p->slot],
				.slot = (uint16_t)p->slot };
}

int backend_switch_join(struct backend *be, struct vnet *net, struct loop *l, unsigned domain)
{
	struct sw_port *p = to_sw(be);
	struct vswitch *sw = p->sw;
	bool up = be->ops == &sw_uplink_ops;
	unsigned s;
	int r;

	if (p->slot >= 0)
		return 0;
	if (sw->domain >= 0 && (unsigned)sw->domain != domain)
		return -EXDEV;
	if (up && sw->uplink)
		return -EEXIST;
	for (s = 0; s < SWITCH_MAX_PORTS && sw->port[s]; s++)
		;
	if (s == SWITCH_MAX_PORTS)
		return -ENOSPC;
	if (up) {
		r = loop_add(l, &p->ev, p->dev->ops->queue_fd(p->dev, 0), EPOLLIN);
		if (r < 0)
			return r;
		p->loop = l;
		sw->uplink = p;
	} else {
		p->net = net;
	}
	p->slot = (int)s;
	sw->port[s] = p;
	sw->nslots = MAX(sw->nslots, s + 1);
	sw->domain = (int)domain;
	sw->joined++;
	if (p->pinned)
		sw_pin(sw, p);
	log_info("switch %s: %s joined%s (VLAN %u, %u port(s))", sw->name,
		 up ? "the uplink" : "a guest port", up ? " (802.1Q trunk)" : "", p->vlan,
		 sw->joined);
	return 0;
}

void backend_switch_leave(struct backend *be)
{
	struct sw_port *p = to_sw(be);
	struct vswitch *sw = p->sw;

	if (p->slot < 0)
		return;
	if (p == sw->uplink) {
		loop_del(p->loop, &p->ev);
		sw->uplink = NULL;
		sw->up_niov = 0;
	}
	/* Addresses learnt or pinned on it are now someone else's to take, at once. */
	for (unsigned i = 0; i < SW_SLOTS; i++)
		if ((sw->table[i].key & SW_KEY_USED) && sw->table[i].slot == p->slot)
			sw->table[i].key &= ~SW_KEY_STATIC;
	sw->port[p->slot] = NULL;
	sw->gen[p->slot]++;
	while (sw->nslots && !sw->port[sw->nslots - 1])
		sw->nslots--;
	p->slot = -1;
	p->net = NULL;
	p->batch.n = 0;
	if (!--sw->joined)
		sw->domain = -1;
	log_info("switch %s: a port left (%u left)", sw->name, sw->joined);
}

bool backend_switch_stats(const struct backend *be, struct switch_port_stats *ret)
{
	if (!backend_is_switch(be))
		return false;
	*ret = ((const struct sw_port *)be)->st;
	return true;
}

unsigned backend_switch_macs(const struct backend *be)
{
	return backend_is_switch(be) ? ((const struct sw_port *)be)->sw->macs : 0;
}

static const struct backend_ops sw_guest_ops = {
	.name = "switch",
	.offloads = false,
	.send_reads_data = true,
	.configure = sw_guest_configure,
	.queue_fd = sw_guest_queue_fd,
	.send = sw_guest_send,
	.send_burst = sw_guest_send_burst,
	.max_frame = sw_guest_max_frame,
	.set_mtu = sw_guest_set_mtu,
	.destroy = sw_destroy,
};

static const struct backend_ops sw_uplink_ops = {
	.name = "switch-uplink",
	.offloads = false,
	.configure = sw_uplink_configure,
	.queue_fd = sw_uplink_queue_fd,
	.send = sw_uplink_send,
	.max_frame = sw_uplink_max_frame,
	.set_mtu = sw_uplink_set_mtu,
	.release = sw_uplink_release,
	.destroy = sw_destroy,
};
