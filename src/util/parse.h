/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Strict parsing of numbers in untrusted text (command line, configuration, API). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Parses a plain decimal (digits only: no sign, space, base prefix or trailing bytes) in
 * [min, max] into *ret. Returns 0, or -EINVAL with *ret untouched.
 */
int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret);

/*
 * Parses a byte count: decimal digits and an optional binary suffix K, M, G or T (KiB..TiB),
 * within [min, max]. Returns 0 with *ret set, or -EINVAL.
 */
int parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *ret);

/* Writes bytes as parse_size() reads it, with the largest suffix that divides it exactly. */
void format_size(uint64_t bytes, char *buf, size_t len);

/* True if s is a non-empty name of [A-Za-z0-9_.-] shorter than max (port and interface names). */
bool name_valid(const char *s, size_t max);
