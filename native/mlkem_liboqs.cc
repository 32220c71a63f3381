// ML-KEM backend `liboqs`: compiled in when deps/liboqs.py (run by binding.gyp) finds liboqs
// through pkg-config. The library is dlopen()ed at load time rather than linked, so the addon
// still loads when it is missing at run time: the backend then reports why it is unavailable.
// Randomness comes from the OpenSSL inside Node (RAND_bytes) and goes through the _derand
// entry points, so random and seeded operation share one code path.
#include "mlkem.h"
#include "mlkem_bindings.h"

#ifdef ZQUIC_HAVE_LIBOQS
#include <dlfcn.h>
#include <oqs/common.h>
#include <openssl/rand.h>

#include <cstdlib>
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

const Fns& FnsFor(const Params& p) {
  return Load().fns[p.k - 2];
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

// The backend for Bindings (mlkem_bindings.h): the _derand calls with our coins.
struct Liboqs {
  static void Require(napi_env env) {
    const Lib& l = Load();
    if (!l.error.empty()) ThrowError(env, "the liboqs ML-KEM backend is unavailable: " + l.error);
  }
  static bool Keygen(const Params& p, const uint8_t* seed, uint8_t* ek, uint8_t* dk) {
    Secret<kSeed> coins;
    return Coins(seed, coins.b, kSeed) && FnsFor(p).keypair(ek, dk, coins.b) == OQS_SUCCESS;
  }
  static bool Encaps(const Params& p, const uint8_t* ek, const uint8_t* m, uint8_t* ct,
                     uint8_t* ss) {
    Secret<kCoins> coins;
    return Coins(m, coins.b, kCoins) && FnsFor(p).encaps(ct, ss, ek, coins.b) == OQS_SUCCESS;
  }
  static bool Decaps(const Params& p, const uint8_t* dk, const uint8_t* ct, uint8_t* ss) {
    return FnsFor(p).decaps(ss, ct, dk) == OQS_SUCCESS;
  }

  // A key pair whose dk stays in native memory (wiped when released): the key-share path,
  // which decapsulates once, then needs neither a dk Buffer nor copying it back in.
  struct Key {
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
    ~Key() { Release(); }
  };
  static bool Generate(const Params& p, const uint8_t* seed, uint8_t* ek, Key* key) {
    key->dk = static_cast<uint8_t*>(malloc(p.dk));
    return key->dk && Keygen(p, seed, ek, key->dk);
  }
  static bool KeyDecaps(Key* key, const uint8_t* ct, uint8_t* ss) {
    return Decaps(*key->params, key->dk, ct, ss);
  }
};
const napi_type_tag Liboqs::Key::kTag = {0x7a7175696b656d32ULL, 0x6c69626f71733132ULL};

}  // namespace

void InitMlKemLiboqs(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "mlkemLiboqsStatus", JsStatus);
  Export(env, exports, "mlkemLiboqsVersion", JsVersion);
  mlkem::Export<Liboqs>(env, exports, "mlkemLiboqs");
}

#endif  // ZQUIC_HAVE_LIBOQS

}  // namespace zquic
