// The N-API surface of a native ML-KEM backend, written once. A backend B provides:
//   static void Require(napi_env env);   // throws when the backend is unavailable
//   static bool Keygen(const Params&, const uint8_t* seed /* d‖z or null */, uint8_t* ek,
//                      uint8_t* dk);
//   static bool Encaps(const Params&, const uint8_t* ek, const uint8_t* m /* or null */,
//                      uint8_t* ct, uint8_t* ss);
//   static bool Decaps(const Params&, const uint8_t* dk, const uint8_t* ct, uint8_t* ss);
//   struct Key { kTag, kName, params, live(), Release() };   // a handle (zquic.h)
//   static bool Generate(const Params&, const uint8_t* seed, uint8_t* ek, Key* key);
//   static bool KeyDecaps(Key* key, const uint8_t* ct, uint8_t* ss);
// Export<B>(env, exports, "mlkemXxx") registers mlkemXxxKeygen, ...Encapsulate, ...Decapsulate,
// ...Generate, ...KeyDecapsulate, ...KeyDestroy and ...BenchLoop.
#pragma once

#include <string>
#include <vector>

#include "mlkem.h"

namespace zquic {
namespace mlkem {

template <typename B>
struct Bindings {
  // (k, seed?) -> [ek, dk]   (FIPS 203 §7.1; KeyGen_internal(d, z) with a seed)
  static napi_value Keygen(napi_env env, napi_callback_info info) {
    return Guard(env, [&] {
      Args<2> a(env, info);
      const Params& p = ArgParams(env, a[0]);
      const uint8_t* seed = ArgOptionalBytes(env, a[1], "seed", kSeed);
      B::Require(env);
      uint8_t *ek, *dk;
      napi_value ekBuf = NewBuffer(env, p.ek, &ek);
      napi_value dkBuf = NewSecretBuffer(env, p.dk, &dk);
      if (!B::Keygen(p, seed, ek, dk)) {
        Wipe(dk, p.dk);
        ThrowError(env, "ML-KEM key generation failed");
      }
      return Pair(env, ekBuf, dkBuf);
    });
  }

  // (k, ek, m?) -> [ct, ss]   (FIPS 203 §7.2; Encaps_internal(ek, m) with m); ek already passed
  // the §7.2 check
  static napi_value Encaps(napi_env env, napi_callback_info info) {
    return Guard(env, [&] {
      Args<3> a(env, info);
      const Params& p = ArgParams(env, a[0]);
      const uint8_t* ek = ArgBytesLen(env, a[1], "encapsulationKey", p.ek).data;
      const uint8_t* m = ArgOptionalBytes(env, a[2], "m", kCoins);
      B::Require(env);
      uint8_t *ct, *ss;
      napi_value ctBuf = NewBuffer(env, p.ct, &ct);
      napi_value ssBuf = NewSecretBuffer(env, kSecret, &ss);
      if (!B::Encaps(p, ek, m, ct, ss)) {
        Wipe(ss, kSecret);
        ThrowError(env, "ML-KEM encapsulation failed");
      }
      return Pair(env, ctBuf, ssBuf);
    });
  }

  // (k, dk, ct) -> ss   (FIPS 203 §7.3, implicit rejection)
  static napi_value Decaps(napi_env env, napi_callback_info info) {
    return Guard(env, [&] {
      Args<3> a(env, info);
      const Params& p = ArgParams(env, a[0]);
      const uint8_t* dk = ArgBytesLen(env, a[1], "decapsulationKey", p.dk).data;
      const uint8_t* ct = ArgBytesLen(env, a[2], "ciphertext", p.ct).data;
      B::Require(env);
      uint8_t* ss;
      napi_value ssBuf = NewSecretBuffer(env, kSecret, &ss);
      if (!B::Decaps(p, dk, ct, ss)) {
        Wipe(ss, kSecret);
        DecapsFailed(env, p, dk);
      }
      return ssBuf;
    });
  }

  // (k, seed?) -> [ek, key handle]: the private key stays in native memory (the key-share path)
  static napi_value Generate(napi_env env, napi_callback_info info) {
    return Guard(env, [&] {
      Args<2> a(env, info);
      const Params& p = ArgParams(env, a[0]);
      const uint8_t* seed = ArgOptionalBytes(env, a[1], "seed", kSeed);
      B::Require(env);
      auto* key = new typename B::Key();
      key->params = &p;
      napi_value handle = WrapHandle(env, key);  // owns key from here on, also if we throw
      uint8_t* ek;
      napi_value ekBuf = NewBuffer(env, p.ek, &ek);
      if (!B::Generate(p, seed, ek, key)) {
        key->Release();
        ThrowError(env, "ML-KEM key generation failed");
      }
      return Pair(env, ekBuf, handle);
    });
  }

  // (key, ct) -> ss
  static napi_value KeyDecaps(napi_env env, napi_callback_info info) {
    return Guard(env, [&] {
      Args<2> a(env, info);
      auto* key = ArgHandle<typename B::Key>(env, a[0], "key");
      const uint8_t* ct = ArgBytesLen(env, a[1], "ciphertext", key->params->ct).data;
      uint8_t* ss;
      napi_value ssBuf = NewSecretBuffer(env, kSecret, &ss);
      if (!B::KeyDecaps(key, ct, ss)) {
        Wipe(ss, kSecret);
        ThrowError(env, "ML-KEM decapsulation failed");
      }
      return ssBuf;
    });
  }

  // (key): wipes and frees the private key now
  static napi_value KeyDestroy(napi_env env, napi_callback_info info) {
    return Guard(env, [&] {
      Args<1> a(env, info);
      ArgHandleAny<typename B::Key>(env, a[0], "key")->Release();
      return Undefined(env);
    });
  }

  // (k, iterations): generate + encaps + decaps (the key-share path) in C++ without crossing
  // N-API: the benchmark's ceiling for this backend.
  static napi_value BenchLoop(napi_env env, napi_callback_info info) {
    return Guard(env, [&] {
      Args<2> a(env, info);
      const Params& p = ArgParams(env, a[0]);
      int64_t n = ArgInt(env, a[1], "iterations", 1, 1000000);
      B::Require(env);
      std::vector<uint8_t> ek(p.ek), ct(p.ct);
      Secret<kSecret> ss, ss2;
      for (int64_t i = 0; i < n; i++) {
        typename B::Key key;
        key.params = &p;
        if (!B::Generate(p, nullptr, ek.data(), &key) ||
            !B::Encaps(p, ek.data(), nullptr, ct.data(), ss.b) ||
            !B::KeyDecaps(&key, ct.data(), ss2.b))
          ThrowError(env, "ML-KEM failed");
      }
      return Undefined(env);
    });
  }
};

template <typename B>
void Export(Napi::Env env, Napi::Object exports, const std::string& prefix) {
  const std::pair<const char*, napi_callback> fns[] = {
      {"Keygen", Bindings<B>::Keygen},
      {"Encapsulate", Bindings<B>::Encaps},
      {"Decapsulate", Bindings<B>::Decaps},
      {"Generate", Bindings<B>::Generate},
      {"KeyDecapsulate", Bindings<B>::KeyDecaps},
      {"KeyDestroy", Bindings<B>::KeyDestroy},
      {"BenchLoop", Bindings<B>::BenchLoop},
  };
  for (const auto& [name, fn] : fns) zquic::Export(env, exports, (prefix + name).c_str(), fn);
}

}  // namespace mlkem
}  // namespace zquic
