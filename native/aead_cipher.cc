// AeadCipher: AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305 with the key installed once; each
// packet sets only the 12-byte nonce (RFC 9001 §5.3), then AAD, payload, tag.
#include <openssl/err.h>
#include <openssl/evp.h>

#include <climits>
#include <cstring>

#include "cipher.h"

namespace zquic {

namespace {
EVP_CIPHER* Fetch(int aead) {
  static EVP_CIPHER* aes128 = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
  static EVP_CIPHER* aes256 = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  static EVP_CIPHER* chacha = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  return aead == kAes128Gcm ? aes128 : aead == kAes256Gcm ? aes256 : chacha;
}
}  // namespace

size_t AeadKeyLen(int aead) { return aead == kAes128Gcm ? 16 : 32; }

bool AeadCipher::Init(int aead, const uint8_t* key) {
  Free();
  EVP_CIPHER* cipher = Fetch(aead);
  if (!cipher) return false;
  ctx_ = EVP_CIPHER_CTX_new();
  if (!ctx_ || !EVP_EncryptInit_ex(ctx_, cipher, nullptr, key, nullptr)) {
    Free();
    return false;
  }
  return true;
}

void AeadCipher::Free() {
  EVP_CIPHER_CTX_free(ctx_);  // the provider wipes the key schedule
  ctx_ = nullptr;
}

bool AeadCipher::Seal(const uint8_t* nonce, const uint8_t* aad, size_t aadLen, uint8_t* data,
                      size_t len, uint8_t* tag) {
  int n = 0;
  if (len > INT_MAX || aadLen > INT_MAX) return false;
  return EVP_CipherInit_ex(ctx_, nullptr, nullptr, nullptr, nonce, 1) &&
         (!aadLen || EVP_CipherUpdate(ctx_, nullptr, &n, aad, static_cast<int>(aadLen))) &&
         (!len || EVP_CipherUpdate(ctx_, data, &n, data, static_cast<int>(len))) &&
         EVP_CipherFinal_ex(ctx_, data + len, &n) &&
         EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, kTagLen, tag);
}

bool AeadCipher::Open(const uint8_t* nonce, const uint8_t* aad, size_t aadLen, uint8_t* data,
                      size_t len, const uint8_t* tag) {
  int n = 0;
  if (len > INT_MAX || aadLen > INT_MAX) return false;
  bool ok =
      EVP_CipherInit_ex(ctx_, nullptr, nullptr, nullptr, nonce, 0) &&
      (!aadLen || EVP_CipherUpdate(ctx_, nullptr, &n, aad, static_cast<int>(aadLen))) &&
      (!len || EVP_CipherUpdate(ctx_, data, &n, data, static_cast<int>(len))) &&
      EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_TAG, kTagLen, const_cast<uint8_t*>(tag)) &&
      EVP_CipherFinal_ex(ctx_, data + len, &n) > 0;
  if (!ok) ERR_clear_error();  // a forged packet must not leave errors for Node's crypto
  return ok;
}

}  // namespace zquic
