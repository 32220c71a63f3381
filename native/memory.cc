// mallocTrim(): gives the C heap's free memory back to the system (glibc malloc_trim). Node's
// Buffers live in the C heap, and glibc keeps what they freed: after a burst of connections
// (or an attack) RSS would stay at its peak while the JavaScript heap and the Buffers are back
// to their baseline. Elsewhere (no glibc) it does nothing and says so.
#include "zquic.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace zquic {

namespace {

// mallocTrim() -> true if memory was released, false if none was (or no glibc).
napi_value JsMallocTrim(napi_env env, napi_callback_info) {
  return Guard(env, [&] {
#if defined(__GLIBC__)
    return NewBool(env, malloc_trim(0) == 1);
#else
    return NewBool(env, false);
#endif
  });
}

}  // namespace

void InitMemory(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "mallocTrim", JsMallocTrim);
}

}  // namespace zquic
