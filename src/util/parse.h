/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Strict parsing of numbers in untrusted text (command line, configuration, API). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * Parses a plain decimal (digits only: no sign, space, base prefix or trailing bytes) in
 * [min, max] into *ret. Returns 0, or -EINVAL with *ret untouched.
 */
int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret);

/* True if s is a non-empty name of [A-Za-z0-9_.-] shorter than max (port and interface names). */
bool name_valid(const char *s, size_t max);
