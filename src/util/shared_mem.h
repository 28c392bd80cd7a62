/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers for memory another CPU reads concurrently (guest buffers, used rings). */
#pragma once

#include <stddef.h>
#include <string.h>

/*
 * Stores len bytes at dst unless dst already holds them. A cache line we only read stays
 * shared with the CPU that reads it after us (the guest's), instead of being taken exclusive
 * and pulled back: ring slots and headers recycled with the same contents then cost no
 * cross-CPU transfer. dst may be written by the guest meanwhile; that only changes what the
 * guest itself reads back.
 */
static inline void store_if_changed(void *dst, const void *src, size_t len)
{
	if (memcmp(dst, src, len) != 0)
		memcpy(dst, src, len);
}
