/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The seccomp filters (util/sandbox.c), each in a forked child whose stderr is a pipe: a call
 * outside the worker's list (socket, chdir) and outside the main thread's (execve)
 * fails with EPERM, the child lives on, and the log line names the call and the thread kind;
 * allowed calls still work; the thread shows `Seccomp: 2`; disabled, nothing is installed.
 * And the launcher (util/launcher.c) runs a program it was given, with fd 3, from a child
 * under the main filter (which has no execve), and refuses any other program.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/launcher.h"
#include "util/sandbox.h"

/* The child's exit codes: which check failed. */
enum { OK = 0, E_APPLY = 10, E_ALLOWED, E_NOT_DENIED, E_STATUS, E_LAUNCH, E_READ };

/* The value of "Seccomp:" read from fd, an unread open of /proc/self/status; or -1. */
static int seccomp_mode_fd(int fd)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	const char *at;
	int mode = -1;

	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	at = strstr(buf, "\nSeccomp:");
	if (!at || sscanf(at, "\nSeccomp: %d", &mode) != 1)
		return -1;
	return mode;
}

/* The calling thread's "Seccomp:" mode (0 none, 2 filter), or -1. */
static int seccomp_mode(void)
{
	return seccomp_mode_fd(open("/proc/thread-self/status", O_RDONLY));
}

/* Runs fn in a child whose stderr goes to a pipe; returns its exit code and what it logged. */
static int in_child(int (*fn)(void), char *log, size_t size)
{
	int p[2], st;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		_exit(fn());
	}
	close(p[1]);
	while (got < size - 1 && (n = read(p[0], log + got, size - 1 - got)) > 0)
		got += (size_t)n;
	log[got] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* A worker: socket and chdir are denied (in every build), eventfd I/O and getpid are not. */
static int worker_child(void)
{
	uint64_t one = 1;
	/* Opened before the filter: a worker is handed its fds, it opens none. */
	int efd = eventfd(0, 0), status = open("/proc/thread-self/status", O_RDONLY);

	if (efd < 0 || status < 0 || sandbox_apply(SANDBOX_WORKER) < 0)
		return E_APPLY;
	if (seccomp_mode_fd(status) != 2)
		return E_STATUS;
	if (write(efd, &one, sizeof(one)) != sizeof(one) || getpid() <= 0)
		return E_ALLOWED;
	errno = 0;
	if (socket(AF_INET, SOCK_DGRAM, 0) != -1 || errno != EPERM)
		return E_NOT_DENIED;
	errno = 0;
	if (chdir("/") != -1 || errno != EPERM)
		return E_NOT_DENIED;
	return OK;
}

static void test_worker_denied_logged(void **state)
{
	char log[2048];

	assert_int_equal(in_child(worker_child, log, sizeof(log)), OK);
	assert_non_null(strstr(log, "seccomp: worker thread: system call socket ("));
	assert_non_null(strstr(log, "seccomp: worker thread: system call chdir ("));
	assert_non_null(strstr(log, "denied: EPERM\n"));
}

/* The main thread may make sockets, never execve or ptrace; a worker on top is stricter. */
static int main_child(void)
{
	char *argv[] = { (char *)"/bin/true", NULL };
	int s, status;

	if (sandbox_apply(SANDBOX_MAIN) < 0)
		return E_APPLY;
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (s < 0)
		return E_ALLOWED;
	close(s);
	errno = 0;
	if (execve(argv[0], argv, NULL) != -1 || errno != EPERM)
		return E_NOT_DENIED;
	status = open("/proc/thread-self/status", O_RDONLY);
	if (status < 0 || sandbox_apply(SANDBOX_WORKER) < 0)
		return E_APPLY;
	errno = 0;
	if (socket(AF_UNIX, SOCK_STREAM, 0) != -1 || errno != EPERM)
		return E_NOT_DENIED;
	return seccomp_mode_fd(status) == 2 ? OK : E_STATUS;
}

static void test_main_then_worker(void **state)
{
	char log[2048];

	assert_int_equal(in_child(main_child, log, sizeof(log)), OK);
	assert_non_null(strstr(log, "seccomp: main thread: system call execve ("));
	assert_non_null(strstr(log, "seccomp: worker thread: system call socket ("));
}

/* --no-seccomp: sandbox_apply installs nothing. */
static int disabled_child(void)
{
	sandbox_set_enabled(false);
	if (sandbox_apply(SANDBOX_WORKER) < 0)
		return E_APPLY;
	return seccomp_mode() == 0 ? OK : E_STATUS;
}

static void test_disabled(void **state)
{
	char log[256];

	assert_int_equal(in_child(disabled_child, log, sizeof(log)), OK);
	assert_string_equal(log, "");
}

/* Under the main filter (no execve), the launcher forked before it runs its program. */
static int launcher_child(void)
{
	const char *progs[] = { "/bin/sh" };
	char *sh[] = { (char *)"/bin/sh", (char *)"-c", (char *)"echo ran >&3", NULL };
	char *other[] = { (char *)"/bin/true", NULL };
	char buf[16] = "";
	int sv[2];

	if (launcher_start(progs, 1) < 0 || sandbox_apply(SANDBOX_MAIN) < 0)
		return E_APPLY;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return E_ALLOWED;
	if (launcher_spawn(other, sv[1], 2000) != -EPERM)
		return E_NOT_DENIED;
	if (launcher_spawn(sh, sv[1], 2000) != 0)
		return E_LAUNCH;
	close(sv[1]);
	if (launcher_wait(2000) != 0)
		return E_LAUNCH;
	if (read(sv[0], buf, sizeof(buf) - 1) != 4 || strcmp(buf, "ran\n") != 0)
		return E_READ;
	return OK;
}

static void test_launcher(void **state)
{
	char log[2048];

	assert_int_equal(in_child(launcher_child, log, sizeof(log)), OK);
	assert_non_null(strstr(log, "/bin/true was not named at start"));
	/* The sandboxed child itself never tried to exec. */
	assert_null(strstr(log, "execve"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worker_denied_logged),
		cmocka_unit_test(test_main_then_worker),
		cmocka_unit_test(test_disabled),
		cmocka_unit_test(test_launcher),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
