/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "util/launcher.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fdpass.h"

extern char **environ;

/* A request: the timeout (int32, ms), then argv as NUL-terminated strings. */
#define REQ_MAX	 4096
#define ARGS_MAX 16

static int launcher_sock = -1;

bool launcher_active(void)
{
	return launcher_sock >= 0;
}

/* Waits for sock to be readable for at most timeout_ms; 0, or -ETIMEDOUT / -errno. */
static int wait_readable(int sock, int timeout_ms)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	int r;

	do {
		r = poll(&p, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r == 0 ? -ETIMEDOUT : 0;
}

/* Sends one int32 answer; the launcher's side. */
static void answer(int sock, int32_t v)
{
	if (send(sock, &v, sizeof(v), MSG_NOSIGNAL) < 0)
		_exit(0); /* the daemon is gone */
}

/* Splits the request into argv (NULL-terminated); returns the count, or -EINVAL. */
static int split_args(char *buf, size_t len, char **argv)
{
	int n = 0;

	if (len == 0 || buf[len - 1] != '\0')
		return -EINVAL;
	for (size_t off = 0; off < len; off += strlen(buf + off) + 1) {
		if (n == ARGS_MAX - 1)
			return -EINVAL;
		argv[n++] = buf + off;
	}
	argv[n] = NULL;
	return n;
}

/* Reaps pid; kills it once timeout_ms passed. Its exit status, or -1. */
static int reap_child(pid_t pid, int timeout_ms)
{
	for (int waited = 0;; waited += 5) {
		int st;
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		if (w < 0 && errno != EINTR)
			return -1;
		if (waited >= timeout_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		poll(NULL, 0, 5);
	}
}

/* Runs one request: checks argv[0] against programs, spawns, answers twice. */
static void run_request(int sock, char *buf, size_t len, int fd, char **programs, unsigned n)
{
	char *argv[ARGS_MAX];
	int32_t timeout_ms;
	posix_spawn_file_actions_t fa;
	bool known = false;
	pid_t pid;
	int r;

	if (len < sizeof(timeout_ms) || fd < 0 ||
	    split_args(buf + sizeof(timeout_ms), len - sizeof(timeout_ms), argv) < 0) {
		answer(sock, -EINVAL);
		return;
	}
	memcpy(&timeout_ms, buf, sizeof(timeout_ms));
	for (unsigned i = 0; i < n; i++)
		known = known || strcmp(argv[0], programs[i]) == 0;
	if (!known) {
		fprintf(stderr,
			"vhostd: error: launcher: %s was not named at start (--helper, helper =, "
			"a port's helper=): not run\n",
			argv[0]);
		answer(sock, -EPERM);
		return;
	}
	r = posix_spawn_file_actions_init(&fa);
	if (r == 0) {
		/* dup2 clears close-on-exec on fd 3: the one fd the program inherits. */
		r = posix_spawn_file_actions_adddup2(&fa, fd, 3);
		if (r == 0)
			r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
		posix_spawn_file_actions_destroy(&fa);
	}
	close(fd);
	answer(sock, -r);
	if (r == 0 && timeout_ms < 0)
		answer(sock, 0); /* it stays: serve() reaps it whenever it ends */
	else if (r == 0)
		answer(sock, reap_child(pid, timeout_ms));
}

/* Reaps the programs that were left running (timeout < 0) and have ended since. */
static void reap_detached(void)
{
	bool any = false;
	int st;

	while (waitpid(-1, &st, WNOHANG) > 0)
		any = true;
	/* The daemon looks at its staying helpers on SIGCHLD (they are not its children). */
	if (any)
		kill(getppid(), SIGCHLD);
}

/* The launcher's life: one request at a time until the daemon closes its end. */
static _Noreturn void serve(int sock, char **programs, unsigned n)
{
	for (;;) {
		char buf[REQ_MAX];
		int fd = -1;
		unsigned nfds = 0;
		ssize_t len;

		int w;

		reap_detached();
		/* Wake once a second: a program left running may have ended meanwhile. */
		w = wait_readable(sock, 1000);
		if (w == -ETIMEDOUT)
			continue;
		if (w < 0)
			_exit(0);
		len = recv_with_fds(sock, buf, sizeof(buf), &fd, 1, &nfds);
		if (len == -EAGAIN)
			continue;
		if (len <= 0)
			_exit(0);
		run_request(sock, buf, (size_t)len, nfds ? fd : -1, programs, n);
	}
}

int launcher_start(const char *const *programs, unsigned n)
{
	char **copy;
	int sv[2];
	pid_t pid;

	if (launcher_active())
		return -EALREADY;
	copy = calloc(n ? n : 1, sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		copy[i] = strdup(programs[i]);
		if (!copy[i]) {
			while (i--)
				free(copy[i]);
			free(copy);
			return -ENOMEM;
		}
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		int r = -errno;

		for (unsigned i = 0; i < n; i++)
			free(copy[i]);
		free(copy);
		return r;
	}
	pid = fork();
	if (pid == 0) {
		/* Nothing of the daemon's but stdio and our socket (moved to fd 3). */
		if (sv[1] != 3 && dup2(sv[1], 3) < 0)
			_exit(1);
		close_range(4, ~0U, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		serve(3, copy, n);
	}
	for (unsigned i = 0; i < n; i++)
		free(copy[i]);
	free(copy);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return -errno;
	}
	launcher_sock = sv[0];
	return 0;
}

int launcher_spawn(char *const *argv, int fd, int timeout_ms)
{
	char buf[REQ_MAX];
	int32_t t = timeout_ms, res;
	size_t len = sizeof(t);
	ssize_t got;
	int r;

	if (!launcher_active())
		return -ENOTCONN;
	memcpy(buf, &t, sizeof(t));
	for (int i = 0; argv[i]; i++) {
		size_t l = strlen(argv[i]) + 1;

		if (i == ARGS_MAX - 1 || l > sizeof(buf) - len)
			return -E2BIG;
		memcpy(buf + len, argv[i], l);
		len += l;
	}
	r = send_with_fds(launcher_sock, buf, len, &fd, 1);
	if (r < 0)
		return r;
	r = wait_readable(launcher_sock, timeout_ms > 0 ? timeout_ms : 10000);
	if (r < 0)
		return r;
	got = recv(launcher_sock, &res, sizeof(res), MSG_DONTWAIT);
	if (got != sizeof(res))
		return got < 0 ? -errno : -EPIPE;
	return res;
}

int launcher_wait(int timeout_ms)
{
	int32_t status;

	/* The launcher kills the program at its own timeout and then answers: wait a bit more. */
	if (wait_readable(launcher_sock, timeout_ms + 1000) < 0)
		return -1;
	if (recv(launcher_sock, &status, sizeof(status), MSG_DONTWAIT) != sizeof(status))
		return -1;
	return status;
}
