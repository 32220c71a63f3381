// ML-KEM (FIPS 203) shared pieces of the native backends: parameter sizes, argument parsing,
// the FIPS 203 §7.2/§7.3 input checks, and each backend's registration.
#pragma once

#include "zquic.h"

namespace zquic {
namespace mlkem {

// FIPS 203 Table 2/3: k = 2, 3, 4 for ML-KEM-512/768/1024.
struct Params {
  int k;
  const char* name;  // OpenSSL algorithm name
  size_t ek;         // 384k + 32
  size_t dk;         // 768k + 96
  size_t ct;         // 32 (du k + dv)
};
constexpr size_t kSeed = 64;    // d ‖ z
constexpr size_t kCoins = 32;   // m
constexpr size_t kSecret = 32;  // K

const Params& ParamsFor(int k);  // k = 2, 3 or 4
// The first argument of every ML-KEM native call: k (2, 3 or 4).
const Params& ArgParams(napi_env env, napi_value v);

// FIPS 203 §7.2 modulus check: every 12-bit coefficient of ByteDecode12(ek) is below q.
bool EkModulusOk(const Params& p, const uint8_t* ek);
// FIPS 203 §7.3 hash check: H(ek embedded in dk) equals the h stored in dk.
bool DkHashOk(const Params& p, const uint8_t* dk);

// Throws after a backend refused to decapsulate: a RangeError when dk fails the FIPS 203 §7.3
// check (the backends refuse such keys; the ciphertext itself never makes them fail).
[[noreturn]] void DecapsFailed(napi_env env, const Params& p, const uint8_t* dk);

// A new Buffer of `len` bytes for a secret: external memory wiped with OPENSSL_cleanse when
// the Buffer is garbage collected.
napi_value NewSecretBuffer(napi_env env, size_t len, uint8_t** data);

// Optional byte argument: undefined → nullptr, else exactly `len` bytes.
const uint8_t* ArgOptionalBytes(napi_env env, napi_value v, const char* name, size_t len);

// [a, b] as a JavaScript array.
napi_value Pair(napi_env env, napi_value a, napi_value b);

}  // namespace mlkem

void InitMlKemOpenssl(Napi::Env env, Napi::Object exports);
void InitMlKemLiboqs(Napi::Env env, Napi::Object exports);

}  // namespace zquic
