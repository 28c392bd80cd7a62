/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Names of the virtio-net and ring features a port can switch off (`features=-NAME,...`): one
 * table, for the command line that parses them and for the logs that print them.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Bit of the feature called name (lowercase spec name without its prefix), or -ENOENT. */
int vnet_feature_bit(const char *name);

/* Name of feature bit b, or NULL when the table has none. */
const char *vnet_feature_name(unsigned bit);

/* Bits a port can never do without (VERSION_1: vhostd speaks modern virtio only). */
uint64_t vnet_features_required(void);

/*
 * Writes the names of the bits of mask, separated by ',' ("none" for 0, bitN for a bit without
 * a name), into buf (always terminated). Returns buf.
 */
char *vnet_features_format(uint64_t mask, char *buf, size_t len);
