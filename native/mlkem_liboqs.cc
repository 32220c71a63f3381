// ML-KEM backend `liboqs`: compiled in when deps/liboqs.py (run by binding.gyp) finds liboqs
// through pkg-config. The library is dlopen()ed at load time rather than linked, so the addon
// still loads when it is missing at run time: the backend then reports why it is unavailable.
// Randomness comes from the OpenSSL inside Node (RAND_bytes) and goes through the _derand
// entry points, so random and seeded operation share one code path.
#include "mlkem.h"

#ifdef ZQUIC_HAVE_LIBOQS
#include <dlfcn.h>
#include <oqs/common.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <vector>
#endif

namespace zquic {
using namespace mlkem;

#ifndef ZQUIC_HAVE_LIBOQS

// mlkemLiboqsStatus() -> why the backend is unavailable
static napi_value JsStatus(napi_env env, napi_callback_info) {
  napi_value s;
  const char* msg = "liboqs not compiled in: pkg-config found no liboqs";
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &s);
  return s;
}

void InitMlKemLiboqs(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "mlkemLiboqsStatus", JsStatus);
}

#else

#define ZQUIC_STR2(x) #x
#define ZQUIC_STR(x) ZQUIC_STR2(x)

namespace {

using KeypairDerand = OQS_STATUS (*)(uint8_t* pk, uint8_t* sk, const uint8_t* seed);
using EncapsDerand = OQS_STATUS (*)(uint8_t* ct, uint8_t* ss, const uint8_t* pk,
                                    const uint8_t* seed);
using Decaps = OQS_STATUS (*)(uint8_t* ss, const uint8_t* ct, const uint8_t* sk);

struct Fns {
  KeypairDerand keypair;
  EncapsDerand encaps;
  Decaps decaps;
};

struct Lib {
  Fns fns[3] = {};  // k = 2, 3, 4
  std::string error;
  std::string version;
};

const Lib& Load() {
  static const Lib lib = [] {
    Lib l;
    // The library pkg-config pointed at when the addon was built, else the loader's search.
    const char* candidates[] = {ZQUIC_STR(ZQUIC_LIBOQS_LIBRARY), "liboqs.so"};
    void* h = nullptr;
    for (const char* c : candidates) {
      h = dlopen(c, RTLD_NOW | RTLD_LOCAL);
      if (h) break;
      const char* e = dlerror();
      if (l.error.empty()) l.error = std::string("liboqs runtime library not loadable: ") + (e ? e : c);
    }
    if (!h) return l;
    l.error.clear();
    if (auto init = reinterpret_cast<void (*)()>(dlsym(h, "OQS_init"))) init();
    if (auto ver = reinterpret_cast<const char* (*)()>(dlsym(h, "OQS_version"))) l.version = ver();
    for (int k = 2; k <= 4; k++) {
      std::string base = "OQS_KEM_ml_kem_" + std::to_string(k == 2 ? 512 : k == 3 ? 768 : 1024);
      Fns& f = l.fns[k - 2];
      f.keypair = reinterpret_cast<KeypairDerand>(dlsym(h, (base + "_keypair_derand").c_str()));
      f.encaps = reinterpret_cast<EncapsDerand>(dlsym(h, (base + "_encaps_derand").c_str()));
      f.decaps = reinterpret_cast<Decaps>(dlsym(h, (base + "_decaps").c_str()));
      if (!f.keypair || !f.encaps || !f.decaps) {
        l.error = "liboqs " + l.version + " lacks " + base + "_keypair_derand/_encaps_derand/_decaps";
        return l;
      }
    }
    return l;  // the handle stays open for the life of the process
  }();
  return lib;
}

const Fns& Require(napi_env env, const Params& p) {
  const Lib& l = Load();
  if (!l.error.empty()) ThrowError(env, "the liboqs ML-KEM backend is unavailable: " + l.error);
  return l.fns[p.k - 2];
}

// mlkemLiboqsStatus() -> null when usable, else why not
napi_value JsStatus(napi_env env, napi_callback_info) {
  return Guard(env, [&] {
    const Lib& l = Load();
    if (l.error.empty()) return Null(env);
    napi_value s;
    napi_create_string_utf8(env, l.error.c_str(), l.error.size(), &s);
    return s;
  });
}

// mlkemLiboqsVersion() -> the loaded liboqs's version string
napi_value JsVersion(napi_env env, napi_callback_info) {
  napi_value s;
  const std::string& v = Load().version;
  napi_create_string_utf8(env, v.c_str(), v.size(), &s);
  return s;
}

// Fills `out` with `len` bytes from the caller or, when absent, from RAND_bytes.
bool Coins(const uint8_t* given, uint8_t* out, size_t len) {
  if (given) {
    memcpy(out, given, len);
    return true;
  }
  return RAND_bytes(out, static_cast<int>(len)) == 1;
}

// mlkemLiboqsKeygen(k, seed?) -> [ek, dk]   (FIPS 203 §7.1 / KeyGen_internal(d, z))
napi_value JsKeygen(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<2> a(env, info);
    const Params& p = ArgParams(env, a[0]);
    const uint8_t* seed = ArgOptionalBytes(env, a[1], "seed", kSeed);
    const Fns& f = Require(env, p);
    Secret<kSeed> coins;
    if (!Coins(seed, coins.b, kSeed)) ThrowError(env, "no randomness");
    uint8_t *ek, *dk;
    napi_value ekBuf = NewBuffer(env, p.ek, &ek);
    napi_value dkBuf = NewSecretBuffer(env, p.dk, &dk);
    if (f.keypair(ek, dk, coins.b) != OQS_SUCCESS) {
      Wipe(dk, p.dk);
      ThrowError(env, "ML-KEM key generation failed");
    }
    return Pair(env, ekBuf, dkBuf);
  });
}

// mlkemLiboqsEncapsulate(k, ek, m?) -> [ct, ss]   (FIPS 203 §7.2 / Encaps_internal(ek, m))
napi_value JsEncaps(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<3> a(env, info);
    const Params& p = ArgParams(env, a[0]);
    const uint8_t* ek = ArgBytesLen(env, a[1], "encapsulationKey", p.ek).data;
    const uint8_t* m = ArgOptionalBytes(env, a[2], "m", kCoins);
    const Fns& f = Require(env, p);
    Secret<kCoins> coins;
    if (!Coins(m, coins.b, kCoins)) ThrowError(env, "no randomness");
    uint8_t *ct, *ss;
    napi_value ctBuf = NewBuffer(env, p.ct, &ct);
    napi_value ssBuf = NewSecretBuffer(env, kSecret, &ss);
    if (f.encaps(ct, ss, ek, coins.b) != OQS_SUCCESS) {
      Wipe(ss, kSecret);
      ThrowError(env, "ML-KEM encapsulation failed");
    }
    return Pair(env, ctBuf, ssBuf);
  });
}

// mlkemLiboqsDecapsulate(k, dk, ct) -> ss   (FIPS 203 §7.3, implicit rejection)
napi_value JsDecaps(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<3> a(env, info);
    const Params& p = ArgParams(env, a[0]);
    const uint8_t* dk = ArgBytesLen(env, a[1], "decapsulationKey", p.dk).data;
    const uint8_t* ct = ArgBytesLen(env, a[2], "ciphertext", p.ct).data;
    const Fns& f = Require(env, p);
    uint8_t* ss;
    napi_value ssBuf = NewSecretBuffer(env, kSecret, &ss);
    if (f.decaps(ss, ct, dk) != OQS_SUCCESS) {
      Wipe(ss, kSecret);
      DecapsFailed(env, p, dk);
    }
    return ssBuf;
  });
}

// A key pair whose dk stays in native memory (wiped when released): the key-share path, which
// decapsulates once, then needs neither a dk Buffer nor copying it back in.
struct LiboqsKey {
  static const napi_type_tag kTag;
  static constexpr const char* kName = "ML-KEM key";
  const Params* params = nullptr;
  uint8_t* dk = nullptr;
  bool live() const { return dk != nullptr; }
  void Release() {
    if (dk) {
      Wipe(dk, params->dk);
      free(dk);
      dk = nullptr;
    }
  }
  ~LiboqsKey() { Release(); }
};
const napi_type_tag LiboqsKey::kTag = {0x7a7175696b656d32ULL, 0x6c69626f71733132ULL};

// mlkemLiboqsGenerate(k, seed?) -> [ek, key handle]
napi_value JsGenerate(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<2> a(env, info);
    const Params& p = ArgParams(env, a[0]);
    const uint8_t* seed = ArgOptionalBytes(env, a[1], "seed", kSeed);
    const Fns& f = Require(env, p);
    Secret<kSeed> coins;
    if (!Coins(seed, coins.b, kSeed)) ThrowError(env, "no randomness");
    auto* key = new LiboqsKey();
    key->params = &p;
    key->dk = static_cast<uint8_t*>(malloc(p.dk));
    napi_value handle = WrapHandle(env, key);  // owns key from here on, also if we throw
    if (!key->dk) ThrowError(env, "out of memory");
    uint8_t* ek;
    napi_value ekBuf = NewBuffer(env, p.ek, &ek);
    if (f.keypair(ek, key->dk, coins.b) != OQS_SUCCESS) {
      key->Release();
      ThrowError(env, "ML-KEM key generation failed");
    }
    return Pair(env, ekBuf, handle);
  });
}

// mlkemLiboqsKeyDecapsulate(key, ct) -> ss
napi_value JsKeyDecaps(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<2> a(env, info);
    LiboqsKey* key = ArgHandle<LiboqsKey>(env, a[0], "key");
    const Params& p = *key->params;
    const uint8_t* ct = ArgBytesLen(env, a[1], "ciphertext", p.ct).data;
    const Fns& f = Require(env, p);
    uint8_t* ss;
    napi_value ssBuf = NewSecretBuffer(env, kSecret, &ss);
    if (f.decaps(ss, ct, key->dk) != OQS_SUCCESS) {
      Wipe(ss, kSecret);
      ThrowError(env, "ML-KEM decapsulation failed");
    }
    return ssBuf;
  });
}

// mlkemLiboqsKeyDestroy(key): wipes and frees dk now
napi_value JsKeyDestroy(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<1> a(env, info);
    ArgHandleAny<LiboqsKey>(env, a[0], "key")->Release();
    return Undefined(env);
  });
}

// mlkemLiboqsBenchLoop(k, iterations): keygen + encaps + decaps in C++ without crossing N-API
// (the benchmark's ceiling for this backend).
napi_value JsBenchLoop(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<2> a(env, info);
    const Params& p = ArgParams(env, a[0]);
    int64_t n = ArgInt(env, a[1], "iterations", 1, 1000000);
    const Fns& f = Require(env, p);
    std::vector<uint8_t> ek(p.ek), dk(p.dk), ct(p.ct);
    Secret<kSeed> coins;
    Secret<kSecret> ss, ss2;
    for (int64_t i = 0; i < n; i++) {
      if (!Coins(nullptr, coins.b, kSeed) || f.keypair(ek.data(), dk.data(), coins.b) != OQS_SUCCESS ||
          !Coins(nullptr, coins.b, kCoins) ||
          f.encaps(ct.data(), ss.b, ek.data(), coins.b) != OQS_SUCCESS ||
          f.decaps(ss2.b, ct.data(), dk.data()) != OQS_SUCCESS)
        ThrowError(env, "ML-KEM failed");
    }
    Wipe(dk.data(), dk.size());
    return Undefined(env);
  });
}

}  // namespace

void InitMlKemLiboqs(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "mlkemLiboqsStatus", JsStatus);
  Export(env, exports, "mlkemLiboqsVersion", JsVersion);
  Export(env, exports, "mlkemLiboqsKeygen", JsKeygen);
  Export(env, exports, "mlkemLiboqsEncapsulate", JsEncaps);
  Export(env, exports, "mlkemLiboqsDecapsulate", JsDecaps);
  Export(env, exports, "mlkemLiboqsBenchLoop", JsBenchLoop);
  Export(env, exports, "mlkemLiboqsGenerate", JsGenerate);
  Export(env, exports, "mlkemLiboqsKeyDecapsulate", JsKeyDecaps);
  Export(env, exports, "mlkemLiboqsKeyDestroy", JsKeyDestroy);
}

#endif  // ZQUIC_HAVE_LIBOQS

}  // namespace zquic
