// Batched protect/unprotect: many packets in one slab, described by a Float64Array, in one
// N-API call; plus the benchmark's raw native loop (the same Protect with no N-API crossing).
#include <initializer_list>
#include <vector>

#include "packet_key.h"

namespace zquic {

namespace {

// The batch descriptors: a Float64Array holding kStride numbers per packet, at these offsets.
// The same layout is written once on the TypeScript side (PROTECT_DESC and UNPROTECT_DESC in
// lib/crypto/packet.ts); the addon exports this one as `batchLayout` so that a test can check
// that the two agree.
struct ProtectDesc {
  enum : size_t { kKeyIndex, kStart, kHeaderLength, kPnLength, kPayloadLength, kPacketNumber };
  static constexpr size_t kStride = kPacketNumber + 1;
};
struct UnprotectDesc {
  enum : size_t { kKeyIndex, kStart, kPnOffset, kEnd, kLargestPn, kExpectedKeyPhase };
  static constexpr size_t kStride = kExpectedKeyPhase + 1;
};

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

// Names descriptor field `field` of packet i (a `stride`-number record) in a RangeError.
[[noreturn]] void BadDesc(napi_env env, size_t stride, size_t i, size_t field, const char* what) {
  ThrowRange(env, "desc[" + std::to_string(i * stride + field) + "] (" + what + " of packet " +
                      std::to_string(i) + ") is out of range");
}

size_t ArgCount(napi_env env, napi_value v, const Doubles& desc, size_t stride) {
  return static_cast<size_t>(
      ArgInt(env, v, "count", 0, static_cast<int64_t>(desc.count / stride)));
}

// packetProtectBatch(keys, slab, desc, count): desc per packet as in ProtectDesc.
napi_value JsProtectBatch(napi_env env, napi_callback_info info) {
  using D = ProtectDesc;
  return Guard(env, [&] {
    Args<4> a(env, info);
    KeyList keys(env, a[0]);
    Bytes slab = ArgBytes(env, a[1], "slab");
    Doubles desc = ArgFloat64(env, a[2], "desc");
    size_t count = ArgCount(env, a[3], desc, D::kStride);
    double n = static_cast<double>(slab.length);
    auto bad = [&](size_t i, size_t field, const char* what) {
      BadDesc(env, D::kStride, i, field, what);
    };
    // Validate everything first so that a bad entry leaves the slab untouched.
    for (size_t i = 0; i < count; i++) {
      const double* d = desc.data + i * D::kStride;
      const double start = d[D::kStart], headerLength = d[D::kHeaderLength];
      const double pnLength = d[D::kPnLength], payloadLength = d[D::kPayloadLength];
      if (!IsIntIn(d[D::kKeyIndex], 0, static_cast<double>(keys.size()) - 1))
        bad(i, D::kKeyIndex, "keyIndex");
      if (!IsIntIn(start, 0, n)) bad(i, D::kStart, "start");
      if (!IsIntIn(pnLength, 1, 4)) bad(i, D::kPnLength, "pnLength");
      if (!IsIntIn(headerLength, pnLength + 1, n)) bad(i, D::kHeaderLength, "headerLength");
      // RFC 9001 §5.4.2: pnLength + payloadLength >= 4 so that the sample fits.
      if (!IsIntIn(payloadLength, 0, n) || pnLength + payloadLength < 4)
        bad(i, D::kPayloadLength, "payloadLength");
      if (start + headerLength + payloadLength + kTagLen > n)
        bad(i, D::kPayloadLength, "payloadLength");
      if (!IsIntIn(d[D::kPacketNumber], 0, kMaxSafe)) bad(i, D::kPacketNumber, "packetNumber");
      if ((slab.data[static_cast<size_t>(start)] & 0x03) + 1 != static_cast<int>(pnLength))
        bad(i, D::kPnLength, "pnLength");
    }
    for (size_t i = 0; i < count; i++) {
      const double* d = desc.data + i * D::kStride;
      PacketKey* key = keys[static_cast<size_t>(d[D::kKeyIndex])];
      if (!key->Protect(slab.data + static_cast<size_t>(d[D::kStart]),
                        static_cast<size_t>(d[D::kHeaderLength]),
                        static_cast<size_t>(d[D::kPnLength]),
                        static_cast<size_t>(d[D::kPayloadLength]),
                        static_cast<uint64_t>(d[D::kPacketNumber])))
        ThrowError(env, "packet protection failed");
    }
    return Undefined(env);
  });
}

// packetUnprotectBatch(keys, slab, desc, count, results): desc per packet as in UnprotectDesc.
napi_value JsUnprotectBatch(napi_env env, napi_callback_info info) {
  using D = UnprotectDesc;
  return Guard(env, [&] {
    Args<5> a(env, info);
    KeyList keys(env, a[0]);
    Bytes slab = ArgBytes(env, a[1], "slab");
    Doubles desc = ArgFloat64(env, a[2], "desc");
    size_t count = ArgCount(env, a[3], desc, D::kStride);
    Doubles results = ArgFloat64(env, a[4], "results");
    if (results.count < count) ThrowRange(env, "results must hold at least count numbers");
    double n = static_cast<double>(slab.length);
    auto bad = [&](size_t i, size_t field, const char* what) {
      BadDesc(env, D::kStride, i, field, what);
    };
    for (size_t i = 0; i < count; i++) {
      const double* d = desc.data + i * D::kStride;
      if (!IsIntIn(d[D::kKeyIndex], 0, static_cast<double>(keys.size()) - 1))
        bad(i, D::kKeyIndex, "keyIndex");
      if (!IsIntIn(d[D::kStart], 0, n)) bad(i, D::kStart, "start");
      if (!IsIntIn(d[D::kPnOffset], 1, INT32_MAX)) bad(i, D::kPnOffset, "pnOffset");
      if (!IsIntIn(d[D::kEnd], d[D::kStart], n)) bad(i, D::kEnd, "end");
      if (!IsIntIn(d[D::kLargestPn], -1, kMaxSafe)) bad(i, D::kLargestPn, "largestPn");
      if (!IsIntIn(d[D::kExpectedKeyPhase], -1, 1))
        bad(i, D::kExpectedKeyPhase, "expectedKeyPhase");
    }
    for (size_t i = 0; i < count; i++) {
      const double* d = desc.data + i * D::kStride;
      size_t start = static_cast<size_t>(d[D::kStart]);
      results.data[i] = keys[static_cast<size_t>(d[D::kKeyIndex])]->Unprotect(
          slab.data + start, static_cast<size_t>(d[D::kEnd]) - start,
          static_cast<size_t>(d[D::kPnOffset]), static_cast<int64_t>(d[D::kLargestPn]),
          static_cast<int>(d[D::kExpectedKeyPhase]));
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

// A frozen { name: offset, ..., stride } object describing one descriptor layout.
struct FieldOffset {
  const char* name;
  size_t offset;
};
Napi::Object Layout(Napi::Env env, std::initializer_list<FieldOffset> fields, size_t stride) {
  Napi::Object o = Napi::Object::New(env);
  for (const FieldOffset& f : fields) o.Set(f.name, static_cast<double>(f.offset));
  o.Set("stride", static_cast<double>(stride));
  o.Freeze();
  return o;
}

}  // namespace

void InitPacketBatch(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "packetProtectBatch", JsProtectBatch);
  Export(env, exports, "packetUnprotectBatch", JsUnprotectBatch);
  Export(env, exports, "benchProtectLoop", JsBenchLoop);
  using P = ProtectDesc;
  using U = UnprotectDesc;
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("protect", Layout(env,
                               {{"keyIndex", P::kKeyIndex},
                                {"start", P::kStart},
                                {"headerLength", P::kHeaderLength},
                                {"pnLength", P::kPnLength},
                                {"payloadLength", P::kPayloadLength},
                                {"packetNumber", P::kPacketNumber}},
                               P::kStride));
  layout.Set("unprotect", Layout(env,
                                 {{"keyIndex", U::kKeyIndex},
                                  {"start", U::kStart},
                                  {"pnOffset", U::kPnOffset},
                                  {"end", U::kEnd},
                                  {"largestPn", U::kLargestPn},
                                  {"expectedKeyPhase", U::kExpectedKeyPhase}},
                                 U::kStride));
  layout.Freeze();
  exports.Set("batchLayout", layout);
}

}  // namespace zquic
