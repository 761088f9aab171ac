#include "CMinissLinux.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

int miniss_eventfd(bool nonblocking) {
    return eventfd(0, EFD_CLOEXEC | (nonblocking ? EFD_NONBLOCK : 0));
}

int miniss_eventfd_signal(int fd) {
    uint64_t one = 1;
    for (;;) {
        ssize_t n = write(fd, &one, sizeof one);
        if (n == (ssize_t)sizeof one) return 0;
        if (n < 0 && errno == EINTR) continue;
        // EAGAIN means the counter is saturated: a wake-up is pending anyway.
        return n < 0 ? (errno == EAGAIN ? 0 : -errno) : -EIO;
    }
}

int miniss_eventfd_drain(int fd) {
    uint64_t value;
    for (;;) {
        ssize_t n = read(fd, &value, sizeof value);
        if (n == (ssize_t)sizeof value) return 0;
        if (n < 0 && errno == EINTR) continue;
        return n < 0 ? -errno : -EIO;
    }
}

int miniss_allowed_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    int count = CPU_COUNT(&set);
    return count > 0 ? count : 1;
}

int miniss_allowed_cpu(int index) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    int count = CPU_COUNT(&set);
    if (count <= 0 || index < 0) return -1;
    int wanted = index % count;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &set)) {
            if (wanted == 0) return cpu;
            wanted--;
        }
    }
    return -1;
}

int miniss_pin_current_thread(int cpu) {
    if (cpu < 0 || cpu >= CPU_SETSIZE) return EINVAL;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

int miniss_current_cpu(void) { return sched_getcpu(); }

void miniss_set_thread_name(const char *name) {
    char truncated[16];
    strncpy(truncated, name, sizeof truncated - 1);
    truncated[sizeof truncated - 1] = 0;
    pthread_setname_np(pthread_self(), truncated);
}

int miniss_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int miniss_epoll_add_readable(int epfd, int fd, uint64_t tag) {
    struct epoll_event event;
    memset(&event, 0, sizeof event);
    event.events = EPOLLIN;
    event.data.u64 = tag;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event) == 0 ? 0 : -errno;
}

int miniss_epoll_wait(int epfd, uint64_t *tags, int max, int timeout_ms) {
    struct epoll_event events[64];
    if (max > 64) max = 64;
    int n = epoll_wait(epfd, events, max, timeout_ms);
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) tags[i] = events[i].data.u64;
    return n;
}

uint64_t miniss_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t miniss_process_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#ifndef RUSAGE_THREAD
#define RUSAGE_THREAD 1  // Linux's value; glibc hides the name without _GNU_SOURCE
#endif

uint64_t miniss_thread_voluntary_switches(void) {
    struct rusage usage;
    if (getrusage(RUSAGE_THREAD, &usage) != 0) return 0;
    return (uint64_t)usage.ru_nvcsw;
}

// ---- Thread-local router -------------------------------------------------------------------

static __thread void *current_router = NULL;
static __thread bool routing_suspended = false;

void *miniss_current_router(void) { return current_router; }
void miniss_set_current_router(void *router) { current_router = router; }

bool miniss_set_routing_suspended(bool suspended) {
    bool previous = routing_suspended;
    routing_suspended = suspended;
    return previous;
}

// ---- Global enqueue hook -------------------------------------------------------------------
// The Swift runtime exports `swift_task_enqueueGlobal_hook` (swift/Runtime/Concurrency.h): a
// pointer to a swiftcall function that receives every job enqueued on the global executor and
// the original implementation. It is the same hook SwiftNIO uses to take over the global
// executor. Jobs are opaque `Job *` pointers here.

typedef void (*miniss_enqueue_original)(void *job) __attribute__((swiftcall));
typedef void (*miniss_enqueue_hook)(void *job, miniss_enqueue_original original)
    __attribute__((swiftcall));

extern miniss_enqueue_hook swift_task_enqueueGlobal_hook;

// Atomic: written once before the hook is published, read by every hooked enqueue on any thread
// (the runtime reads the hook pointer itself with a plain load; these atomics order our state).
static _Atomic(miniss_enqueue_hook) previous_hook = NULL;
static _Atomic(miniss_route_fn) route_function = NULL;
static atomic_uint_fast64_t routed_count = 0;
static atomic_uint_fast64_t passed_count = 0;
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static bool installed = false;

__attribute__((swiftcall)) static void miniss_enqueue_global(void *job,
                                                             miniss_enqueue_original original) {
    void *router = current_router;
    miniss_route_fn route = atomic_load_explicit(&route_function, memory_order_acquire);
    if (router != NULL && route != NULL && !routing_suspended) {
        atomic_fetch_add_explicit(&routed_count, 1, memory_order_relaxed);
        route(router, job);
        return;
    }
    atomic_fetch_add_explicit(&passed_count, 1, memory_order_relaxed);
    miniss_enqueue_hook previous = atomic_load_explicit(&previous_hook, memory_order_acquire);
    if (previous != NULL) {
        previous(job, original);
    } else {
        original(job);
    }
}

bool miniss_install_global_hook(miniss_route_fn route) {
    pthread_mutex_lock(&install_lock);
    if (!installed) {
        atomic_store_explicit(&route_function, route, memory_order_release);
        atomic_store_explicit(&previous_hook, swift_task_enqueueGlobal_hook, memory_order_release);
        swift_task_enqueueGlobal_hook = miniss_enqueue_global;
        installed = true;
    }
    pthread_mutex_unlock(&install_lock);
    return installed;
}

uint64_t miniss_hook_routed_count(void) { return atomic_load(&routed_count); }
uint64_t miniss_hook_passed_count(void) { return atomic_load(&passed_count); }
