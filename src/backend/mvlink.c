/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Making, marking, opening and deleting a macvtap link (see mvlink.h). Ownership: the link
 * carries its maker's mark (linkmark.h) as its alias. A link of the wanted name left by a maker
 * that is gone (a crash) is deleted and made again; one a running process holds, or one without
 * the mark (an administrator's), is never touched: the request is refused.
 */
#include "backend/mvlink.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/macvtap.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backend/linkmark.h"
#include "util/cleanup.h"
#include "util/log.h"

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

/* The modes as macvtap_mode= and --macvtap-mode= spell them. */
static const struct {
	const char *name;
	uint32_t mode;
} modes[] = {
	{ "vepa", MACVLAN_MODE_VEPA },
	{ "private", MACVLAN_MODE_PRIVATE },
	{ "bridge", MACVLAN_MODE_BRIDGE },
	{ "passthrough", MACVLAN_MODE_PASSTHRU },
};

const char *mvlink_mode_name(uint32_t mode)
{
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++)
		if (modes[i].mode == mode)
			return modes[i].name;
	return NULL;
}

int mvlink_mode_parse(const char *name, uint32_t *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++)
		if (strcmp(name, modes[i].name) == 0) {
			*ret = modes[i].mode;
			return 0;
		}
	return -EINVAL;
}

const char *mvlink_hint(uint32_t mode, int r)
{
	/* The kernel answers EINVAL (EBUSY in older ones) for a second link on a device that a
	 * passthrough link holds, and for a passthrough link on a device that has others. */
	if (r != -EINVAL && r != -EBUSY)
		return "";
	return mode == MACVLAN_MODE_PASSTHRU ? " (passthrough needs the device to itself)"
					     : " (is the device taken by a passthrough macvtap?)";
}

void mvlink_closep(struct nl_sock **sk)
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

#define _cleanup_link_ _cleanup_(linkp)

int mvlink_open(struct nl_sock **ret)
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

int mvlink_delete(struct nl_sock *sk, int ifindex, const char *ifname)
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
 * Makes way for a link called ifname: nothing there, or a macvtap with a dead maker's mark
 * (deleted here; with lower > 0 only when it sits on that ifindex). Returns 0, -EBUSY (a running
 * process's), -EEXIST (not vhostd's, or on another device), or another negative errno. Logs why.
 */
static int clear_stale(struct nl_sock *sk, const char *ifname, int lower)
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
		log_error("macvtap %s: in use by vhostd (or its network helper) running as pid %d",
			  ifname, (int)mark.pid);
		return -EBUSY;
	}
	if (lower > 0 && rtnl_link_get_link(old) != lower) {
		log_error(
			"macvtap %s: a stopped vhostd's link of that name sits on another device: "
			"left alone",
			ifname);
		return -EEXIST;
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

/* The address a macvtap link gets without one given: locally administered, from its name (so
 * the same after a restart). */
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

/* Gives the new link l its address (from p, else made up and logged). Returns 0 or -ENOMEM. */
static int set_addr(struct rtnl_link *l, const struct mvlink_params *p)
{
	struct nl_addr *a;
	uint8_t mac[6];

	if (p->mac) {
		memcpy(mac, p->mac, 6);
	} else {
		default_mac(p->ifname, mac);
		log_warn("macvtap %s: no mac= given: the link gets %02x:%02x:%02x:%02x:%02x:%02x, "
			 "the address the guest must use to receive unicast frames",
			 p->ifname, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	}
	a = nl_addr_build(AF_LLC, mac, 6);
	if (!a)
		return -ENOMEM;
	rtnl_link_set_addr(l, a);
	nl_addr_put(a);
	return 0;
}

/* Sets the calling process's mark as the alias of link made. Returns 0 or -errno (logged). */
static int mark_link(struct nl_sock *sk, struct rtnl_link *made, const char *ifname)
{
	_cleanup_link_ struct rtnl_link *change = NULL;
	struct linkmark self;
	char alias[64];
	int r;

	r = linkmark_self(&self);
	if (r < 0) {
		log_error("macvtap %s: cannot read our own start time: %s", ifname, strerror(-r));
		return r;
	}
	linkmark_format(&self, alias, sizeof(alias));
	change = rtnl_link_alloc();
	if (!change)
		return -ENOMEM;
	rtnl_link_set_ifalias(change, alias);
	r = rtnl_link_change(sk, made, change, 0);
	if (r < 0) {
		log_error("macvtap %s: cannot mark it as vhostd's: %s", ifname, nl_geterror(r));
		return nl_errno(r);
	}
	return 0;
}

int mvlink_create(struct nl_sock *sk, const struct mvlink_params *p, int *ret_ifindex,
		  unsigned *ret_lower_mtu)
{
	_cleanup_link_ struct rtnl_link *lower = NULL, *l = NULL, *made = NULL;
	int r, ifindex;

	if (!mvlink_mode_name(p->mode) || !*p->ifname || strlen(p->ifname) >= IFNAMSIZ ||
	    !*p->dev || strlen(p->dev) >= IFNAMSIZ)
		return -EINVAL;
	r = rtnl_link_get_kernel(sk, 0, p->dev, &lower);
	if (r < 0) {
		log_error("macvtap %s: no device %s: %s", p->ifname, p->dev, nl_geterror(r));
		return nl_errno(r);
	}
	r = clear_stale(sk, p->ifname, p->stale_same_dev ? rtnl_link_get_ifindex(lower) : 0);
	if (r < 0)
		return r;
	l = rtnl_link_macvtap_alloc();
	if (!l)
		return -ENOMEM;
	rtnl_link_set_name(l, p->ifname);
	rtnl_link_set_link(l, rtnl_link_get_ifindex(lower));
	r = rtnl_link_macvtap_set_mode(l, p->mode);
	if (r < 0)
		return nl_errno(r);
	/* Passthrough takes the device whole (promiscuous): the guest gets every frame whatever
	 * its MAC, and a MAC given to the link would become the device's own and outlive us. */
	if (p->mode != MACVLAN_MODE_PASSTHRU) {
		r = set_addr(l, p);
		if (r < 0)
			return r;
	}
	r = rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL);
	if (r < 0) {
		log_error("macvtap %s: cannot create it over %s (mode %s): %s%s", p->ifname, p->dev,
			  mvlink_mode_name(p->mode), nl_geterror(r),
			  mvlink_hint(p->mode, nl_errno(r)));
		return nl_errno(r);
	}
	r = rtnl_link_get_kernel(sk, 0, p->ifname, &made);
	if (r < 0) {
		log_error("macvtap %s: created, then not found: %s", p->ifname, nl_geterror(r));
		return nl_errno(r);
	}
	ifindex = rtnl_link_get_ifindex(made);
	/* The kernel ignores an alias in the creating request: it is set right after. A crash in
	 * between leaves an unmarked link, which the next start refuses rather than deletes. */
	r = mark_link(sk, made, p->ifname);
	if (r < 0) {
		mvlink_delete(sk, ifindex, p->ifname);
		return r;
	}
	if (ret_ifindex)
		*ret_ifindex = ifindex;
	if (ret_lower_mtu)
		*ret_lower_mtu = rtnl_link_get_mtu(lower);
	return 0;
}

int mvlink_set_up(struct nl_sock *sk, int ifindex)
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

/* Reads "MAJOR:MINOR" from the link's sysfs entry for its character device into *ret. */
static int chardev_number(const char *ifname, int ifindex, dev_t *ret)
{
	char path[96], buf[32];
	_cleanup_close_ int fd = -1;
	unsigned maj, min;
	char end;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/class/net/%s/macvtap/tap%d/dev", ifname, ifindex);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	if (sscanf(buf, "%u:%u%c", &maj, &min, &end) != 3 || end != '\n')
		return -EIO;
	*ret = makedev(maj, min);
	return 0;
}

/*
 * Opens one queue of the device node at path, which must be device want (when not NULL).
 * Returns the fd or a negative errno (logged).
 */
static int open_queue(const char *path, const dev_t *want, const char *ifname, unsigned q,
		      bool multi)
{
	_cleanup_close_ int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	/* Every open is one more queue; the flags only say how frames look. */
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR |
					  (multi ? IFF_MULTI_QUEUE : 0) };
	struct stat st;
	int r;

	if (fd < 0) {
		r = -errno;
		log_error("macvtap %s: cannot open %s (queue %u): %s", ifname, path, q,
			  strerror(-r));
		return r;
	}
	/* What was opened, not what the path named a moment before. */
	if (want && (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != *want)) {
		log_error("macvtap %s: %s is not its device", ifname, path);
		return -EXDEV;
	}
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		r = -errno;
		log_error("macvtap %s: TUNSETIFF on queue %u: %s", ifname, q, strerror(-r));
		return r;
	}
	return TAKE_FD(fd);
}

int mvlink_open_queues(const char *ifname, int ifindex, unsigned n, bool may_mknod, int *fds)
{
	char path[64], dir[] = "/tmp/vhostd-macvtap.XXXXXX";
	bool made = false, known;
	struct stat st;
	dev_t want;
	int r = 0;

	for (unsigned q = 0; q < n; q++)
		fds[q] = -1;
	snprintf(path, sizeof(path), "/dev/tap%d", ifindex);
	known = chardev_number(ifname, ifindex, &want) == 0;
	/* Without the link's number its node cannot be told from another namespace's link's:
	 * only a caller that may make any node (vhostd as root) opens it unchecked. */
	if (!known && !may_mknod) {
		log_error("macvtap %s: its device number is not in sysfs: /dev/tap%d cannot be "
			  "checked",
			  ifname, ifindex);
		return -ENODEV;
	}
	if (known && (stat(path, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != want)) {
		if (!may_mknod) {
			log_warn("macvtap %s: /dev/tap%d is not its device (another namespace's "
				 "link has that ifindex)",
				 ifname, ifindex);
			return -EXDEV;
		}
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
		int fd = open_queue(path, known ? &want : NULL, ifname, q, n > 1);

		if (fd < 0) {
			r = fd;
			break;
		}
		fds[q] = fd;
	}
	if (made) {
		unlink(path);
		rmdir(dir);
	}
	return r;
}
