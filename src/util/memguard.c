/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The registry is a fixed table the signal handler can read without a lock: only the main loop
 * writes it, each slot under a sequence count (odd while it changes), and the handler skips a
 * slot it sees changing. A mapping that can fault is never being changed at that moment: a
 * worker touches a device's memory with the device's worker lock held, and the main loop
 * changes or drops that device's mappings only with the same lock held.
 *
 * Why replace the mapping instead of jumping out of the fault (sigsetjmp/siglongjmp): the jump
 * needs a landing point armed around every access to guest memory, a cost on each packet
 * (sigsetjmp saves the signal mask with a system call), and code that could be left half-done
 * holding locks. Replacing the pages costs nothing until a peer misbehaves and lets the
 * interrupted code finish normally.
 */
#include "util/memguard.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

struct slot {
	unsigned seq; /* even: stable; odd: being written */
	uintptr_t base;
	size_t len;
	struct memguard_owner *owner;
	uint64_t tag;
};

static struct slot slots[MEMGUARD_MAX_MAPPINGS];
static unsigned high;  /* slots [0, high) may be in use */
static unsigned nused; /* main loop only */
static int wake_fd = -1;
static uint64_t total;
static uint64_t full; /* registrations refused */

/* Replaces the mapping of slot s in place by zero-filled private memory. */
static bool replace(uintptr_t base, size_t len)
{
	void *p = mmap((void *)base, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);

	return p != MAP_FAILED;
}

/* Reads slot i consistently; false when it is free or being written. */
static bool slot_read(unsigned i, struct slot *ret)
{
	struct slot *s = &slots[i];
	unsigned seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);

	if (seq & 1)
		return false;
	ret->base = __atomic_load_n(&s->base, __ATOMIC_RELAXED);
	ret->len = __atomic_load_n(&s->len, __ATOMIC_RELAXED);
	ret->owner = __atomic_load_n(&s->owner, __ATOMIC_RELAXED);
	ret->tag = __atomic_load_n(&s->tag, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) != seq)
		return false;
	return ret->base != 0;
}

/* SIGBUS: ours when the address is in a registered mapping; anything else dies as before. */
static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	unsigned n = __atomic_load_n(&high, __ATOMIC_ACQUIRE);
	int saved = errno;
	struct sigaction dfl;

	(void)uctx;
	for (unsigned i = 0; i < n; i++) {
		struct slot s;
		uint64_t one = 1;

		if (!slot_read(i, &s) || a - s.base >= s.len)
			continue;
		if (!replace(s.base, s.len))
			break;
		if (__atomic_load_n(&s.owner->faults, __ATOMIC_RELAXED) == 0) {
			__atomic_store_n(&s.owner->fault_offset, (uint64_t)(a - s.base),
					 __ATOMIC_RELAXED);
			__atomic_store_n(&s.owner->fault_tag, s.tag, __ATOMIC_RELAXED);
		}
		__atomic_fetch_add(&s.owner->faults, 1, __ATOMIC_RELEASE);
		__atomic_fetch_add(&total, 1, __ATOMIC_RELAXED);
		if (wake_fd >= 0 && write(wake_fd, &one, sizeof(one)) < 0) {
			/* Full counter: the main loop has a wake-up pending anyway. */
		}
		errno = saved;
		return;
	}
	/* Not a peer's memory: the default action (and a core dump) on return. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(sig, &dfl, NULL);
	errno = saved;
}

int memguard_init(void)
{
	struct sigaction sa;

	if (wake_fd < 0)
		wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (wake_fd < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL) < 0) {
		int r = -errno;

		close(wake_fd);
		wake_fd = -1;
		return r;
	}
	return wake_fd;
}

void memguard_drain(void)
{
	uint64_t v;

	if (wake_fd >= 0 && read(wake_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing pending. */
	}
}

/* Publishes (base, len, owner, tag) in slot i; base 0 frees it. */
static void slot_write(unsigned i, uintptr_t base, size_t len, struct memguard_owner *owner,
		       uint64_t tag)
{
	struct slot *s = &slots[i];
	unsigned seq = s->seq;

	__atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&s->base, base, __ATOMIC_RELAXED);
	__atomic_store_n(&s->len, len, __ATOMIC_RELAXED);
	__atomic_store_n(&s->owner, owner, __ATOMIC_RELAXED);
	__atomic_store_n(&s->tag, tag, __ATOMIC_RELAXED);
	__atomic_store_n(&s->seq, seq + 2, __ATOMIC_RELEASE);
}

int memguard_add(void *base, size_t len, struct memguard_owner *owner, uint64_t tag)
{
	if (!base || len == 0 || !owner)
		return -EINVAL;
	for (unsigned i = 0; i < MEMGUARD_MAX_MAPPINGS; i++) {
		if (slots[i].base)
			continue;
		slot_write(i, (uintptr_t)base, len, owner, tag);
		if (i >= high)
			__atomic_store_n(&high, i + 1, __ATOMIC_RELEASE);
		nused++;
		return (int)i;
	}
	full++;
	return -ENOSPC;
}

void memguard_del(int slot)
{
	if (slot < 0 || slot >= MEMGUARD_MAX_MAPPINGS || !slots[slot].base)
		return;
	slot_write((unsigned)slot, 0, 0, NULL, 0);
	nused--;
	while (high > 0 && !slots[high - 1].base)
		__atomic_store_n(&high, high - 1, __ATOMIC_RELEASE);
}

uint64_t memguard_total(void)
{
	return __atomic_load_n(&total, __ATOMIC_RELAXED);
}

uint64_t memguard_refused(void)
{
	return full;
}

unsigned memguard_count(void)
{
	return nused;
}
