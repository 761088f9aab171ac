// Stack capture and symbolization through libunwind (used by invariant failures and task
// backtraces).
#ifndef CMINISS_UNWIND_H
#define CMINISS_UNWIND_H

#include <stddef.h>
#include <stdint.h>

/// Walks the calling thread's stack, skipping `skip` innermost frames (this function's own
/// frame is never reported), and names each frame with libunwind's unw_get_proc_name
/// (which reads local symbols too). `names` holds max * name_stride bytes; a frame without a
/// symbol gets an empty name.
int miniss_capture_stack_symbolized(uintptr_t *frames, uintptr_t *offsets, char *names,
                                    size_t name_stride, int max, int skip);

/// Demangles a Swift symbol through the Swift runtime's swift_demangle. Returns a malloc'ed
/// string the caller frees, or NULL if `mangled` is not a Swift symbol.
char *miniss_demangle(const char *mangled);

#endif
