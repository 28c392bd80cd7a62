// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vhostd killed (SIGKILL) or stopped (SIGTERM) in the middle of traffic and started again, the
 * front-end reconnecting the way QEMU does (a new connection, the whole set-up again, each ring
 * restarted at the guest's used index; ring memory and the guest's buffers untouched).
 *
 * Runs inside the namespace restart.sh made, and runs the daemon itself (so it can kill and
 * wait for it): tests/frontend/restart.sh PROG.
 *
 * What must hold, counted per frame by sequence number:
 * - Guest transmit: every frame reaches the tap at least once, in order; after SIGKILL at most
 *   one burst per ring (32) was sent and not yet marked used, and is sent again; after SIGTERM
 *   nothing is sent twice. No chain is ever completed twice (the front-end checks every used
 *   id against the chains it has outstanding).
 * - Guest receive: frames arrive in order, none twice, every buffer completed once; frames
 *   lost in the restart are counted and printed (the tap drops what arrives with no daemon).
 * - The tap is the same link after the restart: the AF_PACKET socket opened before the first
 *   start keeps working, and the ifindex is unchanged. A second daemon cannot take it meanwhile.
 * - A port whose ring state file (<socket>.state, for packed rings) cannot be made works
 *   without it, and says so once.
 */
#include "tutil.h"

#include <errno.h>
#include <net/if.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define TAP	  "vhr0"
#define NFRAMES	  3000
#define FRAME_LEN 200
#define MARK_SEQ  0x7fffffffu
#define BURST	  32 /* frames vhostd takes from a ring before publishing (VNET_BURST) */

struct rs {
	const char *vhostd, *dir;
	char sock[256], ctl[256], log[256];
	pid_t pid;
	int tapfd;
	unsigned ifindex;
	struct t_sess s;
	struct t_opts o;
	uint8_t *seen; /* per sequence number: times it reached the tap */
};

static struct rs rs;

/*
 * Starts vhostd with the port spec (and --control ctl unless NULL), its log appended to rs.log;
 * returns its pid and in *ret_ready the read end of the pipe it writes READY=1 to.
 */
static pid_t daemon_spawn(const char *port, const char *ctl, int *ret_ready)
{
	const char *level = getenv("VUF_LOG_LEVEL") ? getenv("VUF_LOG_LEVEL") : "info";
	const char *argv[] = { rs.vhostd,     "--port", port,	     "--ready-fd", "3",
			       "--log-level", level,	"--control", ctl,	   NULL };
	int p[2];
	pid_t pid;

	if (!ctl)
		argv[7] = NULL;
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		FILE *logf;

		close(p[0]); /* before fd 3 is taken: it may be p[0] */
		logf = fopen(rs.log, "a");
		if (!logf || dup2(fileno(logf), 2) < 0 || (p[1] != 3 && dup2(p[1], 3) < 0))
			_exit(127);
		execv(rs.vhostd, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	*ret_ready = p[0];
	return pid;
}

/* Starts the daemon with one tap port (p0) and waits for READY=1. */
static void daemon_start(void)
{
	char line[16] = { 0 };
	char port[512];
	int ready;

	snprintf(port, sizeof(port), "name=p0,socket=%s,backend=tap,ifname=" TAP, rs.sock);
	rs.pid = daemon_spawn(port, rs.ctl, &ready);
	if (read(ready, line, sizeof(line) - 1) <= 0 || strncmp(line, "READY=1", 7) != 0)
		fail_msg("vhostd did not start (see %s)", rs.log);
	close(ready);
}

/* Stops the daemon with sig and reaps it; with SIGTERM it must exit 0. */
static void daemon_stop(int sig)
{
	int st = 0;

	assert_int_equal(kill(rs.pid, sig), 0);
	assert_int_equal(waitpid(rs.pid, &st, 0), rs.pid);
	if (sig == SIGTERM && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		fail_msg("vhostd did not exit 0 on SIGTERM (status %#x)", st);
	rs.pid = 0;
}

/* Reconnects as QEMU does after a back-end restart: new connection, negotiation, memory, and
 * each ring restarted at the used index the guest sees, then kicked. */
static void reconnect(void)
{
	struct vuf_vq *vqs[2] = { &rs.s.rx, &rs.s.tx };
	int r;

	vuf_close(&rs.s.conn);
	r = vuf_connect(&rs.s.conn, rs.sock, T_TIMEOUT);
	if (r < 0)
		fail_msg("reconnect: %s", strerror(-r));
	assert_int_equal(vuf_negotiate(&rs.s.conn, rs.s.o.features, rs.s.o.pfeatures), 0);
	assert_int_equal(vuf_set_mem_table(&rs.s.conn, &rs.s.mem), 0);
	for (unsigned i = 0; i < 2; i++) {
		uint16_t base = __atomic_load_n(&vqs[i]->used->idx, __ATOMIC_ACQUIRE);

		assert_int_equal(t_sess_ring_restart(&rs.s, vqs[i], base), 0);
		assert_true(vuf_vq_kick(vqs[i]) >= 0);
	}
}

/* Reads frames from the tap until the marker frame; counts each sequence number seen. */
static void tap_collect(void)
{
	uint8_t buf[2048];

	for (;;) {
		int n = t_pkt_recv(rs.tapfd, buf, sizeof(buf), T_TIMEOUT);
		uint32_t seq;

		if (n < 0)
			fail_msg("the marker frame never reached the tap: %s", strerror(-n));
		if (n < 18 || buf[12] != (T_ETHERTYPE >> 8) || buf[13] != (T_ETHERTYPE & 0xff))
			continue;
		seq = t_frame_seq(buf);
		if (seq == MARK_SEQ)
			return;
		if (seq < NFRAMES && rs.seen[seq] < 255)
			rs.seen[seq]++;
	}
}

/* Sends NFRAMES frames from the guest, stopping the daemon with sig after about half of them and
 * starting it again; then checks the tap saw every frame and at most max_dup twice. */
static void tx_across(int sig, unsigned max_dup)
{
	uint8_t f[FRAME_LEN];
	unsigned posted = 0, dup = 0;
	const unsigned kill_at = NFRAMES / 2 + (unsigned)(rand() % 200);
	int r;

	memset(rs.seen, 0, NFRAMES);
	t_pkt_drain(rs.tapfd);
	while (posted < NFRAMES) {
		t_frame(f, sizeof(f), posted, 0xa1);
		r = t_sess_tx(&rs.s, f, sizeof(f));
		if (r == -ENOSPC) {
			/* Ring full: take back what was used (a chain used twice fails here). */
			r = vuf_vq_wait(&rs.s.tx, T_TIMEOUT);
			if (r == 0)
				r = vuf_vq_reclaim(&rs.s.tx);
			if (r < 0)
				fail_msg("tx reclaim after %u frames: %s", posted, strerror(-r));
			continue;
		}
		if (r < 0)
			fail_msg("tx post %u: %s", posted, strerror(-r));
		if (++posted == kill_at) {
			daemon_stop(sig);
			daemon_start();
			reconnect();
		}
	}
	r = t_sess_tx_drain(&rs.s, T_TIMEOUT);
	if (r < 0)
		fail_msg("tx drain: %s (a chain completed twice shows as EPROTO)", strerror(-r));
	t_frame(f, sizeof(f), MARK_SEQ, 0xa1);
	assert_true(t_sess_tx(&rs.s, f, sizeof(f)) >= 0);
	assert_int_equal(t_sess_tx_drain(&rs.s, T_TIMEOUT), 0);
	tap_collect();
	for (unsigned i = 0; i < NFRAMES; i++) {
		if (!rs.seen[i])
			fail_msg("guest frame %u never reached the tap (%s at %u)", i,
				 sig == SIGKILL ? "SIGKILL" : "SIGTERM", kill_at);
		dup += rs.seen[i] - 1u;
	}
	fprintf(stderr, "tx across %s at frame %u: %u frames, %u sent twice (bound %u)\n",
		sig == SIGKILL ? "SIGKILL" : "SIGTERM", kill_at, NFRAMES, dup, max_dup);
	assert_true(dup <= max_dup);
}

/* Receives one frame on the guest side; checks it comes after the last one (in order, none
 * twice). Returns its sequence number. */
static uint32_t rx_one(bool *any, uint32_t *last)
{
	uint8_t in[2048];
	struct vuf_rx_pkt pkt;
	int n = t_sess_rx(&rs.s, in, sizeof(in), &pkt, T_TIMEOUT);
	uint32_t seq = t_frame_seq(in);

	if (n < 0) {
		struct t_stats st = { 0 };

		t_stats(rs.ctl, "p0", &st);
		t_stats_print("vhostd", &st);
		fail_msg("rx: no frame within %d ms (%s; a buffer completed twice shows as EPROTO)",
			 T_TIMEOUT, strerror(-n));
	}
	if (seq != MARK_SEQ && *any && seq <= *last)
		fail_msg("rx: frame %u after %u: repeated or out of order", seq, *last);
	if (seq != MARK_SEQ) {
		*any = true;
		*last = seq;
	}
	return seq;
}

/* Injects NFRAMES frames into the tap, stopping the daemon with sig halfway and starting it
 * again; the guest must get them in order, none twice; the loss is printed. At most RX_WINDOW
 * frames are in flight, so the tap's own queue (500 frames) never overflows. */
static void rx_across(int sig)
{
	enum { RX_WINDOW = 64 };
	uint8_t f[FRAME_LEN];
	unsigned got = 0, sent = 0, lost;
	const unsigned kill_at = NFRAMES / 2;
	uint32_t last = 0;
	bool any = false;

	for (unsigned i = 0; i < NFRAMES; i++) {
		t_frame(f, sizeof(f), i, 0xa2);
		assert_true(t_pkt_send(rs.tapfd, f, sizeof(f)) >= 0);
		sent++;
		if (i == kill_at) {
			daemon_stop(sig);
			daemon_start();
			reconnect();
			/* Whatever was in flight is delivered now or was lost with the daemon;
			 * the window restarts empty. */
			while (vuf_vq_pending(&rs.s.rx)) {
				rx_one(&any, &last);
				got++;
			}
			sent = 0;
		}
		while (sent > RX_WINDOW || vuf_vq_pending(&rs.s.rx)) {
			rx_one(&any, &last);
			got++;
			if (sent)
				sent--;
		}
	}
	/* The marker goes last: everything before it is in, or lost for good. */
	t_frame(f, sizeof(f), MARK_SEQ, 0xa2);
	assert_true(t_pkt_send(rs.tapfd, f, sizeof(f)) >= 0);
	while (rx_one(&any, &last) != MARK_SEQ)
		got++;
	lost = NFRAMES - got;
	fprintf(stderr, "rx across %s: %u of %u frames received, %u lost\n",
		sig == SIGKILL ? "SIGKILL" : "SIGTERM", got, NFRAMES, lost);
	/* Lost: what the dying daemon held (a burst) and what the tap held without a reader. */
	assert_true(lost <= RX_WINDOW + BURST);
}

/* The tap is the same link, and traffic flows both ways on the new daemon. */
static void same_tap(void)
{
	assert_int_equal(if_nametoindex(TAP), rs.ifindex);
	assert_int_equal(t_traffic_check(&rs.s, rs.tapfd, 900000 + (unsigned)rand() % 1000, 0xa3),
			 0);
}

/* A second daemon asking for the tap this one uses refuses to start: sharing a multi-queue tap
 * would split its traffic between two processes. */
static void test_tap_in_use(void **state)
{
	char port[512], sock[300], line[16] = { 0 };
	int st = 0, ready;
	pid_t pid;

	snprintf(sock, sizeof(sock), "%s/second.sock", rs.dir);
	snprintf(port, sizeof(port), "name=p9,socket=%s,backend=tap,ifname=" TAP, sock);
	pid = daemon_spawn(port, NULL, &ready);
	/* READY=1 means it took the tap: stop it and fail; end of file means it gave up. */
	if (read(ready, line, sizeof(line) - 1) > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		close(ready);
		fail_msg("a second vhostd attached to tap " TAP " (said %s)", line);
	}
	close(ready);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 127)
		fail_msg("a second vhostd on tap " TAP " did not refuse it (status %#x)", st);
	/* The first one still carries traffic on it. */
	same_tap();
}

/* Lines of the daemons' log that contain text. */
static unsigned log_count(const char *text)
{
	char buf[1024];
	unsigned n = 0;
	FILE *f = fopen(rs.log, "r");

	assert_non_null(f);
	while (fgets(buf, sizeof(buf), f))
		n += strstr(buf, text) != NULL;
	fclose(f);
	return n;
}

/*
 * A port whose ring state file cannot be made (a directory stands where it would go, as a
 * socket directory the daemon may not write would refuse the file) works without it: one log
 * line says so, and the front-end's frames go through.
 */
static void test_no_state_file(void **state)
{
	char sock[300], st[320], ctl[300], port[512], line[16] = { 0 };
	struct t_sess s = { 0 };
	struct t_stats stats;
	uint8_t f[FRAME_LEN];
	int status = 0, ready;
	pid_t pid;

	snprintf(sock, sizeof(sock), "%s/nostate.sock", rs.dir);
	snprintf(st, sizeof(st), "%s.state", sock);
	snprintf(ctl, sizeof(ctl), "%s/nostate.ctl", rs.dir);
	snprintf(port, sizeof(port), "name=p8,socket=%s,backend=null", sock);
	assert_int_equal(mkdir(st, 0700), 0);
	pid = daemon_spawn(port, ctl, &ready);
	if (read(ready, line, sizeof(line) - 1) <= 0 || strncmp(line, "READY=1", 7) != 0)
		fail_msg("vhostd without a state file did not start (see %s)", rs.log);
	close(ready);
	assert_int_equal(t_sess_open(&s, sock, &rs.o), 0);
	for (uint32_t i = 0; i < 8; i++) {
		t_frame(f, sizeof(f), i, 0xa4);
		assert_true(t_sess_tx(&s, f, sizeof(f)) >= 0);
	}
	assert_int_equal(
		t_stats_wait(ctl, "p8", offsetof(struct t_stats, tx_packets), 8, T_TIMEOUT, &stats),
		0);
	assert_int_equal(t_sess_tx_drain(&s, T_TIMEOUT), 0);
	t_sess_close(&s);
	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(log_count("p8: no ring state file"), 1);
	assert_int_equal(rmdir(st), 0);
}

/* Guest transmit across a crash: nothing lost, at most a burst sent twice. */
static void test_tx_sigkill(void **state)
{
	tx_across(SIGKILL, BURST);
	same_tap();
}

/* Guest transmit across a clean stop: nothing lost, nothing sent twice. */
static void test_tx_sigterm(void **state)
{
	tx_across(SIGTERM, 0);
	same_tap();
}

/* Guest receive across a crash and a clean stop: in order, nothing twice. */
static void test_rx_sigkill(void **state)
{
	rx_across(SIGKILL);
	same_tap();
}

/* Guest receive across a clean stop. */
static void test_rx_sigterm(void **state)
{
	rx_across(SIGTERM);
	same_tap();
}

/* Starts the daemon, opens the tap socket and the session. */
static int setup(void **state)
{
	(void)state;
	rs.vhostd = getenv("VHOSTD");
	rs.dir = getenv("VUF_DIR");
	if (!rs.vhostd || !rs.dir) {
		fprintf(stderr, "VHOSTD and VUF_DIR must be set (run through restart.sh)\n");
		return -1;
	}
	snprintf(rs.sock, sizeof(rs.sock), "%s/p0.sock", rs.dir);
	snprintf(rs.ctl, sizeof(rs.ctl), "%s/ctl", rs.dir);
	snprintf(rs.log, sizeof(rs.log), "%s/vhostd.log", rs.dir);
	rs.seen = calloc(NFRAMES, 1);
	srand((unsigned)getpid());
	daemon_start();
	rs.ifindex = if_nametoindex(TAP);
	rs.tapfd = t_pkt_open(TAP);
	if (!rs.seen || !rs.ifindex || rs.tapfd < 0)
		return -1;
	rs.o = (struct t_opts){ 0 };
	if (t_sess_open(&rs.s, rs.sock, &rs.o) < 0)
		return -1;
	return t_traffic_check(&rs.s, rs.tapfd, 800000, 0xa0) < 0 ? -1 : 0;
}

/* Stops the daemon (it must exit 0) and frees everything. */
static int teardown(void **state)
{
	(void)state;
	t_sess_close(&rs.s);
	if (rs.pid > 0)
		daemon_stop(SIGTERM);
	close(rs.tapfd);
	free(rs.seen);
	return 0;
}

/* The cases, in order, on one session that survives every restart. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tap_in_use), cmocka_unit_test(test_no_state_file),
		cmocka_unit_test(test_tx_sigkill), cmocka_unit_test(test_tx_sigterm),
		cmocka_unit_test(test_rx_sigkill), cmocka_unit_test(test_rx_sigterm),
	};

	return cmocka_run_group_tests_name("frontend-restart", tests, setup, teardown);
}
