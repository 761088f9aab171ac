#include "CMinissUring.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>

struct miniss_uring {
    struct io_uring ring;
};

#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8)
#endif
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif

unsigned miniss_uring_flag_single_issuer(void) { return IORING_SETUP_SINGLE_ISSUER; }
unsigned miniss_uring_flag_defer_taskrun(void) { return IORING_SETUP_DEFER_TASKRUN; }
unsigned miniss_uring_flag_coop_taskrun(void) { return IORING_SETUP_COOP_TASKRUN; }

miniss_uring *miniss_uring_create(unsigned entries, unsigned optional_flags,
                                  unsigned *applied_flags, int *error) {
    miniss_uring *wrapper = calloc(1, sizeof *wrapper);
    if (wrapper == NULL) {
        *error = -ENOMEM;
        return NULL;
    }
    // Probe by trying: older kernels reject unknown setup flags with EINVAL. Drop
    // DEFER_TASKRUN first (needs SINGLE_ISSUER and 6.1), then everything optional.
    unsigned attempts[3] = {optional_flags, optional_flags & ~IORING_SETUP_DEFER_TASKRUN, 0};
    int result = -EINVAL;
    for (int i = 0; i < 3; i++) {
        unsigned flags = attempts[i];
        if ((flags & IORING_SETUP_DEFER_TASKRUN) && !(flags & IORING_SETUP_SINGLE_ISSUER)) {
            continue;
        }
        result = io_uring_queue_init(entries, &wrapper->ring, flags);
        if (result == 0) {
            *applied_flags = flags;
            return wrapper;
        }
        if (result != -EINVAL) break;
    }
    free(wrapper);
    *error = result;
    return NULL;
}

void miniss_uring_destroy(miniss_uring *ring) {
    if (ring == NULL) return;
    io_uring_queue_exit(&ring->ring);
    free(ring);
}

int miniss_uring_fd(const miniss_uring *ring) { return ring->ring.ring_fd; }

int miniss_uring_prep_read(miniss_uring *ring, int fd, void *buffer, unsigned length,
                           uint64_t user_data) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring->ring);
    if (sqe == NULL) return -EBUSY;
    io_uring_prep_read(sqe, fd, buffer, length, 0);
    io_uring_sqe_set_data64(sqe, user_data);
    return 0;
}

int miniss_uring_submit_and_wait(miniss_uring *ring, unsigned wait_count, int64_t timeout_ns) {
    if (timeout_ns < 0) {
        return io_uring_submit_and_wait(&ring->ring, wait_count);
    }
    struct __kernel_timespec ts;
    ts.tv_sec = timeout_ns / 1000000000LL;
    ts.tv_nsec = timeout_ns % 1000000000LL;
    struct io_uring_cqe *cqe = NULL;
    return io_uring_submit_and_wait_timeout(&ring->ring, &cqe, wait_count, &ts, NULL);
}

unsigned miniss_uring_reap(miniss_uring *ring, uint64_t *user_data, int32_t *results,
                           unsigned max) {
    struct io_uring_cqe *cqes[64];
    if (max > 64) max = 64;
    unsigned count = io_uring_peek_batch_cqe(&ring->ring, cqes, max);
    for (unsigned i = 0; i < count; i++) {
        user_data[i] = io_uring_cqe_get_data64(cqes[i]);
        results[i] = cqes[i]->res;
    }
    io_uring_cq_advance(&ring->ring, count);
    return count;
}
