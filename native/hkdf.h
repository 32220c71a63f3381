// HMAC and HKDF (RFC 2104, RFC 5869, RFC 8446 §7.1) over SHA-256/384, for hkdf.cc and
// packet.cc. Digests are fetched once; no per-call algorithm lookup.
#pragma once

#include <cstddef>
#include <cstdint>

namespace zquic {

enum HashId { kSha256 = 0, kSha384 = 1 };
constexpr size_t kMaxHashLen = 48;

size_t HashLen(int hash);

// out receives HashLen(hash) bytes. Returns false only on an OpenSSL failure.
bool HkdfExtract(int hash, const uint8_t* salt, size_t saltLen, const uint8_t* ikm, size_t ikmLen,
                 uint8_t* out);
// outLen <= 255 * HashLen(hash) (the caller checks).
bool HkdfExpand(int hash, const uint8_t* prk, size_t prkLen, const uint8_t* info, size_t infoLen,
                uint8_t* out, size_t outLen);
// RFC 8446 §7.1 HKDF-Expand-Label: label without the "tls13 " prefix (labelLen <= 249),
// contextLen <= 255, outLen <= 65535.
bool HkdfExpandLabel(int hash, const uint8_t* secret, size_t secretLen, const char* label,
                     size_t labelLen, const uint8_t* context, size_t contextLen, uint8_t* out,
                     size_t outLen);

}  // namespace zquic
