/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "backend/nethelper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
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

/* Milliseconds left until deadline (CLOCK_MONOTONIC ms), at least 0. */
static int left_ms(uint64_t deadline)
{
	uint64_t now = now_ms();

	return now >= deadline ? 0 : (int)(deadline - now);
}

/*
 * Starts the helper with its end of the socketpair as fd 3. Returns its pid, 0 when the
 * launcher runs it (a sandboxed vhostd cannot gain the helper's privileges itself), or -errno.
 */
static pid_t spawn_helper(const struct nethelper_req *req, int sock)
{
	char sp[32], br[32], ifn[32], q[32], mac[32];
	char *argv[10];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int n = 0, r;

	snprintf(sp, sizeof(sp), "--socketpair=3");
	snprintf(br, sizeof(br), "--bridge=%s", req->bridge);
	snprintf(q, sizeof(q), "--queues=%u", req->queues);
	argv[n++] = (char *)req->helper;
	argv[n++] = sp;
	argv[n++] = br;
	argv[n++] = q;
	argv[n++] = (char *)"--vnet-hdr";
	if (req->ifname && req->ifname[0]) {
		snprintf(ifn, sizeof(ifn), "--ifname=%s", req->ifname);
		argv[n++] = ifn;
	}
	if (req->mac) {
		snprintf(mac, sizeof(mac), "--mac=%02x:%02x:%02x:%02x:%02x:%02x", req->mac[0],
			 req->mac[1], req->mac[2], req->mac[3], req->mac[4], req->mac[5]);
		argv[n++] = mac;
	}
	argv[n] = NULL;
	if (launcher_active())
		return launcher_spawn(argv, sock, NETHELPER_TIMEOUT_MS);
	r = posix_spawn_file_actions_init(&fa);
	if (r)
		return -r;
	/* dup2 clears close-on-exec on fd 3: the helper's end is the one fd it inherits. */
	r = posix_spawn_file_actions_adddup2(&fa, sock, 3);
	if (!r)
		r = posix_spawn(&pid, req->helper, &fa, NULL, argv, environ);
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

int nethelper_make_tap(const struct nethelper_req *req, struct helper_msg *m, int *fds)
{
	uint64_t deadline = now_ms() + NETHELPER_TIMEOUT_MS;
	uint8_t buf[HELPER_MSG_LEN];
	size_t got = 0;
	unsigned nfds = 0;
	int sv[2], r, status;
	pid_t pid;

	memset(m, 0, sizeof(*m));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		return -errno;
	pid = spawn_helper(req, sv[1]);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		snprintf(m->error, sizeof(m->error), "cannot run %s: %s", req->helper,
			 strerror((int)-pid));
		return (int)pid;
	}
	/* The record, with the fds on its first byte; EOF before it is complete is a failure. */
	r = 0;
	while (got < sizeof(buf)) {
		struct pollfd p = { .fd = sv[0], .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, left_ms(deadline)) <= 0) {
			r = -ETIMEDOUT;
			break;
		}
		n = recv_with_fds(sv[0], buf + got, sizeof(buf) - got, fds, HELPER_MAX_QUEUES,
				  &nfds);
		if (n == -EAGAIN)
			continue;
		if (n <= 0) {
			r = n < 0 ? (int)n : -EPIPE;
			break;
		}
		got += (size_t)n;
	}
	close(sv[0]);
	status = reap(pid, deadline);
	if (r == 0)
		r = helper_msg_decode(buf, got, nfds, m);
	if (r == 0 && m->status) {
		r = -(int)m->status;
	} else if (r == 0 && (m->nfds != req->queues || m->vnet_hdr_size != 12)) {
		snprintf(m->error, sizeof(m->error), "the helper sent %u queue(s), header %u",
			 m->nfds, m->vnet_hdr_size);
		r = -EPROTO;
	} else if (r < 0) {
		snprintf(m->error, sizeof(m->error), "no valid record from %s (%s; exit status %d)",
			 req->helper, strerror(-r), status);
	}
	if (r < 0)
		close_fds(fds, nfds);
	return r;
}
