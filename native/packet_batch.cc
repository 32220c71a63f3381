// Batched protect/unprotect: many packets in one slab, described by a Float64Array, in one
// N-API call; plus the benchmark's raw native loop (the same Protect with no N-API crossing).
#include <vector>

#include "packet_key.h"

namespace zquic {

namespace {

constexpr size_t kDescFields = 6;
constexpr double kMaxSafe = kMaxSafeInteger;

// The keys array as native PacketKeys; stack storage for the usual handful.
class KeyList {
 public:
  KeyList(napi_env env, napi_value arr) {
    bool isArray = false;
    if (napi_is_array(env, arr, &isArray) != napi_ok || !isArray)
      ThrowType(env, "keys must be an array of PacketKey");
    uint32_t n = 0;
    napi_get_array_length(env, arr, &n);
    if (n > kStack) heap_.resize(n);
    keys_ = n > kStack ? heap_.data() : stack_;
    for (uint32_t i = 0; i < n; i++) {
      napi_value v;
      if (napi_get_element(env, arr, i, &v) != napi_ok)
        ThrowType(env, "keys must be an array of PacketKey");
      std::string name = "keys[" + std::to_string(i) + "]";
      keys_[i] = ArgHandle<PacketKey>(env, v, name.c_str());
    }
    size_ = n;
  }
  size_t size() const { return size_; }
  PacketKey* operator[](size_t i) const { return keys_[i]; }

 private:
  static constexpr size_t kStack = 16;
  PacketKey* stack_[kStack];
  std::vector<PacketKey*> heap_;
  PacketKey** keys_;
  size_t size_ = 0;
};

[[noreturn]] void BadDesc(napi_env env, size_t i, size_t field, const char* what) {
  ThrowRange(env, "desc[" + std::to_string(i * kDescFields + field) + "] (" + what +
                      " of packet " + std::to_string(i) + ") is out of range");
}

size_t ArgCount(napi_env env, napi_value v, const Doubles& desc) {
  return static_cast<size_t>(
      ArgInt(env, v, "count", 0, static_cast<int64_t>(desc.count / kDescFields)));
}

// packetProtectBatch(keys, slab, desc, count): desc per packet =
// [keyIndex, start, headerLength, pnLength, payloadLength, packetNumber]
napi_value JsProtectBatch(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<4> a(env, info);
    KeyList keys(env, a[0]);
    Bytes slab = ArgBytes(env, a[1], "slab");
    Doubles desc = ArgFloat64(env, a[2], "desc");
    size_t count = ArgCount(env, a[3], desc);
    double n = static_cast<double>(slab.length);
    // Validate everything first so that a bad entry leaves the slab untouched.
    for (size_t i = 0; i < count; i++) {
      const double* d = desc.data + i * kDescFields;
      if (!IsIntIn(d[0], 0, static_cast<double>(keys.size()) - 1)) BadDesc(env, i, 0, "keyIndex");
      if (!IsIntIn(d[1], 0, n)) BadDesc(env, i, 1, "start");
      if (!IsIntIn(d[3], 1, 4)) BadDesc(env, i, 3, "pnLength");
      if (!IsIntIn(d[2], d[3] + 1, n)) BadDesc(env, i, 2, "headerLength");
      // RFC 9001 §5.4.2: pnLength + payloadLength >= 4 so that the sample fits.
      if (!IsIntIn(d[4], 0, n) || d[3] + d[4] < 4) BadDesc(env, i, 4, "payloadLength");
      if (d[1] + d[2] + d[4] + kTagLen > n) BadDesc(env, i, 4, "payloadLength");
      if (!IsIntIn(d[5], 0, kMaxSafe)) BadDesc(env, i, 5, "packetNumber");
      if ((slab.data[static_cast<size_t>(d[1])] & 0x03) + 1 != static_cast<int>(d[3]))
        BadDesc(env, i, 3, "pnLength");
    }
    for (size_t i = 0; i < count; i++) {
      const double* d = desc.data + i * kDescFields;
      PacketKey* key = keys[static_cast<size_t>(d[0])];
      if (!key->Protect(slab.data + static_cast<size_t>(d[1]), static_cast<size_t>(d[2]),
                        static_cast<size_t>(d[3]), static_cast<size_t>(d[4]),
                        static_cast<uint64_t>(d[5])))
        ThrowError(env, "packet protection failed");
    }
    return Undefined(env);
  });
}

// packetUnprotectBatch(keys, slab, desc, count, results): desc per packet =
// [keyIndex, start, pnOffset, end, largestPn, expectedKeyPhase]
napi_value JsUnprotectBatch(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<5> a(env, info);
    KeyList keys(env, a[0]);
    Bytes slab = ArgBytes(env, a[1], "slab");
    Doubles desc = ArgFloat64(env, a[2], "desc");
    size_t count = ArgCount(env, a[3], desc);
    Doubles results = ArgFloat64(env, a[4], "results");
    if (results.count < count) ThrowRange(env, "results must hold at least count numbers");
    double n = static_cast<double>(slab.length);
    for (size_t i = 0; i < count; i++) {
      const double* d = desc.data + i * kDescFields;
      if (!IsIntIn(d[0], 0, static_cast<double>(keys.size()) - 1)) BadDesc(env, i, 0, "keyIndex");
      if (!IsIntIn(d[1], 0, n)) BadDesc(env, i, 1, "start");
      if (!IsIntIn(d[2], 1, INT32_MAX)) BadDesc(env, i, 2, "pnOffset");
      if (!IsIntIn(d[3], d[1], n)) BadDesc(env, i, 3, "end");
      if (!IsIntIn(d[4], -1, kMaxSafe)) BadDesc(env, i, 4, "largestPn");
      if (!IsIntIn(d[5], -1, 1)) BadDesc(env, i, 5, "expectedKeyPhase");
    }
    for (size_t i = 0; i < count; i++) {
      const double* d = desc.data + i * kDescFields;
      size_t start = static_cast<size_t>(d[1]);
      results.data[i] = keys[static_cast<size_t>(d[0])]->Unprotect(
          slab.data + start, static_cast<size_t>(d[3]) - start, static_cast<size_t>(d[2]),
          static_cast<int64_t>(d[4]), static_cast<int>(d[5]));
    }
    return Undefined(env);
  });
}

// benchProtectLoop(key, buf, start, headerLength, pnLength, payloadLength, iterations):
// protects the same packet `iterations` times inside C++ (the ceiling for the benchmark).
napi_value JsBenchLoop(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<7> a(env, info);
    PacketKey* key = ArgHandle<PacketKey>(env, a[0], "key");
    ProtectArgs x = ArgProtect(env, &a.v[1]);
    int64_t iterations = ArgInt(env, a[6], "iterations", 0, INT32_MAX);
    // The first byte is not reset: header protection changes its packet number length bits.
    for (int64_t i = 0; i < iterations; i++) {
      if (!key->Protect(x.p, x.headerLength, x.pnLength, x.payloadLength, i))
        ThrowError(env, "packet protection failed");
    }
    return Undefined(env);
  });
}

}  // namespace

void InitPacketBatch(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "packetProtectBatch", JsProtectBatch);
  Export(env, exports, "packetUnprotectBatch", JsUnprotectBatch);
  Export(env, exports, "benchProtectLoop", JsBenchLoop);
}

}  // namespace zquic
