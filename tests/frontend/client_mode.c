// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * p0 in mode=client: we listen on its socket path and vhostd connects to us.
 * - the first connection arrives and carries traffic both ways;
 * - after we close it, vhostd connects again on its own;
 * - after we close the listening socket too (front-end gone, say QEMU restarting), vhostd keeps
 *   retrying and connects once we listen again.
 * p1 (mode=server) must carry traffic throughout, and the daemon must stay alive.
 */
#include "tutil.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* vhostd retries with backoff: allow it generous time to come back. */
#define ACCEPT_MS 30000

struct cm {
	struct t_env env;
	int tap[2];
	int lfd;
	struct t_sess p1;
	uint32_t seq;
};

static struct cm cm = { .lfd = -1 };

/* Milliseconds on the monotonic clock. */
static int64_t ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Polls p0's state until it reads want (state changes have no event). */
static void wait_state(const char *want)
{
	int64_t deadline = ms() + T_TIMEOUT;
	struct t_stats st;

	for (;;) {
		assert_int_equal(t_stats(cm.env.ctl, "p0", &st), 0);
		if (strcmp(st.state, want) == 0)
			return;
		if (ms() > deadline)
			fail_msg("p0 state is %s, want %s", st.state, want);
		usleep(10 * 1000);
	}
}

/* Accepts vhostd's connection, brings the device up and checks traffic both ways. */
static void serve_once(const char *what)
{
	struct t_sess s;
	int r;

	memset(&s, 0, sizeof(s));
	r = vuf_accept(&s.conn, cm.lfd, ACCEPT_MS);
	if (r < 0)
		fail_msg("%s: vhostd did not connect within %d ms: %s", what, ACCEPT_MS,
			 strerror(-r));
	assert_int_equal(t_sess_start(&s, NULL), 0);
	if (t_traffic_check(&s, cm.tap[0], cm.seq, 0xb0) < 0)
		fail_msg("%s: no traffic on p0", what);
	cm.seq += 2;
	wait_state("connected");
	t_sess_close(&s);
	wait_state("waiting");
}

/* The first connection. */
static void test_first_connect(void **state)
{
	(void)state;
	serve_once("first connection");
}

/* We hang up; vhostd comes back by itself. */
static void test_reconnect(void **state)
{
	(void)state;
	serve_once("after we closed the connection");
	serve_once("after we closed it again");
}

/* Nobody listens for a while; vhostd keeps trying and comes back once we listen again. */
static void test_listener_restart(void **state)
{
	(void)state;
	close(cm.lfd);
	cm.lfd = -1;
	unlink(cm.env.sock[0]);
	/* Leave vhostd a moment with nobody to connect to (this makes the gap; it synchronises
	 * nothing). */
	usleep(500 * 1000);
	assert_true(t_alive(cm.env.pid));
	assert_int_equal(vuf_listen(cm.env.sock[0], &cm.lfd), 0);
	serve_once("after the listener came back");
}

/* After each case: alive, p1 works both ways. */
static int check_p1(void **state)
{
	(void)state;
	if (!t_alive(cm.env.pid)) {
		fprintf(stderr, "FAIL: vhostd is gone\n");
		return -1;
	}
	if (t_traffic_check(&cm.p1, cm.tap[1], cm.seq, 0xb1) < 0)
		return -1;
	cm.seq += 2;
	return 0;
}

/* Listens on p0's path, opens the taps and the p1 session. */
static int setup(void **state)
{
	int r;

	(void)state;
	t_env_load(&cm.env);
	cm.seq = 1;
	r = vuf_listen(cm.env.sock[0], &cm.lfd);
	if (r < 0) {
		t_fail("listen on p0's socket path", r);
		return -1;
	}
	for (unsigned i = 0; i < 2; i++) {
		cm.tap[i] = t_pkt_open(cm.env.tap[i]);
		if (cm.tap[i] < 0) {
			t_fail("packet socket", cm.tap[i]);
			return -1;
		}
	}
	if (t_sess_open(&cm.p1, cm.env.sock[1], NULL) < 0)
		return -1;
	return 0;
}

/* Closes everything. */
static int teardown(void **state)
{
	(void)state;
	t_sess_close(&cm.p1);
	if (cm.lfd >= 0)
		close(cm.lfd);
	close(cm.tap[0]);
	close(cm.tap[1]);
	return 0;
}

#define T(f) cmocka_unit_test_teardown(f, check_p1)

/* The three phases in order. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_first_connect),
		T(test_reconnect),
		T(test_listener_restart),
	};

	return cmocka_run_group_tests_name("frontend-client-mode", tests, setup, teardown);
}
