/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ring state file (see ringstate.h). Layout, all little-endian:
 *
 *   0                       header (64 bytes; the rest of the first page is reserved)
 *   RS_HEADER + i * RS_RING  ring i: its record (64 bytes, one cache line: rings run on
 *                           different workers), then its log of VIRTQ_USED_LOG_MAX entries
 *
 * A record is valid while `valid` holds RS_VALID: claiming a ring voids it, writes the ring's
 * identity and state, then sets it, so a process killed half-way leaves it void.
 */
#include "vhost/ringstate.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "vhost/proto.h"
#include "virtq/virtq.h"

#define RS_MAGIC   "vhostdRS"
#define RS_VERSION 1
#define RS_VALID   0x52494e47u /* "RING" */
#define RS_HEADER  4096u
#define RS_REC	   64u
/* A ring's record and log, rounded up to whole pages. */
#define RS_RING ((RS_REC + 8u * VIRTQ_USED_LOG_MAX + 4095u) & ~4095u)

struct rs_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size; /* where ring 0 starts: RS_HEADER */
	uint32_t ring_size;   /* bytes from one ring to the next: RS_RING */
	uint32_t nrings;
	uint32_t log_entries; /* VIRTQ_USED_LOG_MAX */
	uint8_t reserved[36];
};
_Static_assert(sizeof(struct rs_header) == 64, "state file header");

struct rs_rec {
	uint64_t desc_uva, avail_uva, used_uva;
	uint32_t num;
	uint32_t valid; /* RS_VALID or 0 */
	uint64_t state; /* the engine's state word */
	uint8_t reserved[24];
};
_Static_assert(sizeof(struct rs_rec) == RS_REC, "state file record: one cache line");

struct ringstate {
	int fd; /* open for as long as we hold its lock */
	uint8_t *map;
	size_t size;
	unsigned nrings;
	bool kept;
};

uint64_t ringstate_file_size(unsigned nrings)
{
	return RS_HEADER + (uint64_t)nrings * RS_RING;
}

/* The header this build writes for nrings rings. */
static struct rs_header header_for(unsigned nrings)
{
	struct rs_header h = {
		.version = htole32(RS_VERSION),
		.header_size = htole32(RS_HEADER),
		.ring_size = htole32(RS_RING),
		.nrings = htole32(nrings),
		.log_entries = htole32(VIRTQ_USED_LOG_MAX),
	};

	memcpy(h.magic, RS_MAGIC, sizeof(h.magic));
	return h;
}

int ringstate_check_header(const void *buf, size_t len, unsigned nrings)
{
	struct rs_header want = header_for(nrings), got;

	if (len < sizeof(got))
		return -EINVAL;
	memcpy(&got, buf, sizeof(got));
	/* Every field must be ours; the reserved bytes are not looked at. */
	if (memcmp(&got, &want, offsetof(struct rs_header, reserved)) != 0)
		return -EINVAL;
	return 0;
}

/* Ring idx's record in the mapping. */
static struct rs_rec *rec_at(const struct ringstate *rs, unsigned idx)
{
	return (struct rs_rec *)(rs->map + RS_HEADER + (size_t)idx * RS_RING);
}

/* Ring idx's log in the mapping. */
static uint64_t *log_at(const struct ringstate *rs, unsigned idx)
{
	return (uint64_t *)(rs->map + RS_HEADER + (size_t)idx * RS_RING + RS_REC);
}

/* Empties fd to `size` zero bytes with our header. 0 or -errno. */
static int clear_file(int fd, unsigned nrings, uint64_t size)
{
	struct rs_header h = header_for(nrings);

	if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)size) < 0)
		return -errno;
	if (pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return errno ? -errno : -EIO;
	return 0;
}

int ringstate_open_fd(int fd_in, unsigned nrings, struct ringstate **ret)
{
	_cleanup_close_ int fd = fd_in;
	uint64_t size = ringstate_file_size(nrings);
	struct rs_header h;
	struct ringstate *rs;
	struct stat st;
	bool keep;
	void *map;
	int r;

	if (nrings == 0 || nrings > VU_MAX_VRINGS)
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return -errno;
	/*
	 * A plain file of ours with no other name. Socket directories can be writable by others:
	 * a link planted under our name must not get another file truncated and overwritten.
	 */
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_nlink > 1)
		return -EPERM;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	keep = (uint64_t)st.st_size == size && pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
	       ringstate_check_header(&h, sizeof(h), nrings) == 0;
	if (!keep) {
		r = clear_file(fd, nrings, size);
		if (r < 0)
			return r;
	}
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	rs = calloc(1, sizeof(*rs));
	if (!rs) {
		munmap(map, size);
		return -ENOMEM;
	}
	rs->fd = TAKE_FD(fd);
	rs->map = map;
	rs->size = size;
	rs->nrings = nrings;
	rs->kept = keep;
	*ret = rs;
	return 0;
}

int ringstate_open(const char *path, unsigned nrings, struct ringstate **ret)
{
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);

	if (fd < 0)
		return errno == ELOOP ? -EPERM : -errno;
	return ringstate_open_fd(fd, nrings, ret);
}

bool ringstate_kept(const struct ringstate *rs)
{
	return rs->kept;
}

void ringstate_close(struct ringstate *rs)
{
	if (!rs)
		return;
	munmap(rs->map, rs->size);
	safe_close(rs->fd);
	free(rs);
}

bool ringstate_find(const struct ringstate *rs, unsigned idx, const struct virtq *vq,
		    uint64_t *ret_state, const uint64_t **ret_log)
{
	struct rs_rec r;

	if (!rs || idx >= rs->nrings)
		return false;
	memcpy(&r, rec_at(rs, idx), sizeof(r)); /* snapshot: each field is read once */
	if (le32toh(r.valid) != RS_VALID || le64toh(r.desc_uva) != vq->desc_uva ||
	    le64toh(r.avail_uva) != vq->avail_uva || le64toh(r.used_uva) != vq->used_uva ||
	    le32toh(r.num) != vq->num)
		return false;
	*ret_state = le64toh(r.state);
	*ret_log = log_at(rs, idx);
	return true;
}

void ringstate_claim(struct ringstate *rs, unsigned idx, struct virtq *vq)
{
	struct rs_rec *rec;

	if (!rs || idx >= rs->nrings)
		return;
	rec = rec_at(rs, idx);
	__atomic_store_n(&rec->valid, 0, __ATOMIC_RELEASE);
	rec->desc_uva = htole64(vq->desc_uva);
	rec->avail_uva = htole64(vq->avail_uva);
	rec->used_uva = htole64(vq->used_uva);
	rec->num = htole32(vq->num);
	virtq_set_used_log(vq, &rec->state, log_at(rs, idx)); /* stores the ring's position */
	__atomic_store_n(&rec->valid, htole32(RS_VALID), __ATOMIC_RELEASE);
}

void ringstate_forget(struct ringstate *rs, unsigned idx, struct virtq *vq)
{
	if (vq)
		virtq_set_used_log(vq, NULL, NULL);
	if (rs && idx < rs->nrings)
		__atomic_store_n(&rec_at(rs, idx)->valid, 0, __ATOMIC_RELEASE);
}

void ringstate_forget_other(struct ringstate *rs, unsigned idx, uint64_t desc_uva,
			    uint64_t avail_uva, uint64_t used_uva)
{
	struct rs_rec r;

	if (!rs || idx >= rs->nrings)
		return;
	memcpy(&r, rec_at(rs, idx), sizeof(r));
	if (le64toh(r.desc_uva) != desc_uva || le64toh(r.avail_uva) != avail_uva ||
	    le64toh(r.used_uva) != used_uva)
		__atomic_store_n(&rec_at(rs, idx)->valid, 0, __ATOMIC_RELEASE);
}
