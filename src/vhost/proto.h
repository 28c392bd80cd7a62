/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vhost-user wire format (QEMU docs/interop/vhost-user.rst). All fields little-endian (x86 host).
 */
#pragma once

#include <assert.h>
#include <stdint.h>

enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_SEND_RARP = 19,
	VU_NET_SET_MTU = 20,
	VU_GET_MAX_MEM_SLOTS = 36,
	VU_ADD_MEM_REG = 37,
	VU_REM_MEM_REG = 38,
	VU_SET_STATUS = 39,
	VU_GET_STATUS = 40,
	VU_REQUEST_MAX = 41,
};

#define VU_FLAG_VERSION_MASK 0x3u
#define VU_VERSION	     0x1u
#define VU_FLAG_REPLY	     (1u << 2)
#define VU_FLAG_NEED_REPLY   (1u << 3)

/* SET_VRING_KICK/CALL/ERR payload: ring index in bits 0-7, "no fd" in bit 8. */
#define VU_VRING_IDX_MASK  0xffull
#define VU_VRING_NOFD_FLAG (1ull << 8)

/* Virtio feature bit that gates protocol features and ring enabling. */
#define VHOST_USER_F_PROTOCOL_FEATURES 30
/* vhost feature bit: the back-end logs every page it writes into the dirty log (migration). */
#define VHOST_F_LOG_ALL 26

/* SET_VRING_ADDR flags: log_guest_addr is valid and used-ring writes are logged there. */
#define VHOST_VRING_F_LOG 0

enum vu_protocol_feature {
	VU_PROTOCOL_F_MQ = 0,
	VU_PROTOCOL_F_LOG_SHMFD = 1,
	VU_PROTOCOL_F_RARP = 2,
	VU_PROTOCOL_F_REPLY_ACK = 3,
	VU_PROTOCOL_F_NET_MTU = 4,
	VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS = 15,
	VU_PROTOCOL_F_STATUS = 16,
};

/* Limits of the protocol as we implement it, in one place. */
enum {
	VU_MAX_PAYLOAD = 4096,	  /* larger declared sizes end the connection */
	VU_MAX_FDS = 8,		  /* fds one message may carry */
	VU_MEM_TABLE_REGIONS = 8, /* SET_MEM_TABLE's fixed array */
	VU_MAX_QUEUE_PAIRS = 16,
	VU_MAX_VRINGS = 2 * VU_MAX_QUEUE_PAIRS,
};

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
};
static_assert(sizeof(struct vu_hdr) == 12, "vhost-user header");

struct vu_vring_state {
	uint32_t index;
	uint32_t num;
};
static_assert(sizeof(struct vu_vring_state) == 8, "vring state");

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
};
static_assert(sizeof(struct vu_vring_addr) == 40, "vring address");

/* SET_LOG_BASE payload (with LOG_SHMFD): the log is mmap_size bytes at mmap_offset of the fd. */
struct vu_log {
	uint64_t mmap_size;
	uint64_t mmap_offset;
};
static_assert(sizeof(struct vu_log) == 16, "log base");

struct vu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uva;
	uint64_t mmap_offset;
};
static_assert(sizeof(struct vu_region) == 32, "memory region");

struct vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vu_region regions[VU_MEM_TABLE_REGIONS];
};
static_assert(sizeof(struct vu_mem_table) == 8 + 8 * 32, "memory table");

struct vu_mem_reg {
	uint64_t padding;
	struct vu_region region;
};
static_assert(sizeof(struct vu_mem_reg) == 40, "single memory region");

/* One message as received: header, payload, and the fds that came with it. */
struct vu_msg {
	struct vu_hdr hdr;
	union {
		uint64_t u64;
		struct vu_vring_state state;
		struct vu_vring_addr addr;
		struct vu_mem_table mem;
		struct vu_mem_reg mem_reg;
		struct vu_log log;
		uint8_t raw[VU_MAX_PAYLOAD];
	} p;
	int fds[VU_MAX_FDS];
	unsigned nfds;
};
