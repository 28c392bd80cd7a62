/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Survives memory a peer takes away. Guest memory and the dirty log are files the front-end
 * shares with us; it can shrink such a file (ftruncate of an unsealed memfd, of a hugetlbfs or
 * tmpfs file) after we mapped it, and our next touch of the vanished pages raises SIGBUS, which
 * would kill every tenant of the process.
 *
 * Every peer mapping is registered here. A SIGBUS inside one is handled on the thread that
 * took it: the whole mapping is replaced, in place, by private anonymous memory (MAP_FIXED), the
 * mapping's owner is marked faulted, and an eventfd wakes the main loop, which drops that
 * device. The faulting load or store then retries and completes against zeros, so the data path
 * needs no check of its own and keeps its speed; what it reads until the device is dropped is
 * garbage that the ring checks already treat as hostile. A SIGBUS anywhere else is a real bug
 * and kills the process as before.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How many peer mappings may be registered at once, for all devices together. */
#define MEMGUARD_MAX_MAPPINGS 32768

/* Who a mapping belongs to: the handler marks it; the main loop looks. */
struct memguard_owner {
	unsigned faults;       /* mappings of this owner that faulted (atomic) */
	uint64_t fault_offset; /* offset of the first faulting byte in its mapping */
	uint64_t fault_tag;    /* the tag given at registration of that mapping */
};

/*
 * Installs the SIGBUS handler (again, if someone replaced it) and creates the eventfd it signals
 * (non-blocking) the first time. Returns the eventfd (the caller watches it; memguard_drain()
 * empties it) or a negative errno. Without this call registration still works but a fault kills
 * the process.
 */
int memguard_init(void);

/* Empties the eventfd after a wake-up. */
void memguard_drain(void);

/*
 * Registers [base, base+len) as a mapping of owner, with tag (e.g. a guest-physical address)
 * to report. Returns the slot (>= 0) to give to memguard_del(), or -ENOSPC when
 * MEMGUARD_MAX_MAPPINGS are registered. Called from one thread (the main loop's) only.
 */
int memguard_add(void *base, size_t len, struct memguard_owner *owner, uint64_t tag);

/* Forgets slot (before the mapping is unmapped). A negative slot is ignored. */
void memguard_del(int slot);

/* True when a mapping of owner faulted (any thread may ask). */
static inline bool memguard_faulted(const struct memguard_owner *o)
{
	return __atomic_load_n(&o->faults, __ATOMIC_ACQUIRE) != 0;
}

/* Registrations refused because MEMGUARD_MAX_MAPPINGS were in use. */
uint64_t memguard_refused(void);

/* Total faults handled since start (all owners). */
uint64_t memguard_total(void);

/* Registered mappings now. */
unsigned memguard_count(void);
