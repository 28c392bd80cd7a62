/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Strict parsing of numbers in untrusted text (command line, configuration, API). */
#pragma once

/*
 * Parses a plain decimal (digits only: no sign, space, base prefix or trailing bytes) in
 * [min, max] into *ret. Returns 0, or -EINVAL with *ret untouched.
 */
int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret);
