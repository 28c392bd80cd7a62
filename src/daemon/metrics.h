/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The counters as text: the Prometheus text exposition format (version 0.0.4) for scrapers and
 * `vhostctl stats --format=prometheus`, and one key=value line per port for shell scripts.
 */
#pragma once

#include "daemon/daemon.h"

/* Every port's metrics (only the port called only, when not NULL). Malloc'ed; NULL: no memory. */
char *metrics_prometheus(struct daemon *d, const char *only);

/* One "port=NAME state=STATE key=value ..." line per port. Malloc'ed; NULL: no memory. */
char *metrics_kv(struct daemon *d, const char *only);
