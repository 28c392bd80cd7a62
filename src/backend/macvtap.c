/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * macvtap back-end: vhostd creates a macvtap link over a host device through rtnetlink
 * (libnl-route-3), opens its character device /dev/tapN (N: the link's ifindex) once per queue
 * pair, and deletes the link when the port goes. Frames move exactly as on a tap (tapq.c): the
 * character device speaks tun's interface, virtio-net header and offloads included.
 *
 * Ownership: the link carries vhostd's mark (linkmark.h) as its alias. A link of the port's
 * name left by a vhostd that is gone (a crash) is deleted and made again; one a running vhostd
 * holds, or one without the mark (an administrator's), is never touched: the port is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/macvtap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/linkmark.h"
#include "backend/tapq.h"
#include "util/cleanup.h"
#include "util/netif.h"
#include "util/log.h"

struct macvtap {
	struct tapq q;	    /* first: the shared queue handling sees a struct tapq */
	char dev[IFNAMSIZ]; /* the lower device */
	int ifindex;
	unsigned lower_mtu;
	bool created; /* the link is ours to delete */
};

/* Returns the macvtap behind a backend pointer. */
static struct macvtap *to_macvtap(struct backend *be)
{
	return (struct macvtap *)be;
}

/* The errno closest to a libnl error code (negative or positive), as a negative errno. */
static int nl_errno(int err)
{
	switch (err < 0 ? -err : err) {
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_EXIST:
		return -EEXIST;
	case NLE_INVAL:
	case NLE_RANGE:
		return -EINVAL;
	case NLE_OPNOTSUPP:
		return -EOPNOTSUPP;
	case NLE_OBJ_NOTFOUND:
	case NLE_NODEV:
		return -ENODEV;
	case NLE_BUSY:
		return -EBUSY;
	case NLE_NOACCESS:
	case NLE_PERM:
		return -EPERM;
	case NLE_AGAIN:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

/* "vepa", "private", "bridge" or "passthrough" for a MACVLAN_MODE_* value; NULL for others. */
static const char *macvtap_mode_name(uint32_t mode)
{
	switch (mode) {
	case MACVLAN_MODE_VEPA:
		return "vepa";
	case MACVLAN_MODE_PRIVATE:
		return "private";
	case MACVLAN_MODE_BRIDGE:
		return "bridge";
	case MACVLAN_MODE_PASSTHRU:
		return "passthrough";
	default:
		return NULL;
	}
}

/* Frees a libnl socket (cleanup hook; NULL is fine). */
static void nl_sockp(struct nl_sock **sk)
{
	if (*sk)
		nl_socket_free(*sk);
}

/* Drops a link object reference (cleanup hook; NULL is fine). */
static void linkp(struct rtnl_link **l)
{
	if (*l)
		rtnl_link_put(*l);
}

#define _cleanup_nl_sock_ _cleanup_(nl_sockp)
#define _cleanup_link_	  _cleanup_(linkp)

/* A route netlink socket in *ret. Returns 0 or a negative errno. */
static int nl_open(struct nl_sock **ret)
{
	struct nl_sock *sk = nl_socket_alloc();
	int r;

	if (!sk)
		return -ENOMEM;
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0) {
		nl_socket_free(sk);
		return nl_errno(r);
	}
	*ret = sk;
	return 0;
}

/* Deletes link ifindex if it is still called ifname. Returns 0 or a negative errno. */
static int link_delete(struct nl_sock *sk, int ifindex, const char *ifname)
{
	_cleanup_link_ struct rtnl_link *cur = NULL;
	int r;

	r = rtnl_link_get_kernel(sk, ifindex, NULL, &cur);
	if (r < 0)
		return nl_errno(r);
	if (strcmp(rtnl_link_get_name(cur) ?: "", ifname) != 0)
		return -ENODEV; /* renamed by someone: no longer the link we made */
	r = rtnl_link_delete(sk, cur);
	return r < 0 ? nl_errno(r) : 0;
}

/*
 * Makes way for a link called ifname: nothing there, or a macvtap with a dead vhostd's mark
 * (deleted here). Returns 0, -EBUSY (a running vhostd's), -EEXIST (not vhostd's), or another
 * negative errno. Logs why.
 */
static int clear_stale(struct nl_sock *sk, const char *ifname)
{
	_cleanup_link_ struct rtnl_link *old = NULL;
	struct linkmark mark;
	const char *alias;
	int r;

	r = rtnl_link_get_kernel(sk, 0, ifname, &old);
	if (r < 0)
		return nl_errno(r) == -ENODEV ? 0 : nl_errno(r);
	alias = rtnl_link_get_ifalias(old);
	if (!rtnl_link_is_macvtap(old) || !alias ||
	    linkmark_parse(alias, strlen(alias), &mark) < 0) {
		log_error("macvtap %s: a link of that name exists and vhostd did not create it: "
			  "left alone",
			  ifname);
		return -EEXIST;
	}
	if (linkmark_alive(&mark)) {
		log_error("macvtap %s: in use by the vhostd running as pid %d", ifname,
			  (int)mark.pid);
		return -EBUSY;
	}
	r = rtnl_link_delete(sk, old);
	if (r < 0) {
		log_error("macvtap %s: cannot delete the link a stopped vhostd (pid %d) left: %s",
			  ifname, (int)mark.pid, nl_geterror(r));
		return nl_errno(r);
	}
	log_info("macvtap %s: deleted the link a vhostd that is gone (pid %d) left behind", ifname,
		 (int)mark.pid);
	return 0;
}

/* Reads "MAJOR:MINOR" from the link's sysfs entry for its character device into *ret. */
static int chardev_number(const char *ifname, int ifindex, dev_t *ret)
{
	char path[96], buf[32];
	unsigned maj, min;
	char end;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/class/net/%s/macvtap/tap%d/dev", ifname, ifindex);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	if (sscanf(buf, "%u:%u%c", &maj, &min, &end) != 3 || end != '\n')
		return -EIO;
	*ret = makedev(maj, min);
	return 0;
}

/*
 * Opens the link's character device n times into fds. /dev/tapN is named after the ifindex,
 * which another network namespace may use too (each has its own numbering): the node is used
 * only when its device number is this link's (from sysfs); otherwise a private node is made
 * in a fresh directory, opened and removed again. Returns 0 or a negative errno.
 */
static int open_chardev(const char *ifname, int ifindex, unsigned n, int *fds)
{
	char path[64], dir[] = "/tmp/vhostd-macvtap.XXXXXX";
	bool made = false;
	struct stat st;
	dev_t want;
	int r = 0;

	snprintf(path, sizeof(path), "/dev/tap%d", ifindex);
	if (chardev_number(ifname, ifindex, &want) == 0 &&
	    (stat(path, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != want)) {
		if (!mkdtemp(dir))
			return -errno;
		snprintf(path, sizeof(path), "%s/tap", dir);
		if (mknod(path, S_IFCHR | 0600, want) < 0) {
			r = -errno;
			rmdir(dir);
			log_error("macvtap %s: /dev/tap%d is not its device and no node can be "
				  "made: %s",
				  ifname, ifindex, strerror(-r));
			return r;
		}
		made = true;
		log_debug("macvtap %s: /dev/tap%d belongs to another namespace's link: a private "
			  "node is used",
			  ifname, ifindex);
	}
	for (unsigned q = 0; q < n; q++) {
		struct ifreq ifr = { 0 };

		fds[q] = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (fds[q] < 0) {
			r = -errno;
			log_error("macvtap %s: cannot open %s (queue %u): %s", ifname,
				  made ? "its device node" : path, q, strerror(-r));
			break;
		}
		/* Every open is one more queue; the flags only say how frames look. */
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (n > 1 ? IFF_MULTI_QUEUE : 0);
		if (ioctl(fds[q], TUNSETIFF, &ifr) < 0) {
			r = -errno;
			log_error("macvtap %s: TUNSETIFF on queue %u: %s", ifname, q, strerror(-r));
			break;
		}
	}
	if (made) {
		unlink(path);
		rmdir(dir);
	}
	return r;
}

/* backend_ops.configure: as for a tap; the lower device's MTU is read again too. */
static int macvtap_configure(struct backend *be, uint64_t features, unsigned hdr_len)
{
	struct macvtap *m = to_macvtap(be);

	m->lower_mtu = netif_mtu(m->dev);
	return tapq_configure(be, features, hdr_len);
}

/*
 * backend_ops.max_frame: 64 KiB with GSO; otherwise the larger of the link's and the lower
 * device's MTU, since macvlan hands up what the lower device took without checking the link's.
 */
static unsigned macvtap_max_frame(struct backend *be)
{
	struct macvtap *m = to_macvtap(be);

	if (m->q.gso)
		return 65535 + 14 + 4;
	return MAX(m->q.mtu, m->lower_mtu) + 14 + 4;
}

/* backend_ops.set_mtu: the link follows the guest up to the lower device's MTU. */
static int macvtap_set_mtu(struct backend *be, unsigned mtu, unsigned *ret_old)
{
	struct macvtap *m = to_macvtap(be);

	m->lower_mtu = netif_mtu(m->dev);
	if (mtu > m->lower_mtu) {
		log_warn("macvtap %s: MTU %u refused: above the MTU of %s (%u)", m->q.ifname, mtu,
			 m->dev, m->lower_mtu);
		return -EINVAL;
	}
	return tapq_set_mtu(be, mtu, ret_old);
}

/* backend_ops.destroy: closes every queue and deletes the link if vhostd made it. */
static void macvtap_destroy(struct backend *be)
{
	struct macvtap *m = to_macvtap(be);
	_cleanup_nl_sock_ struct nl_sock *sk = NULL;
	int r;

	tapq_close(&m->q);
	if (m->created) {
		r = nl_open(&sk);
		if (r == 0)
			r = link_delete(sk, m->ifindex, m->q.ifname);
		if (r < 0)
			log_warn("macvtap %s: cannot delete the link: %s", m->q.ifname,
				 strerror(-r));
		else
			log_info("macvtap %s: link deleted", m->q.ifname);
	}
	free(m);
}

static const struct backend_ops macvtap_ops = {
	.name = "macvtap",
	.offloads = true,
	.send_reads_data = true,
	.configure = macvtap_configure,
	.queue_fd = tapq_queue_fd,
	.send = tapq_send,
	.recv = tapq_recv,
	.send_burst = tapq_send_burst,
	.recv_burst = tapq_recv_burst,
	.discard = tapq_discard,
	.max_frame = macvtap_max_frame,
	.set_mtu = macvtap_set_mtu,
	.destroy = macvtap_destroy,
};

/* The address a macvtap link gets without mac=: locally administered, from its name (so the
 * same after a restart). */
static void default_mac(const char *ifname, uint8_t ret[6])
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, 64 bits */

	for (const char *p = ifname; *p; p++) {
		h ^= (uint8_t)*p;
		h *= 0x100000001b3ull;
	}
	ret[0] = 0x02; /* locally administered, unicast */
	for (unsigned i = 1; i < 6; i++)
		ret[i] = (uint8_t)(h >> (8 * i));
}

/*
 * Creates the link (name, lower device, mode, MAC, marked as ours) and fills m->ifindex.
 * Returns 0 or a negative errno, logged.
 */
static int link_create(struct nl_sock *sk, struct macvtap *m, const struct macvtap_params *p,
		       int lower)
{
	_cleanup_link_ struct rtnl_link *l = rtnl_link_macvtap_alloc();
	_cleanup_link_ struct rtnl_link *made = NULL, *change = NULL;
	struct linkmark self;
	char alias[64];
	uint8_t mac[6];
	int r;

	if (!l)
		return -ENOMEM;
	rtnl_link_set_name(l, p->ifname);
	rtnl_link_set_link(l, lower);
	r = rtnl_link_macvtap_set_mode(l, p->mode);
	if (r < 0)
		return nl_errno(r);
	/* Passthrough takes the device whole (promiscuous): the guest gets every frame whatever
	 * its MAC, and a MAC given to the link would become the device's own and outlive us. */
	if (p->mode != MACVLAN_MODE_PASSTHRU) {
		struct nl_addr *a;

		if (p->mac) {
			memcpy(mac, p->mac, 6);
		} else {
			default_mac(p->ifname, mac);
			log_warn("macvtap %s: no mac= given: the link gets "
				 "%02x:%02x:%02x:%02x:%02x:%02x, the address the guest must use to "
				 "receive unicast frames",
				 p->ifname, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
		}
		a = nl_addr_build(AF_LLC, mac, 6);
		if (!a)
			return -ENOMEM;
		rtnl_link_set_addr(l, a);
		nl_addr_put(a);
	}
	r = rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL);
	if (r < 0) {
		log_error("macvtap %s: cannot create it over %s (mode %s): %s%s", p->ifname, p->dev,
			  macvtap_mode_name(p->mode), nl_geterror(r),
			  nl_errno(r) == -EINVAL || nl_errno(r) == -EBUSY
				  ? (p->mode == MACVLAN_MODE_PASSTHRU
					     ? " (passthrough needs the device to itself: is "
					       "another macvlan or macvtap on it?)"
					     : " (is the device taken by a passthrough macvtap?)")
				  : "");
		return nl_errno(r);
	}
	r = rtnl_link_get_kernel(sk, 0, p->ifname, &made);
	if (r < 0) {
		log_error("macvtap %s: created, then not found: %s", p->ifname, nl_geterror(r));
		return nl_errno(r);
	}
	m->ifindex = rtnl_link_get_ifindex(made);
	m->created = true;
	/* The kernel ignores an alias in the creating request: it is set right after. A crash in
	 * between leaves an unmarked link, which the next start refuses rather than deletes. */
	r = linkmark_self(&self);
	if (r < 0) {
		log_error("macvtap %s: cannot read our own start time: %s", p->ifname,
			  strerror(-r));
		return r;
	}
	linkmark_format(&self, alias, sizeof(alias));
	change = rtnl_link_alloc();
	if (!change)
		return -ENOMEM;
	rtnl_link_set_ifalias(change, alias);
	r = rtnl_link_change(sk, made, change, 0);
	if (r < 0) {
		log_error("macvtap %s: cannot mark it as vhostd's: %s", p->ifname, nl_geterror(r));
		return nl_errno(r);
	}
	return 0;
}

/* Sets the link up. Returns 0 or a negative errno. */
static int link_set_up(struct nl_sock *sk, int ifindex)
{
	_cleanup_link_ struct rtnl_link *cur = NULL, *change = NULL;
	int r;

	r = rtnl_link_get_kernel(sk, ifindex, NULL, &cur);
	if (r < 0)
		return nl_errno(r);
	change = rtnl_link_alloc();
	if (!change)
		return -ENOMEM;
	rtnl_link_set_flags(change, IFF_UP);
	r = rtnl_link_change(sk, cur, change, 0);
	return r < 0 ? nl_errno(r) : 0;
}

int backend_macvtap_create(const struct macvtap_params *p, struct backend **ret)
{
	_cleanup_nl_sock_ struct nl_sock *sk = NULL;
	_cleanup_link_ struct rtnl_link *lower = NULL;
	struct macvtap *m;
	int r;

	if (p->queues == 0 || p->queues > TAPQ_MAX_QUEUES || !macvtap_mode_name(p->mode) ||
	    !*p->ifname || strlen(p->ifname) >= IFNAMSIZ || !*p->dev || strlen(p->dev) >= IFNAMSIZ)
		return -EINVAL;
	r = nl_open(&sk);
	if (r < 0) {
		log_error("macvtap %s: no route netlink socket: %s", p->ifname, strerror(-r));
		return r;
	}
	r = rtnl_link_get_kernel(sk, 0, p->dev, &lower);
	if (r < 0) {
		log_error("macvtap %s: no device %s: %s", p->ifname, p->dev, nl_geterror(r));
		return nl_errno(r);
	}
	r = clear_stale(sk, p->ifname);
	if (r < 0)
		return r;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	tapq_init(&m->q, &macvtap_ops);
	snprintf(m->q.ifname, sizeof(m->q.ifname), "%s", p->ifname);
	snprintf(m->dev, sizeof(m->dev), "%s", p->dev);
	m->lower_mtu = rtnl_link_get_mtu(lower);
	r = link_create(sk, m, p, rtnl_link_get_ifindex(lower));
	if (r < 0)
		goto fail;
	r = open_chardev(m->q.ifname, m->ifindex, p->queues, m->q.fds);
	m->q.nq = p->queues;
	if (r < 0)
		goto fail;
	r = link_set_up(sk, m->ifindex);
	if (r < 0) {
		log_error("macvtap %s: cannot set it up: %s", m->q.ifname, strerror(-r));
		goto fail;
	}
	/* USO is offered to guests only when this kernel's macvtap takes it. */
	tapq_probe_uso(&m->q);
	r = macvtap_configure(&m->q.be, 0, 10);
	if (r < 0)
		goto fail;
	if (p->mode == MACVLAN_MODE_PASSTHRU)
		log_info("macvtap %s: created over %s (passthrough: the device whole), ifindex %d, "
			 "%u queue(s)",
			 m->q.ifname, m->dev, m->ifindex, p->queues);
	else
		log_info("macvtap %s: created over %s (mode %s), ifindex %d, %u queue(s)",
			 m->q.ifname, m->dev, macvtap_mode_name(p->mode), m->ifindex, p->queues);
	*ret = &m->q.be;
	return 0;
fail:
	macvtap_destroy(&m->q.be); /* deletes the link if it was made */
	return r;
}
