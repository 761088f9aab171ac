#include "CMinissUring.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct miniss_uring {
    struct io_uring ring;
};

#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif

unsigned miniss_uring_flag_single_issuer(void) { return IORING_SETUP_SINGLE_ISSUER; }
unsigned miniss_uring_flag_defer_taskrun(void) { return IORING_SETUP_DEFER_TASKRUN; }

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


// A free SQE; when the submission queue is full, submits what is queued to make room (the only
// place where a loop iteration may enter the kernel twice).
static struct io_uring_sqe *next_sqe(miniss_uring *ring) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring->ring);
    if (sqe != NULL) return sqe;
    io_uring_submit(&ring->ring);
    return io_uring_get_sqe(&ring->ring);
}

#define PREP(call)                                          \
    struct io_uring_sqe *sqe = next_sqe(ring);              \
    if (sqe == NULL) return -EBUSY;                         \
    call;                                                   \
    io_uring_sqe_set_data64(sqe, user_data);                \
    return 0

int miniss_uring_prep_read(miniss_uring *ring, int fd, void *buffer, unsigned length, uint64_t offset,
                           uint64_t user_data) {
    PREP(io_uring_prep_read(sqe, fd, buffer, length, offset));
}

int miniss_uring_prep_write(miniss_uring *ring, int fd, const void *buffer, unsigned length,
                            uint64_t offset, uint64_t user_data) {
    PREP(io_uring_prep_write(sqe, fd, buffer, length, offset));
}

int miniss_uring_prep_recv(miniss_uring *ring, int fd, void *buffer, unsigned length, uint64_t user_data) {
    PREP(io_uring_prep_recv(sqe, fd, buffer, length, 0));
}

int miniss_uring_prep_send(miniss_uring *ring, int fd, const void *buffer, unsigned length,
                           uint64_t user_data) {
    PREP(io_uring_prep_send(sqe, fd, buffer, length, MSG_NOSIGNAL));
}

int miniss_uring_prep_recvmsg(miniss_uring *ring, int fd, struct msghdr *message, uint64_t user_data) {
    PREP(io_uring_prep_recvmsg(sqe, fd, message, 0));
}

int miniss_uring_prep_sendmsg(miniss_uring *ring, int fd, const struct msghdr *message, uint64_t user_data) {
    PREP(io_uring_prep_sendmsg(sqe, fd, message, MSG_NOSIGNAL));
}

int miniss_uring_prep_accept(miniss_uring *ring, int fd, bool multishot, uint64_t user_data) {
    PREP(if (multishot) io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC);
         else io_uring_prep_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC));
}

int miniss_uring_prep_connect(miniss_uring *ring, int fd, const struct sockaddr *address, unsigned length,
                              uint64_t user_data) {
    PREP(io_uring_prep_connect(sqe, fd, address, length));
}

int miniss_uring_prep_fsync(miniss_uring *ring, int fd, bool data_only, uint64_t user_data) {
    PREP(io_uring_prep_fsync(sqe, fd, data_only ? IORING_FSYNC_DATASYNC : 0));
}

int miniss_uring_prep_cancel(miniss_uring *ring, uint64_t target, uint64_t user_data) {
    PREP(io_uring_prep_cancel64(sqe, target, 0));
}

int miniss_uring_prep_cancel_all(miniss_uring *ring, uint64_t user_data) {
    PREP(io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY));
}

unsigned miniss_uring_pending_submissions(miniss_uring *ring) { return io_uring_sq_ready(&ring->ring); }

int miniss_uring_submit(miniss_uring *ring) { return io_uring_submit(&ring->ring); }

int miniss_uring_submit_and_poll(miniss_uring *ring) {
    // GETEVENTS without waiting: with DEFER_TASKRUN, completions are only posted when the
    // issuer enters the kernel asking for events.
    return io_uring_submit_and_get_events(&ring->ring);
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

unsigned miniss_uring_reap(miniss_uring *ring, uint64_t *user_data, int32_t *results, uint32_t *flags,
                           unsigned max) {
    struct io_uring_cqe *cqes[64];
    if (max > 64) max = 64;
    unsigned count = io_uring_peek_batch_cqe(&ring->ring, cqes, max);
    for (unsigned i = 0; i < count; i++) {
        user_data[i] = io_uring_cqe_get_data64(cqes[i]);
        results[i] = cqes[i]->res;
        flags[i] = cqes[i]->flags;
    }
    io_uring_cq_advance(&ring->ring, count);
    return count;
}

// ---- Wake-up benchmark: eventfd vs IORING_OP_MSG_RING ------------------------------------------
// Two threads, each parked in io_uring_enter on its own ring, wake each other `rounds` times
// (ping-pong). Either each ring keeps an eventfd read in flight and the waker writes to that
// eventfd, or the waker posts a CQE straight into the other ring with MSG_RING from its own.

#include <pthread.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct wake_side {
    struct io_uring ring;
    int eventfd;
    uint64_t buffer;
    struct wake_side *peer;
    int rounds;
    bool use_msg_ring;
    bool starts;
    int error;
};

static void arm_eventfd(struct wake_side *side) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&side->ring);
    io_uring_prep_read(sqe, side->eventfd, &side->buffer, sizeof side->buffer, 0);
    io_uring_sqe_set_data64(sqe, 1);
}

static int wake_peer(struct wake_side *side) {
    if (!side->use_msg_ring) {
        uint64_t one = 1;
        return write(side->peer->eventfd, &one, sizeof one) == sizeof one ? 0 : -errno;
    }
    struct io_uring_sqe *sqe = io_uring_get_sqe(&side->ring);
    io_uring_prep_msg_ring(sqe, side->peer->ring.ring_fd, 0, 1, 0);
    io_uring_sqe_set_data64(sqe, 2);  // our own completion of the send; reaped later
    int submitted = io_uring_submit(&side->ring);
    return submitted < 0 ? submitted : 0;
}

static int wait_woken(struct wake_side *side) {
    for (;;) {
        if (!side->use_msg_ring) arm_eventfd(side);
        struct io_uring_cqe *cqe = NULL;
        int result = io_uring_submit_and_wait(&side->ring, 1);
        if (result < 0 && result != -EINTR) return result;
        bool woken = false;
        unsigned head;
        unsigned seen = 0;
        io_uring_for_each_cqe(&side->ring, head, cqe) {
            if (io_uring_cqe_get_data64(cqe) == 1) woken = true;
            seen++;
        }
        io_uring_cq_advance(&side->ring, seen);
        if (woken) return 0;
    }
}

static void *wake_thread(void *argument) {
    struct wake_side *side = argument;
    for (int i = 0; i < side->rounds && side->error == 0; i++) {
        if (side->starts) {
            side->error = wake_peer(side);
            if (side->error == 0) side->error = wait_woken(side);
        } else {
            side->error = wait_woken(side);
            if (side->error == 0) side->error = wake_peer(side);
        }
    }
    return NULL;
}

int64_t miniss_uring_wake_round_trip_ns(int rounds, bool use_msg_ring) {
    struct wake_side sides[2];
    memset(sides, 0, sizeof sides);
    for (int i = 0; i < 2; i++) {
        int result = io_uring_queue_init(8, &sides[i].ring, 0);
        if (result < 0) {
            if (i == 1) io_uring_queue_exit(&sides[0].ring);
            return result;
        }
        sides[i].eventfd = eventfd(0, EFD_CLOEXEC);
        sides[i].rounds = rounds;
        sides[i].use_msg_ring = use_msg_ring;
        sides[i].starts = i == 0;
    }
    sides[0].peer = &sides[1];
    sides[1].peer = &sides[0];
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    pthread_t threads[2];
    pthread_create(&threads[1], NULL, wake_thread, &sides[1]);
    pthread_create(&threads[0], NULL, wake_thread, &sides[0]);
    pthread_join(threads[0], NULL);
    pthread_join(threads[1], NULL);
    clock_gettime(CLOCK_MONOTONIC, &end);
    int error = sides[0].error ? sides[0].error : sides[1].error;
    for (int i = 0; i < 2; i++) {
        // No read is in flight: every wait reaped the completion that woke it.
        io_uring_queue_exit(&sides[i].ring);
        close(sides[i].eventfd);
    }
    if (error) return error;
    int64_t elapsed = (int64_t)(end.tv_sec - start.tv_sec) * 1000000000LL + (end.tv_nsec - start.tv_nsec);
    return elapsed / rounds;
}
