/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "daemon/metrics.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/limits.h"
#include "util/cleanup.h"

#ifndef VHOSTD_VERSION
#define VHOSTD_VERSION "unknown"
#endif

/* A per-queue counter: its name after vhostd_port_, help text, and where it is. */
static const struct {
	const char *name;
	const char *help;
	size_t off;
} counters[] = {
	{ "tx_packets_total", "Frames the guest sent.",
	  offsetof(struct port_queue_stats, st.tx_packets) },
	{ "tx_bytes_total", "Bytes of frames the guest sent.",
	  offsetof(struct port_queue_stats, st.tx_bytes) },
	{ "tx_dropped_total", "Frames the guest sent that the back-end could not take.",
	  offsetof(struct port_queue_stats, st.tx_dropped) },
	{ "tx_errors_total", "Malformed frames from the guest (bad header or chain).",
	  offsetof(struct port_queue_stats, st.tx_errors) },
	{ "rx_packets_total", "Frames delivered to the guest.",
	  offsetof(struct port_queue_stats, st.rx_packets) },
	{ "rx_bytes_total", "Bytes of frames delivered to the guest.",
	  offsetof(struct port_queue_stats, st.rx_bytes) },
	{ "rx_dropped_total", "Frames for the guest dropped (no receive buffers, too large).",
	  offsetof(struct port_queue_stats, st.rx_dropped) },
	{ "rx_oversize_total", "Frames for the guest dropped as larger than its buffers.",
	  offsetof(struct port_queue_stats, st.rx_oversize) },
	{ "rx_stale_total",
	  "Frames queued while no guest listened, dropped when its receive ring started.",
	  offsetof(struct port_queue_stats, st.rx_stale) },
	{ "tx_kicks_total", "Notifications from the guest on its transmit ring.",
	  offsetof(struct port_queue_stats, tx_kicks) },
	{ "rx_kicks_total", "Notifications from the guest on its receive ring.",
	  offsetof(struct port_queue_stats, rx_kicks) },
	{ "tx_calls_total", "Interrupts sent to the guest for its transmit ring.",
	  offsetof(struct port_queue_stats, tx_calls) },
	{ "rx_calls_total", "Interrupts sent to the guest for its receive ring.",
	  offsetof(struct port_queue_stats, rx_calls) },
	{ "ring_faults_total", "Rings stopped because the guest broke the virtio rules.",
	  offsetof(struct port_queue_stats, ring_faults) },
};

/* Writes s as a label value: backslash, double quote and newline escaped. */
static void label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*s, f);
	}
}

/* Writes "# HELP" and "# TYPE" of one metric. */
static void header(FILE *f, const char *name, const char *help, const char *type)
{
	fprintf(f, "# HELP vhostd_%s %s\n# TYPE vhostd_%s %s\n", name, help, name, type);
}

/* Port-level counters of struct port_info: name (vhostd_port_NAME_total), help, where. */
static const struct {
	const char *name, *help;
	size_t off;
} port_counters[] = {
	{ "announces", "RARPs sent for the guest after a migration.",
	  offsetof(struct port_info, announces) },
	{ "mem_faults", "Front-ends dropped because their shared memory vanished under vhostd.",
	  offsetof(struct port_info, mem_faults) },
	{ "conn_refused", "Connections refused because a front-end was already connected.",
	  offsetof(struct port_info, conn_refused) },
	{ "msg_refused", "vhost-user messages refused: malformed, out of order or over a limit.",
	  offsetof(struct port_info, msg_refused) },
};

/* The ports to report, snapshotted once so that every metric shows the same instant. */
struct snap {
	unsigned n;
	const char *name[DAEMON_MAX_PORTS];
	struct port_info info[DAEMON_MAX_PORTS];
};

/* Snapshots the ports of d (or only the one called only). */
static void take(struct daemon *d, const char *only, struct snap *s)
{
	s->n = 0;
	for (unsigned i = 0; i < daemon_nports(d); i++) {
		struct port *p = daemon_port(d, i, NULL);

		if (only && strcmp(port_name(p), only) != 0)
			continue;
		s->name[s->n] = port_name(p);
		port_snapshot(p, &s->info[s->n]);
		s->n++;
	}
}

char *metrics_prometheus(struct daemon *d, const char *only)
{
	_cleanup_free_ struct snap *s = malloc(sizeof(*s));
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (!s)
		return NULL;
	take(d, only, s);
	f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	header(f, "info", "vhostd's version.", "gauge");
	fprintf(f, "vhostd_info{version=\"%s\"} 1\n", VHOSTD_VERSION);
	header(f, "ports", "Ports configured.", "gauge");
	fprintf(f, "vhostd_ports %u\n", daemon_nports(d));
	header(f, "port_connected", "1 while a front-end is connected to the port.", "gauge");
	for (unsigned i = 0; i < s->n; i++) {
		fputs("vhostd_port_connected{port=\"", f);
		label(f, s->name[i]);
		fprintf(f, "\"} %d\n", s->info[i].connected);
	}
	header(f, "port_broken", "1 while a ring of the port is stopped by a guest error.",
	       "gauge");
	for (unsigned i = 0; i < s->n; i++) {
		fputs("vhostd_port_broken{port=\"", f);
		label(f, s->name[i]);
		fprintf(f, "\"} %d\n", s->info[i].broken);
	}
	for (size_t c = 0; c < sizeof(port_counters) / sizeof(port_counters[0]); c++) {
		char name[64];

		snprintf(name, sizeof(name), "port_%s_total", port_counters[c].name);
		header(f, name, port_counters[c].help, "counter");
		for (unsigned i = 0; i < s->n; i++) {
			uint64_t v;

			memcpy(&v, (const char *)&s->info[i] + port_counters[c].off, sizeof(v));
			fprintf(f, "vhostd_%s{port=\"", name);
			label(f, s->name[i]);
			fprintf(f, "\"} %" PRIu64 "\n", v);
		}
	}
	for (size_t c = 0; c < sizeof(counters) / sizeof(counters[0]); c++) {
		char name[64];

		snprintf(name, sizeof(name), "port_%s", counters[c].name);
		header(f, name, counters[c].help, "counter");
		for (unsigned i = 0; i < s->n; i++) {
			for (unsigned q = 0; q < s->info[i].nqueues; q++) {
				uint64_t v;

				memcpy(&v, (const char *)&s->info[i].q[q] + counters[c].off,
				       sizeof(v));
				fprintf(f, "vhostd_%s{port=\"", name);
				label(f, s->name[i]);
				fprintf(f, "\",queue=\"%u\"} %" PRIu64 "\n", q, v);
			}
		}
	}
	if (!only)
		limits_prometheus(f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

char *metrics_kv(struct daemon *d, const char *only)
{
	char *buf = NULL, line[1024];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	for (unsigned i = 0; i < daemon_nports(d); i++) {
		struct port *p = daemon_port(d, i, NULL);

		if (only && strcmp(port_name(p), only) != 0)
			continue;
		port_format_stats(p, line, sizeof(line));
		fputs(line, f);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
