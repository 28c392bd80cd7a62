/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small questions about host network interfaces, by name. */
#pragma once

/* ifname's MTU (SIOCGIFMTU), or 1500 when it cannot be read. */
unsigned netif_mtu(const char *ifname);
