/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * seccomp allow-lists. The lists below are what the code calls, found by tracing every
 * integration test (strace -ff, one file per thread) and kept as tables: a call outside them
 * means new code that needs its line here, and the log says which one.
 *
 * A denied call traps (SIGSYS) where the architecture lets the handler set the return
 * register, so the log names the call and the thread kind and the call fails with EPERM; the
 * caller sees an ordinary error and the daemon lives. Elsewhere the filter returns EPERM
 * itself, silently.
 */
#include "util/sandbox.h"

#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/log.h"

#if defined(__x86_64__) || defined(__aarch64__)
#define SANDBOX_TRAP 1
#else
#define SANDBOX_TRAP 0
#endif

/* Sanitizer runtimes make calls of their own (shadow memory, reports, stack traces). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define SANDBOX_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define SANDBOX_SANITIZER 1
#endif
#endif
#ifndef SANDBOX_SANITIZER
#define SANDBOX_SANITIZER 0
#endif

/* What every thread does: memory, locks, time, signals, its own ids, exiting. */
static const char *const common_calls[] = {
	"read",		  "write",	     "readv",		"writev",      "close",
	"mmap",		  "munmap",	     "mprotect",	"madvise",     "futex",
	"clock_gettime",  "clock_nanosleep", "nanosleep",	"sched_yield", "getpid",
	"gettid",	  "rt_sigreturn",    "rt_sigprocmask",	"exit",	       "exit_group",
	"epoll_wait",	  "epoll_pwait",     "epoll_pwait2",	"poll",	       "ppoll",
	"io_uring_enter", "gettimeofday",    "restart_syscall",
};

/*
 * The data path: frames to and from taps (readv/writev, io_uring), AF_PACKET (sendmmsg,
 * recvmmsg, poll) and AF_XDP (sendto/recvfrom wake-ups, poll, getsockopt for its
 * statistics), eventfd kicks and calls (read/write), notifications switched on and off
 * (epoll_ctl); vhost-user replies are the main thread's. mmap/munmap/mprotect stay for the
 * memory-fault recovery, which remaps a vanished region on the faulting worker.
 */
static const char *const worker_calls[] = {
	"recvmsg", "sendmsg",  "recvmmsg",   "sendmmsg",
	"sendto",  "recvfrom", "getsockopt", "epoll_ctl",
};

/*
 * The control thread: vhost-user and control sockets, netlink and ioctls that make devices,
 * files (sockets, ring state, sysfs), eventfds and timers, workers (clone), the BPF program of
 * AF_XDP ports, io_uring for the RARP it sends after a migration. No execve: the network
 * helper is started by a process forked before the filter (util/launcher.c).
 */
static const char *const main_calls[] = {
	/* files and descriptors */
	"open",
	"openat",
	"creat",
	"lseek",
	"pread64",
	"pwrite64",
	"preadv",
	"pwritev",
	"dup",
	"dup2",
	"dup3",
	"fcntl",
	"ioctl",
	"flock",
	"fsync",
	"fdatasync",
	"ftruncate",
	"fallocate",
	"stat",
	"fstat",
	"lstat",
	"newfstatat",
	"statx",
	"statfs",
	"fstatfs",
	"access",
	"faccessat",
	"faccessat2",
	"readlink",
	"readlinkat",
	"getdents64",
	"getcwd",
	"unlink",
	"unlinkat",
	"rename",
	"renameat",
	"renameat2",
	"mkdir",
	"mkdirat",
	"rmdir",
	"chmod",
	"fchmod",
	"fchmodat",
	"chown",
	"fchown",
	"fchownat",
	"lchown",
	"umask",
	"close_range",
	"pipe",
	"pipe2",
	"memfd_create",
	/* memory */
	"brk",
	"mremap",
	"mlock",
	"munlock",
	"mincore",
	/* sockets, netlink */
	"socket",
	"socketpair",
	"bind",
	"listen",
	"accept",
	"accept4",
	"connect",
	"getsockname",
	"getpeername",
	"setsockopt",
	"getsockopt",
	"shutdown",
	"sendto",
	"recvfrom",
	"sendmsg",
	"recvmsg",
	"sendmmsg",
	"recvmmsg",
	/* events and timers */
	"epoll_create",
	"epoll_create1",
	"epoll_ctl",
	"eventfd",
	"eventfd2",
	"timerfd_create",
	"timerfd_settime",
	"timerfd_gettime",
	"signalfd",
	"signalfd4",
	"select",
	"pselect6",
	"io_uring_setup",
	"io_uring_register",
	/* threads, children (the helper's launcher), signals */
	"clone",
	"clone3",
	"set_robust_list",
	"get_robust_list",
	"rseq",
	"set_tid_address",
	"sched_setaffinity",
	"sched_getaffinity",
	"wait4",
	"waitid",
	"kill",
	"tgkill",
	"tkill",
	"rt_sigaction",
	"sigaltstack",
	"rt_sigtimedwait",
	/* identity, limits, the system */
	"getuid",
	"geteuid",
	"getgid",
	"getegid",
	"getgroups",
	"getresuid",
	"getresgid",
	"getppid",
	"prctl",
	"uname",
	"getrandom",
	"sysinfo",
	"getrlimit",
	"prlimit64",
	"capget",
	"clock_getres",
	"time",
	/* the workers add their own filter */
	"seccomp",
	/* AF_XDP: libbpf loads and attaches the XDP program and its maps */
	"bpf",
	"perf_event_open",
};

/*
 * What ASan/UBSan add on any thread: shadow and allocator maps, stack traces, reports; and
 * LeakSanitizer at exit, whose tracer (a clone) stops every thread with ptrace.
 */
static const char *const sanitizer_calls[] = {
	"ptrace",      "clone",	     "wait4",	    "waitid",
	"kill",	       "tkill",	     "sched_yield", "close",
	"sigaltstack", "getrlimit",  "prlimit64",   "sched_getaffinity",
	"open",	       "openat",     "fstat",	    "newfstatat",
	"readlink",    "readlinkat", "mremap",	    "rt_sigaction",
	"tgkill",      "getppid",    "prctl",	    "pipe2",
	"uname",       "brk",	     "lseek",	    "pread64",
	"getdents",    "getdents64",
};

struct calls {
	const char *const *names;
	size_t n;
};

#define CALLS(a)                                                                                   \
	{                                                                                          \
		a, ARRAY_SIZE(a)                                                                   \
	}

/* The lists each kind allows, besides common_calls. */
static const struct calls kind_calls[] = {
	[SANDBOX_MAIN] = CALLS(main_calls),
	[SANDBOX_WORKER] = CALLS(worker_calls),
};

static const char *const kind_names[] = {
	[SANDBOX_MAIN] = "main",
	[SANDBOX_WORKER] = "worker",
};

static bool enabled = true;

/* The kind of filter the calling thread installed last (threads inherit main's). */
static __thread enum sandbox_thread thread_kind __attribute__((tls_model("initial-exec")));

/*
 * Names of system calls by number, resolved before any filter: the SIGSYS handler may not
 * call libseccomp (not async-signal-safe). Numbers beyond the table are logged as numbers.
 */
#define NAMES_MAX 512
static char call_names[NAMES_MAX][24];
/* The log line's head: the journal's priority when stderr is the journal. */
static const char *log_head = "vhostd: warn: ";

void sandbox_set_enabled(bool on)
{
	enabled = on;
}

bool sandbox_enabled(void)
{
	return enabled;
}

/* Appends s to buf[*n..size), truncating; async-signal-safe. */
static void put(char *buf, size_t *n, size_t size, const char *s)
{
	while (*s && *n < size)
		buf[(*n)++] = *s++;
}

/* Appends the decimal v; async-signal-safe. */
static void put_uint(char *buf, size_t *n, size_t size, unsigned long v)
{
	char digits[24];
	size_t k = sizeof(digits) - 1;

	digits[k] = '\0';
	do {
		digits[--k] = (char)('0' + v % 10);
		v /= 10;
	} while (v && k);
	put(buf, n, size, digits + k);
}

/*
 * SIGSYS from SCMP_ACT_TRAP: one line naming the call and the thread kind on stderr (write(2)
 * only), then the call returns -EPERM to its caller.
 */
static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	int saved = errno;
	char line[160];
	size_t n = 0;
	int nr = si->si_syscall;
	enum sandbox_thread kind = thread_kind;

	put(line, &n, sizeof(line), log_head);
	put(line, &n, sizeof(line), "seccomp: ");
	put(line, &n, sizeof(line), kind_names[kind == SANDBOX_WORKER]);
	put(line, &n, sizeof(line), " thread: system call ");
	if (nr >= 0 && nr < NAMES_MAX && call_names[nr][0])
		put(line, &n, sizeof(line), call_names[nr]);
	else
		put(line, &n, sizeof(line), "?");
	put(line, &n, sizeof(line), " (");
	put_uint(line, &n, sizeof(line), (unsigned long)(unsigned)nr);
	put(line, &n, sizeof(line), ") denied: EPERM\n");
	if (write(STDERR_FILENO, line, n) < 0) {
		/* Nowhere else to say it. */
	}
#if defined(__x86_64__)
	((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RAX] = -EPERM;
#elif defined(__aarch64__)
	((ucontext_t *)ctx)->uc_mcontext.regs[0] = (unsigned long long)-EPERM;
#endif
	errno = saved;
}

/* Fills call_names and installs the SIGSYS handler; once per process. */
static int prepare(void)
{
	static bool done;
	struct sigaction sa = { 0 };

	if (done)
		return 0;
	for (int nr = 0; nr < NAMES_MAX; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

		if (name)
			snprintf(call_names[nr], sizeof(call_names[nr]), "%s", name);
		free(name);
	}
	if (log_to_journal())
		log_head = "<4>warn: ";
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (SANDBOX_TRAP && sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	done = true;
	return 0;
}

/* Adds an allow rule for each call of list the architecture has (others are skipped). */
static int allow(scmp_filter_ctx ctx, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		int r;

		if (nr == __NR_SCMP_ERROR)
			continue;
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Loads ctx; without CAP_SYS_ADMIN the kernel demands no_new_privs, then it is set. */
static int load(scmp_filter_ctx ctx)
{
	int r;

	r = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (r == 0)
		r = seccomp_load(ctx);
	if (r == -EACCES) {
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
		if (r == 0)
			r = seccomp_load(ctx);
	}
	return r;
}

int sandbox_apply(enum sandbox_thread kind)
{
	scmp_filter_ctx ctx;
	int r;

	if (!enabled)
		return 0;
	if ((unsigned)kind >= ARRAY_SIZE(kind_calls))
		return -EINVAL;
	r = prepare();
	if (r < 0)
		return r;
	ctx = seccomp_init(SANDBOX_TRAP ? SCMP_ACT_TRAP : SCMP_ACT_ERRNO(EPERM));
	if (!ctx)
		return -ENOMEM;
	r = allow(ctx, common_calls, ARRAY_SIZE(common_calls));
	if (r == 0)
		r = allow(ctx, kind_calls[kind].names, kind_calls[kind].n);
	if (r == 0 && SANDBOX_SANITIZER)
		r = allow(ctx, sanitizer_calls, ARRAY_SIZE(sanitizer_calls));
	if (r == 0)
		r = load(ctx);
	seccomp_release(ctx);
	if (r < 0)
		return r;
	thread_kind = kind;
	return 0;
}
