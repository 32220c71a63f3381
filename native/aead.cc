// The JavaScript Aead object (TLS record protection, tickets, tokens, Retry tags): a key
// installed once; seal/open copy into a new Buffer.
#include <climits>

#include "cipher.h"
#include "zquic.h"

namespace zquic {

namespace {

struct Aead {
  static const napi_type_tag kTag;
  static constexpr const char* kName = "Aead";
  AeadCipher cipher;
  bool live() const { return cipher.ready(); }
  void Release() { cipher.Free(); }
};
const napi_type_tag Aead::kTag = {0x7a71756963414541ULL, 0x4144e0a1c3b2d401ULL};

int ArgAlgorithm(napi_env env, napi_value v) {
  char s[24] = {};
  size_t len = 0;
  const char* msg = "algorithm must be 'aes-128-gcm', 'aes-256-gcm' or 'chacha20-poly1305'";
  if (napi_get_value_string_utf8(env, v, s, sizeof s, &len) != napi_ok) ThrowType(env, msg);
  std::string a(s, len);
  if (a == "aes-128-gcm") return kAes128Gcm;
  if (a == "aes-256-gcm") return kAes256Gcm;
  if (a == "chacha20-poly1305") return kChaCha20Poly1305;
  ThrowRange(env, msg);
}

// aeadNew(algorithm, key) -> handle
napi_value JsNew(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<2> a(env, info);
    int alg = ArgAlgorithm(env, a[0]);
    Bytes key = ArgBytesLen(env, a[1], "key", AeadKeyLen(alg));
    Aead* obj = new Aead();
    if (!obj->cipher.Init(alg, key.data)) {
      delete obj;
      ThrowError(env, "cannot initialise the AEAD key");
    }
    return WrapHandle(env, obj);
  });
}

// aeadSeal(handle, nonce, aad, plaintext) -> Buffer(ciphertext ‖ tag)
napi_value JsSeal(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<4> a(env, info);
    Aead* obj = ArgHandle<Aead>(env, a[0], "aead");
    Bytes nonce = ArgBytesLen(env, a[1], "nonce", kNonceLen);
    Bytes aad = ArgBytes(env, a[2], "aad");
    Bytes pt = ArgBytes(env, a[3], "plaintext");
    if (aad.length > INT_MAX) ThrowRange(env, "aad is too long");
    if (pt.length > INT_MAX - kTagLen) ThrowRange(env, "plaintext is too long");
    uint8_t* out;
    napi_value buf = NewBuffer(env, pt.length + kTagLen, &out);
    if (pt.length) memcpy(out, pt.data, pt.length);
    if (!obj->cipher.Seal(nonce.data, aad.data, aad.length, out, pt.length, out + pt.length))
      ThrowError(env, "AEAD seal failed");
    return buf;
  });
}

// aeadOpen(handle, nonce, aad, sealed) -> Buffer(plaintext) | null when not authentic
napi_value JsOpen(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<4> a(env, info);
    Aead* obj = ArgHandle<Aead>(env, a[0], "aead");
    Bytes nonce = ArgBytesLen(env, a[1], "nonce", kNonceLen);
    Bytes aad = ArgBytes(env, a[2], "aad");
    Bytes sealed = ArgBytes(env, a[3], "sealed");
    if (aad.length > INT_MAX) ThrowRange(env, "aad is too long");
    if (sealed.length > INT_MAX) ThrowRange(env, "sealed is too long");
    if (sealed.length < kTagLen) return Null(env);  // cannot hold a tag: not authentic
    size_t len = sealed.length - kTagLen;
    uint8_t* out;
    napi_value buf = NewBuffer(env, len, &out);
    if (len) memcpy(out, sealed.data, len);
    if (!obj->cipher.Open(nonce.data, aad.data, aad.length, out, len, sealed.data + len)) {
      Wipe(out, len);
      return Null(env);
    }
    return buf;
  });
}

// aeadDestroy(handle): frees the key now (idempotent).
napi_value JsDestroy(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<1> a(env, info);
    ArgHandleAny<Aead>(env, a[0], "aead")->Release();
    return Undefined(env);
  });
}

}  // namespace

void InitAead(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "aeadNew", JsNew);
  Export(env, exports, "aeadSeal", JsSeal);
  Export(env, exports, "aeadOpen", JsOpen);
  Export(env, exports, "aeadDestroy", JsDestroy);
}

}  // namespace zquic
