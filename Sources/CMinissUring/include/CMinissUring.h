// Thin wrappers over liburing (most of its API is static inline, awkward to call from Swift).
#ifndef CMINISS_URING_H
#define CMINISS_URING_H

#include <stdint.h>

typedef struct miniss_uring miniss_uring;

/// Sets up a ring with `entries` SQEs. On failure returns NULL and stores -errno in *error.
/// `flags` are IORING_SETUP_* flags; `applied_flags` receives the flags the kernel accepted
/// (setup is retried without the optional flags the kernel rejects).
miniss_uring *miniss_uring_create(unsigned entries, unsigned optional_flags,
                                  unsigned *applied_flags, int *error);
/// Tears the ring down. Requests still in flight are cancelled by the kernel; the caller must
/// have reaped every request whose buffers it is about to free.
void miniss_uring_destroy(miniss_uring *ring);
/// The ring's file descriptor (for diagnostics).
int miniss_uring_fd(const miniss_uring *ring);

/// Queues a read(2) of `length` bytes into `buffer`. Returns 0 or -EBUSY when the SQ is full.
int miniss_uring_prep_read(miniss_uring *ring, int fd, void *buffer, unsigned length,
                           uint64_t user_data);
/// Submits queued SQEs and waits for at least `wait_count` completions, at most
/// `timeout_ns` nanoseconds (negative: no limit). Returns >= 0, or -errno (-ETIME on timeout,
/// -EINTR when interrupted).
int miniss_uring_submit_and_wait(miniss_uring *ring, unsigned wait_count, int64_t timeout_ns);
/// Copies up to `max` completions out of the CQ and marks them seen. Returns the count.
unsigned miniss_uring_reap(miniss_uring *ring, uint64_t *user_data, int32_t *results,
                           unsigned max);

/// IORING_SETUP_* flag values, for the Swift side.
unsigned miniss_uring_flag_single_issuer(void);
unsigned miniss_uring_flag_defer_taskrun(void);
unsigned miniss_uring_flag_coop_taskrun(void);

#endif
