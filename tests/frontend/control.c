// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The control API while a guest's traffic flows on p1 (after every case: vhostd alive, p1
 * carries a frame each way):
 * - every operation round-trips and reports what the port does (features, rings, counters);
 * - bad JSON, unknown operations and fields get their error and the connection goes on;
 *   requests sent together are answered in order;
 * - an over-long line, a client that never reads its replies, a 17th client and a peer whose
 *   uid is not allowed are refused or dropped while other clients are served;
 * - a port added at run time carries traffic, and deleting it under traffic disconnects its
 *   front-end, removes its socket, state file and tap, and gives back every fd, while p1's
 *   counters keep counting;
 * - the poll mode changes at run time.
 */
#include "tutil.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <net/if.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

struct ct {
	struct t_env env;
	int tap1;
	struct t_sess p1;
	uint32_t seq;
};

static struct ct ct;

/* A control connection with its read buffer. */
struct conn {
	int fd;
	char buf[1 << 16];
	size_t len;
};

/* Connects to the control socket (blocking fd; reads are bounded by poll). */
static int ctl_open(struct conn *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	c->len = 0;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", ct.env.ctl);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return 0;
}

/* Writes all of s. */
static void ctl_send(struct conn *c, const char *s)
{
	size_t n = strlen(s), off = 0;

	while (off < n) {
		ssize_t w = write(c->fd, s + off, n - off);

		assert_true(w > 0);
		off += (size_t)w;
	}
}

/*
 * Reads one line (without its newline) into a malloc'ed string. NULL at EOF, on a reset or
 * after timeout_ms without a line.
 */
static char *ctl_line(struct conn *c, int timeout_ms)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len), *line;
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		ssize_t n;

		if (nl) {
			size_t len = (size_t)(nl - c->buf);

			line = strndup(c->buf, len);
			memmove(c->buf, nl + 1, c->len - len - 1);
			c->len -= len + 1;
			return line;
		}
		if (c->len == sizeof(c->buf) || poll(&p, 1, timeout_ms) <= 0)
			return NULL;
		n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n <= 0)
			return NULL;
		c->len += (size_t)n;
	}
}

/*
 * True when the daemon closes c within timeout_ms. Nothing is read: POLLRDHUP says the peer
 * hung up even while its last replies wait unread.
 */
static bool ctl_closed(struct conn *c, int timeout_ms)
{
	struct pollfd p = { .fd = c->fd, .events = POLLRDHUP };

	return poll(&p, 1, timeout_ms) == 1 && (p.revents & (POLLRDHUP | POLLHUP));
}

/* One request on c; returns the parsed reply (asserts it is one). */
static struct json_object *call_on(struct conn *c, const char *req)
{
	struct json_object *r;
	char *line;

	ctl_send(c, req);
	ctl_send(c, "\n");
	line = ctl_line(c, T_TIMEOUT);
	if (!line)
		fail_msg("no reply to %s", req);
	r = json_tokener_parse(line);
	if (!r)
		fail_msg("reply to %s is no JSON: %s", req, line);
	free(line);
	return r;
}

/* One request on a new connection; returns the parsed reply (asserts it is one). */
static struct json_object *call(const char *req)
{
	struct conn *c = malloc(sizeof(*c));
	struct json_object *r;

	assert_non_null(c);
	assert_int_equal(ctl_open(c), 0);
	r = call_on(c, req);
	close(c->fd);
	free(c);
	return r;
}

/* obj.path (keys separated by '.'), or fails. */
static struct json_object *get(struct json_object *obj, const char *path)
{
	char copy[128], *save = NULL;
	struct json_object *cur = obj;

	snprintf(copy, sizeof(copy), "%s", path);
	for (char *k = strtok_r(copy, ".", &save); k; k = strtok_r(NULL, ".", &save))
		if (!json_object_object_get_ex(cur, k, &cur))
			fail_msg("no %s in %s", path, json_object_to_json_string(obj));
	return cur;
}

/* Asserts the reply succeeded; returns its result (owned by reply). */
static struct json_object *ok(struct json_object *reply)
{
	if (!json_object_get_boolean(get(reply, "ok")))
		fail_msg("request failed: %s", json_object_to_json_string(reply));
	return get(reply, "result");
}

/* Asserts the reply is an error with code. */
static void is_error(struct json_object *reply, const char *code)
{
	if (json_object_get_boolean(get(reply, "ok")) ||
	    strcmp(json_object_get_string(get(reply, "error.code")), code) != 0)
		fail_msg("want error %s: %s", code, json_object_to_json_string(reply));
	assert_true(json_object_get_string_len(get(reply, "error.message")) > 0);
}

/* Asserts that a fresh client is served (the daemon is not stuck on another one). */
static void served(void)
{
	struct json_object *r = call("{\"id\":1,\"op\":\"version\"}");

	ok(r);
	json_object_put(r);
}

/* p1's totals counter name, from a JSON stats request on c. */
static uint64_t p1_total(struct conn *c, const char *counter)
{
	struct json_object *r = call_on(c, "{\"op\":\"stats\",\"args\":{\"name\":\"p1\"}}");
	struct json_object *ports = get(ok(r), "ports"), *p;
	char path[64];
	uint64_t v;

	assert_int_equal(json_object_array_length(ports), 1);
	p = json_object_array_get_idx(ports, 0);
	snprintf(path, sizeof(path), "total.%s", counter);
	v = json_object_get_uint64(get(p, path));
	json_object_put(r);
	return v;
}

/* Every operation once; port-show and stats tell what the connected port does. */
static void test_round_trip(void **state)
{
	struct json_object *r, *res, *rings, *ports, *q;
	uint64_t sum = 0;

	r = call("{\"id\":\"a\",\"op\":\"version\"}");
	assert_int_equal(json_object_get_int(get(ok(r), "api")), 1);
	assert_string_equal(json_object_get_string(get(r, "id")), "a");
	json_object_put(r);

	r = call("{\"op\":\"port-list\"}");
	ports = get(ok(r), "ports");
	assert_int_equal(json_object_array_length(ports), 2);
	json_object_put(r);

	r = call("{\"op\":\"port-show\",\"args\":{\"name\":\"p1\"}}");
	res = ok(r);
	assert_string_equal(json_object_get_string(get(res, "state")), "connected");
	assert_string_equal(json_object_get_string(get(res, "backend")), "tap");
	assert_string_equal(json_object_get_string(get(res, "ifname")), ct.env.tap[1]);
	assert_true(json_object_array_length(get(res, "features.negotiated")) > 0);
	rings = get(res, "rings");
	assert_int_equal(json_object_array_length(rings), 2);
	for (size_t i = 0; i < 2; i++) {
		struct json_object *ring = json_object_array_get_idx(rings, i);

		assert_string_equal(json_object_get_string(get(ring, "state")), "started");
		assert_int_equal(json_object_get_int(get(ring, "size")), ct.p1.rx.num);
	}
	json_object_put(r);

	/* The totals are the sum of the queues, and the guest's kicks and our calls counted. */
	r = call("{\"op\":\"stats\",\"args\":{\"name\":\"p1\",\"format\":\"json\"}}");
	res = json_object_array_get_idx(get(ok(r), "ports"), 0);
	q = get(res, "queues");
	for (size_t i = 0; i < json_object_array_length(q); i++)
		sum += json_object_get_uint64(get(json_object_array_get_idx(q, i), "tx_packets"));
	assert_true(sum > 0);
	assert_int_equal(sum, json_object_get_uint64(get(res, "total.tx_packets")));
	assert_true(json_object_get_uint64(get(res, "total.tx_kicks")) > 0);
	assert_true(json_object_get_uint64(get(res, "total.rx_calls")) > 0);
	json_object_put(r);

	r = call("{\"op\":\"stats\",\"args\":{\"format\":\"prometheus\"}}");
	assert_non_null(strstr(json_object_get_string(get(ok(r), "text")),
			       "vhostd_port_tx_packets_total{port=\"p1\",queue=\"0\"} "));
	json_object_put(r);
	r = call("{\"op\":\"stats\",\"args\":{\"name\":\"p1\",\"format\":\"kv\"}}");
	assert_true(strncmp(json_object_get_string(get(ok(r), "text")), "port=p1 state=connected ",
			    24) == 0);
	json_object_put(r);
	r = call("{\"op\":\"set\",\"args\":{\"log_level\":\"debug\"}}");
	ok(r);
	json_object_put(r);
}

/* Errors are answered and the connection stays usable; ids come back. */
static void test_bad_requests(void **state)
{
	static const struct {
		const char *req, *code;
	} cases[] = {
		{ "{bad", "parse-error" },
		{ "\"just a string\"", "invalid-request" },
		{ "{\"id\":2}", "invalid-request" },
		{ "{\"op\":\"format-disk\"}", "unknown-op" },
		{ "{\"op\":\"version\",\"args\":{\"verbose\":true}}", "invalid-argument" },
		{ "{\"op\":\"port-show\",\"args\":{\"name\":\"p9\"}}", "not-found" },
		{ "{\"op\":\"port-add\",\"args\":{\"spec\":\"name=p1,socket=/x,backend=null\"}}",
		  "exists" },
		{ "{\"op\":\"port-add\",\"args\":{\"spec\":\"name=q,socket=/x,backend=warp\"}}",
		  "invalid-argument" },
		{ "{\"op\":\"set\",\"args\":{\"port\":\"p1\",\"poll\":\"sometimes\"}}",
		  "invalid-argument" },
	};
	struct conn *c = malloc(sizeof(*c));

	assert_non_null(c);
	assert_int_equal(ctl_open(c), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct json_object *r;
		char *line;

		ctl_send(c, cases[i].req);
		ctl_send(c, "\n");
		line = ctl_line(c, T_TIMEOUT);
		if (!line)
			fail_msg("no reply to %s", cases[i].req);
		r = json_tokener_parse(line);
		assert_non_null(r);
		is_error(r, cases[i].code);
		json_object_put(r);
		free(line);
	}
	close(c->fd);
	free(c);
}

/* 200 requests in one write: 200 replies, in order. */
static void test_pipelined(void **state)
{
	struct conn *c = malloc(sizeof(*c));
	static char all[200 * 64];
	size_t n = 0;

	assert_non_null(c);
	for (int i = 0; i < 200; i++)
		n += (size_t)snprintf(all + n, sizeof(all) - n, "{\"id\":%d,\"op\":\"%s\"}\n", i,
				      i % 2 ? "version" : "port-list");
	assert_int_equal(ctl_open(c), 0);
	ctl_send(c, all);
	for (int i = 0; i < 200; i++) {
		char *line = ctl_line(c, T_TIMEOUT);
		struct json_object *r;

		assert_non_null(line);
		r = json_tokener_parse(line);
		assert_int_equal(json_object_get_int(get(r, "id")), i);
		ok(r);
		json_object_put(r);
		free(line);
	}
	close(c->fd);
	free(c);
}

/* A line over 64 KiB: too-large, then the daemon hangs up. */
static void test_oversized(void **state)
{
	struct conn *c = malloc(sizeof(*c));
	size_t n = 70000;
	char *big = malloc(n + 1), *line;
	struct json_object *r;

	assert_non_null(c);
	assert_non_null(big);
	memset(big, ' ', n);
	big[0] = '{';
	big[n] = '\0';
	assert_int_equal(ctl_open(c), 0);
	/* The daemon may hang up before it read everything: a failed write is fine here. */
	(void)!send(c->fd, big, n, MSG_NOSIGNAL);
	line = ctl_line(c, T_TIMEOUT);
	assert_non_null(line);
	r = json_tokener_parse(line);
	is_error(r, "too-large");
	json_object_put(r);
	free(line);
	assert_true(ctl_closed(c, T_TIMEOUT));
	close(c->fd);
	free(c);
	free(big);
	served();
}

/*
 * A client that sends requests and never reads the replies: the daemon stops at its bound of
 * pending bytes and drops it, serving others meanwhile.
 */
static void test_never_reads(void **state)
{
	static const char req[] = "{\"op\":\"stats\",\"args\":{\"format\":\"prometheus\"}}\n";
	struct conn *c = malloc(sizeof(*c));
	size_t sent = 0;

	assert_non_null(c);
	assert_int_equal(ctl_open(c), 0);
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	/* 1 MiB of requests, or as much as the socket takes: far more replies than 4 MiB. */
	while (sent < (1u << 20)) {
		ssize_t w = send(c->fd, req, sizeof(req) - 1, MSG_NOSIGNAL);

		if (w < 0)
			break;
		sent += (size_t)w;
	}
	assert_true(sent > 0);
	served();
	fcntl(c->fd, F_SETFL, 0);
	assert_true(ctl_closed(c, 3 * T_TIMEOUT));
	close(c->fd);
	free(c);
	served();
}

/* Sixteen clients at once; the seventeenth is closed at once; one slot frees, one is served. */
static void test_too_many_clients(void **state)
{
	struct conn *c = malloc(17 * sizeof(*c));

	assert_non_null(c);
	for (int i = 0; i < 17; i++)
		assert_int_equal(ctl_open(&c[i]), 0);
	/* All sixteen are known to the daemon once one of them got an answer... */
	ctl_send(&c[15], "{\"op\":\"version\"}\n");
	free(ctl_line(&c[15], T_TIMEOUT));
	assert_true(ctl_closed(&c[16], T_TIMEOUT));
	close(c[16].fd);
	close(c[0].fd);
	/* ...and a freed slot takes a new client (the daemon sees the close first). */
	for (int tries = 0;; tries++) {
		struct json_object *r;
		char *line;

		assert_int_equal(ctl_open(&c[16]), 0);
		ctl_send(&c[16], "{\"op\":\"version\"}\n");
		line = ctl_line(&c[16], T_TIMEOUT);
		close(c[16].fd);
		if (line) {
			r = json_tokener_parse(line);
			ok(r);
			json_object_put(r);
			free(line);
			break;
		}
		assert_true(tries < 50);
		usleep(10 * 1000); /* the close of c[0] has no event we can wait for */
	}
	for (int i = 1; i < 16; i++)
		close(c[i].fd);
	free(c);
}

/*
 * A peer with another uid: refused by its credentials even when the socket's mode lets it
 * connect.
 */
static void test_wrong_uid(void **state)
{
	pid_t pid;
	int st;

	assert_int_equal(chmod(ct.env.ctl, 0666), 0);
	/* The scratch directory must let that user reach the socket. */
	assert_int_equal(chmod(ct.env.dir, 0711), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct conn *c = malloc(sizeof(*c));
		struct json_object *r;
		char *line;

		if (!c || setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0 ||
		    ctl_open(c) < 0)
			_exit(2);
		/* The daemon may have hung up already: no SIGPIPE, the reply is there to read. */
		(void)!send(c->fd, "{\"op\":\"port-del\",\"args\":{\"name\":\"p1\"}}\n", 39,
			    MSG_NOSIGNAL);
		line = ctl_line(c, T_TIMEOUT);
		r = line ? json_tokener_parse(line) : NULL;
		if (!r || json_object_get_boolean(get(r, "ok")) ||
		    strcmp(json_object_get_string(get(r, "error.code")), "permission-denied") != 0)
			_exit(4);
		_exit(ctl_closed(c, T_TIMEOUT) ? 0 : 5);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	chmod(ct.env.ctl, 0660);
	chmod(ct.env.dir, 0700);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("the other uid's client: status %d", st);
	/* p1 is still there: the refused request did nothing. */
	json_object_put(call("{\"op\":\"port-show\",\"args\":{\"name\":\"p1\"}}"));
}

/*
 * A port added at run time carries traffic; deleted under traffic, it disconnects its
 * front-end and releases its socket, state file, tap and fds. p1 keeps counting throughout.
 */
static void test_port_add_del(void **state)
{
	char sock[256], statef[300], req[512];
	struct conn *c = malloc(sizeof(*c));
	struct json_object *r;
	struct t_sess s;
	uint64_t p1_before;
	int fds_before, tap, fds_during;
	struct pollfd p;

	/* One control connection throughout, answered once before counting: the daemon's fds
	 * are then its own and this connection's (closes of earlier clients came before). */
	assert_non_null(c);
	assert_int_equal(ctl_open(c), 0);
	p1_before = p1_total(c, "tx_packets");
	fds_before = t_fd_count(ct.env.pid);

	snprintf(sock, sizeof(sock), "%s/p2.sock", ct.env.dir);
	snprintf(statef, sizeof(statef), "%s.state", sock);
	snprintf(req, sizeof(req),
		 "{\"op\":\"port-add\",\"args\":{\"name\":\"p2\",\"socket\":\"%s\","
		 "\"backend\":\"tap\",\"ifname\":\"vhf2\",\"queues\":1}}",
		 sock);
	assert_true(fds_before > 0);
	r = call_on(c, req);
	assert_string_equal(json_object_get_string(get(ok(r), "source")), "api");
	json_object_put(r);
	assert_int_equal(access(sock, F_OK), 0);
	assert_true(if_nametoindex("vhf2") > 0);

	tap = t_pkt_open("vhf2");
	assert_true(tap >= 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(t_sess_open(&s, sock, NULL), 0);
	assert_int_equal(t_traffic_check(&s, tap, 7000, 0xc2), 0);
	assert_int_equal(t_traffic_check(&ct.p1, ct.tap1, ct.seq, 0xc1), 0);
	ct.seq += 2;
	fds_during = t_fd_count(ct.env.pid);
	assert_true(fds_during > fds_before);

	/* Frames in flight on p2 when it goes. */
	for (int i = 0; i < 8; i++)
		assert_true(t_sess_tx(&s, "\xff\xff\xff\xff\xff\xff\x02\0\0\0\0\x02\x88\xb5xx",
				      16) >= 0);
	r = call_on(c, "{\"op\":\"port-del\",\"args\":{\"name\":\"p2\"}}");
	ok(r);
	json_object_put(r);

	/* The front-end sees its connection end. */
	p = (struct pollfd){ .fd = s.conn.fd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, T_TIMEOUT), 1);
	assert_true(read(s.conn.fd, req, sizeof(req)) <= 0);
	assert_int_equal(access(sock, F_OK), -1);
	assert_int_equal(access(statef, F_OK), -1);
	assert_int_equal(if_nametoindex("vhf2"), 0);
	assert_int_equal(t_fd_count(ct.env.pid), fds_before);
	t_sess_close(&s);
	close(tap);

	r = call_on(c, "{\"op\":\"port-show\",\"args\":{\"name\":\"p2\"}}");
	is_error(r, "not-found");
	json_object_put(r);
	/* p1's counters went on (one frame each way above), never back to zero. */
	assert_true(p1_total(c, "tx_packets") > p1_before);
	close(c->fd);
	free(c);
}

/* The poll mode switches at run time, and traffic follows in each. */
static void test_set_poll(void **state)
{
	static const char *const modes[] = { "busy", "event", "adaptive" };

	for (size_t i = 0; i < 3; i++) {
		char req[128];
		struct json_object *r;

		snprintf(req, sizeof(req),
			 "{\"op\":\"set\",\"args\":{\"port\":\"p1\",\"poll\":\"%s\"}}", modes[i]);
		r = call(req);
		ok(r);
		json_object_put(r);
		r = call("{\"op\":\"port-show\",\"args\":{\"name\":\"p1\"}}");
		assert_string_equal(json_object_get_string(get(ok(r), "poll")), modes[i]);
		json_object_put(r);
		assert_int_equal(t_traffic_check(&ct.p1, ct.tap1, ct.seq, 0xd0), 0);
		ct.seq += 2;
	}
}

/* After each case: alive, p1 works both ways. */
static int check_p1(void **state)
{
	if (!t_alive(ct.env.pid)) {
		fprintf(stderr, "FAIL: vhostd is gone\n");
		return -1;
	}
	if (t_traffic_check(&ct.p1, ct.tap1, ct.seq, 0xb1) < 0)
		return -1;
	ct.seq += 2;
	return 0;
}

static int setup(void **state)
{
	t_env_load(&ct.env);
	ct.seq = 1;
	ct.tap1 = t_pkt_open(ct.env.tap[1]);
	if (ct.tap1 < 0) {
		t_fail("packet socket", ct.tap1);
		return -1;
	}
	if (t_sess_open(&ct.p1, ct.env.sock[1], NULL) < 0)
		return -1;
	/* Traffic before the first case, so that counters have something to show. */
	return check_p1(state);
}

static int teardown(void **state)
{
	t_sess_close(&ct.p1);
	close(ct.tap1);
	return 0;
}

#define T(f) cmocka_unit_test_teardown(f, check_p1)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_round_trip), T(test_bad_requests), T(test_pipelined),
		T(test_oversized),  T(test_never_reads),  T(test_too_many_clients),
		T(test_wrong_uid),  T(test_port_add_del), T(test_set_poll),
	};

	return cmocka_run_group_tests_name("frontend-control", tests, setup, teardown);
}
