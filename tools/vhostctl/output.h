/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhostctl's human-readable output: aligned tables, numbers in human units, "key: value" lines,
 * and typed reads of the daemon's JSON. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <json-c/json.h>

#include "util/cleanup.h"

/* Room for any human_*() string. */
#define HUMAN_MAX 24

/* The column "key: value" lines put their values at. */
#define FIELD_WIDTH 21

struct table;

/* A table of ncols columns headed heads[i], aligned per align[i] ('l' or 'r'). heads and align
 * must outlive the table. Returns NULL when out of memory. */
struct table *table_new(unsigned ncols, const char *const *heads, const char *align);

/* Appends a row: copies of cells[0..ncols) (NULL prints as "-"). Returns 0 or -ENOMEM. */
int table_add(struct table *t, const char *const *cells);

/* Prints the header and rows, each column as wide as its widest cell, two spaces apart, no
 * trailing white space. */
void table_print(const struct table *t, FILE *f);

/* Frees t (NULL is fine). Returns NULL. */
struct table *table_free(struct table *t);

/* Cleanup hook for a struct table pointer variable. */
static inline void table_freep(struct table **t)
{
	*t = table_free(*t);
}
#define _cleanup_table_ _cleanup_(table_freep)

/* A counter: exact below 100000, else three significant digits and an SI prefix ("1.23M").
 * Returns buf. */
const char *human_count(char buf[static HUMAN_MAX], uint64_t v);

/* A rate: whole below 1000, else three significant digits and an SI prefix ("14.8G"). Returns
 * buf. */
const char *human_rate(char buf[static HUMAN_MAX], double v);

/* A byte count: "512 B" below 1 KiB, else three significant digits and a binary prefix
 * ("1.50 GiB"). Returns buf. */
const char *human_bytes(char buf[static HUMAN_MAX], uint64_t v);

/* The member key of o if it has type type, else NULL (o may be NULL). */
json_object *json_member(json_object *o, const char *key, json_type type);

/* The member key of o as text when it is a string, number or boolean; NULL when absent, null, an
 * object or an array. Points into o. */
const char *json_str(json_object *o, const char *key);

/* The member key of o as text: json_str()'s, or for an array of scalars their texts joined by
 * commas into buf (cut to len). NULL when absent, null or an object. */
const char *json_text(json_object *o, const char *key, char *buf, size_t len);

/* Reads the member key of o as an unsigned integer. Returns true with *ret set, or false (absent,
 * not an integer, negative) with *ret untouched. */
bool json_u64(json_object *o, const char *key, uint64_t *ret);

/* Prints "key:" padded to FIELD_WIDTH, then value (NULL prints as "-"). */
void print_field(const char *key, const char *value);

/* Prints "key:" and the strings of array separated by spaces, wrapped at 80 columns under the
 * first (nothing or a non-array prints "-"). */
void print_field_words(const char *key, json_object *array);
