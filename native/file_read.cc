// fileReadCached(fd, buffers, position): a file read that never waits for the disk. On Linux,
// preadv2 with RWF_NOWAIT reads what the page cache holds and fails with EAGAIN instead of
// waiting for the device; the caller (lib/cli/cached-read.ts) then reads through libuv's
// threadpool as before. A served file that is in the cache is read on the event loop, without
// the threadpool round trip (a wake-up of a pool thread and a completion callback per read).
#include "zquic.h"

#include <cerrno>
#include <climits>
#include <vector>

#if defined(__linux__)
#include <sys/uio.h>
#endif

namespace zquic {

namespace {

// Most buffers per call: the kernel's IOV_MAX (UIO_MAXIOV).
constexpr uint32_t kMaxBuffers = 1024;

// fileReadCached(fd, buffers, position) -> bytes read (0 at the end of the file), or -1 when
// the data is not in the page cache, the file system cannot read without waiting, or the read
// fails (the caller's ordinary read then reports the error). Off Linux always -1.
napi_value JsFileReadCached(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<3> a(env, info);
    auto fd = static_cast<int>(ArgInt(env, a[0], "fd", 0, INT_MAX));
    bool isArray = false;
    if (napi_is_array(env, a[1], &isArray) != napi_ok || !isArray)
      ThrowType(env, "buffers must be an array of Uint8Array");
    uint32_t n = 0;
    napi_get_array_length(env, a[1], &n);
    if (n == 0 || n > kMaxBuffers)
      ThrowRange(env, "buffers must hold 1 to " + std::to_string(kMaxBuffers) + " Uint8Arrays");
    auto position = ArgInt(env, a[2], "position", 0, static_cast<int64_t>(kMaxSafeInteger));
    // The elements first, then their bytes: reading an element may run JavaScript (a getter)
    // that could detach a buffer already looked at.
    std::vector<napi_value> values(n);
    for (uint32_t i = 0; i < n; i++)
      if (napi_get_element(env, a[1], i, &values[i]) != napi_ok)
        ThrowType(env, "buffers must be an array of Uint8Array");
    std::vector<iovec> iov(n);
    for (uint32_t i = 0; i < n; i++) {
      std::string name = "buffers[" + std::to_string(i) + "]";
      Bytes b = ArgBytes(env, values[i], name.c_str());
      iov[i] = {b.data, b.length};
    }
#if defined(__linux__) && defined(RWF_NOWAIT)
    ssize_t r;
    do {
      r = preadv2(fd, iov.data(), static_cast<int>(n), static_cast<off_t>(position), RWF_NOWAIT);
    } while (r < 0 && errno == EINTR);
    return NewNumber(env, r < 0 ? -1.0 : static_cast<double>(r));
#else
    (void)fd;
    (void)position;
    return NewNumber(env, -1.0);
#endif
  });
}

}  // namespace

void InitFileRead(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "fileReadCached", JsFileReadCached);
}

}  // namespace zquic
