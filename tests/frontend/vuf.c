// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vuf: a small vhost-user front-end for tests. See vuf.h for the model and conventions.
 */
#include "vuf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ull

/* Milliseconds on the monotonic clock. */
static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Polls one fd for events within timeout_ms: 0 when ready, -ETIMEDOUT, or -errno. */
static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		int64_t left = deadline - now_ms();
		int r;

		if (left < 0)
			left = 0;
		r = poll(&p, 1, (int)left);
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* Fills a sockaddr_un for path; -ENAMETOOLONG when it does not fit. */
static int unix_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

/* Initialises a connection object around a connected socket. */
static void conn_init(struct vuf_conn *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->timeout_ms = 5000;
}

int vuf_connect(struct vuf_conn *ret, const char *path, int timeout_ms)
{
	struct sockaddr_un sa;
	int64_t deadline = now_ms() + timeout_ms;
	int r = unix_addr(&sa, path);

	if (r < 0)
		return r;
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			conn_init(ret, fd);
			return 0;
		}
		r = -errno;
		close(fd);
		/* Not listening yet (or between two front-ends): retry until the deadline. */
		if (r != -ENOENT && r != -ECONNREFUSED && r != -EAGAIN)
			return r;
		if (now_ms() >= deadline)
			return r;
		usleep(10 * 1000);
	}
}

int vuf_listen(const char *path, int *ret_fd)
{
	struct sockaddr_un sa;
	int fd, r = unix_addr(&sa, path);

	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

int vuf_accept(struct vuf_conn *ret, int listen_fd, int timeout_ms)
{
	int fd, r = wait_fd(listen_fd, POLLIN, timeout_ms);

	if (r < 0)
		return r;
	fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return -errno;
	conn_init(ret, fd);
	return 0;
}

void vuf_close(struct vuf_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int vuf_send_raw(struct vuf_conn *c, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VUF_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > VUF_MAX_FDS)
		return -EINVAL;
	if (nfds > 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	do {
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != len)
		return -EIO; /* a stream socket this small does not send short unless broken */
	return 0;
}

int vuf_send_msg(struct vuf_conn *c, uint32_t request, uint32_t flags, uint32_t size,
		 const void *payload, size_t len_sent, const int *fds, unsigned nfds)
{
	uint8_t buf[VUF_HDR_SIZE + VUF_MSG_MAX_PAYLOAD];
	struct vuf_hdr h = { .request = request, .flags = flags, .size = size };

	if (len_sent > VUF_MSG_MAX_PAYLOAD)
		return -EINVAL;
	memcpy(buf, &h, sizeof(h));
	if (len_sent)
		memcpy(buf + VUF_HDR_SIZE, payload, len_sent);
	return vuf_send_raw(c, buf, VUF_HDR_SIZE + len_sent, fds, nfds);
}

int vuf_send(struct vuf_conn *c, uint32_t request, uint32_t extra_flags, const void *payload,
	     uint32_t size, const int *fds, unsigned nfds)
{
	return vuf_send_msg(c, request, VUF_VERSION | extra_flags, size, payload, size, fds, nfds);
}

/* Reads exactly len bytes (collecting fds that come along) within the deadline. */
static int recv_exact(struct vuf_conn *c, void *buf, size_t len, struct vuf_msg *m,
		      int64_t deadline)
{
	size_t got = 0;

	while (got < len) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * VUF_MAX_FDS)];
			struct cmsghdr align;
		} u;
		struct iovec iov = { .iov_base = (uint8_t *)buf + got, .iov_len = len - got };
		struct msghdr mh = { .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = u.buf,
				     .msg_controllen = sizeof(u.buf) };
		int64_t left = deadline - now_ms();
		ssize_t n;
		int r;

		r = wait_fd(c->fd, POLLIN, left > 0 ? (int)left : 0);
		if (r < 0)
			return r;
		n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			unsigned k;

			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (unsigned i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (m->nfds < VUF_MAX_FDS)
					m->fds[m->nfds++] = fd;
				else
					close(fd);
			}
		}
		got += (size_t)n;
	}
	return 0;
}

int vuf_recv(struct vuf_conn *c, struct vuf_msg *ret, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct vuf_msg *m = ret;
	int r;

	m->nfds = 0;
	r = recv_exact(c, &m->hdr, VUF_HDR_SIZE, m, deadline);
	if (r < 0)
		goto fail;
	if (m->hdr.size > VUF_MSG_MAX_PAYLOAD) {
		r = -EMSGSIZE;
		goto fail;
	}
	r = recv_exact(c, m->raw, m->hdr.size, m, deadline);
	if (r < 0)
		goto fail;
	return 0;
fail:
	vuf_msg_close_fds(m);
	return r;
}

void vuf_msg_close_fds(struct vuf_msg *m)
{
	for (unsigned i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	m->nfds = 0;
}

/* Receives the reply to request and checks the REPLY flag and request number. */
static int recv_reply(struct vuf_conn *c, uint32_t request, struct vuf_msg *ret)
{
	int r = vuf_recv(c, ret, c->timeout_ms);

	if (r < 0)
		return r;
	if (ret->hdr.request != request || !(ret->hdr.flags & VUF_FLAG_REPLY) ||
	    (ret->hdr.flags & 3) != VUF_VERSION) {
		vuf_msg_close_fds(ret);
		return -EPROTO;
	}
	return 0;
}

int vuf_call(struct vuf_conn *c, uint32_t request, const void *payload, uint32_t size,
	     struct vuf_msg *ret)
{
	int r = vuf_send(c, request, 0, payload, size, NULL, 0);

	if (r < 0)
		return r;
	return recv_reply(c, request, ret);
}

int vuf_ack(struct vuf_conn *c, uint32_t request, const void *payload, uint32_t size,
	    const int *fds, unsigned nfds, uint64_t *ret_ack)
{
	struct vuf_msg *m = malloc(sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	r = vuf_send(c, request, VUF_FLAG_NEED_REPLY, payload, size, fds, nfds);
	if (r == -EPIPE || r == -ECONNRESET)
		r = -ECONNRESET;
	if (r < 0)
		goto out;
	r = recv_reply(c, request, m);
	if (r < 0)
		goto out;
	vuf_msg_close_fds(m);
	if (m->hdr.size != sizeof(uint64_t)) {
		r = -EPROTO;
		goto out;
	}
	*ret_ack = m->u64;
out:
	free(m);
	return r;
}

int vuf_set(struct vuf_conn *c, uint32_t request, const void *payload, uint32_t size,
	    const int *fds, unsigned nfds)
{
	uint64_t ack;
	int r;

	if (!(c->protocol_features & VUF_BIT(VUF_PF_REPLY_ACK)))
		return vuf_send(c, request, 0, payload, size, fds, nfds);
	r = vuf_ack(c, request, payload, size, fds, nfds, &ack);
	if (r < 0)
		return r;
	return ack == 0 ? 0 : -EPROTO;
}

int vuf_get_u64(struct vuf_conn *c, uint32_t request, uint64_t *ret)
{
	struct vuf_msg *m = malloc(sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	r = vuf_call(c, request, NULL, 0, m);
	if (r == 0) {
		vuf_msg_close_fds(m);
		if (m->hdr.size == sizeof(uint64_t))
			*ret = m->u64;
		else
			r = -EPROTO;
	}
	free(m);
	return r;
}

int vuf_negotiate(struct vuf_conn *c, uint64_t want, uint64_t want_pf)
{
	uint64_t offered, pf = 0, acked;
	int r;

	r = vuf_get_u64(c, VUF_GET_FEATURES, &offered);
	if (r < 0)
		return r;
	acked = offered & want;
	if (acked & VUF_BIT(VUF_F_PROTOCOL_FEATURES)) {
		r = vuf_get_u64(c, VUF_GET_PROTOCOL_FEATURES, &pf);
		if (r < 0)
			return r;
		pf &= want_pf;
		r = vuf_send(c, VUF_SET_PROTOCOL_FEATURES, 0, &pf, sizeof(pf), NULL, 0);
		if (r < 0)
			return r;
		c->protocol_features = pf;
	}
	r = vuf_set(c, VUF_SET_OWNER, NULL, 0, NULL, 0);
	if (r < 0)
		return r;
	r = vuf_set(c, VUF_SET_FEATURES, &acked, sizeof(acked), NULL, 0);
	if (r < 0)
		return r;
	c->features = acked;
	return 0;
}

int vuf_set_state(struct vuf_conn *c, uint32_t request, uint32_t index, uint32_t num)
{
	struct vuf_state s = { .index = index, .num = num };

	return vuf_set(c, request, &s, sizeof(s), NULL, 0);
}

int vuf_get_vring_base(struct vuf_conn *c, uint32_t index, uint32_t *ret_num)
{
	struct vuf_state s = { .index = index };
	struct vuf_msg *m = malloc(sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	r = vuf_call(c, VUF_GET_VRING_BASE, &s, sizeof(s), m);
	if (r == 0) {
		vuf_msg_close_fds(m);
		if (m->hdr.size == sizeof(s) && m->state.index == index)
			*ret_num = m->state.num;
		else
			r = -EPROTO;
	}
	free(m);
	return r;
}

int vuf_set_vring_fd(struct vuf_conn *c, uint32_t request, uint32_t index, int fd)
{
	uint64_t v = index & 0xff;

	if (fd < 0)
		v |= VUF_VRING_NOFD;
	return vuf_set(c, request, &v, sizeof(v), fd < 0 ? NULL : &fd, fd < 0 ? 0 : 1);
}

/* ---- guest memory ---- */

int vuf_mem_init(struct vuf_mem *mem, uint64_t size, uint64_t gpa_base)
{
	return vuf_mem_init_kind(mem, size, gpa_base, VUF_MEM_MEMFD);
}

int vuf_mem_init_kind(struct vuf_mem *mem, uint64_t size, uint64_t gpa_base, enum vuf_mem_kind kind)
{
	int r;

	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
	if (size == 0 || size % PAGE || (kind == VUF_MEM_HUGETLB && size % (2u << 20)))
		return -EINVAL;
	if (kind == VUF_MEM_HUGETLB)
		mem->fd = memfd_create("vuf-guest", MFD_CLOEXEC | MFD_HUGETLB);
	else if (kind == VUF_MEM_TMPFILE)
		mem->fd = open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	else
		mem->fd = memfd_create("vuf-guest", MFD_CLOEXEC);
	if (mem->fd < 0)
		return -errno;
	if (ftruncate(mem->fd, (off_t)size) < 0)
		goto fail;
	mem->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mem->fd, 0);
	if (mem->base == MAP_FAILED) {
		mem->base = NULL;
		goto fail;
	}
	mem->size = size;
	mem->gpa_base = gpa_base;
	mem->nregions = 1;
	mem->regions[0] = (struct vuf_region){ .gpa = gpa_base, .size = size, .offset = 0 };
	return 0;
fail:
	r = -errno;
	close(mem->fd);
	mem->fd = -1;
	return r;
}

int vuf_mem_split(struct vuf_mem *mem, unsigned n, const uint64_t *sizes)
{
	uint64_t off = 0;

	if (n == 0 || n > VUF_MAX_REGIONS)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		uint64_t sz = sizes ? sizes[i] : mem->size / n;

		if (!sizes && i == n - 1)
			sz = mem->size - off;
		if (sz == 0 || sz % PAGE || off + sz > mem->size)
			return -EINVAL;
		off += sz;
	}
	if (off != mem->size)
		return -EINVAL;
	off = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t sz = sizes ? sizes[i] : mem->size / n;

		if (!sizes && i == n - 1)
			sz = mem->size - off;
		mem->regions[i] = (struct vuf_region){ .gpa = mem->gpa_base + off,
						       .size = sz,
						       .offset = off };
		off += sz;
	}
	mem->nregions = n;
	return 0;
}

void vuf_mem_free(struct vuf_mem *mem)
{
	if (mem->base)
		munmap(mem->base, mem->size);
	mem->base = NULL;
	if (mem->fd >= 0)
		close(mem->fd);
	mem->fd = -1;
}

uint64_t vuf_mem_gpa(const struct vuf_mem *mem, const void *p)
{
	return mem->gpa_base + (uint64_t)((const uint8_t *)p - mem->base);
}

void *vuf_mem_host(const struct vuf_mem *mem, uint64_t gpa, uint64_t len)
{
	if (gpa < mem->gpa_base)
		return NULL;
	if (gpa - mem->gpa_base > mem->size || len > mem->size - (gpa - mem->gpa_base))
		return NULL;
	return mem->base + (gpa - mem->gpa_base);
}

uint64_t vuf_mem_next_edge(const struct vuf_mem *mem, uint64_t gpa)
{
	for (unsigned i = 0; i + 1 < mem->nregions; i++) {
		uint64_t end = mem->regions[i].gpa + mem->regions[i].size;

		if (end > gpa)
			return end;
	}
	return 0;
}

void *vuf_mem_alloc(struct vuf_mem *mem, uint64_t len, uint64_t align)
{
	uint64_t off = (mem->brk + align - 1) & ~(align - 1);

	if (off > mem->size || len > mem->size - off)
		return NULL;
	mem->brk = off + len;
	return mem->base + off;
}

struct vuf_region_desc vuf_mem_region_desc(const struct vuf_mem *mem, unsigned i)
{
	const struct vuf_region *r = &mem->regions[i];

	return (struct vuf_region_desc){ .gpa = r->gpa,
					 .size = r->size,
					 .uaddr = (uint64_t)(uintptr_t)(mem->base + r->offset),
					 .mmap_offset = r->offset };
}

int vuf_set_mem_table(struct vuf_conn *c, const struct vuf_mem *mem)
{
	struct vuf_mem_table t = { .nregions = mem->nregions };
	int fds[VUF_MEM_TABLE_MAX];

	if (mem->nregions > VUF_MEM_TABLE_MAX)
		return -E2BIG;
	for (unsigned i = 0; i < mem->nregions; i++) {
		t.regions[i] = vuf_mem_region_desc(mem, i);
		fds[i] = mem->fd;
	}
	/* QEMU sends only the regions in use: 8 + 32 * n bytes. */
	return vuf_set(c, VUF_SET_MEM_TABLE, &t, 8 + 32 * mem->nregions, fds, mem->nregions);
}

int vuf_add_mem_reg(struct vuf_conn *c, const struct vuf_mem *mem, unsigned i)
{
	struct vuf_mem_reg m = { .region = vuf_mem_region_desc(mem, i) };

	return vuf_set(c, VUF_ADD_MEM_REG, &m, sizeof(m), &mem->fd, 1);
}

int vuf_rem_mem_reg(struct vuf_conn *c, const struct vuf_mem *mem, unsigned i)
{
	struct vuf_mem_reg m = { .region = vuf_mem_region_desc(mem, i) };

	return vuf_set(c, VUF_REM_MEM_REG, &m, sizeof(m), NULL, 0);
}

/* ---- split virtqueues ---- */

int vuf_vq_init(struct vuf_vq *vq, struct vuf_mem *mem, unsigned index, uint16_t num,
		bool event_idx)
{
	int r;

	memset(vq, 0, sizeof(*vq));
	vq->kickfd = vq->callfd = vq->errfd = -1;
	if (num == 0 || (num & (num - 1)))
		return -EINVAL;
	vq->mem = mem;
	vq->index = index;
	vq->num = num;
	vq->event_idx = event_idx;
	vq->desc = vuf_mem_alloc(mem, 16ull * num, 16);
	vq->avail = vuf_mem_alloc(mem, 6 + 2ull * num, 2);
	vq->used = vuf_mem_alloc(mem, 6 + 8ull * num, 4);
	vq->chains = calloc(num, sizeof(*vq->chains));
	if (!vq->desc || !vq->avail || !vq->used || !vq->chains) {
		r = -ENOMEM;
		goto fail;
	}
	memset(vq->desc, 0, 16ull * num);
	memset(vq->avail, 0, 6 + 2ull * num);
	memset(vq->used, 0, 6 + 8ull * num);
	for (unsigned i = 0; i < num; i++)
		vq->desc[i].next = (uint16_t)(i + 1);
	vq->free_head = 0;
	vq->nfree = num;
	vq->kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vq->callfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vq->errfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vq->kickfd < 0 || vq->callfd < 0 || vq->errfd < 0) {
		r = -errno;
		goto fail;
	}
	return 0;
fail:
	vuf_vq_free(vq);
	return r;
}

void vuf_vq_free(struct vuf_vq *vq)
{
	int *fds[] = { &vq->kickfd, &vq->callfd, &vq->errfd };

	for (unsigned i = 0; i < 3; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	if (vq->chains) {
		for (unsigned i = 0; i < vq->num; i++) {
			free(vq->chains[i].segs);
			free(vq->chains[i].descs);
		}
		free(vq->chains);
	}
	vq->chains = NULL;
}

int vuf_vq_set_addr(struct vuf_conn *c, const struct vuf_vq *vq)
{
	struct vuf_addr a = { .index = vq->index,
			      .desc = (uint64_t)(uintptr_t)vq->desc,
			      .used = (uint64_t)(uintptr_t)vq->used,
			      .avail = (uint64_t)(uintptr_t)vq->avail };

	return vuf_set(c, VUF_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
}

int vuf_vq_setup(struct vuf_conn *c, struct vuf_vq *vq, uint16_t base)
{
	vq->avail_idx = vq->kicked_idx = vq->used_idx = base;
	__atomic_store_n(&vq->avail->idx, base, __ATOMIC_RELEASE);
	__atomic_store_n(&vq->used->idx, base, __ATOMIC_RELEASE);
	/* avail_event starts at base (as if the device had asked for a kick at the first new
	 * entry): with a zero there, a ring starting at a non-zero base would never be kicked. */
	__atomic_store_n((uint16_t *)&vq->used->ring[vq->num], base, __ATOMIC_RELEASE);
	return vuf_vq_restart(c, vq, base);
}

int vuf_vq_restart(struct vuf_conn *c, struct vuf_vq *vq, uint16_t base)
{
	int r;

	r = vuf_set_state(c, VUF_SET_VRING_NUM, vq->index, vq->num);
	if (r >= 0)
		r = vuf_set_state(c, VUF_SET_VRING_BASE, vq->index, base);
	if (r >= 0)
		r = vuf_vq_set_addr(c, vq);
	if (r >= 0)
		r = vuf_set_vring_fd(c, VUF_SET_VRING_ERR, vq->index, vq->errfd);
	if (r >= 0)
		r = vuf_set_vring_fd(c, VUF_SET_VRING_CALL, vq->index, vq->callfd);
	if (r >= 0)
		r = vuf_set_vring_fd(c, VUF_SET_VRING_KICK, vq->index, vq->kickfd);
	return r;
}

int vuf_vq_alloc_desc(struct vuf_vq *vq)
{
	uint16_t i;

	if (vq->nfree == 0)
		return -ENOSPC;
	i = vq->free_head;
	vq->free_head = vq->desc[i].next;
	vq->nfree--;
	return i;
}

int vuf_vq_add_chain(struct vuf_vq *vq, const struct vuf_seg *segs, unsigned n, uint64_t table_gpa,
		     void *cookie)
{
	unsigned ndesc = table_gpa ? 1 : n;
	struct vuf_desc *table = NULL;
	struct vuf_chain *ch;
	uint16_t idx[1024];
	int head;

	if (n == 0 || (!table_gpa && n > 1024))
		return -EINVAL;
	if (ndesc > vq->nfree)
		return -ENOSPC;
	if (table_gpa) {
		table = vuf_mem_host(vq->mem, table_gpa, 16ull * n);
		if (!table)
			return -EFAULT;
	}
	for (unsigned i = 0; i < ndesc; i++)
		idx[i] = (uint16_t)vuf_vq_alloc_desc(vq);
	head = idx[0];
	if (table) {
		for (unsigned i = 0; i < n; i++) {
			bool last = i + 1 == n;

			table[i] = (struct vuf_desc){
				.addr = segs[i].gpa,
				.len = segs[i].len,
				.flags = (uint16_t)(segs[i].flags | (last ? 0 : VUF_DESC_F_NEXT)),
				.next = (uint16_t)(last ? 0 : i + 1)
			};
		}
		vq->desc[head] = (struct vuf_desc){ .addr = table_gpa,
						    .len = (uint32_t)(16 * n),
						    .flags = VUF_DESC_F_INDIRECT };
	} else {
		for (unsigned i = 0; i < n; i++) {
			bool last = i + 1 == n;

			vq->desc[idx[i]] = (struct vuf_desc){
				.addr = segs[i].gpa,
				.len = segs[i].len,
				.flags = (uint16_t)(segs[i].flags | (last ? 0 : VUF_DESC_F_NEXT)),
				.next = last ? 0 : idx[i + 1]
			};
		}
	}
	ch = &vq->chains[head];
	free(ch->segs);
	free(ch->descs);
	ch->segs = malloc(sizeof(*segs) * n);
	ch->descs = malloc(sizeof(*idx) * ndesc);
	if (!ch->segs || !ch->descs) {
		/* Put the descriptors back by hand: the chain record is unusable. */
		for (unsigned i = 0; i < ndesc; i++) {
			vq->desc[idx[i]].next = vq->free_head;
			vq->free_head = idx[i];
			vq->nfree++;
		}
		return -ENOMEM;
	}
	memcpy(ch->segs, segs, sizeof(*segs) * n);
	memcpy(ch->descs, idx, sizeof(*idx) * ndesc);
	ch->nsegs = (uint16_t)n;
	ch->ndesc = (uint16_t)ndesc;
	ch->cookie = cookie;
	ch->busy = true;
	return head;
}

void vuf_vq_push(struct vuf_vq *vq, uint16_t head)
{
	vq->avail->ring[vq->avail_idx % vq->num] = head;
	vq->avail_idx++;
}

void vuf_vq_publish(struct vuf_vq *vq)
{
	/* Pairs with the device's acquire of avail->idx: ring entries and descriptors first. */
	__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
}

/* The virtio event-index rule: notify when event lies in [old, new). */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/* Writes 1 to an eventfd. */
static int signal_fd(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) != sizeof(one))
		return -errno;
	return 0;
}

int vuf_vq_notify(struct vuf_vq *vq)
{
	uint16_t old = vq->kicked_idx;
	bool kick;
	int r;

	vuf_vq_publish(vq);
	/* Our idx store must be visible before we read the device's suppression state, or we
	 * could miss a device that just re-enabled notifications (pairs with its full fence). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vq->kicked_idx = vq->avail_idx;
	if (vq->event_idx) {
		uint16_t ev =
			__atomic_load_n((uint16_t *)&vq->used->ring[vq->num], __ATOMIC_ACQUIRE);

		kick = need_event(ev, vq->avail_idx, old);
	} else {
		kick = !(__atomic_load_n(&vq->used->flags, __ATOMIC_ACQUIRE) &
			 VUF_USED_F_NO_NOTIFY);
	}
	if (!kick)
		return 0;
	r = signal_fd(vq->kickfd);
	return r < 0 ? r : 1;
}

int vuf_vq_kick(struct vuf_vq *vq)
{
	vuf_vq_publish(vq);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vq->kicked_idx = vq->avail_idx;
	return signal_fd(vq->kickfd);
}

uint16_t vuf_vq_pending(const struct vuf_vq *vq)
{
	return (uint16_t)(__atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE) - vq->used_idx);
}

int vuf_vq_wait(struct vuf_vq *vq, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		uint64_t cnt;
		int64_t left;
		int r;

		if (vuf_vq_pending(vq))
			return 0;
		/* Ask for a call on the next used entry, then look again before sleeping: the
		 * device may have added one between our check and the request. */
		if (vq->event_idx)
			__atomic_store_n(&vq->avail->ring[vq->num], vq->used_idx, __ATOMIC_RELAXED);
		else
			__atomic_store_n(&vq->avail->flags, 0, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (vuf_vq_pending(vq))
			return 0;
		left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		r = wait_fd(vq->callfd, POLLIN, (int)left);
		if (r == -ETIMEDOUT) {
			/* Used entries with no call although we asked for one (used_event, or no
			 * NO_INTERRUPT): a notification bug in the device, not a slow device. */
			return vuf_vq_pending(vq) ? -EPROTO : -ETIMEDOUT;
		}
		if (r < 0)
			return r;
		if (read(vq->callfd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
			return -errno;
	}
}

int vuf_vq_get_used(struct vuf_vq *vq, struct vuf_used_elem *ret)
{
	struct vuf_used_elem e;

	if (!vuf_vq_pending(vq))
		return -EAGAIN;
	/* The acquire in vuf_vq_pending() orders this read after the device's idx store. */
	e = vq->used->ring[vq->used_idx % vq->num];
	if (e.id >= vq->num || !vq->chains[e.id].busy)
		return -EPROTO;
	vq->used_idx++;
	*ret = e;
	return 0;
}

int vuf_vq_copy_from(const struct vuf_vq *vq, uint16_t head, uint32_t len, void *out)
{
	const struct vuf_chain *ch = &vq->chains[head];
	uint8_t *o = out;

	for (unsigned i = 0; i < ch->nsegs && len > 0; i++) {
		uint32_t n = ch->segs[i].len < len ? ch->segs[i].len : len;
		const void *src = vuf_mem_host(vq->mem, ch->segs[i].gpa, n);

		if (!src)
			return -EFAULT;
		memcpy(o, src, n);
		o += n;
		len -= n;
	}
	return len ? -EPROTO : 0;
}

void vuf_vq_release(struct vuf_vq *vq, uint16_t head)
{
	struct vuf_chain *ch = &vq->chains[head];

	/* Walk our own record, never the descriptors' next fields: guest memory is shared, and a
	 * test (or a misbehaving device) may have written to it. */
	for (unsigned k = 0; k < ch->ndesc; k++) {
		uint16_t i = ch->descs[k];

		vq->desc[i].next = vq->free_head;
		vq->free_head = i;
		vq->nfree++;
	}
	ch->busy = false;
}

int vuf_vq_reclaim(struct vuf_vq *vq)
{
	struct vuf_used_elem e;
	int n = 0, r;

	while ((r = vuf_vq_get_used(vq, &e)) == 0) {
		vuf_vq_release(vq, (uint16_t)e.id);
		n++;
	}
	return r == -EAGAIN ? n : r;
}

int vuf_eventfd_wait(int fd, int timeout_ms, uint64_t *ret_count)
{
	uint64_t v;
	int r = wait_fd(fd, POLLIN, timeout_ms);

	if (r < 0)
		return r;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return -errno;
	*ret_count = v;
	return 0;
}

/* ---- virtio-net ---- */

unsigned vuf_tx_layout_count(const struct vuf_tx_layout *l, uint64_t total)
{
	unsigned n = 0;

	for (unsigned i = 0; i < l->nlens && total > 0; i++) {
		uint64_t k = l->lens[i] < total ? l->lens[i] : total;

		total -= k;
		n++;
	}
	if (total == 0)
		return n;
	if (l->seg == 0)
		return n + 1;
	return n + (unsigned)((total + l->seg - 1) / l->seg);
}

int vuf_net_tx(struct vuf_vq *vq, const struct vuf_net_hdr *hdr, const void *frame, size_t len,
	       const struct vuf_tx_layout *l, void *cookie)
{
	struct vuf_net_hdr zero = { 0 };
	uint64_t total = VUF_HDR_SIZE + len, off = 0;
	unsigned n = vuf_tx_layout_count(l, total), k = 0;
	struct vuf_seg *segs;
	uint8_t *dst;
	int r;

	dst = vuf_mem_host(vq->mem, l->gpa, total);
	if (!dst)
		return -EFAULT;
	if (!l->table_gpa && n > vq->nfree)
		return -ENOSPC;
	segs = calloc(n, sizeof(*segs));
	if (!segs)
		return -ENOMEM;
	memcpy(dst, hdr ? hdr : &zero, VUF_HDR_SIZE);
	memcpy(dst + VUF_HDR_SIZE, frame, len);
	for (unsigned i = 0; i < l->nlens && off < total; i++) {
		uint64_t piece = l->lens[i] < total - off ? l->lens[i] : total - off;

		segs[k++] = (struct vuf_seg){ .gpa = l->gpa + off, .len = (uint32_t)piece };
		off += piece;
	}
	while (off < total) {
		uint64_t piece = l->seg && l->seg < total - off ? l->seg : total - off;

		segs[k++] = (struct vuf_seg){ .gpa = l->gpa + off, .len = (uint32_t)piece };
		off += piece;
	}
	r = vuf_vq_add_chain(vq, segs, k, l->table_gpa, cookie);
	free(segs);
	if (r >= 0)
		vuf_vq_push(vq, (uint16_t)r);
	return r;
}

int vuf_net_rx_post(struct vuf_vq *vq, uint64_t gpa, uint32_t len, uint32_t split, void *cookie)
{
	struct vuf_seg segs[2] = {
		{ .gpa = gpa, .len = len, .flags = VUF_DESC_F_WRITE },
	};
	unsigned n = 1;
	int r;

	if (split > 0 && split < len) {
		segs[0].len = split;
		segs[1] = (struct vuf_seg){ .gpa = gpa + split,
					    .len = len - split,
					    .flags = VUF_DESC_F_WRITE };
		n = 2;
	}
	r = vuf_vq_add_chain(vq, segs, n, 0, cookie);
	if (r >= 0)
		vuf_vq_push(vq, (uint16_t)r);
	return r;
}

/* Capacity in bytes of chain head. */
static uint64_t chain_bytes(const struct vuf_vq *vq, uint16_t head)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < vq->chains[head].nsegs; i++)
		n += vq->chains[head].segs[i].len;
	return n;
}

int vuf_net_rx(struct vuf_vq *vq, bool mergeable, void *frame, size_t cap, struct vuf_rx_pkt *ret,
	       int timeout_ms)
{
	uint8_t *buf = NULL;
	size_t got = 0, bufcap = 65536 + 4096;
	unsigned want = 1;
	struct vuf_rx_pkt p;
	int r;

	memset(&p, 0, sizeof(p));
	buf = malloc(bufcap);
	if (!buf)
		return -ENOMEM;
	while (p.nbufs < want) {
		struct vuf_used_elem e;

		if (p.nbufs > 0 && !vuf_vq_pending(vq))
			p.straggled = true;
		r = vuf_vq_wait(vq, timeout_ms);
		if (r < 0)
			goto out;
		r = vuf_vq_get_used(vq, &e);
		if (r < 0)
			goto out;
		if (e.len > chain_bytes(vq, (uint16_t)e.id) || got + e.len > bufcap) {
			r = -EPROTO;
			goto out;
		}
		r = vuf_vq_copy_from(vq, (uint16_t)e.id, e.len, buf + got);
		if (r < 0)
			goto out;
		got += e.len;
		p.cookies[p.nbufs] = vq->chains[e.id].cookie;
		p.lens[p.nbufs] = e.len;
		p.nbufs++;
		vuf_vq_release(vq, (uint16_t)e.id);
		if (p.nbufs == 1) {
			if (got < VUF_HDR_SIZE) {
				r = -EPROTO;
				goto out;
			}
			memcpy(&p.hdr, buf, VUF_HDR_SIZE);
			want = mergeable ? p.hdr.num_buffers : 1;
			if (want == 0 || want > 64) {
				r = -EPROTO;
				goto out;
			}
		}
	}
	p.len = (uint32_t)(got - VUF_HDR_SIZE);
	if (p.len > cap) {
		r = -EMSGSIZE;
		goto out;
	}
	memcpy(frame, buf + VUF_HDR_SIZE, p.len);
	*ret = p;
	r = (int)p.len;
out:
	free(buf);
	return r;
}
