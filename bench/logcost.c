// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * logcost: a vhost-user front-end that measures what dirty-page logging costs a vhostd port.
 *
 * It connects to a port whose back-end is `null` (guest RX from `gen=SIZE`, or guest TX into the
 * sink), posts a whole ring of buffers and then recycles them in order as fast as it can: every
 * used entry goes straight back to the avail ring, no kicks (run vhostd with poll=busy), no copy.
 * Time is split into windows that alternate logging off and on (as QEMU switches it at the start
 * and end of a migration: SET_LOG_BASE, SET_FEATURES with VHOST_F_LOG_ALL, logged ring addresses),
 * so both are measured in the same run, interleaved. While logging is on, the log is swept every
 * -c milliseconds the way QEMU syncs it (each word exchanged with zero), so vhostd keeps finding
 * clear bits to set, as during a real migration.
 *
 * Output, one line per window: "window run=N log=off|on frames=F seconds=S mpps=R".
 *
 * Usage: logcost -s SOCK [-m rx|tx] [-S SIZE] [-r RUNS] [-w WINDOW_MS] [-W WARMUP_MS] [-c SWEEP_MS]
 *        [-n]   (-n: never log, only "off" windows: for a back-end without logging)
 */
#include "tutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct opts {
	const char *sock;
	bool tx, never; /* never: no logging at all (a back-end without it), off windows only */
	unsigned size, runs, window_ms, warmup_ms, sweep_ms;
};

/* Monotonic nanoseconds. */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Clears the log as QEMU's sync does: each 64-bit word exchanged with zero. */
static void sweep(const struct t_log *l)
{
	uint64_t *w = (uint64_t *)l->bits;

	for (uint64_t i = 0; i < l->size / 8; i++)
		if (__atomic_load_n(&w[i], __ATOMIC_RELAXED))
			__atomic_exchange_n(&w[i], 0, __ATOMIC_ACQ_REL);
}

/*
 * Recycles used entries of vq back into its avail ring for ns nanoseconds (sweeping l, when not
 * NULL, every sweep_ns). Returns the entries recycled.
 */
static uint64_t spin(struct vuf_vq *vq, uint64_t ns, const struct t_log *l, uint64_t sweep_ns)
{
	uint16_t mask = (uint16_t)(vq->num - 1);
	uint64_t frames = 0, start = now_ns(), next_sweep = start + sweep_ns, t = start;

	for (unsigned turn = 0;; turn++) {
		uint16_t u = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
		uint16_t n = (uint16_t)(u - vq->used_idx);

		for (uint16_t i = 0; i < n; i++) {
			uint32_t id = vq->used->ring[(uint16_t)(vq->used_idx + i) & mask].id;

			vq->avail->ring[(uint16_t)(vq->avail_idx + i) & mask] = (uint16_t)id;
		}
		vq->used_idx = u;
		vq->avail_idx = (uint16_t)(vq->avail_idx + n);
		__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
		frames += n;
		if (turn % 256 == 0) {
			t = now_ns();
			if (t - start >= ns)
				break;
			if (l && t >= next_sweep) {
				sweep(l);
				next_sweep = t + sweep_ns;
			}
		}
	}
	return frames;
}

/* Parses the command line into o; exits on a bad one. */
static void parse(int argc, char **argv, struct opts *o)
{
	int c;

	*o = (struct opts){
		.size = 64, .runs = 5, .window_ms = 2000, .warmup_ms = 1000, .sweep_ms = 10
	};
	while ((c = getopt(argc, argv, "s:m:S:r:w:W:c:n")) != -1) {
		switch (c) {
		case 's':
			o->sock = optarg;
			break;
		case 'm':
			o->tx = strcmp(optarg, "tx") == 0;
			break;
		case 'S':
			o->size = (unsigned)atoi(optarg);
			break;
		case 'r':
			o->runs = (unsigned)atoi(optarg);
			break;
		case 'w':
			o->window_ms = (unsigned)atoi(optarg);
			break;
		case 'W':
			o->warmup_ms = (unsigned)atoi(optarg);
			break;
		case 'c':
			o->sweep_ms = (unsigned)atoi(optarg);
			break;
		case 'n':
			o->never = true;
			break;
		default:
			goto usage;
		}
	}
	if (o->sock && o->size >= 60 && o->size <= 1514 && o->runs && o->window_ms && o->sweep_ms)
		return;
usage:
	fprintf(stderr, "usage: logcost -s SOCK [-m rx|tx] [-S SIZE 60..1514] [-r RUNS] "
			"[-w WINDOW_MS] [-W WARMUP_MS] [-c SWEEP_MS] [-n]\n");
	exit(2);
}

/* Connects, fills the ring, then measures RUNS pairs of windows (off, on). */
int main(int argc, char **argv)
{
	struct t_opts to = { .qsize = 256,
			     .rx_slots = 256,
			     .rx_slot_size = 2048,
			     .mem_size = 8 << 20,
			     .pfeatures = T_PFEATURES | VUF_BIT(VUF_PF_LOG_SHMFD) };
	static struct t_sess s;
	struct t_log l;
	struct vuf_vq *vq;
	struct opts o;
	int r;

	parse(argc, argv, &o);
	if (o.tx)
		to.no_rx_post = true;
	if (t_sess_open(&s, o.sock, &to) < 0)
		return 1;
	if (!o.never && !(s.conn.protocol_features & VUF_BIT(VUF_PF_LOG_SHMFD))) {
		fprintf(stderr, "logcost: the back-end offers no LOG_SHMFD\n");
		return 1;
	}
	if (o.tx) {
		uint8_t frame[1514];

		/* A full ring of frames; from now on they are only recycled. */
		for (unsigned i = 0; i < s.tx.num; i++) {
			t_frame(frame, o.size, i, 0x77);
			r = t_sess_tx(&s, frame, o.size);
			if (r < 0) {
				t_fail("tx post", r);
				return 1;
			}
		}
		vq = &s.tx;
	} else {
		vq = &s.rx;
	}
	r = t_log_new(&l, t_log_need(&s), t_log_need(&s));
	if (r < 0) {
		t_fail("log", r);
		return 1;
	}
	spin(vq, (uint64_t)o.warmup_ms * 1000000, NULL, 0);
	for (unsigned run = 1; run <= o.runs; run++) {
		for (int on = 0; on < (o.never ? 1 : 2); on++) {
			uint64_t t0, frames;
			double secs;

			r = on ? t_log_on(&s, &l) : (run > 1 ? t_log_off(&s) : 0);
			if (r < 0) {
				t_fail(on ? "logging on" : "logging off", r);
				return 1;
			}
			t0 = now_ns();
			frames = spin(vq, (uint64_t)o.window_ms * 1000000, on ? &l : NULL,
				      (uint64_t)o.sweep_ms * 1000000);
			secs = (double)(now_ns() - t0) / 1e9;
			printf("window run=%u log=%s frames=%llu seconds=%.3f mpps=%.3f\n", run,
			       on ? "on" : "off", (unsigned long long)frames, secs,
			       (double)frames / secs / 1e6);
			fflush(stdout);
		}
	}
	if (!o.never)
		t_log_off(&s);
	t_log_free(&l);
	t_sess_close(&s);
	return 0;
}
