/* SPDX-License-Identifier: GPL-2.0-or-later */
/* virtio-net definitions (virtio 1.x section 5.1) used by the device model and back-ends. */
#pragma once

#include <assert.h>
#include <stdint.h>

#define VNET_BIT(b) (1ull << (b))

enum virtio_net_feature {
	VIRTIO_NET_F_CSUM = 0,
	VIRTIO_NET_F_GUEST_CSUM = 1,
	VIRTIO_NET_F_MTU = 3,
	VIRTIO_NET_F_MAC = 5,
	VIRTIO_NET_F_GUEST_TSO4 = 7,
	VIRTIO_NET_F_GUEST_TSO6 = 8,
	VIRTIO_NET_F_GUEST_ECN = 9,
	VIRTIO_NET_F_GUEST_UFO = 10,
	VIRTIO_NET_F_HOST_TSO4 = 11,
	VIRTIO_NET_F_HOST_TSO6 = 12,
	VIRTIO_NET_F_HOST_ECN = 13,
	VIRTIO_NET_F_HOST_UFO = 14,
	VIRTIO_NET_F_MRG_RXBUF = 15,
	VIRTIO_NET_F_STATUS = 16,
	VIRTIO_NET_F_CTRL_VQ = 17,
	/* The guest announces itself after a migration (QEMU's control queue carries it). */
	VIRTIO_NET_F_GUEST_ANNOUNCE = 21,
	VIRTIO_NET_F_MQ = 22,
	VIRTIO_NET_F_ANY_LAYOUT = 27,
	/* Used buffers go back in the order they were made available (every path here keeps it). */
	VIRTIO_F_IN_ORDER = 35,
	/* UDP segmentation offload (GSO_UDP_L4): guest receives it over IPv4 / IPv6, sends it. */
	VIRTIO_NET_F_GUEST_USO4 = 54,
	VIRTIO_NET_F_GUEST_USO6 = 55,
	VIRTIO_NET_F_HOST_USO = 56,
};

/* The MTU a front-end may set with VHOST_USER_NET_SET_MTU (virtio 1.x 5.1.4: 68..65535). */
#define VNET_MTU_MIN 68
#define VNET_MTU_MAX 65535

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2

#define VIRTIO_NET_HDR_GSO_NONE	  0
#define VIRTIO_NET_HDR_GSO_TCPV4  1
#define VIRTIO_NET_HDR_GSO_UDP	  3
#define VIRTIO_NET_HDR_GSO_TCPV6  4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#define VIRTIO_NET_HDR_GSO_ECN	  0x80

/* The header in front of every frame; num_buffers exists with MRG_RXBUF or VERSION_1. */
struct virtio_net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};
static_assert(sizeof(struct virtio_net_hdr) == 12, "virtio-net header");
