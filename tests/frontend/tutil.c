// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Helpers shared by the front-end integration tests. See tutil.h.
 */
#include "tutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int64_t t_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void t_fail(const char *what, int r)
{
	fprintf(stderr, "FAIL: %s: %d (%s)\n", what, r, r < 0 ? strerror(-r) : "");
}

/* Returns getenv(name) or exits: the test cannot run outside run.sh. */
static const char *need_env(const char *name)
{
	const char *v = getenv(name);

	if (!v || !*v) {
		fprintf(stderr, "%s is not set: run this through tests/frontend/run.sh\n", name);
		exit(2);
	}
	return v;
}

void t_env_load(struct t_env *env)
{
	env->sock[0] = need_env("VUF_SOCK0");
	env->sock[1] = need_env("VUF_SOCK1");
	env->ctl = need_env("VUF_CTL");
	env->tap[0] = need_env("VUF_TAP0");
	env->tap[1] = need_env("VUF_TAP1");
	env->dir = need_env("VUF_DIR");
	env->pid = (pid_t)atoi(need_env("VUF_PID"));
}

/* Parses "key=value" pairs of one stats line into s. */
static void parse_stats_line(char *line, struct t_stats *s)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{ "tx_packets", offsetof(struct t_stats, tx_packets) },
		{ "tx_bytes", offsetof(struct t_stats, tx_bytes) },
		{ "tx_dropped", offsetof(struct t_stats, tx_dropped) },
		{ "tx_errors", offsetof(struct t_stats, tx_errors) },
		{ "rx_packets", offsetof(struct t_stats, rx_packets) },
		{ "rx_bytes", offsetof(struct t_stats, rx_bytes) },
		{ "rx_dropped", offsetof(struct t_stats, rx_dropped) },
		{ "ring_faults", offsetof(struct t_stats, ring_faults) },
		{ "rx_oversize", offsetof(struct t_stats, rx_oversize) },
		{ "mem_faults", offsetof(struct t_stats, mem_faults) },
		{ "conn_refused", offsetof(struct t_stats, conn_refused) },
		{ "msg_refused", offsetof(struct t_stats, msg_refused) },
	};
	char *save = NULL;

	for (char *tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq)
			continue;
		*eq = '\0';
		if (strcmp(tok, "state") == 0) {
			snprintf(s->state, sizeof(s->state), "%s", eq + 1);
			continue;
		}
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (strcmp(tok, keys[i].key) == 0)
				*(uint64_t *)((char *)s + keys[i].off) = strtoull(eq + 1, NULL, 10);
		}
	}
}

struct json_object *t_ctl_call(const char *ctl, const char *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t got = 0, cap = 1 << 16, len = strlen(req);
	struct json_object *reply = NULL;
	char *buf = malloc(cap);
	int fd = -1;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", ctl);
	if (!buf)
		return NULL;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, req, len) != (ssize_t)len)
		goto out;
	while (!memchr(buf, '\n', got)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (got == cap - 1) {
			char *nb = cap < (16u << 20) ? realloc(buf, cap * 2) : NULL;

			if (!nb)
				goto out;
			buf = nb;
			cap *= 2;
		}
		if (poll(&p, 1, T_TIMEOUT) <= 0)
			goto out;
		n = read(fd, buf + got, cap - 1 - got);
		if (n <= 0)
			goto out;
		got += (size_t)n;
	}
	buf[got] = '\0';
	reply = json_tokener_parse(buf);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return reply;
}

int t_stats(const char *ctl, const char *port, struct t_stats *ret)
{
	static const char req[] = "{\"id\":1,\"op\":\"stats\",\"args\":{\"format\":\"kv\"}}\n";
	/* One reply line: {"id":1,"ok":true,"result":{"text":"port=... \n..."}} */
	struct json_object *reply = t_ctl_call(ctl, req), *res, *text;
	char want[64], *kv = NULL;
	int r = -ENOENT;

	if (!reply || !json_object_object_get_ex(reply, "result", &res) ||
	    !json_object_object_get_ex(res, "text", &text)) {
		r = -EPROTO;
		goto out;
	}
	kv = strdup(json_object_get_string(text));
	snprintf(want, sizeof(want), "port=%s", port);
	for (char *save = NULL, *line = kv ? strtok_r(kv, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		size_t wl = strlen(want);

		if (strncmp(line, want, wl) == 0 && (line[wl] == ' ' || line[wl] == '\0')) {
			memset(ret, 0, sizeof(*ret));
			parse_stats_line(line, ret);
			r = 0;
			break;
		}
	}
out:
	free(kv);
	json_object_put(reply);
	return r;
}

int t_stats_wait(const char *ctl, const char *port, size_t field, uint64_t want, int timeout_ms,
		 struct t_stats *ret)
{
	int64_t deadline = t_now_ms() + timeout_ms;

	for (;;) {
		int r = t_stats(ctl, port, ret);

		if (r < 0)
			return r;
		if (*(uint64_t *)((char *)ret + field) >= want || t_now_ms() >= deadline)
			return 0;
		usleep(5 * 1000);
	}
}

void t_stats_print(const char *what, const struct t_stats *s)
{
	fprintf(stderr,
		"%s: state=%s tx_packets=%llu tx_bytes=%llu tx_dropped=%llu tx_errors=%llu "
		"rx_packets=%llu rx_bytes=%llu rx_dropped=%llu ring_faults=%llu\n",
		what, s->state, (unsigned long long)s->tx_packets, (unsigned long long)s->tx_bytes,
		(unsigned long long)s->tx_dropped, (unsigned long long)s->tx_errors,
		(unsigned long long)s->rx_packets, (unsigned long long)s->rx_bytes,
		(unsigned long long)s->rx_dropped, (unsigned long long)s->ring_faults);
}

bool t_alive(pid_t pid)
{
	char path[64], buf[512];
	FILE *f;
	char *p;
	bool ok = false;

	if (kill(pid, 0) < 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (fgets(buf, sizeof(buf), f)) {
		p = strrchr(buf, ')');
		ok = p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
	}
	fclose(f);
	return ok;
}

int t_fd_count(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

int t_fd_count_settle(pid_t pid, int at_most, int timeout_ms)
{
	int64_t deadline = t_now_ms() + timeout_ms;
	int n;

	for (;;) {
		n = t_fd_count(pid);
		if (n <= at_most || t_now_ms() >= deadline)
			return n;
		usleep(20 * 1000);
	}
}

unsigned t_if_mtu(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	unsigned mtu = 0;

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	if (s >= 0 && ioctl(s, SIOCGIFMTU, &ifr) == 0)
		mtu = (unsigned)ifr.ifr_mtu;
	if (s >= 0)
		close(s);
	return mtu;
}

int t_pkt_open(const char *ifname)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	int fd, sz = 16 << 20, r;

	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (sll.sll_ifindex == 0)
		return -errno;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0)
		return -errno;
	/* Root may exceed rmem_max: the data-path test can have a thousand frames in flight. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	t_pkt_drain(fd);
	return fd;
}

int t_pkt_send(int fd, const void *frame, size_t len)
{
	ssize_t n = send(fd, frame, len, 0);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

int t_pkt_recv(int fd, void *buf, size_t cap, int timeout_ms)
{
	int64_t deadline = t_now_ms() + timeout_ms;

	for (;;) {
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - t_now_ms();
		ssize_t n;

		if (left < 0)
			left = 0;
		if (poll(&p, 1, (int)left) == 0)
			return -ETIMEDOUT;
		n = recvfrom(fd, buf, cap, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from, &fl);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		/* Our own injections show up as outgoing: only what vhostd wrote counts. */
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue;
		return (int)n;
	}
}

void t_pkt_drain(int fd)
{
	char buf[2048];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		;
}

void t_frame(uint8_t *f, size_t len, uint32_t seq, uint8_t tag)
{
	static const uint8_t dst[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x00 };
	static const uint8_t src[6] = { 0x02, 0x00, 0x00, 0x00, 0x01, 0x00 };
	uint32_t x = seq * 2654435761u + tag;

	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[5] = tag;
	f[11] = tag;
	f[12] = T_ETHERTYPE >> 8;
	f[13] = T_ETHERTYPE & 0xff;
	memcpy(f + 14, &seq, 4);
	for (size_t i = 18; i < len; i++) {
		x = x * 1103515245u + 12345u;
		f[i] = (uint8_t)(x >> 16);
	}
}

uint32_t t_frame_seq(const uint8_t *f)
{
	uint32_t seq;

	memcpy(&seq, f + 14, 4);
	return seq;
}

/* Fills defaults into a copy of the options. */
static struct t_opts opts_defaults(const struct t_opts *in)
{
	struct t_opts o = in ? *in : (struct t_opts){ 0 };

	if (!o.features)
		o.features = T_FEATURES;
	if (o.no_protocol)
		o.features &= ~VUF_BIT(VUF_F_PROTOCOL_FEATURES);
	if (!o.pfeatures)
		o.pfeatures = T_PFEATURES;
	if (!o.qsize)
		o.qsize = 256;
	if (!o.mem_size)
		o.mem_size = 4 << 20;
	if (!o.nregions)
		o.nregions = 1;
	if (!o.rx_slots)
		o.rx_slots = o.qsize / 2 < 128 ? o.qsize / 2 : 128;
	if (!o.rx_slot_size)
		o.rx_slot_size = 2048;
	return o;
}

/* Split point of RX slot i when the mixed layout is on: some headers straddle descriptors. */
static uint32_t rx_split(const struct t_sess *s, unsigned i)
{
	if (!s->o.rx_mixed)
		return 0;
	switch (i % 4) {
	case 1:
		return 7;
	case 3:
		return s->o.rx_slot_size / 3;
	default:
		return 0;
	}
}

int t_sess_rx_repost(struct t_sess *s, unsigned slot)
{
	uint64_t gpa = s->rx_gpa + (uint64_t)slot * s->o.rx_slot_size;

	return vuf_net_rx_post(&s->rx, gpa, s->o.rx_slot_size, rx_split(s, slot),
			       (void *)(uintptr_t)(slot + 1));
}

int t_sess_start(struct t_sess *s, const struct t_opts *in)
{
	struct vuf_conn conn = s->conn;
	const char *step;
	void *p;
	int r;

	memset(s, 0, sizeof(*s));
	s->conn = conn;
	s->mem.fd = -1;
	s->rx.kickfd = s->rx.callfd = s->rx.errfd = -1;
	s->tx.kickfd = s->tx.callfd = s->tx.errfd = -1;
	s->o = opts_defaults(in);

	step = "negotiate";
	r = vuf_negotiate(&s->conn, s->o.features, s->o.pfeatures);
	if (r < 0)
		goto fail;
	s->mrg = s->conn.features & VUF_BIT(VUF_F_MRG_RXBUF);
	step = "guest memory";
	r = vuf_mem_init_kind(&s->mem, s->o.mem_size, T_GPA_BASE, s->o.mem_kind);
	if (r < 0)
		goto fail;
	r = vuf_mem_split(&s->mem, s->o.nregions, s->o.region_sizes);
	if (r < 0)
		goto fail;
	step = "rings";
	r = vuf_vq_init(&s->rx, &s->mem, 0, s->o.qsize,
			s->conn.features & VUF_BIT(VUF_F_EVENT_IDX));
	if (r < 0)
		goto fail;
	r = vuf_vq_init(&s->tx, &s->mem, 1, s->o.qsize,
			s->conn.features & VUF_BIT(VUF_F_EVENT_IDX));
	if (r < 0)
		goto fail;
	step = "rx slots";
	p = vuf_mem_alloc(&s->mem, (uint64_t)s->o.rx_slots * s->o.rx_slot_size, 64);
	if (!p) {
		r = -ENOMEM;
		goto fail;
	}
	s->rx_gpa = vuf_mem_gpa(&s->mem, p);
	s->arena_gpa = s->arena_cur =
		(vuf_mem_gpa(&s->mem, s->mem.base + s->mem.brk) + 63) & ~63ull;
	s->arena_end = s->mem.gpa_base + s->mem.size;
	step = "memory table";
	if (s->o.add_mem_reg) {
		for (unsigned i = 0; i < s->mem.nregions && r >= 0; i++)
			r = vuf_add_mem_reg(&s->conn, &s->mem, i);
	} else {
		r = vuf_set_mem_table(&s->conn, &s->mem);
	}
	if (r < 0)
		goto fail;
	step = "ring set-up";
	r = vuf_vq_setup(&s->conn, &s->rx, s->o.base);
	if (r >= 0)
		r = vuf_vq_setup(&s->conn, &s->tx, s->o.base);
	if (r < 0)
		goto fail;
	if ((s->conn.features & VUF_BIT(VUF_F_PROTOCOL_FEATURES)) && !s->o.no_enable) {
		step = "enable";
		r = vuf_set_state(&s->conn, VUF_SET_VRING_ENABLE, 0, 1);
		if (r >= 0)
			r = vuf_set_state(&s->conn, VUF_SET_VRING_ENABLE, 1, 1);
		if (r < 0)
			goto fail;
	}
	step = "rx post";
	if (!s->o.no_rx_post) {
		unsigned n = s->o.rx_slots;

		for (unsigned i = 0; i < n; i++) {
			r = t_sess_rx_repost(s, i);
			if (r < 0)
				goto fail;
		}
		r = vuf_vq_kick(&s->rx);
		if (r < 0)
			goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "session set-up failed at %s: %s\n", step, strerror(-r));
	t_sess_close(s);
	return r;
}

int t_sess_open(struct t_sess *s, const char *path, const struct t_opts *o)
{
	int r = vuf_connect(&s->conn, path, T_TIMEOUT);

	if (r < 0) {
		t_fail("connect", r);
		return r;
	}
	return t_sess_start(s, o);
}

void t_sess_close(struct t_sess *s)
{
	vuf_close(&s->conn);
	vuf_vq_free(&s->rx);
	vuf_vq_free(&s->tx);
	vuf_mem_free(&s->mem);
}

int t_sess_ring_restart(struct t_sess *s, struct vuf_vq *vq, uint16_t base)
{
	int r = vuf_vq_restart(&s->conn, vq, base);

	if (r >= 0 && (s->conn.features & VUF_BIT(VUF_F_PROTOCOL_FEATURES)))
		r = vuf_set_state(&s->conn, VUF_SET_VRING_ENABLE, vq->index, 1);
	return r;
}

uint64_t t_sess_arena(struct t_sess *s, uint64_t len)
{
	uint64_t g;

	if (s->arena_cur + len > s->arena_end)
		s->arena_cur = s->arena_gpa;
	g = s->arena_cur;
	s->arena_cur = (s->arena_cur + len + 15) & ~15ull;
	return g;
}

int t_sess_tx(struct t_sess *s, const void *frame, size_t len)
{
	struct vuf_tx_layout l = { .gpa = t_sess_arena(s, VUF_HDR_SIZE + len) };
	int r, head = vuf_net_tx(&s->tx, NULL, frame, len, &l, NULL);

	if (head < 0)
		return head;
	r = vuf_vq_notify(&s->tx);
	return r < 0 ? r : head;
}

int t_sess_tx_drain(struct t_sess *s, int timeout_ms)
{
	while (s->tx.nfree < s->tx.num) {
		int r = vuf_vq_wait(&s->tx, timeout_ms);

		if (r < 0)
			return r;
		r = vuf_vq_reclaim(&s->tx);
		if (r < 0)
			return r;
	}
	return 0;
}

int t_sess_rx(struct t_sess *s, void *frame, size_t cap, struct vuf_rx_pkt *ret, int timeout_ms)
{
	int n = vuf_net_rx(&s->rx, s->mrg, frame, cap, ret, timeout_ms), r;

	if (n < 0)
		return n;
	for (unsigned i = 0; i < ret->nbufs; i++) {
		r = t_sess_rx_repost(s, (unsigned)((uintptr_t)ret->cookies[i] - 1));
		if (r < 0)
			return r;
	}
	r = vuf_vq_notify(&s->rx);
	return r < 0 ? r : n;
}

int t_traffic_check(struct t_sess *s, int tapfd, uint32_t seq, uint8_t tag)
{
	return t_traffic_check_stale(s, tapfd, seq, tag, 0);
}

int t_traffic_check_stale(struct t_sess *s, int tapfd, uint32_t seq, uint8_t tag, uint8_t stale_tag)
{
	uint8_t out[200], in[2048];
	struct vuf_rx_pkt pkt;
	unsigned stale = 0;
	int r;

	/* Guest -> tap. */
	t_frame(out, 100, seq, tag);
	r = t_sess_tx(s, out, 100);
	if (r < 0) {
		t_fail("traffic check: post TX", r);
		return r;
	}
	r = t_pkt_recv(tapfd, in, sizeof(in), T_TIMEOUT);
	if (r < 0) {
		t_fail("traffic check: guest frame never reached the tap", r);
		return r;
	}
	if (r != 100 || memcmp(in, out, 100) != 0) {
		fprintf(stderr,
			"FAIL: traffic check: tap got %d bytes, seq %u, want 100 bytes seq %u\n", r,
			r >= 18 ? t_frame_seq(in) : 0, seq);
		return -EBADMSG;
	}
	r = t_sess_tx_drain(s, T_TIMEOUT);
	if (r < 0) {
		t_fail("traffic check: TX chain not returned", r);
		return r;
	}
	/* Tap -> guest. */
	t_frame(out, 80, seq + 1, tag);
	r = t_pkt_send(tapfd, out, 80);
	if (r < 0) {
		t_fail("traffic check: inject", r);
		return r;
	}
	for (;;) {
		r = t_sess_rx(s, in, sizeof(in), &pkt, T_TIMEOUT);
		if (r < 0) {
			t_fail("traffic check: injected frame never reached the guest", r);
			return r;
		}
		/* Only frames an earlier step injected with stale_tag, and at most a ring's worth.
		 */
		if (!stale_tag || r < 18 || in[5] != stale_tag || t_frame_seq(in) >= seq ||
		    ++stale > T_STALE_MAX)
			break;
		fprintf(stderr, "traffic check: skipped a stale frame (tag 0x%02x, seq %u)\n",
			in[5], t_frame_seq(in));
	}
	if (r != 80 || memcmp(in, out, 80) != 0) {
		fprintf(stderr,
			"FAIL: traffic check: guest got %d bytes, seq %u, want 80 bytes seq %u\n",
			r, r >= 18 ? t_frame_seq(in) : 0, seq + 1);
		return -EBADMSG;
	}
	return 0;
}

uint64_t t_log_need(const struct t_sess *s)
{
	uint64_t pages = (s->mem.gpa_base + s->mem.size + 4095) / 4096;

	return (pages + 63) / 64 * 8;
}

int t_log_new(struct t_log *l, uint64_t size, uint64_t file_size)
{
	l->fd = memfd_create("dirty-log", MFD_CLOEXEC);
	if (l->fd < 0)
		return -errno;
	if (ftruncate(l->fd, (off_t)file_size) < 0) {
		close(l->fd);
		return -errno;
	}
	l->bits = mmap(NULL, file_size, PROT_READ | PROT_WRITE, MAP_SHARED, l->fd, 0);
	if (l->bits == MAP_FAILED) {
		close(l->fd);
		return -errno;
	}
	l->size = size;
	l->file_size = file_size;
	return 0;
}

void t_log_free(struct t_log *l)
{
	munmap(l->bits, l->file_size);
	close(l->fd);
}

unsigned t_log_count(const struct t_log *l)
{
	unsigned n = 0;

	for (uint64_t i = 0; i < l->size && i < l->file_size; i++)
		n += (unsigned)__builtin_popcount(l->bits[i]);
	return n;
}

int t_log_base(struct vuf_conn *c, int fd, uint64_t size, uint64_t offset)
{
	uint64_t payload[2] = { size, offset };
	struct vuf_msg *m = malloc(sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	r = vuf_send(c, VUF_SET_LOG_BASE, 0, payload, sizeof(payload), &fd, 1);
	if (r == 0)
		r = vuf_recv(c, m, c->timeout_ms > 0 ? c->timeout_ms : T_TIMEOUT);
	if (r == 0) {
		vuf_msg_close_fds(m);
		if (m->hdr.request != VUF_SET_LOG_BASE || !(m->hdr.flags & VUF_FLAG_REPLY) ||
		    m->hdr.size != 0) {
			fprintf(stderr, "SET_LOG_BASE reply: request %u flags %#x size %u\n",
				m->hdr.request, m->hdr.flags, m->hdr.size);
			r = -EPROTO;
		}
	}
	free(m);
	return r == -EPIPE ? -ECONNRESET : r;
}

int t_log_set_addr(struct t_sess *s, struct vuf_vq *vq, uint32_t flags, uint64_t log_gpa)
{
	struct vuf_addr a = {
		.index = vq->index,
		.flags = flags,
		.desc = (uint64_t)(uintptr_t)vq->desc,
		.used = (uint64_t)(uintptr_t)vq->used,
		.avail = (uint64_t)(uintptr_t)vq->avail,
		.log = log_gpa,
	};

	return vuf_set(&s->conn, VUF_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
}

int t_log_on(struct t_sess *s, const struct t_log *l)
{
	uint64_t f = s->conn.features | VUF_BIT(VUF_F_LOG_ALL);
	int r = t_log_base(&s->conn, l->fd, l->size, 0);

	if (r == 0)
		r = vuf_set(&s->conn, VUF_SET_FEATURES, &f, sizeof(f), NULL, 0);
	if (r == 0)
		r = t_log_set_addr(s, &s->rx, 1, vuf_mem_gpa(&s->mem, s->rx.used));
	if (r == 0)
		r = t_log_set_addr(s, &s->tx, 1, vuf_mem_gpa(&s->mem, s->tx.used));
	return r;
}

int t_log_off(struct t_sess *s)
{
	int r = vuf_set(&s->conn, VUF_SET_FEATURES, &s->conn.features, 8, NULL, 0);

	if (r == 0)
		r = t_log_set_addr(s, &s->rx, 0, 0);
	if (r == 0)
		r = t_log_set_addr(s, &s->tx, 0, 0);
	return r;
}
