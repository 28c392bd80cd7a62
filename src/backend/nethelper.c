/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "backend/nethelper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fdpass.h"
#include "util/launcher.h"
#include "util/log.h"

extern char **environ;

/* How long a staying helper may take to delete its device and exit once told to. */
#define NETHELPER_END_MS 5000

struct nethelper_child {
	struct nethelper_child *next;
	pid_t pid;     /* 0 once reaped */
	int sock;      /* our end of the socketpair; -1 once closed */
	bool ended;    /* nethelper_child_end() ran: only the reaper still holds it */
	bool launched; /* the launcher runs it (pid 0): its end shows as EOF on sock */
	bool gone;     /* launched, and its end was seen and logged */
	char ifname[16];
};

/* The staying helpers, so that SIGCHLD reaps them and nothing else. */
static pthread_mutex_t children_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nethelper_child *children;

/* Milliseconds left until deadline (CLOCK_MONOTONIC ms), at least 0. */
static int left_ms(uint64_t deadline)
{
	uint64_t now = now_ms();

	return now >= deadline ? 0 : (int)(deadline - now);
}

/* The helper's command line for req into argv (at most 10 entries with the NULL), its strings
 * in buf. */
static void helper_argv(const struct nethelper_req *req, char buf[6][40], char *argv[10])
{
	int n = 0;

	argv[n++] = (char *)req->helper;
	snprintf(buf[0], sizeof(buf[0]), "--socketpair=3");
	argv[n++] = buf[0];
	if (req->dev) {
		snprintf(buf[1], sizeof(buf[1]), "--dev=%s", req->dev);
		snprintf(buf[2], sizeof(buf[2]), "--macvtap-mode=%s", req->mode);
		argv[n++] = buf[1];
		argv[n++] = buf[2];
	} else {
		snprintf(buf[1], sizeof(buf[1]), "--bridge=%s", req->bridge);
		argv[n++] = buf[1];
	}
	snprintf(buf[3], sizeof(buf[3]), "--queues=%u", req->queues);
	argv[n++] = buf[3];
	argv[n++] = (char *)"--vnet-hdr";
	if (req->ifname && req->ifname[0]) {
		snprintf(buf[4], sizeof(buf[4]), "--ifname=%s", req->ifname);
		argv[n++] = buf[4];
	}
	if (req->mac) {
		snprintf(buf[5], sizeof(buf[5]), "--mac=%02x:%02x:%02x:%02x:%02x:%02x", req->mac[0],
			 req->mac[1], req->mac[2], req->mac[3], req->mac[4], req->mac[5]);
		argv[n++] = buf[5];
	}
	argv[n] = NULL;
}

/*
 * Starts the helper with its end of the socketpair as fd 3, every signal unblocked and at its
 * default (vhostd blocks some for its signalfd and ignores SIGPIPE; both would be inherited).
 * Returns its pid, 0 when the launcher runs it (a sandboxed vhostd cannot gain the helper's
 * privileges itself: util/launcher.h), or -errno. A macvtap's helper stays after its record
 * (the launcher then leaves it running and reaps it when it ends).
 */
static pid_t spawn_helper(const struct nethelper_req *req, int sock)
{
	char buf[6][40];
	char *argv[10];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	pid_t pid;
	int r;

	helper_argv(req, buf, argv);
	if (launcher_active())
		return launcher_spawn(argv, sock, req->dev ? -1 : NETHELPER_TIMEOUT_MS);
	sigemptyset(&none);
	sigemptyset(&dfl);
	for (int sig = 1; sig < 32; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaddset(&dfl, sig);
	r = posix_spawn_file_actions_init(&fa);
	if (r)
		return -r;
	r = posix_spawnattr_init(&at);
	if (r) {
		posix_spawn_file_actions_destroy(&fa);
		return -r;
	}
	r = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (!r)
		r = posix_spawnattr_setsigmask(&at, &none);
	if (!r)
		r = posix_spawnattr_setsigdefault(&at, &dfl);
	/* dup2 clears close-on-exec on fd 3: the helper's end is the one fd it inherits. */
	if (!r)
		r = posix_spawn_file_actions_adddup2(&fa, sock, 3);
	if (!r)
		r = posix_spawn(&pid, req->helper, &fa, &at, argv, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return r ? -r : pid;
}

/* Reaps pid, killing it if it has not exited by deadline. Returns its exit status or -1. */
static int reap(pid_t pid, uint64_t deadline)
{
	int st;

	if (pid == 0)
		return launcher_wait(left_ms(deadline));
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		if (w < 0)
			return -1;
		if (!left_ms(deadline)) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		/* The helper exits right after it sent its record: a short wait, bounded. */
		poll(NULL, 0, 5);
	}
}

/*
 * Runs the helper for req and reads its record (the fds arrive with its first byte; EOF before
 * it is complete is a failure) into buf, the fds into fds[] (*ret_nfds of them). Returns the
 * bytes read (the helper is then in *ret_pid, our end of the socketpair in *ret_sock), or a
 * negative errno with m->error set when the helper could not even be started.
 */
static ssize_t exchange(const struct nethelper_req *req, uint64_t deadline,
			uint8_t buf[HELPER_MSG_LEN], int *fds, unsigned *ret_nfds,
			struct helper_msg *m, pid_t *ret_pid, int *ret_sock)
{
	_cleanup_close_ int sock = -1;
	size_t got = 0;
	int sv[2];
	pid_t pid;

	*ret_nfds = 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		return -errno;
	sock = sv[0];
	pid = spawn_helper(req, sv[1]);
	close(sv[1]);
	if (pid < 0) {
		snprintf(m->error, sizeof(m->error), "cannot run %s: %s", req->helper,
			 strerror((int)-pid));
		return pid;
	}
	*ret_pid = pid;
	while (got < HELPER_MSG_LEN) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, left_ms(deadline)) <= 0)
			break;
		n = recv_with_fds(sock, buf + got, HELPER_MSG_LEN - got, fds, HELPER_MAX_QUEUES,
				  ret_nfds);
		if (n == -EAGAIN)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	*ret_sock = TAKE_FD(sock);
	return (ssize_t)got;
}

/*
 * Checks the record (got bytes, nfds fds) against req: the helper's own failure, or a valid
 * success with req->queues fds and a 12-byte header. Returns 0 or a negative errno with
 * m->error set; the fds are closed on failure.
 */
static int check_record(const struct nethelper_req *req, const uint8_t *buf, size_t got, int *fds,
			unsigned nfds, int status, struct helper_msg *m)
{
	int r = helper_msg_decode(buf, got, nfds, m);

	if (r == 0 && m->status) {
		r = -(int)m->status;
	} else if (r == 0 && (m->nfds != req->queues || m->vnet_hdr_size != 12)) {
		snprintf(m->error, sizeof(m->error), "the helper sent %u queue(s), header %u",
			 m->nfds, m->vnet_hdr_size);
		r = -EPROTO;
	} else if (r < 0) {
		snprintf(m->error, sizeof(m->error),
			 "no valid record from %s (%u bytes; exit "
			 "status %d)",
			 req->helper, (unsigned)got, status);
	}
	if (r < 0)
		close_fds(fds, nfds);
	return r;
}

int nethelper_make_tap(const struct nethelper_req *req, struct helper_msg *m, int *fds)
{
	uint64_t deadline = now_ms() + NETHELPER_TIMEOUT_MS;
	uint8_t buf[HELPER_MSG_LEN];
	unsigned nfds;
	pid_t pid;
	int sock;
	ssize_t got;

	memset(m, 0, sizeof(*m));
	got = exchange(req, deadline, buf, fds, &nfds, m, &pid, &sock);
	if (got < 0)
		return (int)got;
	close(sock);
	return check_record(req, buf, (size_t)got, fds, nfds, reap(pid, deadline), m);
}

int nethelper_make_macvtap(const struct nethelper_req *req, struct helper_msg *m, int *fds,
			   struct nethelper_child **ret_child)
{
	uint64_t deadline = now_ms() + NETHELPER_TIMEOUT_MS;
	uint8_t buf[HELPER_MSG_LEN];
	struct nethelper_child *c;
	unsigned nfds;
	pid_t pid;
	int sock, r;
	ssize_t got;

	memset(m, 0, sizeof(*m));
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	got = exchange(req, deadline, buf, fds, &nfds, m, &pid, &sock);
	if (got < 0) {
		free(c);
		return (int)got;
	}
	r = check_record(req, buf, (size_t)got, fds, nfds, 0, m);
	if (r < 0) {
		/* A helper that failed exits; one that sent garbage deletes what it made when
		 * its socketpair closes. Either way it is gone within the deadline, or killed. */
		close(sock);
		reap(pid, deadline);
		free(c);
		return r;
	}
	c->pid = pid;
	c->launched = pid == 0;
	c->sock = sock;
	snprintf(c->ifname, sizeof(c->ifname), "%s", m->ifname);
	pthread_mutex_lock(&children_lock);
	c->next = children;
	children = c;
	pthread_mutex_unlock(&children_lock);
	*ret_child = c;
	return 0;
}

/* Takes c off the list (the lock held). */
static void unlink_child(struct nethelper_child *c)
{
	for (struct nethelper_child **p = &children; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			return;
		}
	}
}

/*
 * Waits (until deadline) for the helper to close its end of the socketpair, which it does when
 * it exits. Returns true when it did. It never writes after its record: whatever arrives is
 * thrown away, at most a few times.
 */
static bool wait_peer_closed(int sock, uint64_t deadline)
{
	char junk[64];

	for (unsigned i = 0; i < 64; i++) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, left_ms(deadline)) <= 0)
			return false;
		n = recv(sock, junk, sizeof(junk), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return true;
	}
	return false;
}

/* Logs how a staying helper ended (st: its wait status); told: vhostd asked it to. */
static void log_end(const struct nethelper_child *c, pid_t pid, int st, bool told)
{
	if (told && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		log_info("macvtap %s: the network helper (pid %d) deleted the link", c->ifname,
			 (int)pid);
	else if (WIFEXITED(st))
		log_warn("macvtap %s: the network helper (pid %d) exited with status %d%s",
			 c->ifname, (int)pid, WEXITSTATUS(st),
			 told ? " (the link may be left behind)" : " before its port was deleted");
	else
		log_warn(
			"macvtap %s: the network helper (pid %d) was killed by signal %d: the link "
			"is left behind",
			c->ifname, (int)pid, WTERMSIG(st));
}

void nethelper_child_end(struct nethelper_child *c)
{
	uint64_t deadline = now_ms() + NETHELPER_END_MS;
	bool closed;
	pid_t pid;
	int st;

	if (!c)
		return;
	pthread_mutex_lock(&children_lock);
	unlink_child(c);
	pid = c->pid;
	pthread_mutex_unlock(&children_lock);
	/* EOF on its socket is the helper's order to delete the link. */
	shutdown(c->sock, SHUT_WR);
	closed = wait_peer_closed(c->sock, deadline);
	c->sock = safe_close(c->sock);
	if (pid > 0) {
		/* Its socket closed when it exited: it is a zombie, or about to be. */
		if (waitpid(pid, &st, closed ? 0 : WNOHANG) == pid) {
			log_end(c, pid, st, true);
		} else {
			log_warn(
				"macvtap %s: the network helper (pid %d) did not exit within %d ms",
				c->ifname, (int)pid, NETHELPER_END_MS);
			/* Still ours to reap: SIGCHLD will. */
			c->ended = true;
			pthread_mutex_lock(&children_lock);
			c->next = children;
			children = c;
			pthread_mutex_unlock(&children_lock);
			return;
		}
	} else if (closed) {
		log_info("macvtap %s: the network helper deleted the link", c->ifname);
	} else {
		log_warn("macvtap %s: the network helper (run by the launcher) did not exit within "
			 "%d ms: the link may be left behind",
			 c->ifname, NETHELPER_END_MS);
	}
	free(c);
}

/* True when the peer of sock has closed its end (EOF now, without waiting). */
static bool peer_gone(int sock)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	char c;

	return poll(&p, 1, 0) == 1 && recv(sock, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

void nethelper_reap(void)
{
	struct nethelper_child **p, *c;
	int st;

	pthread_mutex_lock(&children_lock);
	for (p = &children; (c = *p);) {
		if (c->launched && !c->gone && !c->ended && peer_gone(c->sock)) {
			/* The launcher reaped it and told us with SIGCHLD. */
			log_warn(
				"macvtap %s: the network helper (run by the launcher) ended before "
				"its port was deleted: the link may be left behind",
				c->ifname);
			c->gone = true;
		}
		if (c->pid > 0 && waitpid(c->pid, &st, WNOHANG) == c->pid) {
			log_end(c, c->pid, st, c->ended);
			c->pid = 0;
		}
		if (c->ended && c->pid == 0) {
			*p = c->next;
			free(c);
			continue;
		}
		p = &c->next;
	}
	pthread_mutex_unlock(&children_lock);
}
