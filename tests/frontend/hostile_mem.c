// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Hostile front-ends against vhostd's memory and limits: memory that vanishes after it was
 * shared (memfd, hugetlbfs and tmpfs files shrunk under traffic, a dirty log shrunk), a region
 * beyond its file, floods of messages and connections, and a million tiny buffers.
 *
 * Each case runs on p0 while p1 stays connected for the whole program: afterwards the daemon is
 * alive, p1 carries traffic both ways, and the case's effect is counted exactly (mem_faults,
 * conn_refused, msg_refused, tx_errors) in the control socket's stats.
 */
#include "tutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <poll.h>

#define HUGE_2M (2ull << 20)
#define INJ_TAG 0x5a

struct hm {
	struct t_env env;
	int tap[2];
	struct t_sess p1;
	uint32_t seq;
	int huge_orig; /* nr_hugepages before we raised it, -1 when untouched */
};

static struct hm hm = { .huge_orig = -1 };

/* p1 still works both ways and the daemon lives. */
static void p1_works(void)
{
	assert_true(t_alive(hm.env.pid));
	assert_int_equal(t_traffic_check(&hm.p1, hm.tap[1], hm.seq, 0x71), 0);
	hm.seq += 2;
}

/* p0's stats now. */
static struct t_stats p0_stats(void)
{
	struct t_stats st;

	assert_int_equal(t_stats(hm.env.ctl, "p0", &st), 0);
	return st;
}

/* Waits for vhostd to hang up on c (the event that it dropped the front-end). */
static void wait_dropped(struct vuf_conn *c)
{
	struct vuf_msg m;
	int r;

	do
		r = vuf_recv(c, &m, T_TIMEOUT);
	while (r >= 0 && (vuf_msg_close_fds(&m), 1));
	assert_int_equal(r, -ECONNRESET);
}

/* Injects frames on p0's tap until told to stop: traffic towards the guest while it misbehaves. */
struct injector {
	pthread_t th;
	int stop;
	unsigned sent;
};

static void *inject_loop(void *arg)
{
	struct injector *in = arg;
	uint8_t f[128];

	while (!__atomic_load_n(&in->stop, __ATOMIC_ACQUIRE)) {
		t_frame(f, sizeof(f), in->sent, INJ_TAG);
		if (t_pkt_send(hm.tap[0], f, sizeof(f)) == 0)
			in->sent++;
		if (in->sent % 64 == 0)
			usleep(200); /* let the tap's queue drain: traffic, not a wall */
	}
	return NULL;
}

static void injector_start(struct injector *in)
{
	memset(in, 0, sizeof(*in));
	assert_int_equal(pthread_create(&in->th, NULL, inject_loop, in), 0);
}

static void injector_stop(struct injector *in)
{
	__atomic_store_n(&in->stop, 1, __ATOMIC_RELEASE);
	pthread_join(in->th, NULL);
}

/* Kicks both of s's rings without touching guest memory (it may be gone). */
static void kick_both(struct t_sess *s)
{
	uint64_t one = 1;

	assert_int_equal(write(s->tx.kickfd, &one, sizeof(one)), sizeof(one));
	assert_int_equal(write(s->rx.kickfd, &one, sizeof(one)), sizeof(one));
}

/* True when vhostd's log has line (run.sh writes it to VUF_DIR/vhostd.log). */
static bool log_has(const char *needle)
{
	char path[512], line[1024];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/vhostd.log", hm.env.dir);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/*
 * The common truncation case: a working p0 session backed by kind, traffic running both ways
 * (TX chains posted, frames injected on the tap), then the file shrinks to keep bytes; vhostd
 * must drop p0 with one counted memory fault and go on serving p1, and p0 must take a new
 * front-end afterwards.
 */
static void truncate_case(enum vuf_mem_kind kind, uint64_t mem_size, uint64_t keep, bool traffic)
{
	struct t_opts o = { .mem_kind = kind, .mem_size = mem_size };
	struct t_stats before, after;
	struct injector in;
	struct t_sess s;
	uint8_t f[200];

	before = p0_stats();
	assert_int_equal(t_sess_open(&s, hm.env.sock[0], &o), 0);
	assert_int_equal(t_traffic_check(&s, hm.tap[0], hm.seq, 0x61), 0);
	hm.seq += 2;
	if (traffic) {
		injector_start(&in);
		for (unsigned i = 0; i < 32; i++) {
			t_frame(f, sizeof(f), hm.seq, 0x62);
			assert_true(t_sess_tx(&s, f, sizeof(f)) >= 0);
		}
	}
	/* From here on the test must not touch s's memory either: it is gone for us too. */
	assert_int_equal(ftruncate(s.mem.fd, (off_t)keep), 0);
	if (keep) {
		/* Rings survive: a TX chain whose buffer lies in the part that went. */
		struct vuf_seg seg = { .gpa = s.mem.gpa_base + keep, .len = VUF_HDR_SIZE + 60 };
		int h = vuf_vq_add_chain(&s.tx, &seg, 1, 0, NULL);

		assert_true(h >= 0);
		vuf_vq_push(&s.tx, (uint16_t)h);
		vuf_vq_publish(&s.tx);
	}
	kick_both(&s);
	t_frame(f, 100, hm.seq++, INJ_TAG);
	assert_int_equal(t_pkt_send(hm.tap[0], f, 100), 0);
	wait_dropped(&s.conn);
	if (traffic)
		injector_stop(&in);
	after = p0_stats();
	fprintf(stderr, "mem_faults %llu -> %llu, p0 %s\n", (unsigned long long)before.mem_faults,
		(unsigned long long)after.mem_faults, after.state);
	assert_int_equal(after.mem_faults - before.mem_faults, 1);
	assert_string_equal(after.state, "waiting");
	assert_true(log_has("vanished under us"));
	/* Counters of the port survived the fault. */
	assert_true(after.tx_packets >= before.tx_packets + 1);
	t_sess_close(&s);
	p1_works();
	/* p0 takes a new front-end; frames injected for the dead one may still be queued. */
	t_pkt_drain(hm.tap[0]); /* its TX frames */
	assert_int_equal(t_sess_open(&s, hm.env.sock[0], NULL), 0);
	assert_int_equal(t_traffic_check_stale(&s, hm.tap[0], hm.seq + 1000000, 0x63, INJ_TAG), 0);
	hm.seq += 2;
	t_sess_close(&s);
	t_pkt_drain(hm.tap[0]);
}

/* An unsealed memfd shrunk to nothing while the ring is idle. */
static void test_truncate_memfd_idle(void **state)
{
	(void)state;
	truncate_case(VUF_MEM_MEMFD, 0, 0, false);
}

/* An unsealed memfd shrunk to nothing while frames flow both ways. */
static void test_truncate_memfd_traffic(void **state)
{
	(void)state;
	truncate_case(VUF_MEM_MEMFD, 0, 0, true);
}

/* Only the TX buffers' part of the memfd goes (rings and RX buffers stay): the first guest
 * buffer vhostd reads faults. */
static void test_truncate_memfd_tail(void **state)
{
	(void)state;
	truncate_case(VUF_MEM_MEMFD, 4u << 20, 2u << 20, true);
}

/* Makes sure n free 2 MiB pages exist (raising nr_hugepages once; teardown restores it). */
static void need_hugepages(unsigned n)
{
	char buf[64];
	unsigned long total = 0, freep = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	assert_non_null(f);
	while (fgets(buf, sizeof(buf), f)) {
		sscanf(buf, "HugePages_Total: %lu", &total);
		sscanf(buf, "HugePages_Free: %lu", &freep);
	}
	fclose(f);
	if (freep >= n)
		return;
	f = fopen("/proc/sys/vm/nr_hugepages", "r+");
	assert_non_null(f);
	if (hm.huge_orig < 0)
		hm.huge_orig = (int)total;
	fprintf(f, "%lu\n", total + n);
	fclose(f);
}

/* A hugetlbfs memfd shrunk to one huge page while frames flow. */
static void test_truncate_hugetlb_traffic(void **state)
{
	(void)state;
	need_hugepages(8);
	truncate_case(VUF_MEM_HUGETLB, 4 * HUGE_2M, 0, true);
}

/* A plain tmpfs file (memory-backend-file on /dev/shm) shrunk while frames flow. */
static void test_truncate_tmpfile_traffic(void **state)
{
	(void)state;
	truncate_case(VUF_MEM_TMPFILE, 0, 0, true);
}

/* The dirty log's file shrinks during a migration: the next page vhostd marks faults. */
static void test_truncate_dirty_log(void **state)
{
	struct t_opts o = { .pfeatures = T_PFEATURES | VUF_BIT(VUF_PF_LOG_SHMFD) };
	struct t_stats before, after;
	struct t_sess s;
	struct t_log l;
	uint8_t f[100];

	(void)state;
	before = p0_stats();
	assert_int_equal(t_sess_open(&s, hm.env.sock[0], &o), 0);
	if (!(s.conn.protocol_features & VUF_BIT(VUF_PF_LOG_SHMFD)))
		fail_msg("vhostd offers no LOG_SHMFD");
	assert_int_equal(t_log_new(&l, t_log_need(&s), t_log_need(&s) + 4096), 0);
	assert_int_equal(t_log_on(&s, &l), 0);
	assert_int_equal(t_traffic_check(&s, hm.tap[0], hm.seq, 0x64), 0);
	hm.seq += 2;
	assert_true(t_log_count(&l) > 0);
	assert_int_equal(ftruncate(l.fd, 0), 0);
	t_frame(f, sizeof(f), hm.seq++, INJ_TAG);
	assert_int_equal(t_pkt_send(hm.tap[0], f, sizeof(f)), 0);
	wait_dropped(&s.conn);
	after = p0_stats();
	assert_int_equal(after.mem_faults - before.mem_faults, 1);
	assert_true(log_has("dirty log at offset"));
	close(l.fd); /* the mapping is gone with the file's pages: unmap without reading */
	munmap(l.bits, l.file_size);
	t_sess_close(&s);
	p1_works();
	t_pkt_drain(hm.tap[0]);
}

/* ADD_MEM_REG of a region whose offset lies beyond its file: refused, counted, harmless. */
static void test_region_beyond_file(void **state)
{
	struct t_opts o = { .pfeatures = T_PFEATURES };
	struct vuf_mem_reg reg = { 0 };
	struct t_stats before, after;
	struct vuf_mem extra;
	struct t_sess s;
	uint64_t ack = 0;
	int fd;

	(void)state;
	assert_int_equal(t_sess_open(&s, hm.env.sock[0], &o), 0);
	assert_int_equal(vuf_mem_init(&extra, 2 * 4096, s.mem.gpa_base + s.mem.size + (1u << 20)),
			 0);
	before = p0_stats();
	reg.region = vuf_mem_region_desc(&extra, 0);
	reg.region.mmap_offset = 4096; /* 4096 + 8192 > the file's 8192 bytes */
	fd = extra.fd;
	assert_int_equal(vuf_ack(&s.conn, VUF_ADD_MEM_REG, &reg, sizeof(reg), &fd, 1, &ack), 0);
	assert_int_not_equal(ack, 0);
	after = p0_stats();
	assert_int_equal(after.msg_refused - before.msg_refused, 1);
	/* The connection and its traffic are untouched. */
	assert_int_equal(t_traffic_check(&s, hm.tap[0], hm.seq, 0x65), 0);
	hm.seq += 2;
	vuf_mem_free(&extra);
	t_sess_close(&s);
	p1_works();
}

/* Connections without end while a front-end is connected: each refused at once, counted, no
 * fd kept; p0's own front-end and p1 are unaffected. */
static void test_connection_flood(void **state)
{
	enum { N = 2000 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct t_stats before, after;
	struct t_sess s;
	int fds_before;

	(void)state;
	assert_int_equal(t_sess_open(&s, hm.env.sock[0], NULL), 0);
	before = p0_stats();
	fds_before = t_fd_count(hm.env.pid);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", hm.env.sock[0]);
	for (unsigned i = 0; i < N; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		char c;

		assert_true(fd >= 0);
		/* The backlog may be full for a moment: retry that connection. */
		while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			assert_int_equal(errno, EAGAIN);
			usleep(1000);
		}
		/* vhostd closes it: read returns 0 (the event, not a timeout). */
		assert_int_equal(read(fd, &c, 1), 0);
		close(fd);
	}
	after = p0_stats();
	assert_int_equal(after.conn_refused - before.conn_refused, N);
	/* No fd kept (the count may be lower: a control connection of p0_stats() closed). */
	assert_true(t_fd_count_settle(hm.env.pid, fds_before, T_TIMEOUT) <= fds_before);
	assert_int_equal(t_traffic_check(&s, hm.tap[0], hm.seq, 0x66), 0);
	hm.seq += 2;
	t_sess_close(&s);
	p1_works();
}

/*
 * A flood of valid messages that need no reply (SET_VRING_ENABLE on the TX ring, 200000 of
 * them, written as fast as the socket takes them): p1 carries traffic while the flood runs and
 * the flooding connection still answers afterwards.
 */
static void test_message_flood(void **state)
{
	enum { N = 200000, CHUNK = 512 };
	struct {
		struct vuf_hdr h;
		struct vuf_state st;
	} __attribute__((packed)) buf[CHUNK];
	struct t_opts o = { .pfeatures = VUF_BIT(VUF_PF_MQ) | VUF_BIT(VUF_PF_CONFIGURE_MEM_SLOTS) };
	struct t_sess s;
	uint64_t feat = 0;

	(void)state;
	assert_int_equal(t_sess_open(&s, hm.env.sock[0], &o), 0);
	for (unsigned i = 0; i < CHUNK; i++) {
		buf[i].h = (struct vuf_hdr){ VUF_SET_VRING_ENABLE, VUF_VERSION, sizeof(buf[i].st) };
		buf[i].st = (struct vuf_state){ .index = 1, .num = 1 };
	}
	for (unsigned sent = 0; sent < N; sent += CHUNK) {
		assert_int_equal(vuf_send_raw(&s.conn, buf, sizeof(buf), NULL, 0), 0);
		if (sent % (CHUNK * 64) == 0)
			p1_works(); /* the daemon is never stuck on one front-end */
	}
	assert_int_equal(vuf_get_u64(&s.conn, VUF_GET_FEATURES, &feat), 0);
	assert_true(feat & VUF_BIT(VUF_F_VERSION_1));
	assert_int_equal(t_traffic_check(&s, hm.tap[0], hm.seq, 0x67), 0);
	hm.seq += 2;
	t_sess_close(&s);
	p1_works();
}

/*
 * Requests with replies that are never read (GET_FEATURES, 100000 of them): vhostd must not
 * block on the full socket. Either it drops the connection or keeps it; the daemon and p1 live.
 */
static void test_unread_replies(void **state)
{
	enum { N = 100000, CHUNK = 512 };
	struct vuf_hdr buf[CHUNK];
	struct t_sess s;
	unsigned sent = 0;

	(void)state;
	assert_int_equal(t_sess_open(&s, hm.env.sock[0], NULL), 0);
	for (unsigned i = 0; i < CHUNK; i++)
		buf[i] = (struct vuf_hdr){ VUF_GET_FEATURES, VUF_VERSION, 0 };
	/* Non-blocking writes: once vhostd stops reading (or hangs up) we stop too. */
	fcntl(s.conn.fd, F_SETFL, fcntl(s.conn.fd, F_GETFL) | O_NONBLOCK);
	while (sent < N) {
		ssize_t n = send(s.conn.fd, buf, sizeof(buf), MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN) {
			p1_works();
			if (t_alive(hm.env.pid))
				break; /* our side is full too: vhostd is not reading, yet lives */
		}
		if (n < 0)
			break;
		sent += (unsigned)n / sizeof(buf[0]);
		if (sent % (CHUNK * 32) == 0)
			p1_works();
	}
	fprintf(stderr, "sent %u GET_FEATURES without reading a reply\n", sent);
	p1_works();
	t_sess_close(&s);
	/* p0 takes a new front-end afterwards. */
	assert_int_equal(t_sess_open(&s, hm.env.sock[0], NULL), 0);
	assert_int_equal(t_traffic_check(&s, hm.tap[0], hm.seq, 0x68), 0);
	hm.seq += 2;
	t_sess_close(&s);
}

/*
 * A guest that posts a million one-byte TX buffers (each shorter than the virtio-net header) on
 * a 32768-entry ring: every one is returned and counted in tx_errors, nothing reaches the tap,
 * and p1 carries traffic meanwhile.
 */
static void test_million_tiny_buffers(void **state)
{
	enum { N = 1000000, QN = 32768 };
	struct t_opts o = { .qsize = QN, .mem_size = 8u << 20 };
	struct t_stats before, after;
	unsigned posted = 0, done = 0;
	struct t_sess s;
	uint64_t g;
	uint8_t in[2048];

	(void)state;
	assert_int_equal(t_sess_open(&s, hm.env.sock[0], &o), 0);
	t_pkt_drain(hm.tap[0]);
	before = p0_stats();
	g = t_sess_arena(&s, 64);
	while (done < N) {
		struct vuf_used_elem u;

		while (posted < N && s.tx.nfree > 0) {
			struct vuf_seg seg = { .gpa = g, .len = 1 };
			int h = vuf_vq_add_chain(&s.tx, &seg, 1, 0, NULL);

			assert_true(h >= 0);
			vuf_vq_push(&s.tx, (uint16_t)h);
			posted++;
		}
		vuf_vq_kick(&s.tx);
		assert_int_equal(vuf_vq_wait(&s.tx, T_TIMEOUT), 0);
		while (vuf_vq_get_used(&s.tx, &u) == 0) {
			assert_int_equal(u.len, 0);
			vuf_vq_release(&s.tx, (uint16_t)u.id);
			done++;
		}
		if (done % (QN * 8) < QN)
			p1_works();
	}
	after = p0_stats();
	assert_int_equal(after.tx_errors - before.tx_errors, N);
	assert_int_equal(after.tx_packets, before.tx_packets);
	assert_int_equal(t_pkt_recv(hm.tap[0], in, sizeof(in), 200), -ETIMEDOUT);
	assert_int_equal(t_traffic_check(&s, hm.tap[0], hm.seq, 0x69), 0);
	hm.seq += 2;
	t_sess_close(&s);
	p1_works();
}

/* run.sh gives both ports this mem_max= (see meson.build): 16 MiB. */
#define MEM_MAX (16ull << 20)

/* A region, a memory table and a dirty log over the port's mem_max: each refused and counted,
 * and a front-end that stays under it keeps working. */
static void test_mem_max(void **state)
{
	struct t_stats before, after;
	struct vuf_mem big;
	struct t_sess s;
	uint64_t ack = 0;
	int fd;

	(void)state;
	before = p0_stats();
	/* A whole table over it: the session cannot come up (the failure is expected). */
	assert_true(t_sess_open(&s, hm.env.sock[0], &(struct t_opts){ .mem_size = 2 * MEM_MAX }) <
		    0);
	after = p0_stats();
	assert_int_equal(after.msg_refused - before.msg_refused, 1);
	/* Under it: fine; then one more region that would go over it. */
	assert_int_equal(t_sess_open(&s, hm.env.sock[0], NULL), 0);
	assert_int_equal(vuf_mem_init(&big, MEM_MAX, s.mem.gpa_base + (1ull << 30)), 0);
	{
		struct vuf_mem_reg reg = { .region = vuf_mem_region_desc(&big, 0) };

		fd = big.fd;
		assert_int_equal(vuf_ack(&s.conn, VUF_ADD_MEM_REG, &reg, sizeof(reg), &fd, 1, &ack),
				 0);
	}
	assert_int_not_equal(ack, 0);
	assert_int_equal(t_traffic_check(&s, hm.tap[0], hm.seq, 0x6a), 0);
	hm.seq += 2;
	before = after;
	after = p0_stats();
	assert_int_equal(after.msg_refused - before.msg_refused, 1);
	vuf_mem_free(&big);
	t_sess_close(&s);
	/* A dirty log far larger than 16 MiB of memory can need: refused, and the connection
	 * ends (a front-end must not believe pages are logged). */
	{
		struct t_opts o = { .pfeatures = T_PFEATURES | VUF_BIT(VUF_PF_LOG_SHMFD) };
		struct t_log l;

		assert_int_equal(t_sess_open(&s, hm.env.sock[0], &o), 0);
		assert_int_equal(t_log_new(&l, 1u << 20, 1u << 20), 0);
		assert_int_equal(t_log_base(&s.conn, l.fd, l.size, 0), -ECONNRESET);
		t_log_free(&l);
		t_sess_close(&s);
	}
	before = after;
	after = p0_stats();
	assert_int_equal(after.msg_refused - before.msg_refused, 1);
	p1_works();
}

/* The daemon-wide refusal count of limit name from the control socket's stats, or -1 (also
 * when the control socket refused us: all its slots were taken). */
static int64_t limit_refusals(const char *name)
{
	struct json_object *reply = t_ctl_call(hm.env.ctl, "{\"id\":1,\"op\":\"stats\"}\n");
	struct json_object *res, *lims;
	int64_t n = -1;

	if (reply && json_object_object_get_ex(reply, "result", &res) &&
	    json_object_object_get_ex(res, "limits", &lims)) {
		for (size_t i = 0; i < json_object_array_length(lims); i++) {
			struct json_object *l = json_object_array_get_idx(lims, i), *v;

			if (json_object_object_get_ex(l, "name", &v) &&
			    strcmp(json_object_get_string(v), name) == 0 &&
			    json_object_object_get_ex(l, "refused", &v))
				n = json_object_get_int64(v);
		}
	}
	json_object_put(reply);
	return n;
}

/* Control clients beyond the limit (16) are refused at once and counted; the daemon's ports
 * carry traffic meanwhile. */
static void test_control_client_flood(void **state)
{
	enum { HOLD = 16, EXTRA = 50 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int held[HOLD];
	int64_t before = limit_refusals("control_clients");

	(void)state;
	assert_true(before >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", hm.env.ctl);
	for (unsigned i = 0; i < HOLD; i++) {
		held[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_int_equal(connect(held[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	for (unsigned i = 0; i < EXTRA; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		char c;

		assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		/* Refused: vhostd closes it (read returns 0), the held ones stay. */
		assert_int_equal(read(fd, &c, 1), 0);
		close(fd);
	}
	p1_works();
	for (unsigned i = 0; i < HOLD; i++)
		close(held[i]);
	/* The held clients' slots free up once vhostd sees them close: no event reaches us, so
	 * retry the query for a bounded time. */
	for (int64_t deadline = t_now_ms() + T_TIMEOUT;;) {
		int64_t n = limit_refusals("control_clients");

		if (n >= 0) {
			assert_int_equal(n - before, EXTRA);
			break;
		}
		assert_true(t_now_ms() < deadline);
		usleep(20 * 1000);
	}
}

/* Opens both taps and a p1 session that lives through every case. */
static int setup(void **state)
{
	(void)state;
	t_env_load(&hm.env);
	hm.seq = 1;
	for (unsigned i = 0; i < 2; i++) {
		hm.tap[i] = t_pkt_open(hm.env.tap[i]);
		if (hm.tap[i] < 0) {
			t_fail("packet socket", hm.tap[i]);
			return -1;
		}
	}
	if (t_sess_open(&hm.p1, hm.env.sock[1], NULL) < 0)
		return -1;
	return t_traffic_check(&hm.p1, hm.tap[1], 1000000, 0x70) < 0 ? -1 : 0;
}

/* Closes p1 and the taps; gives back the huge pages it reserved. */
static int teardown(void **state)
{
	(void)state;
	t_sess_close(&hm.p1);
	close(hm.tap[0]);
	close(hm.tap[1]);
	if (hm.huge_orig >= 0) {
		FILE *f = fopen("/proc/sys/vm/nr_hugepages", "w");

		if (f) {
			fprintf(f, "%d\n", hm.huge_orig);
			fclose(f);
		}
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_truncate_memfd_idle),
		cmocka_unit_test(test_truncate_memfd_traffic),
		cmocka_unit_test(test_truncate_memfd_tail),
		cmocka_unit_test(test_truncate_hugetlb_traffic),
		cmocka_unit_test(test_truncate_tmpfile_traffic),
		cmocka_unit_test(test_truncate_dirty_log),
		cmocka_unit_test(test_region_beyond_file),
		cmocka_unit_test(test_connection_flood),
		cmocka_unit_test(test_message_flood),
		cmocka_unit_test(test_unread_replies),
		cmocka_unit_test(test_million_tiny_buffers),
		cmocka_unit_test(test_mem_max),
		cmocka_unit_test(test_control_client_flood),
	};

	return cmocka_run_group_tests_name("frontend-hostile-mem", tests, setup, teardown);
}
