// Stack capture and symbolization through libunwind (used by invariant failures and task
// backtraces).
#ifndef CMINISS_UNWIND_H
#define CMINISS_UNWIND_H

#include <stddef.h>
#include <stdint.h>

/// Walks the calling thread's stack, skipping `skip` innermost frames (this function's own
/// frame is never reported). Writes up to `max` instruction pointers into `frames`; returns how
/// many were written. Cheap enough to run at every spawn when spawn sites are recorded.
int miniss_capture_stack(uintptr_t *frames, int max, int skip);
/// Like miniss_capture_stack, and also names each frame with libunwind's unw_get_proc_name
/// (which reads local symbols too). `names` holds max * name_stride bytes; a frame without a
/// symbol gets an empty name.
int miniss_capture_stack_symbolized(uintptr_t *frames, uintptr_t *offsets, char *names,
                                    size_t name_stride, int max, int skip);
/// Names a stored instruction pointer through dladdr (exported symbols only). Returns 0, or -1
/// when the address has no symbol.
int miniss_symbolize(uintptr_t ip, char *name, size_t name_length, uintptr_t *offset);

/// Demangles a Swift symbol through the Swift runtime's swift_demangle. Returns a malloc'ed
/// string the caller frees, or NULL if `mangled` is not a Swift symbol.
char *miniss_demangle(const char *mangled);

#endif
