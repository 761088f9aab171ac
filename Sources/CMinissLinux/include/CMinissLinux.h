// Linux calls that Swift's Glibc module does not export (they are _GNU_SOURCE extensions),
// the thread-local "current router" used to route jobs to the shard that owns a thread, and the
// installer for the Swift runtime's global-enqueue hook.
#ifndef CMINISS_LINUX_H
#define CMINISS_LINUX_H

#include <stdint.h>
#include <stdbool.h>

/// eventfd(2) with EFD_CLOEXEC, plus EFD_NONBLOCK if `nonblocking`. Returns the fd or -1.
int miniss_eventfd(bool nonblocking);
/// Adds 1 to an eventfd counter. Returns 0 or -errno.
int miniss_eventfd_signal(int fd);
/// Reads (and so resets) an eventfd counter. Returns 0, or -errno (-EAGAIN when it was zero).
int miniss_eventfd_drain(int fd);

/// Number of CPUs this process may run on (sched_getaffinity), at least 1.
int miniss_allowed_cpu_count(void);
/// The index-th CPU id (0-based, wrapping) of this process's affinity mask, or -1.
int miniss_allowed_cpu(int index);
/// Pins the calling thread to one CPU. Returns 0 or an errno value.
int miniss_pin_current_thread(int cpu);
/// The CPU the calling thread runs on now, or -1.
int miniss_current_cpu(void);
/// Names the calling thread (at most 15 bytes are kept), as shown by top and gdb.
void miniss_set_thread_name(const char *name);

/// epoll(7) wrappers (the epoll_event struct is packed on x86_64, awkward from Swift).
int miniss_epoll_create(void);
/// Registers fd for EPOLLIN (level-triggered) with the given 64-bit tag. 0 or -errno.
int miniss_epoll_add_readable(int epfd, int fd, uint64_t tag);
/// Waits up to timeout_ms (-1 = forever). Writes up to max tags; returns the count or -errno.
int miniss_epoll_wait(int epfd, uint64_t *tags, int max, int timeout_ms);

/// Monotonic clock (CLOCK_MONOTONIC) in nanoseconds.
uint64_t miniss_monotonic_ns(void);
/// CPU time consumed by the whole process (user + system), in nanoseconds.
uint64_t miniss_process_cpu_ns(void);
/// How many times the calling thread gave up the CPU by blocking (voluntary context switches:
/// a sleep, a blocking read, a lock held elsewhere), from getrusage(RUSAGE_THREAD).
uint64_t miniss_thread_voluntary_switches(void);

/// The job router of the calling thread: an opaque pointer to the shard engine (or simulator)
/// that owns this thread, or NULL on threads that Miniss does not own.
void *miniss_current_router(void);
void miniss_set_current_router(void *router);

/// While set on a thread, the global-enqueue hook passes that thread's jobs through instead of
/// routing them to its router. Returns the previous setting.
bool miniss_set_routing_suspended(bool suspended);

/// Called (on the routing thread) for every global enqueue made on a thread that has a router.
typedef void (*miniss_route_fn)(void *router, void *job);

/// Installs the process-wide `swift_task_enqueueGlobal_hook` once. Jobs enqueued on a thread
/// whose current router is set go to `route`; every other job goes to the previously installed
/// hook, or to the runtime's original implementation. Returns true if the hook is installed
/// (now or before).
bool miniss_install_global_hook(miniss_route_fn route);
/// How many global enqueues the hook routed to a router / passed through (diagnostics).
uint64_t miniss_hook_routed_count(void);
uint64_t miniss_hook_passed_count(void);

#include "CMinissNet.h"

#endif
