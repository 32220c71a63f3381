// Header protection masks (RFC 9001 §5.4). The ECB context is keyed once; ChaCha20 takes the
// sample as its IV: OpenSSL's 16-byte ChaCha20 IV is a 4-byte little-endian block counter
// followed by the 12-byte nonce, exactly counter = sample[0..4], nonce = sample[4..16].
#include <openssl/evp.h>

#include <cstring>

#include "cipher.h"

namespace zquic {

namespace {
EVP_CIPHER* Fetch(int aead) {
  static EVP_CIPHER* aes128 = EVP_CIPHER_fetch(nullptr, "AES-128-ECB", nullptr);
  static EVP_CIPHER* aes256 = EVP_CIPHER_fetch(nullptr, "AES-256-ECB", nullptr);
  static EVP_CIPHER* chacha = EVP_CIPHER_fetch(nullptr, "ChaCha20", nullptr);
  return aead == kAes128Gcm ? aes128 : aead == kAes256Gcm ? aes256 : chacha;
}
}  // namespace

bool HeaderProtector::Init(int aead, const uint8_t* key) {
  Free();
  EVP_CIPHER* cipher = Fetch(aead);
  if (!cipher) return false;
  chacha_ = aead == kChaCha20Poly1305;
  ctx_ = EVP_CIPHER_CTX_new();
  if (!ctx_ || !EVP_EncryptInit_ex(ctx_, cipher, nullptr, key, nullptr) ||
      (!chacha_ && !EVP_CIPHER_CTX_set_padding(ctx_, 0))) {
    Free();
    return false;
  }
  return true;
}

void HeaderProtector::Free() {
  EVP_CIPHER_CTX_free(ctx_);  // the provider wipes the key schedule
  ctx_ = nullptr;
}

bool HeaderProtector::Mask(const uint8_t* sample, uint8_t* mask) {
  int n = 0;
  if (chacha_) {
    static const uint8_t zeros[5] = {};
    return EVP_EncryptInit_ex(ctx_, nullptr, nullptr, nullptr, sample) &&
           EVP_EncryptUpdate(ctx_, mask, &n, zeros, 5);
  }
  uint8_t block[16];
  if (!EVP_EncryptUpdate(ctx_, block, &n, sample, 16) || n != 16) return false;
  memcpy(mask, block, 5);
  return true;
}

}  // namespace zquic
