// AEAD and header-protection contexts owned by key objects (aead.cc, header_protection.cc).
// The key schedule runs once when the key is set; per packet only the nonce/sample changes.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>

namespace zquic {

enum AeadId { kAes128Gcm = 0, kAes256Gcm = 1, kChaCha20Poly1305 = 2 };
constexpr size_t kTagLen = 16;
constexpr size_t kNonceLen = 12;
constexpr size_t kSampleLen = 16;

size_t AeadKeyLen(int aead);  // 16 | 32 | 32

// One EVP_CIPHER_CTX with the key installed; used for both sealing and opening.
class AeadCipher {
 public:
  AeadCipher() = default;
  AeadCipher(const AeadCipher&) = delete;
  AeadCipher& operator=(const AeadCipher&) = delete;
  ~AeadCipher() { Free(); }
  bool Init(int aead, const uint8_t* key);  // key: AeadKeyLen(aead) bytes
  void Free();
  bool ready() const { return ctx_ != nullptr; }
  // In place: data[0, len) is encrypted and the tag written to tag[0, 16). len <= INT_MAX.
  bool Seal(const uint8_t* nonce, const uint8_t* aad, size_t aadLen, uint8_t* data, size_t len,
            uint8_t* tag);
  // In place; false when authentication fails (data then holds unauthenticated garbage).
  bool Open(const uint8_t* nonce, const uint8_t* aad, size_t aadLen, uint8_t* data, size_t len,
            const uint8_t* tag);

 private:
  EVP_CIPHER_CTX* ctx_ = nullptr;
};

// RFC 9001 §5.4.3 (AES-ECB) and §5.4.4 (ChaCha20) header protection masks.
class HeaderProtector {
 public:
  HeaderProtector() = default;
  HeaderProtector(const HeaderProtector&) = delete;
  HeaderProtector& operator=(const HeaderProtector&) = delete;
  ~HeaderProtector() { Free(); }
  bool Init(int aead, const uint8_t* key);  // key: AeadKeyLen(aead) bytes
  void Free();
  // mask[0, 5) from sample[0, 16)
  bool Mask(const uint8_t* sample, uint8_t* mask);

 private:
  EVP_CIPHER_CTX* ctx_ = nullptr;
  bool chacha_ = false;
};

}  // namespace zquic
