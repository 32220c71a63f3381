// X25519 (RFC 7748) with raw 32-byte keys via EVP_PKEY_X25519.
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "zquic.h"

namespace zquic {

namespace {

constexpr size_t kKeyLen = 32;

struct Pkey {
  EVP_PKEY* p = nullptr;
  ~Pkey() { EVP_PKEY_free(p); }
};
struct PkeyCtx {
  EVP_PKEY_CTX* c = nullptr;
  ~PkeyCtx() { EVP_PKEY_CTX_free(c); }
};

// Our private key for one derivation. Importing a raw private key makes OpenSSL compute its
// public key (a second scalar multiplication); derivation never reads it, so we import the pair
// with a placeholder public key and the import does no arithmetic. Falls back to the plain
// import if an OpenSSL version refuses that.
EVP_PKEY* LoadPrivate(const uint8_t* priv) {
  static const uint8_t placeholder[kKeyLen] = {9};
  EVP_PKEY* key = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, nullptr);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, const_cast<uint8_t*>(priv),
                                        kKeyLen),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                        const_cast<uint8_t*>(placeholder), kKeyLen),
      OSSL_PARAM_construct_end()};
  if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
      EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params) <= 0) {
    ERR_clear_error();
    key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, priv, kKeyLen);
  }
  EVP_PKEY_CTX_free(ctx);
  return key;
}

// x25519KeyPair() -> { privateKey, publicKey }
napi_value JsKeyPair(napi_env env, napi_callback_info) {
  return Guard(env, [&] {
    PkeyCtx ctx;
    Pkey key;
    ctx.c = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, nullptr);
    uint8_t priv[kKeyLen], pub[kKeyLen];
    size_t privLen = kKeyLen, pubLen = kKeyLen;
    bool ok = ctx.c && EVP_PKEY_keygen_init(ctx.c) > 0 && EVP_PKEY_keygen(ctx.c, &key.p) > 0 &&
              EVP_PKEY_get_raw_private_key(key.p, priv, &privLen) > 0 &&
              EVP_PKEY_get_raw_public_key(key.p, pub, &pubLen) > 0 && privLen == kKeyLen &&
              pubLen == kKeyLen;
    if (!ok) {
      ERR_clear_error();
      Wipe(priv, sizeof priv);
      ThrowError(env, "X25519 key generation failed");
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("privateKey", Napi::Value(env, NewBufferCopy(env, priv, kKeyLen)));
    out.Set("publicKey", Napi::Value(env, NewBufferCopy(env, pub, kKeyLen)));
    Wipe(priv, sizeof priv);
    return static_cast<napi_value>(out);
  });
}

// x25519(privateKey, publicKey) -> 32-byte shared secret. OpenSSL refuses to output the
// all-zero result of a small-order public key (RFC 7748 §6.1); we return those zeros so the
// caller's check (a KeyShareError in the TLS layer) decides, as the contract says.
napi_value JsDerive(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<2> a(env, info);
    Bytes priv = ArgBytesLen(env, a[0], "privateKey", kKeyLen);
    Bytes pub = ArgBytesLen(env, a[1], "publicKey", kKeyLen);
    Pkey mine, peer;
    PkeyCtx ctx;
    mine.p = LoadPrivate(priv.data);
    peer.p = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, pub.data, kKeyLen);
    if (!mine.p || !peer.p) {
      ERR_clear_error();
      ThrowError(env, "cannot load X25519 keys");
    }
    uint8_t* out;
    napi_value buf = NewBuffer(env, kKeyLen, &out);
    size_t outLen = kKeyLen;
    ctx.c = EVP_PKEY_CTX_new(mine.p, nullptr);
    if (!ctx.c || EVP_PKEY_derive_init(ctx.c) <= 0 ||
        EVP_PKEY_derive_set_peer(ctx.c, peer.p) <= 0) {
      ERR_clear_error();
      ThrowError(env, "X25519 derivation failed");
    }
    if (EVP_PKEY_derive(ctx.c, out, &outLen) <= 0 || outLen != kKeyLen) {
      ERR_clear_error();  // the all-zero result
      memset(out, 0, kKeyLen);
    }
    return buf;
  });
}

}  // namespace

void InitX25519(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "x25519KeyPair", JsKeyPair);
  Export(env, exports, "x25519", JsDerive);
}

}  // namespace zquic
