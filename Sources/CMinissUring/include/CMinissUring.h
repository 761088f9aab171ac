// Thin wrappers over liburing (most of its API is static inline, awkward to call from Swift).
#ifndef CMINISS_URING_H
#define CMINISS_URING_H

#include <stdbool.h>
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

// Each prep function queues one request tagged `user_data` and returns 0, or -EBUSY when the
// submission queue is full even after submitting what was queued. The buffers, messages and
// addresses passed in must stay valid until the request's completion has been reaped.

/// read(2)/write(2) at `offset` (`(uint64_t)-1`: the file position).
int miniss_uring_prep_read(miniss_uring *ring, int fd, void *buffer, unsigned length, uint64_t offset,
                           uint64_t user_data);
int miniss_uring_prep_write(miniss_uring *ring, int fd, const void *buffer, unsigned length,
                            uint64_t offset, uint64_t user_data);
/// recv(2) / send(2) (MSG_NOSIGNAL).
int miniss_uring_prep_recv(miniss_uring *ring, int fd, void *buffer, unsigned length, uint64_t user_data);
int miniss_uring_prep_send(miniss_uring *ring, int fd, const void *buffer, unsigned length,
                           uint64_t user_data);
struct msghdr;
struct sockaddr;
/// recvmsg(2) / sendmsg(2) (MSG_NOSIGNAL), for UDP.
int miniss_uring_prep_recvmsg(miniss_uring *ring, int fd, struct msghdr *message, uint64_t user_data);
int miniss_uring_prep_sendmsg(miniss_uring *ring, int fd, const struct msghdr *message, uint64_t user_data);
/// accept4(2) with SOCK_CLOEXEC; `multishot`: one completion per connection while the request
/// stays armed (IORING_CQE_F_MORE set on each completion but the last).
int miniss_uring_prep_accept(miniss_uring *ring, int fd, bool multishot, uint64_t user_data);
/// connect(2).
int miniss_uring_prep_connect(miniss_uring *ring, int fd, const struct sockaddr *address, unsigned length,
                              uint64_t user_data);
/// fsync(2) / fdatasync(2).
int miniss_uring_prep_fsync(miniss_uring *ring, int fd, bool data_only, uint64_t user_data);
/// Cancels the request tagged `target` (its own completion reports -ECANCELED, or its result
/// if it finished first).
int miniss_uring_prep_cancel(miniss_uring *ring, uint64_t target, uint64_t user_data);
/// Cancels every request in flight (IORING_ASYNC_CANCEL_ANY, Linux 5.19+).
int miniss_uring_prep_cancel_all(miniss_uring *ring, uint64_t user_data);
/// How many queued requests have not been submitted yet.
unsigned miniss_uring_pending_submissions(miniss_uring *ring);
/// Submits queued requests without collecting completions.
int miniss_uring_submit(miniss_uring *ring);
/// Submits queued requests and collects completions without waiting (one io_uring_enter).
int miniss_uring_submit_and_poll(miniss_uring *ring);
/// Submits queued SQEs and waits for at least `wait_count` completions, at most
/// `timeout_ns` nanoseconds (negative: no limit). Returns >= 0, or -errno (-ETIME on timeout,
/// -EINTR when interrupted).
int miniss_uring_submit_and_wait(miniss_uring *ring, unsigned wait_count, int64_t timeout_ns);
/// Copies up to `max` completions out of the CQ and marks them seen. Returns the count.
unsigned miniss_uring_reap(miniss_uring *ring, uint64_t *user_data, int32_t *results, uint32_t *flags,
                           unsigned max);
/// IORING_CQE_F_MORE: the request stays armed and will complete again.
#define MINISS_CQE_F_MORE (1U << 1)

/// Benchmark: two threads parked in io_uring_enter wake each other `rounds` times, through an
/// eventfd read kept in flight (false) or IORING_OP_MSG_RING (true). Returns nanoseconds per
/// round trip (two wake-ups), or -errno.
int64_t miniss_uring_wake_round_trip_ns(int rounds, bool use_msg_ring);

/// IORING_SETUP_* flag values, for the Swift side.
unsigned miniss_uring_flag_single_issuer(void);
unsigned miniss_uring_flag_defer_taskrun(void);

#endif
