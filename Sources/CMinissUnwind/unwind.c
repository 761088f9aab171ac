#include "CMinissUnwind.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <string.h>

int miniss_capture_stack_symbolized(uintptr_t *frames, uintptr_t *offsets, char *names,
                                    size_t name_stride, int max, int skip) {
    if (name_stride < 2) return 0;
    unw_context_t context;
    unw_cursor_t cursor;
    if (unw_getcontext(&context) != 0) return 0;
    if (unw_init_local(&cursor, &context) != 0) return 0;
    int count = 0;
    int to_skip = skip;
    while (count < max && unw_step(&cursor) > 0) {
        unw_word_t ip = 0;
        if (unw_get_reg(&cursor, UNW_REG_IP, &ip) != 0 || ip == 0) break;
        if (to_skip > 0) {
            to_skip--;
            continue;
        }
        frames[count] = (uintptr_t)ip;
        char *name = names + (size_t)count * name_stride;
        unw_word_t offset = 0;
        if (unw_get_proc_name(&cursor, name, name_stride, &offset) != 0) name[0] = 0;
        name[name_stride - 1] = 0;
        offsets[count] = (uintptr_t)offset;
        count++;
    }
    return count;
}

// Exported by libswiftCore (swift/Demangling/Demangle.h, the C entry point).
extern char *swift_demangle(const char *mangled_name, size_t mangled_name_length,
                            char *output_buffer, size_t *output_buffer_size, uint32_t flags);

char *miniss_demangle(const char *mangled) {
    if (mangled == NULL || mangled[0] == 0) return NULL;
    return swift_demangle(mangled, strlen(mangled), NULL, NULL, 0);
}
