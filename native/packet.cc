// JavaScript exports for PacketKey: creation, key update, single-packet protect/unprotect/open.
// Every offset and length is checked here before packet_key.cc touches the buffer.
#include "packet_key.h"

namespace zquic {

namespace {

// packetKeyNew(suiteCode, secret, labelPrefix) -> handle
napi_value JsNew(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<3> a(env, info);
    int64_t code = ArgInt(env, a[0], "suite", 0x1301, 0x1303);
    // RFC 8446 §B.4: 0x1301 AES-128-GCM/SHA-256, 0x1302 AES-256-GCM/SHA-384, 0x1303 ChaCha20.
    int aead = code == 0x1301 ? kAes128Gcm : code == 0x1302 ? kAes256Gcm : kChaCha20Poly1305;
    int hash = code == 0x1302 ? kSha384 : kSha256;
    Bytes secret = ArgBytesLen(env, a[1], "secret", HashLen(hash));
    std::string prefix = ArgString(env, a[2], "labelPrefix", 64);
    PacketKey* key = new PacketKey();
    if (!key->Init(aead, hash, secret.data, secret.length, prefix, nullptr)) {
      delete key;
      ThrowError(env, "cannot derive the packet protection keys");
    }
    return WrapHandle(env, key);
  });
}

// packetKeyNext(handle) -> handle: RFC 9001 §6.1 next key phase from "<prefix>ku"; the header
// protection key is kept.
napi_value JsNext(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<1> a(env, info);
    PacketKey* cur = ArgHandle<PacketKey>(env, a[0], "key");
    Secret<kMaxHashLen> next;
    std::string label = cur->labelPrefix + "ku";
    size_t len = HashLen(cur->hash);
    PacketKey* key = new PacketKey();
    if (!HkdfExpandLabel(cur->hash, cur->secret.b, cur->secret.len, label.data(), label.size(),
                         nullptr, 0, next.b, len) ||
        !key->Init(cur->aead, cur->hash, next.b, len, cur->labelPrefix, cur)) {
      delete key;
      ThrowError(env, "cannot derive the next packet protection keys");
    }
    return WrapHandle(env, key);
  });
}

napi_value JsDestroy(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<1> a(env, info);
    ArgHandleAny<PacketKey>(env, a[0], "key")->Release();
    return Undefined(env);
  });
}

// packetProtect(handle, buf, start, headerLength, pnLength, payloadLength, packetNumber) -> length
napi_value JsProtect(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<7> a(env, info);
    PacketKey* key = ArgHandle<PacketKey>(env, a[0], "key");
    ProtectArgs x = ArgProtect(env, &a.v[1]);
    int64_t pn = ArgInt(env, a[6], "packetNumber", 0, static_cast<int64_t>(kMaxSafeInteger));
    if ((x.p[0] & 0x03) + 1u != x.pnLength)
      ThrowRange(env, "pnLength does not match the packet number length bits of buf[start]");
    if (!key->Protect(x.p, x.headerLength, x.pnLength, x.payloadLength, static_cast<uint64_t>(pn)))
      ThrowError(env, "packet protection failed");
    return NewNumber(env, static_cast<double>(x.headerLength + x.payloadLength + kTagLen));
  });
}

int ArgKeyPhase(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_undefined) return -1;
  return static_cast<int>(ArgInt(env, v, "expectedKeyPhase", -1, 1));
}

// packetUnprotect(handle, buf, start, pnOffset, end, largestPn, expectedKeyPhase) -> pn | code
napi_value JsUnprotect(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<7> a(env, info);
    PacketKey* key = ArgHandle<PacketKey>(env, a[0], "key");
    Bytes buf = ArgBytes(env, a[1], "buf");
    int64_t n = static_cast<int64_t>(buf.length);
    int64_t start = ArgInt(env, a[2], "start", 0, n);
    int64_t pnOffset = ArgInt(env, a[3], "pnOffset", 1, INT32_MAX);
    int64_t end = ArgInt(env, a[4], "end", 0, n);
    int64_t largest = ArgInt(env, a[5], "largestPn", -1, static_cast<int64_t>(kMaxSafeInteger));
    int phase = ArgKeyPhase(env, a[6]);
    if (end < start) ThrowRange(env, "end must not be less than start");
    return NewNumber(env, key->Unprotect(buf.data + start, end - start, pnOffset, largest, phase));
  });
}

// packetOpen(handle, buf, start, headerLength, end, packetNumber) -> boolean
napi_value JsOpen(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<6> a(env, info);
    PacketKey* key = ArgHandle<PacketKey>(env, a[0], "key");
    Bytes buf = ArgBytes(env, a[1], "buf");
    int64_t n = static_cast<int64_t>(buf.length);
    int64_t start = ArgInt(env, a[2], "start", 0, n);
    int64_t headerLength = ArgInt(env, a[3], "headerLength", 1, n);
    int64_t end = ArgInt(env, a[4], "end", 0, n);
    int64_t pn = ArgInt(env, a[5], "packetNumber", 0, static_cast<int64_t>(kMaxSafeInteger));
    if (end < start) ThrowRange(env, "end must not be less than start");
    if (headerLength > end - start) ThrowRange(env, "headerLength exceeds end - start");
    return NewBool(env, key->Open(buf.data + start, headerLength, end - start, pn));
  });
}

}  // namespace

ProtectArgs ArgProtect(napi_env env, const napi_value* a) {
  Bytes buf = ArgBytes(env, a[0], "buf");
  int64_t n = static_cast<int64_t>(buf.length);
  int64_t start = ArgInt(env, a[1], "start", 0, n);
  int64_t headerLength = ArgInt(env, a[2], "headerLength", 1, n);
  int64_t pnLength = ArgInt(env, a[3], "pnLength", 1, 4);
  int64_t payloadLength = ArgInt(env, a[4], "payloadLength", 0, n);
  if (headerLength < pnLength + 1) ThrowRange(env, "headerLength must be at least pnLength + 1");
  if (start + headerLength + payloadLength + static_cast<int64_t>(kTagLen) > n)
    ThrowRange(env, "start + headerLength + payloadLength + 16 exceeds buf.length");
  // RFC 9001 §5.4.2: the header protection sample needs pnLength + payloadLength >= 4.
  if (pnLength + payloadLength < 4)
    ThrowRange(env, "payloadLength is too short for the header protection sample");
  return {buf.data + start, static_cast<size_t>(headerLength), static_cast<size_t>(pnLength),
          static_cast<size_t>(payloadLength)};
}

void InitPacket(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "packetKeyNew", JsNew);
  Export(env, exports, "packetKeyNext", JsNext);
  Export(env, exports, "packetKeyDestroy", JsDestroy);
  Export(env, exports, "packetProtect", JsProtect);
  Export(env, exports, "packetUnprotect", JsUnprotect);
  Export(env, exports, "packetOpen", JsOpen);
  InitPacketBatch(env, exports);
}

}  // namespace zquic
