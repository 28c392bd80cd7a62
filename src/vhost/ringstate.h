/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A port's ring state file: per ring, which ring it is (the front-end's addresses and size) and
 * the record a packed ring keeps of its flushes (virtq_set_used_log()), so that a vhostd started
 * again after a crash can restart the ring where it was (virtq_packed_resume()). The file is
 * mapped shared: every store the data path makes is in the page cache at once and outlives the
 * process however it ends.
 *
 * The contents are read back from disk: untrusted. The header must match this build's layout
 * exactly or the file is cleared; a ring's record is used only when it names the very ring the
 * front-end sets up (all of its addresses and its size), and the engine checks the rest.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ringstate;
struct virtq;

/* Bytes a state file for nrings rings takes (most of it sparse: the logs are seldom used). */
uint64_t ringstate_file_size(unsigned nrings);

/*
 * 0 when buf[0..len) starts with the header of a state file for nrings rings laid out as this
 * build lays it out, else -EINVAL.
 */
int ringstate_check_header(const void *buf, size_t len, unsigned nrings);

/*
 * Opens (creating it, mode 0600) the state file at path for a port of nrings rings, locks it and
 * maps it. An existing file is kept when it has the right size and header, and cleared
 * otherwise. Returns 0 with *ret set; -EPERM when path is not a plain file of ours with a
 * single name (never follows or truncates what someone else put there), -EBUSY when another
 * process holds it, -EINVAL for a ring count out of range, or the errno of a file operation.
 */
int ringstate_open(const char *path, unsigned nrings, struct ringstate **ret);

/* ringstate_open() on an open file; takes fd (closed on failure too). */
int ringstate_open_fd(int fd, unsigned nrings, struct ringstate **ret);

/* True when ringstate_open() kept what the file held (an earlier run's records). */
bool ringstate_kept(const struct ringstate *rs);

/* Unmaps and closes (the file stays for the next run). NULL is fine. */
void ringstate_close(struct ringstate *rs);

/*
 * When ring idx's record is valid and names the ring vq is set up as (addresses, size): its
 * state word and log (in the file: read them once each) for virtq_packed_resume(), and true.
 */
bool ringstate_find(const struct ringstate *rs, unsigned idx, const struct virtq *vq,
		    uint64_t *ret_state, const uint64_t **ret_log);

/*
 * Makes ring idx's record describe the started packed ring vq, and has the engine keep it
 * (virtq_set_used_log()) until ringstate_forget() or the ring starts again.
 */
void ringstate_claim(struct ringstate *rs, unsigned idx, struct virtq *vq);

/* Voids ring idx's record; vq (when not NULL) stops recording into it. */
void ringstate_forget(struct ringstate *rs, unsigned idx, struct virtq *vq);

/* Voids ring idx's record if it names other front-end addresses than these. */
void ringstate_forget_other(struct ringstate *rs, unsigned idx, uint64_t desc_uva,
			    uint64_t avail_uva, uint64_t used_uva);
