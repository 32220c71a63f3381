// ML-KEM backend `openssl`: the ML-KEM of the OpenSSL inside the running Node (OpenSSL >= 3.5,
// Node >= 24.7). Only OpenSSL 3.0 API symbols are used, with algorithm and parameter names as
// strings, so the same binary built against Node 20's headers loads everywhere; whether ML-KEM
// is there is found out at run time (mlkemOpensslProbe).
#include <openssl/core.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <vector>

#include "mlkem.h"
#include "mlkem_bindings.h"

namespace zquic {
using namespace mlkem;

namespace {

// Leaves OpenSSL's error queue as it found it, so a failure here never shows up later as a
// stray error in Node's own crypto calls.
struct ErrMark {
  ErrMark() { ERR_set_mark(); }
  ~ErrMark() { ERR_pop_to_mark(); }
};
struct PkeyCtx {
  EVP_PKEY_CTX* p;
  explicit PkeyCtx(EVP_PKEY_CTX* c) : p(c) {}
  ~PkeyCtx() { EVP_PKEY_CTX_free(p); }
};
struct Pkey {
  EVP_PKEY* p = nullptr;
  ~Pkey() { EVP_PKEY_free(p); }
};

// Parameter names (OpenSSL 3.5 EVP_PKEY-ML-KEM(7), EVP_KEM-ML-KEM(7)); spelled out because
// Node 20's headers predate them.
constexpr const char* kParamSeed = "seed";  // OSSL_PKEY_PARAM_ML_KEM_SEED: d ‖ z
constexpr const char* kParamIkme = "ikme";  // OSSL_KEM_PARAM_IKME: m
constexpr const char* kParamPub = "pub";    // OSSL_PKEY_PARAM_PUB_KEY
constexpr const char* kParamPriv = "priv";  // OSSL_PKEY_PARAM_PRIV_KEY

// ML-KEM.KeyGen (FIPS 203 §7.1), or KeyGen_internal(d, z) when seed is given; ek written out,
// the key pair returned as an EVP_PKEY (nullptr on failure).
EVP_PKEY* Generate(const Params& p, const uint8_t* seed, uint8_t* ek) {
  ErrMark mark;
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, p.name, nullptr));
  if (!ctx.p || EVP_PKEY_keygen_init(ctx.p) <= 0) return nullptr;
  if (seed) {
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(kParamSeed, const_cast<uint8_t*>(seed), kSeed),
        OSSL_PARAM_construct_end()};
    if (EVP_PKEY_CTX_set_params(ctx.p, params) <= 0) return nullptr;
  }
  Pkey key;
  size_t len = 0;
  if (EVP_PKEY_generate(ctx.p, &key.p) <= 0 ||
      EVP_PKEY_get_octet_string_param(key.p, kParamPub, ek, p.ek, &len) <= 0 || len != p.ek)
    return nullptr;
  EVP_PKEY* out = key.p;
  key.p = nullptr;
  return out;
}

// The same, with dk exported too (the byte API).
bool Keygen(const Params& p, const uint8_t* seed, uint8_t* ek, uint8_t* dk) {
  Pkey key;
  key.p = Generate(p, seed, ek);
  if (!key.p) return false;
  ErrMark mark;
  size_t len = 0;
  return EVP_PKEY_get_octet_string_param(key.p, kParamPriv, dk, p.dk, &len) > 0 && len == p.dk;
}

bool Import(const Params& p, const char* param, const uint8_t* data, size_t len, int selection,
            Pkey* key) {
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, p.name, nullptr));
  if (!ctx.p || EVP_PKEY_fromdata_init(ctx.p) <= 0) return false;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(param, const_cast<uint8_t*>(data), len),
      OSSL_PARAM_construct_end()};
  return EVP_PKEY_fromdata(ctx.p, &key->p, selection, params) > 0;
}

// ML-KEM.Encaps (FIPS 203 §7.2), or Encaps_internal(ek, m) when m is given.
bool Encaps(const Params& p, const uint8_t* ek, const uint8_t* m, uint8_t* ct, uint8_t* ss) {
  ErrMark mark;
  Pkey key;
  if (!Import(p, kParamPub, ek, p.ek, EVP_PKEY_PUBLIC_KEY, &key)) return false;
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.p, nullptr));
  if (!ctx.p) return false;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(kParamIkme, const_cast<uint8_t*>(m), kCoins),
      OSSL_PARAM_construct_end()};
  if (EVP_PKEY_encapsulate_init(ctx.p, m ? params : nullptr) <= 0) return false;
  size_t ctLen = p.ct, ssLen = kSecret;
  return EVP_PKEY_encapsulate(ctx.p, ct, &ctLen, ss, &ssLen) > 0 && ctLen == p.ct &&
         ssLen == kSecret;
}

// ML-KEM.Decaps (FIPS 203 §7.3) with a key pair: implicit rejection, so the ciphertext never
// makes it fail.
bool DecapsKey(EVP_PKEY* key, const Params& p, const uint8_t* ct, uint8_t* ss) {
  ErrMark mark;
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  size_t ssLen = kSecret;
  return ctx.p && EVP_PKEY_decapsulate_init(ctx.p, nullptr) > 0 &&
         EVP_PKEY_decapsulate(ctx.p, ss, &ssLen, ct, p.ct) > 0 && ssLen == kSecret;
}

// The same from dk bytes; importing them fails only for a key failing the §7.3 checks.
bool Decaps(const Params& p, const uint8_t* dk, const uint8_t* ct, uint8_t* ss) {
  ErrMark mark;
  Pkey key;
  return Import(p, kParamPriv, dk, p.dk, EVP_PKEY_KEYPAIR, &key) && DecapsKey(key.p, p, ct, ss);
}

// A generated key pair kept as an EVP_PKEY: decapsulating with it skips re-importing dk (which
// in OpenSSL 3.5 includes a pairwise consistency test), the cost that dominates the byte API.
struct MlKemKey {
  static const napi_type_tag kTag;
  static constexpr const char* kName = "ML-KEM key";
  EVP_PKEY* pkey = nullptr;
  const Params* params = nullptr;
  bool live() const { return pkey != nullptr; }
  void Release() {
    EVP_PKEY_free(pkey);  // OpenSSL cleanses ML-KEM private key material when freeing it
    pkey = nullptr;
  }
  ~MlKemKey() { Release(); }
};
const napi_type_tag MlKemKey::kTag = {0x7a7175696b656d31ULL, 0x6f70656e73736c31ULL};

// One deterministic round trip per parameter set: proves that this OpenSSL has ML-KEM and
// honours the seed and ikme parameters (one that ignored them must not pass as deterministic).
const char* Probe() {
  uint8_t seed[kSeed], m[kCoins];
  for (size_t i = 0; i < kSeed; i++) seed[i] = static_cast<uint8_t>(i * 7 + 1);
  for (size_t i = 0; i < kCoins; i++) m[i] = static_cast<uint8_t>(i * 13 + 5);
  for (int k = 2; k <= 4; k++) {
    const Params& p = ParamsFor(k);
    std::vector<uint8_t> ek(p.ek), dk(p.dk), ek2(p.ek), dk2(p.dk), ct(p.ct), ct2(p.ct);
    uint8_t ss[kSecret], ss2[kSecret], ss3[kSecret];
    {
      ErrMark mark;
      PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, p.name, nullptr));
      if (!ctx.p || EVP_PKEY_keygen_init(ctx.p) <= 0) return "has no ML-KEM";
    }
    if (!Keygen(p, seed, ek.data(), dk.data()) || !Keygen(p, seed, ek2.data(), dk2.data()))
      return "cannot generate ML-KEM keys from a seed";
    if (ek != ek2 || dk != dk2) return "ignores the ML-KEM seed parameter";
    if (!Encaps(p, ek.data(), m, ct.data(), ss) || !Encaps(p, ek.data(), m, ct2.data(), ss2))
      return "cannot encapsulate with ML-KEM";
    if (ct != ct2 || memcmp(ss, ss2, kSecret) != 0) return "ignores the ML-KEM ikme parameter";
    if (!Decaps(p, dk.data(), ct.data(), ss3) || memcmp(ss, ss3, kSecret) != 0)
      return "ML-KEM decapsulation does not recover the secret";
  }
  return nullptr;
}

const char* CachedProbe() {
  static const char* reason = Probe();
  return reason;
}

// mlkemOpensslProbe() -> null when usable, else why not
napi_value JsProbe(napi_env env, napi_callback_info) {
  return Guard(env, [&] {
    const char* reason = CachedProbe();
    if (!reason) return Null(env);
    napi_value s;
    std::string msg = std::string(OpenSSL_version(OPENSSL_VERSION)) + " in this Node " + reason +
                      " (needs OpenSSL >= 3.5, bundled with Node >= 24.7)";
    napi_create_string_utf8(env, msg.c_str(), msg.size(), &s);
    return s;
  });
}

// The backend for Bindings (mlkem_bindings.h).
struct Openssl {
  static void Require(napi_env env) {
    if (CachedProbe()) ThrowError(env, "the openssl ML-KEM backend is unavailable");
  }
  static bool Keygen(const Params& p, const uint8_t* seed, uint8_t* ek, uint8_t* dk) {
    return zquic::Keygen(p, seed, ek, dk);
  }
  static bool Encaps(const Params& p, const uint8_t* ek, const uint8_t* m, uint8_t* ct,
                     uint8_t* ss) {
    return zquic::Encaps(p, ek, m, ct, ss);
  }
  static bool Decaps(const Params& p, const uint8_t* dk, const uint8_t* ct, uint8_t* ss) {
    return zquic::Decaps(p, dk, ct, ss);
  }
  using Key = MlKemKey;
  static bool Generate(const Params& p, const uint8_t* seed, uint8_t* ek, Key* key) {
    key->pkey = zquic::Generate(p, seed, ek);
    return key->pkey != nullptr;
  }
  static bool KeyDecaps(Key* key, const uint8_t* ct, uint8_t* ss) {
    return DecapsKey(key->pkey, *key->params, ct, ss);
  }
};

}  // namespace

void InitMlKemOpenssl(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "mlkemOpensslProbe", JsProbe);
  mlkem::Export<Openssl>(env, exports, "mlkemOpenssl");
}

}  // namespace zquic
