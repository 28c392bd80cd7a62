/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Every bound on what a peer (front-end, guest, control or metrics client, configuration) can
 * make vhostd hold, in one table, with a count of refusals for the daemon-wide ones. A port's
 * own limits (queue size, memory regions, mem_max, message size, one front-end at a time) are
 * counted per port (msg_refused, conn_refused in its stats). doc/limits.md describes each.
 */
#pragma once

#include <stdint.h>
#include <stdio.h>

struct json_object;

/* Daemon-wide limits whose refusals are counted here. */
enum limit_id {
	LIMIT_PORTS,	       /* ports in the daemon */
	LIMIT_CONTROL_CLIENTS, /* control-socket clients at once */
	LIMIT_CONTROL_LINE,    /* bytes of one control request */
	LIMIT_CONTROL_PENDING, /* reply bytes a control client leaves unread */
	LIMIT_METRICS_CLIENTS, /* metrics (HTTP) clients at once */
	LIMIT_COUNTED,	       /* (the ones below count elsewhere) */
};

/* Counts one refusal because limit id was reached. Any thread. */
void limit_refused(enum limit_id id);

/* Every limit as one JSON array of {name, max, unit, scope, refused, counter}. */
struct json_object *limits_json(void);

/* The daemon-wide limits in Prometheus text: vhostd_limit and vhostd_limit_refused_total. */
void limits_prometheus(FILE *f);
