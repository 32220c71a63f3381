// ML-KEM helpers shared by the native backends (mlkem_openssl.cc, mlkem_liboqs.cc) and the
// FIPS 203 input checks, which every backend (also the wasm one) runs through here.
#include "mlkem.h"

#include <openssl/evp.h>

#include <cstdlib>

namespace zquic {
namespace mlkem {

static const Params kParams[3] = {
    {2, "ML-KEM-512", 800, 1632, 768},
    {3, "ML-KEM-768", 1184, 2400, 1088},
    {4, "ML-KEM-1024", 1568, 3168, 1568},
};

const Params& ParamsFor(int k) { return kParams[k - 2]; }

const Params& ArgParams(napi_env env, napi_value v) {
  return kParams[ArgInt(env, v, "k", 2, 4) - 2];
}

bool EkModulusOk(const Params& p, const uint8_t* ek) {
  // ByteEncode12(ByteDecode12(x)) == x exactly when every 12-bit value is < q = 3329
  // (ByteDecode12 reduces mod q). Two coefficients per 3 bytes; ρ (last 32 bytes) is free.
  const size_t n = 384 * static_cast<size_t>(p.k);
  for (size_t i = 0; i < n; i += 3) {
    unsigned a = ek[i] | (static_cast<unsigned>(ek[i + 1] & 0x0f) << 8);
    unsigned b = (ek[i + 1] >> 4) | (static_cast<unsigned>(ek[i + 2]) << 4);
    if (a >= 3329 || b >= 3329) return false;
  }
  return true;
}

static const EVP_MD* Sha3_256() {
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA3-256", nullptr);
  return md;
}

bool DkHashOk(const Params& p, const uint8_t* dk) {
  // dk = dk_PKE (384k) ‖ ek (384k + 32) ‖ H(ek) (32) ‖ z (32)
  const size_t off = 384 * static_cast<size_t>(p.k);
  const uint8_t* ek = dk + off;
  const uint8_t* h = ek + p.ek;
  uint8_t digest[32];
  unsigned int len = 0;
  const EVP_MD* md = Sha3_256();
  if (!md || !EVP_Digest(ek, p.ek, digest, &len, md, nullptr) || len != 32) return false;
  return CRYPTO_memcmp(digest, h, 32) == 0;
}

void DecapsFailed(napi_env env, const Params& p, const uint8_t* dk) {
  if (!DkHashOk(p, dk))
    ThrowRange(env, "decapsulationKey fails the FIPS 203 §7.3 hash check (not an ML-KEM key)");
  ThrowError(env, "ML-KEM decapsulation failed");
}

napi_value NewSecretBuffer(napi_env env, size_t len, uint8_t** data) {
  auto* mem = static_cast<uint8_t*>(malloc(len));
  if (!mem) ThrowError(env, "out of memory");
  napi_value out;
  napi_status s = napi_create_external_buffer(
      env, len, mem,
      [](napi_env, void* d, void* hint) {
        Wipe(d, reinterpret_cast<size_t>(hint));
        free(d);
      },
      reinterpret_cast<void*>(len), &out);
  if (s == napi_ok) {
    *data = mem;
    return out;
  }
  free(mem);  // external buffers not allowed in this runtime: an ordinary Buffer then
  return NewBuffer(env, len, data);
}

const uint8_t* ArgOptionalBytes(napi_env env, napi_value v, const char* name, size_t len) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) == napi_ok && t == napi_undefined) return nullptr;
  return ArgBytesLen(env, v, name, len).data;
}

napi_value Pair(napi_env env, napi_value a, napi_value b) {
  napi_value arr;
  if (napi_create_array_with_length(env, 2, &arr) != napi_ok ||
      napi_set_element(env, arr, 0, a) != napi_ok || napi_set_element(env, arr, 1, b) != napi_ok)
    ThrowError(env, "cannot create result array");
  return arr;
}

}  // namespace mlkem

using namespace mlkem;

// mlkemCheckEncapsulationKey(k, ek) -> boolean (FIPS 203 §7.2: length and modulus check)
static napi_value CheckEk(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<2> a(env, info);
    const Params& p = ArgParams(env, a[0]);
    Bytes ek = ArgBytes(env, a[1], "encapsulationKey");
    return NewBool(env, ek.length == p.ek && EkModulusOk(p, ek.data));
  });
}

// mlkemCheckDecapsulationKey(k, dk) -> boolean (FIPS 203 §7.3: length and hash check)
static napi_value CheckDk(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<2> a(env, info);
    const Params& p = ArgParams(env, a[0]);
    Bytes dk = ArgBytes(env, a[1], "decapsulationKey");
    return NewBool(env, dk.length == p.dk && DkHashOk(p, dk.data));
  });
}

void InitMlKem(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "mlkemCheckEncapsulationKey", CheckEk);
  Export(env, exports, "mlkemCheckDecapsulationKey", CheckDk);
  InitMlKemOpenssl(env, exports);
  InitMlKemLiboqs(env, exports);
}

}  // namespace zquic
