/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Memory a peer takes away: a guest-memory region or dirty log whose file shrinks after it was
 * mapped faults on the next touch; memguard must turn that SIGBUS into a marked owner, a wake-up
 * and zeros, and leave every other SIGBUS fatal. Also the per-table mem_max and the registry's
 * own bound.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/memguard.h"
#include "virtq/log.h"
#include "virtq/vmem.h"

#define PAGE 4096u
#define GPA  0x100000ull

static int wake_fd = -1;

/* A memfd of n pages filled with 0x5a. */
static int memfd_pages(unsigned n)
{
	int fd = memfd_create("t", MFD_CLOEXEC);
	uint8_t *buf = malloc(n * PAGE);

	assert_true(fd >= 0);
	assert_non_null(buf);
	memset(buf, 0x5a, n * PAGE);
	assert_int_equal(write(fd, buf, n * PAGE), (ssize_t)(n * PAGE));
	free(buf);
	return fd;
}

/* True when memguard's eventfd has a wake-up pending (then drained). */
static bool woken(void)
{
	struct pollfd p = { .fd = wake_fd, .events = POLLIN };
	bool r = poll(&p, 1, 0) == 1;

	memguard_drain();
	return r;
}

/* A region whose file shrinks: reads give zeros instead of SIGBUS, the table is marked with the
 * region's gpa and the offset, and the main loop is woken; other regions are untouched. */
static void test_region_shrinks(void **state)
{
	struct vmem *m = calloc(1, sizeof(*m));
	int fd = memfd_pages(4), fd2 = memfd_pages(1);
	volatile uint8_t *p, *q;
	uint64_t before = memguard_total();

	(void)state;
	/* cmocka puts its own SIGBUS handler in place around each test: ours again. */
	assert_int_equal(memguard_init(), wake_fd);
	assert_int_equal(vmem_add_fd(m, GPA, 4 * PAGE, 0x7000000, 0, fd), 0);
	assert_int_equal(vmem_add_fd(m, GPA + 8 * PAGE, PAGE, 0x8000000, 0, fd2), 0);
	assert_int_equal(memguard_count(), 2);
	p = vmem_gpa_ptr(m, GPA + 2 * PAGE + 5, 1);
	q = vmem_gpa_ptr(m, GPA + 8 * PAGE, 1);
	assert_int_equal(*p, 0x5a);
	assert_false(memguard_faulted(&m->guard));
	assert_false(woken());
	assert_int_equal(ftruncate(fd, PAGE), 0);
	assert_int_equal(*p, 0); /* would be SIGBUS */
	*p = 1;			 /* writes land in private pages */
	assert_true(memguard_faulted(&m->guard));
	assert_int_equal(m->guard.fault_tag, GPA);
	assert_int_equal(m->guard.fault_offset, 2 * PAGE + 5);
	assert_int_equal(memguard_total(), before + 1);
	assert_true(woken());
	assert_int_equal(*q, 0x5a); /* the other region's mapping is the file's still */
	vmem_clear(m);
	assert_false(memguard_faulted(&m->guard));
	assert_int_equal(memguard_count(), 0);
	close(fd);
	close(fd2);
	free(m);
}

/* A dirty log whose file shrinks: marking a page faults into zeros and marks the log. */
static void test_log_shrinks(void **state)
{
	struct vlog *l = NULL;
	int fd = memfd_pages(2);

	(void)state;
	assert_int_equal(memguard_init(), wake_fd);
	assert_int_equal(vlog_map(fd, 2 * PAGE, 0, &l), 0);
	assert_non_null(l);
	assert_int_equal(ftruncate(fd, 0), 0);
	/* Page 40960's bit is in byte 5120 of the log: its second page. */
	vlog_mark(l, 40960ull * 4096, 1);
	assert_true(l && memguard_faulted(&l->guard));
	assert_in_range(l->guard.fault_offset, 5120 - 7, 5120);
	assert_true(woken());
	vlog_free(l);
	assert_int_equal(memguard_count(), 0);
	close(fd);
}

/* A SIGBUS outside any registered mapping still kills (a real bug must not be swallowed). */
static void test_foreign_sigbus_kills(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };
		int fd = memfd_pages(1);
		volatile uint8_t *p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);

		setrlimit(RLIMIT_CORE, &no_core);
		if (memguard_init() < 0 || p == MAP_FAILED || ftruncate(fd, 0) < 0)
			_exit(2);
		(void)*p;
		_exit(3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGBUS);
}

/* mem_max: the table maps at most max_bytes (whole mappings counted); removal gives room back. */
static void test_mem_max(void **state)
{
	struct vmem *m = calloc(1, sizeof(*m));
	int fd = memfd_pages(4);

	(void)state;
	m->max_bytes = 3 * PAGE;
	assert_int_equal(vmem_add_fd(m, GPA, 2 * PAGE, 0x7000000, 0, fd), 0);
	assert_int_equal(m->mapped, 2 * PAGE);
	assert_int_equal(vmem_add_fd(m, GPA + 4 * PAGE, 2 * PAGE, 0x8000000, 0, fd), -E2BIG);
	/* An offset counts: the mapping reaches from the file's start. */
	assert_int_equal(vmem_add_fd(m, GPA + 4 * PAGE, PAGE, 0x8000000, 2 * PAGE, fd), -E2BIG);
	assert_int_equal(vmem_add_fd(m, GPA + 4 * PAGE, PAGE, 0x8000000, 0, fd), 0);
	assert_int_equal(m->mapped, 3 * PAGE);
	assert_int_equal(vmem_remove(m, GPA, 2 * PAGE, 0x7000000), 0);
	assert_int_equal(m->mapped, PAGE);
	assert_int_equal(vmem_add_fd(m, GPA, 2 * PAGE, 0x7000000, 0, fd), 0);
	vmem_clear(m);
	assert_int_equal(m->mapped, 0);
	assert_int_equal(m->max_bytes, 3 * PAGE); /* the limit outlives the table's contents */
	close(fd);
	free(m);
}

/* The registry holds MEMGUARD_MAX_MAPPINGS; one more is refused and counted, then room again. */
static void test_registry_full(void **state)
{
	static int slot[MEMGUARD_MAX_MAPPINGS];
	struct memguard_owner o = { 0 };
	uint64_t refused = memguard_refused();

	(void)state;
	for (unsigned i = 0; i < MEMGUARD_MAX_MAPPINGS; i++) {
		slot[i] = memguard_add((void *)(uintptr_t)(0x10000000ull + i * PAGE), PAGE, &o, i);
		assert_true(slot[i] >= 0);
	}
	assert_int_equal(memguard_add((void *)0x1000, PAGE, &o, 0), -ENOSPC);
	assert_int_equal(memguard_refused(), refused + 1);
	memguard_del(slot[7]);
	slot[7] = memguard_add((void *)0x1000, PAGE, &o, 0);
	assert_true(slot[7] >= 0);
	for (unsigned i = 0; i < MEMGUARD_MAX_MAPPINGS; i++)
		memguard_del(slot[i]);
	assert_int_equal(memguard_count(), 0);
	assert_int_equal(memguard_add(NULL, PAGE, &o, 0), -EINVAL);
}

static int setup(void **state)
{
	(void)state;
	wake_fd = memguard_init();
	return wake_fd < 0 ? -1 : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_region_shrinks),	     cmocka_unit_test(test_log_shrinks),
		cmocka_unit_test(test_foreign_sigbus_kills), cmocka_unit_test(test_mem_max),
		cmocka_unit_test(test_registry_full),
	};

	return cmocka_run_group_tests_name("unit-memguard", tests, setup, NULL);
}
