/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers shared by the front-end integration tests: the environment run.sh sets up, vhostd's
 * control socket, AF_PACKET on the taps, test frames, and a ready-made front-end session.
 */
#ifndef TUTIL_H
#define TUTIL_H

#include "vuf.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define T_GPA_BASE  0x40000000ull
#define T_TIMEOUT   5000   /* ms: anything that should happen at once */
#define T_STALE_MAX 64	   /* stale frames t_traffic_check_stale() may skip */
#define T_ETHERTYPE 0x88b5 /* IEEE local experimental: the kernel ignores it */

/* What run.sh passes: sockets, control path, daemon pid, tap names. */
struct t_env {
	const char *sock[2];
	const char *ctl;
	const char *tap[2];
	const char *dir;
	pid_t pid;
};

/* Reads the environment run.sh sets; exits with a message when something is missing. */
void t_env_load(struct t_env *env);

/* One port's line of `stats`. */
struct t_stats {
	char state[16];
	uint64_t tx_packets, tx_bytes, tx_dropped, tx_errors;
	uint64_t rx_packets, rx_bytes, rx_dropped, ring_faults;
	uint64_t rx_oversize;
	uint64_t mem_faults, conn_refused, msg_refused;
};

/* Asks the control socket for stats and parses port's line. */
int t_stats(const char *ctl, const char *port, struct t_stats *ret);

struct json_object;

/* Sends one control request line (with its newline) and returns the parsed reply (the caller
 * frees it with json_object_put()), or NULL when the socket or the reply failed. */
struct json_object *t_ctl_call(const char *ctl, const char *req);

/* Polls stats until field (offsetof into t_stats, a uint64_t) reaches at least want or
 * timeout_ms passes; returns the last stats read (0) or an error. Counters have no event, so a
 * bounded poll is the only way to wait for them. */
int t_stats_wait(const char *ctl, const char *port, size_t field, uint64_t want, int timeout_ms,
		 struct t_stats *ret);

/* Prints a stats line to stderr, for failure reports. */
void t_stats_print(const char *what, const struct t_stats *s);

/* Milliseconds on the monotonic clock. */
int64_t t_now_ms(void);

/* True when pid exists and is not a zombie. */
bool t_alive(pid_t pid);

/* Number of open fds of pid (entries of /proc/PID/fd), or -errno. */
int t_fd_count(pid_t pid);

/* Number of open fds of pid once it is at most at_most, or the last count after timeout_ms (an
 * fd closing has no event: a bounded poll). */
int t_fd_count_settle(pid_t pid, int at_most, int timeout_ms);

/* ifname's MTU, or 0 when it cannot be read. */
unsigned t_if_mtu(const char *ifname);

/* Opens an AF_PACKET socket bound to ifname that sees every frame, with a large receive buffer. */
int t_pkt_open(const char *ifname);

/* Transmits one frame on the packet socket's interface (towards vhostd). */
int t_pkt_send(int fd, const void *frame, size_t len);

/* Receives the next frame vhostd wrote to the tap (outgoing frames are skipped) within
 * timeout_ms; returns its length or -ETIMEDOUT. */
int t_pkt_recv(int fd, void *buf, size_t cap, int timeout_ms);

/* Discards whatever is queued on a packet socket. */
void t_pkt_drain(int fd);

/* Fills frame with len bytes (>= 18): unicast MACs with tag, T_ETHERTYPE, seq, pattern. */
void t_frame(uint8_t *frame, size_t len, uint32_t seq, uint8_t tag);

/* The seq t_frame() wrote, for reports. */
uint32_t t_frame_seq(const uint8_t *frame);

/* Session options; zero means the default noted. */
struct t_opts {
	uint64_t features;	      /* default T_FEATURES */
	uint64_t pfeatures;	      /* default T_PFEATURES */
	bool no_protocol;	      /* do not negotiate PROTOCOL_FEATURES at all */
	uint16_t qsize;		      /* default 256 */
	uint64_t mem_size;	      /* default 4 MiB */
	unsigned nregions;	      /* default 1 */
	const uint64_t *region_sizes; /* NULL: equal */
	bool add_mem_reg;	      /* ADD_MEM_REG per region instead of SET_MEM_TABLE */
	unsigned rx_slots;	      /* default 128 */
	uint32_t rx_slot_size;	      /* default 2048 */
	bool rx_mixed;		      /* some RX buffers as two descriptors (header split) */
	bool no_enable;		      /* do not send SET_VRING_ENABLE 1 */
	bool no_rx_post;	      /* post no RX buffers at set-up */
	uint16_t base;		      /* SET_VRING_BASE for both rings */
	enum vuf_mem_kind mem_kind;   /* default memfd */
};

#define T_FEATURES                                                                                 \
	(VUF_BIT(VUF_F_VERSION_1) | VUF_BIT(VUF_F_MRG_RXBUF) | VUF_BIT(VUF_F_INDIRECT_DESC) |      \
	 VUF_BIT(VUF_F_EVENT_IDX) | VUF_BIT(VUF_F_PROTOCOL_FEATURES) | VUF_BIT(VUF_F_CSUM) |       \
	 VUF_BIT(VUF_F_GUEST_CSUM) | VUF_BIT(VUF_F_ANY_LAYOUT))
#define T_PFEATURES                                                                                \
	(VUF_BIT(VUF_PF_MQ) | VUF_BIT(VUF_PF_REPLY_ACK) | VUF_BIT(VUF_PF_CONFIGURE_MEM_SLOTS))

/* A connected front-end with guest memory, one RX ring (0) and one TX ring (1). */
struct t_sess {
	struct vuf_conn conn;
	struct vuf_mem mem;
	struct vuf_vq rx, tx;
	struct t_opts o;
	bool mrg;
	uint64_t rx_gpa;    /* RX slots: rx_slots * rx_slot_size from here */
	uint64_t arena_gpa; /* TX arena: the rest of guest memory */
	uint64_t arena_end;
	uint64_t arena_cur;
};

/* Connects to path and brings the device up: negotiation, memory, both rings, kicks, enable,
 * RX buffers posted and kicked. On failure everything is torn down and the step is printed. */
int t_sess_open(struct t_sess *s, const char *path, const struct t_opts *o);

/* The same on an already connected (or accepted) s->conn. */
int t_sess_start(struct t_sess *s, const struct t_opts *o);

/* Disconnects and frees everything; safe on a closed session. */
void t_sess_close(struct t_sess *s);

/* Brings one ring up again after GET_VRING_BASE: NUM, BASE(base), ADDR, ERR, CALL, KICK and, with
 * PROTOCOL_FEATURES, ENABLE 1. Ring memory and our indices are left as they are. */
int t_sess_ring_restart(struct t_sess *s, struct vuf_vq *vq, uint16_t base);

/* Reserves len bytes (16-aligned) of the TX arena, wrapping to its start when the end is hit. */
uint64_t t_sess_arena(struct t_sess *s, uint64_t len);

/* Posts one TX frame (header + frame in one descriptor) and notifies. Returns the head. */
int t_sess_tx(struct t_sess *s, const void *frame, size_t len);

/* Waits until every TX chain has come back and releases them. */
int t_sess_tx_drain(struct t_sess *s, int timeout_ms);

/* Posts RX slot i again (the cookie of a received buffer is i + 1). */
int t_sess_rx_repost(struct t_sess *s, unsigned slot);

/* Receives one packet on the RX ring, re-posts its buffers and notifies; returns frame length. */
int t_sess_rx(struct t_sess *s, void *frame, size_t cap, struct vuf_rx_pkt *ret, int timeout_ms);

/* Proves a port carries traffic both ways: one frame guest->tap (captured on tapfd) and one
 * tap->guest, both compared byte for byte. Prints what went wrong and returns < 0 on failure. */
int t_traffic_check(struct t_sess *s, int tapfd, uint32_t seq, uint8_t tag);

/*
 * t_traffic_check() on a port whose tap may still hold frames an earlier step injected with
 * stale_tag and a lower sequence number (frames meant for a ring that broke before taking them):
 * up to T_STALE_MAX of those may reach the guest first and are skipped, nothing else is.
 */
int t_traffic_check_stale(struct t_sess *s, int tapfd, uint32_t seq, uint8_t tag,
			  uint8_t stale_tag);

/* ---- live migration, as QEMU drives it ---- */

/* A dirty log as the front-end holds it: a memfd and our mapping of all of it. */
struct t_log {
	int fd;
	uint8_t *bits;
	uint64_t size;	    /* bytes announced with SET_LOG_BASE */
	uint64_t file_size; /* bytes of the memfd (and of the mapping) */
};

/* Bytes of log s's guest memory needs (a bit per 4 KiB page up to its end), 8-aligned. */
uint64_t t_log_need(const struct t_sess *s);

/* Creates a zeroed file_size-byte memfd announced as a size-byte log, and maps it. */
int t_log_new(struct t_log *l, uint64_t size, uint64_t file_size);

/* Unmaps and closes. */
void t_log_free(struct t_log *l);

/* Set bits in the announced part of the log. */
unsigned t_log_count(const struct t_log *l);

/* SET_LOG_BASE (size, offset, fd) and its reply: 0 for the empty SET_LOG_BASE reply QEMU waits
 * for, -ECONNRESET when the back-end hung up, -EPROTO for any other answer. */
int t_log_base(struct vuf_conn *c, int fd, uint64_t size, uint64_t offset);

/* SET_VRING_ADDR of vq, with VHOST_VRING_F_LOG and log_gpa when flags is 1. */
int t_log_set_addr(struct t_sess *s, struct vuf_vq *vq, uint32_t flags, uint64_t log_gpa);

/* What QEMU does when a migration starts: SET_LOG_BASE, SET_FEATURES with LOG_ALL, both rings'
 * addresses with the log flag and their used rings' guest addresses. */
int t_log_on(struct t_sess *s, const struct t_log *l);

/* What QEMU does when a migration ends: features without LOG_ALL, addresses without the flag. */
int t_log_off(struct t_sess *s);

/* Prints a failure line with errno text. */
void t_fail(const char *what, int r);

#endif
