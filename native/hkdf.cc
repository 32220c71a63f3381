// HKDF-Extract/Expand/Expand-Label with SHA-256/384. HMAC (RFC 2104) is computed directly on
// pre-fetched digests: fetching an EVP_KDF or EVP_MAC per call costs more than the hashing.
#include "hkdf.h"

#include <openssl/evp.h>

#include "zquic.h"

namespace zquic {

namespace {

const EVP_MD* Md(int hash) {
  static EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  static EVP_MD* sha384 = EVP_MD_fetch(nullptr, "SHA384", nullptr);
  return hash == kSha384 ? sha384 : sha256;
}

constexpr size_t kMaxBlock = 128;

struct MdCtx {
  EVP_MD_CTX* c = EVP_MD_CTX_new();
  ~MdCtx() { EVP_MD_CTX_free(c); }
};

// HMAC(key, parts...) with up to three message parts; out gets HashLen bytes.
bool Hmac(int hash, const uint8_t* key, size_t keyLen, const uint8_t* m1, size_t l1,
          const uint8_t* m2, size_t l2, const uint8_t* m3, size_t l3, uint8_t* out) {
  const EVP_MD* md = Md(hash);
  MdCtx ctx;
  if (!md || !ctx.c) return false;
  size_t block = static_cast<size_t>(EVP_MD_get_block_size(md));
  size_t hlen = HashLen(hash);
  uint8_t k[kMaxBlock] = {};
  bool ok = true;
  if (keyLen > block) {  // RFC 2104 §2: long keys are hashed first
    ok = EVP_DigestInit_ex2(ctx.c, md, nullptr) && EVP_DigestUpdate(ctx.c, key, keyLen) &&
         EVP_DigestFinal_ex(ctx.c, k, nullptr);
  } else if (keyLen) {
    memcpy(k, key, keyLen);
  }
  uint8_t pad[kMaxBlock];
  uint8_t inner[kMaxHashLen];
  for (size_t i = 0; i < block; i++) pad[i] = k[i] ^ 0x36;
  ok = ok && EVP_DigestInit_ex2(ctx.c, md, nullptr) && EVP_DigestUpdate(ctx.c, pad, block) &&
       (!l1 || EVP_DigestUpdate(ctx.c, m1, l1)) && (!l2 || EVP_DigestUpdate(ctx.c, m2, l2)) &&
       (!l3 || EVP_DigestUpdate(ctx.c, m3, l3)) && EVP_DigestFinal_ex(ctx.c, inner, nullptr);
  for (size_t i = 0; i < block; i++) pad[i] = k[i] ^ 0x5c;
  ok = ok && EVP_DigestInit_ex2(ctx.c, md, nullptr) && EVP_DigestUpdate(ctx.c, pad, block) &&
       EVP_DigestUpdate(ctx.c, inner, hlen) && EVP_DigestFinal_ex(ctx.c, out, nullptr);
  Wipe(k, sizeof k);
  Wipe(pad, sizeof pad);
  Wipe(inner, sizeof inner);
  return ok;
}

}  // namespace

size_t HashLen(int hash) { return hash == kSha384 ? 48 : 32; }

bool HkdfExtract(int hash, const uint8_t* salt, size_t saltLen, const uint8_t* ikm, size_t ikmLen,
                 uint8_t* out) {
  // RFC 5869 §2.2: PRK = HMAC-Hash(salt, IKM); an empty salt equals HashLen zeros as an HMAC key.
  return Hmac(hash, salt, saltLen, ikm, ikmLen, nullptr, 0, nullptr, 0, out);
}

bool HkdfExpand(int hash, const uint8_t* prk, size_t prkLen, const uint8_t* info, size_t infoLen,
                uint8_t* out, size_t outLen) {
  // RFC 5869 §2.3: T(i) = HMAC(PRK, T(i-1) | info | i)
  size_t hlen = HashLen(hash);
  uint8_t t[kMaxHashLen];
  size_t tlen = 0;
  bool ok = true;
  for (uint8_t i = 1; ok && outLen > 0; i++) {
    ok = Hmac(hash, prk, prkLen, t, tlen, info, infoLen, &i, 1, t);
    tlen = hlen;
    size_t n = outLen < hlen ? outLen : hlen;
    memcpy(out, t, n);
    out += n;
    outLen -= n;
  }
  Wipe(t, sizeof t);
  return ok;
}

bool HkdfExpandLabel(int hash, const uint8_t* secret, size_t secretLen, const char* label,
                     size_t labelLen, const uint8_t* context, size_t contextLen, uint8_t* out,
                     size_t outLen) {
  // RFC 8446 §7.1: struct { uint16 length; opaque label<7..255> = "tls13 " + Label;
  // opaque context<0..255>; } HkdfLabel;
  uint8_t info[2 + 1 + 255 + 1 + 255];
  size_t n = 0;
  info[n++] = static_cast<uint8_t>(outLen >> 8);
  info[n++] = static_cast<uint8_t>(outLen);
  info[n++] = static_cast<uint8_t>(6 + labelLen);
  memcpy(info + n, "tls13 ", 6);
  n += 6;
  memcpy(info + n, label, labelLen);
  n += labelLen;
  info[n++] = static_cast<uint8_t>(contextLen);
  if (contextLen) memcpy(info + n, context, contextLen);
  n += contextLen;
  return HkdfExpand(hash, secret, secretLen, info, n, out, outLen);
}

// ---- JavaScript exports ----

namespace {

int ArgHash(napi_env env, napi_value v) {
  char s[8] = {};
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, s, sizeof s, &len) != napi_ok)
    ThrowType(env, "hash must be 'sha256' or 'sha384'");
  if (len == 6 && memcmp(s, "sha256", 6) == 0) return kSha256;
  if (len == 6 && memcmp(s, "sha384", 6) == 0) return kSha384;
  ThrowRange(env, "hash must be 'sha256' or 'sha384'");
}

// hkdfExtract(hash, salt, ikm) -> Buffer(HashLen)
napi_value JsExtract(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<3> a(env, info);
    int hash = ArgHash(env, a[0]);
    Bytes salt = ArgBytes(env, a[1], "salt");
    Bytes ikm = ArgBytes(env, a[2], "ikm");
    uint8_t* out;
    napi_value buf = NewBuffer(env, HashLen(hash), &out);
    if (!HkdfExtract(hash, salt.data, salt.length, ikm.data, ikm.length, out))
      ThrowError(env, "HKDF-Extract failed");
    return buf;
  });
}

size_t ArgPrk(napi_env env, int hash, const Bytes& b, const char* name) {
  // RFC 5869 §2.3: PRK is at least HashLen octets.
  if (b.length < HashLen(hash))
    ThrowRange(env, std::string(name) + " must be at least " + std::to_string(HashLen(hash)) +
                        " bytes long");
  return b.length;
}

// hkdfExpand(hash, prk, info, length) -> Buffer(length)
napi_value JsExpand(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<4> a(env, info);
    int hash = ArgHash(env, a[0]);
    Bytes prk = ArgBytes(env, a[1], "prk");
    ArgPrk(env, hash, prk, "prk");
    Bytes inf = ArgBytes(env, a[2], "info");
    size_t len = static_cast<size_t>(ArgInt(env, a[3], "length", 0, 255 * HashLen(hash)));
    uint8_t* out;
    napi_value buf = NewBuffer(env, len, &out);
    if (!HkdfExpand(hash, prk.data, prk.length, inf.data, inf.length, out, len))
      ThrowError(env, "HKDF-Expand failed");
    return buf;
  });
}

// hkdfExpandLabel(hash, secret, label, context, length) -> Buffer(length)
napi_value JsExpandLabel(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<5> a(env, info);
    int hash = ArgHash(env, a[0]);
    Bytes secret = ArgBytes(env, a[1], "secret");
    ArgPrk(env, hash, secret, "secret");
    std::string label = ArgString(env, a[2], "label", 249);
    Bytes context = ArgBytes(env, a[3], "context");
    if (context.length > 255) ThrowRange(env, "context must be at most 255 bytes");
    size_t maxLen = 255 * HashLen(hash);
    size_t len = static_cast<size_t>(ArgInt(env, a[4], "length", 0, maxLen));
    uint8_t* out;
    napi_value buf = NewBuffer(env, len, &out);
    if (!HkdfExpandLabel(hash, secret.data, secret.length, label.data(), label.size(),
                         context.data, context.length, out, len))
      ThrowError(env, "HKDF-Expand-Label failed");
    return buf;
  });
}

}  // namespace

void InitHkdf(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "hkdfExtract", JsExtract);
  Export(env, exports, "hkdfExpand", JsExpand);
  Export(env, exports, "hkdfExpandLabel", JsExpandLabel);
}

}  // namespace zquic
