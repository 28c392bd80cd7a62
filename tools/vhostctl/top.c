/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhostctl top: a refreshing per-port view of the daemon's rates. Each refresh sends "stats" on
 * the one connection kept open, and rates are counter deltas over the CLOCK_MONOTONIC time between
 * two replies. On a terminal the frame is redrawn in place and the keyboard is read without
 * waiting for Enter (q quits); the terminal's settings are put back on every way out. */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "output.h"
#include "vhostctl.h"

#define NAME_COL 13 /* the PORT column; longer names are cut, ending in '~' */

#define INTERVAL_MIN 0.1
#define INTERVAL_MAX 3600.0

/* One port as one stats reply showed it: total counters and state. */
struct sample {
	char name[64];
	char state[16];
	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes, drops, faults;
};

/* Every port of one reply and when it arrived. */
struct snapshot {
	struct sample *ports;
	size_t n;
	double t; /* CLOCK_MONOTONIC seconds */
};

/* One row of a frame; rates only when the port has an earlier sample to compare with. */
struct row {
	const struct sample *s;
	bool rates;
	double rx_pps, rx_bps, tx_pps, tx_bps;
	uint64_t drops, faults;
};

static volatile sig_atomic_t quit_signal;

/* Notes that a quitting signal came; the loop ends at its next wait. */
static void on_signal(int sig)
{
	quit_signal = sig;
}

/* CLOCK_MONOTONIC in seconds. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Frees a snapshot's ports and zeroes it. */
static void snapshot_clear(struct snapshot *s)
{
	free(s->ports);
	*s = (struct snapshot){ 0 };
}

/* Reads one PORTSTATS object into *ret. Returns 0, or -EBADMSG when a member top needs is missing
 * or of the wrong type. */
static int sample_parse(json_object *p, struct sample *ret)
{
	json_object *t = json_member(p, "total", json_type_object);
	const char *name = json_str(p, "name"), *state = json_str(p, "state");
	uint64_t rxd, txd, txe;

	if (!name || !t || !json_u64(t, "rx_packets", &ret->rx_packets) ||
	    !json_u64(t, "rx_bytes", &ret->rx_bytes) ||
	    !json_u64(t, "tx_packets", &ret->tx_packets) ||
	    !json_u64(t, "tx_bytes", &ret->tx_bytes) || !json_u64(t, "rx_dropped", &rxd) ||
	    !json_u64(t, "tx_dropped", &txd) || !json_u64(t, "tx_errors", &txe) ||
	    !json_u64(t, "ring_faults", &ret->faults))
		return -EBADMSG;
	ret->drops = rxd + txd + txe;
	snprintf(ret->name, sizeof(ret->name), "%s", name);
	snprintf(ret->state, sizeof(ret->state), "%s", state ? state : "-");
	return 0;
}

/* Asks the daemon for stats and fills *ret with every port and the time of the reply. Returns the
 * exit status (a message printed when not EXIT_OK); *ret is untouched then. */
static int snapshot_take(struct invocation *inv, struct snapshot *ret)
{
	_cleanup_json_ json_object *res = NULL;
	struct snapshot s = { 0 };
	json_object *ports;
	int r = ctl_call(inv, "stats", NULL, &res);

	if (r != EXIT_OK)
		return r;
	s.t = now_s();
	ports = json_member(res, "ports", json_type_array);
	if (!ports)
		return protocol_error("stats result without \"ports\"");
	s.n = json_object_array_length(ports);
	s.ports = calloc(s.n ? s.n : 1, sizeof(*s.ports));
	if (!s.ports)
		return out_of_memory();
	for (size_t i = 0; i < s.n; i++) {
		if (sample_parse(json_object_array_get_idx(ports, i), &s.ports[i]) < 0) {
			snapshot_clear(&s);
			return protocol_error("port stats without a name or the total counters");
		}
	}
	*ret = s;
	return EXIT_OK;
}

/* The sample of the port named name in snap, or NULL. */
static const struct sample *find_port(const struct snapshot *snap, const char *name)
{
	for (size_t i = 0; i < snap->n; i++)
		if (!strcmp(snap->ports[i].name, name))
			return &snap->ports[i];
	return NULL;
}

/* Computes the row of port s in cur against prev (which may be empty). A port missing from prev,
 * or whose counters went back (re-created under the same name), gets no rates. */
static void row_compute(const struct sample *s, const struct snapshot *prev, double dt,
			struct row *ret)
{
	const struct sample *p = find_port(prev, s->name);

	*ret = (struct row){ .s = s };
	if (!p || dt <= 0 || s->rx_packets < p->rx_packets || s->rx_bytes < p->rx_bytes ||
	    s->tx_packets < p->tx_packets || s->tx_bytes < p->tx_bytes || s->drops < p->drops ||
	    s->faults < p->faults)
		return;
	ret->rates = true;
	ret->rx_pps = (double)(s->rx_packets - p->rx_packets) / dt;
	ret->rx_bps = (double)(s->rx_bytes - p->rx_bytes) * 8 / dt;
	ret->tx_pps = (double)(s->tx_packets - p->tx_packets) / dt;
	ret->tx_bps = (double)(s->tx_bytes - p->tx_bytes) * 8 / dt;
	ret->drops = s->drops - p->drops;
	ret->faults = s->faults - p->faults;
}

/* Ends a frame's line: on a terminal, erases what an earlier, longer frame left on it. */
static void end_line(bool tty)
{
	fputs(tty ? "\033[K\n" : "\n", stdout);
}

/* Prints one frame as text: a summary line, the header and a row per port. */
static void frame_text(const struct snapshot *cur, const struct snapshot *prev, double interval,
		       bool tty)
{
	size_t connected = 0;
	char clock[16] = "";
	time_t wall = time(NULL);
	struct tm tm;

	for (size_t i = 0; i < cur->n; i++)
		connected += !strcmp(cur->ports[i].state, "connected");
	if (localtime_r(&wall, &tm))
		strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	if (tty)
		fputs("\033[H", stdout);
	printf("vhostd: %zu port%s (%zu connected)  every %.2f s", cur->n, cur->n == 1 ? "" : "s",
	       connected, interval);
	if (prev->t > 0)
		printf(", last %.3f s", cur->t - prev->t);
	printf("  %s%s", clock, tty ? "  q: quit" : "");
	end_line(tty);
	printf("%-*s  %-9s  %7s  %8s  %7s  %8s  %6s  %6s", NAME_COL, "PORT", "STATE", "RX PPS",
	       "RX BIT/S", "TX PPS", "TX BIT/S", "DROPS", "FAULTS");
	end_line(tty);
	for (size_t i = 0; i < cur->n; i++) {
		char name[NAME_COL + 1], b[6][HUMAN_MAX];
		struct row r;

		row_compute(&cur->ports[i], prev, cur->t - prev->t, &r);
		snprintf(name, sizeof(name), "%.*s", NAME_COL, r.s->name);
		if (strlen(r.s->name) > NAME_COL)
			name[NAME_COL - 1] = '~';
		if (!r.rates) {
			printf("%-*s  %-9s  %7s  %8s  %7s  %8s  %6s  %6s", NAME_COL, name,
			       r.s->state, "-", "-", "-", "-", "-", "-");
		} else {
			printf("%-*s  %-9s  %7s  %8s  %7s  %8s  %6s  %6s", NAME_COL, name,
			       r.s->state, human_rate(b[0], r.rx_pps), human_rate(b[1], r.rx_bps),
			       human_rate(b[2], r.tx_pps), human_rate(b[3], r.tx_bps),
			       human_count(b[4], r.drops), human_count(b[5], r.faults));
		}
		end_line(tty);
	}
	if (tty)
		fputs("\033[J", stdout);
}

/* Adds key: v rounded to a whole number to o, or null when there is no rate. Returns 0 or
 * -ENOMEM. */
static int add_rate(json_object *o, const char *key, bool have, double v)
{
	return json_object_object_add(o, key,
				      have ? json_object_new_uint64((uint64_t)llround(v)) : NULL);
}

/* Prints one frame as one line of JSON: {"elapsed": S|null, "ports": [{"name", "state", "rx_pps",
 * "rx_bps", "tx_pps", "tx_bps", "drops", "faults"}]}, rates as whole numbers, null when there is
 * none yet. Returns 0 or -ENOMEM. */
static int frame_json(const struct snapshot *cur, const struct snapshot *prev)
{
	_cleanup_json_ json_object *f = json_object_new_object();
	json_object *ports = json_object_new_array(), *elapsed = NULL;
	char text[32];

	if (prev->t > 0) {
		/* Milliseconds are what CLOCK_MONOTONIC deltas of a poll loop are worth. */
		snprintf(text, sizeof(text), "%.3f", cur->t - prev->t);
		elapsed = json_object_new_double_s(cur->t - prev->t, text);
	}
	if (!f || !ports || (prev->t > 0 && !elapsed) ||
	    json_object_object_add(f, "elapsed", elapsed) < 0) {
		json_object_put(ports);
		json_object_put(elapsed);
		return -ENOMEM;
	}
	if (json_object_object_add(f, "ports", ports) < 0) {
		json_object_put(ports);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cur->n; i++) {
		json_object *p = json_object_new_object();
		struct row r;

		if (!p || json_object_array_add(ports, p) < 0) {
			json_object_put(p);
			return -ENOMEM;
		}
		row_compute(&cur->ports[i], prev, cur->t - prev->t, &r);
		if (json_object_object_add(p, "name", json_object_new_string(r.s->name)) < 0 ||
		    json_object_object_add(p, "state", json_object_new_string(r.s->state)) < 0 ||
		    add_rate(p, "rx_pps", r.rates, r.rx_pps) < 0 ||
		    add_rate(p, "rx_bps", r.rates, r.rx_bps) < 0 ||
		    add_rate(p, "tx_pps", r.rates, r.tx_pps) < 0 ||
		    add_rate(p, "tx_bps", r.rates, r.tx_bps) < 0 ||
		    json_object_object_add(p, "drops",
					   r.rates ? json_object_new_uint64(r.drops) : NULL) < 0 ||
		    json_object_object_add(p, "faults",
					   r.rates ? json_object_new_uint64(r.faults) : NULL) < 0)
			return -ENOMEM;
	}
	puts(json_object_to_json_string_ext(f, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
	return 0;
}

/* Waits until the monotonic time deadline, reading keys from stdin when keys is set. Returns true
 * when the user asked to quit (q, Q, or a SIGINT/SIGTERM/SIGHUP, which are blocked outside this
 * wait and let through by ppoll() only). */
static bool wait_until(double deadline, bool keys, const sigset_t *waitmask)
{
	for (;;) {
		struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
		double left = deadline - now_s();
		struct timespec ts;
		int n;

		if (quit_signal)
			return true;
		if (left <= 0)
			return false;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		n = ppoll(&p, keys ? 1 : 0, &ts, waitmask);
		if (n > 0 && (p.revents & POLLIN)) {
			char c[32];
			ssize_t k = read(STDIN_FILENO, c, sizeof(c));

			if (k > 0 && (memchr(c, 'q', (size_t)k) || memchr(c, 'Q', (size_t)k)))
				return true;
		}
		if (n > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
			keys = false;
	}
}

/* Parses --interval's SECONDS into *ret. Returns 0 or -EINVAL. */
static int parse_interval(const char *s, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= INTERVAL_MIN && v <= INTERVAL_MAX))
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Parses --count's N (1 or more) into *ret. Returns 0 or -EINVAL. */
static int parse_count(const char *s, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v == 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Refreshes until the count is reached, the user quits or a call fails. Returns the exit status. */
static int top_loop(struct invocation *inv, double interval, unsigned long count, bool tty,
		    bool keys, const sigset_t *waitmask)
{
	struct snapshot prev = { 0 }, cur = { 0 };
	double next = now_s();
	int r = EXIT_OK;

	for (unsigned long frame = 1;; frame++) {
		r = snapshot_take(inv, &cur);
		if (r != EXIT_OK)
			break;
		if (!tty && !inv->json && frame > 1)
			putchar('\n');
		if (inv->json) {
			if (frame_json(&cur, &prev) < 0) {
				r = out_of_memory();
				break;
			}
		} else {
			frame_text(&cur, &prev, interval, tty);
		}
		fflush(stdout);
		snapshot_clear(&prev);
		prev = cur;
		cur = (struct snapshot){ 0 };
		if (count && frame >= count)
			break;
		/* Refreshes keep to a fixed beat; one that came late does not make the next early.
		 */
		next += interval;
		if (next < now_s())
			next = now_s();
		if (wait_until(next, keys, waitmask))
			break;
	}
	snapshot_clear(&prev);
	snapshot_clear(&cur);
	return r;
}

/* vhostctl top [--interval=SECONDS] [--count=N] */
int cmd_top(struct invocation *inv)
{
	struct sigaction sa = { .sa_handler = on_signal }, old_sa[3];
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	double interval = 1.0;
	unsigned long count = 0;
	bool tty = !inv->json && isatty(STDOUT_FILENO), keys = isatty(STDIN_FILENO);
	struct termios saved, raw;
	sigset_t block, waitmask;
	int r;

	if (inv->opt[0] && parse_interval(inv->opt[0], &interval) < 0)
		return usage_error(inv, "--interval: '%s' is not a number of seconds in [%g, %g]",
				   inv->opt[0], INTERVAL_MIN, INTERVAL_MAX);
	if (inv->opt[1] && parse_count(inv->opt[1], &count) < 0)
		return usage_error(inv, "--count: '%s' is not a number of refreshes (1 or more)",
				   inv->opt[1]);
	inv->reconnect = true;

	/* The quitting signals are only let through while waiting, so the terminal is always put
	 * back by the code below, never left raw by a signal's default action. */
	sigemptyset(&block);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaddset(&block, sigs[i]);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, &old_sa[i]);

	if (keys && tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		keys = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
	} else {
		keys = false;
	}
	if (tty)
		fputs("\033[?25l\033[H\033[2J", stdout); /* hide the cursor, clear the screen */

	r = top_loop(inv, interval, count, tty, keys, &waitmask);

	if (tty) {
		fputs("\033[?25h", stdout);
		fflush(stdout);
	}
	if (keys)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	/* A signal still pending reaches our handler, not the default action, then the old ones
	 * are back. */
	sigprocmask(SIG_SETMASK, &waitmask, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &old_sa[i], NULL);
	return r;
}
