// QUIC packet protection keys (RFC 9001 §5) and the per-packet operations shared by the
// single-call and batch exports (packet.cc, packet_batch.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "cipher.h"
#include "hkdf.h"
#include "zquic.h"

namespace zquic {

// Unprotect results (negative); >= 0 is the packet number.
constexpr double kUnprotectMalformed = -1;
constexpr double kUnprotectAuthFailed = -2;
constexpr double kUnprotectKeyPhase = -3;

struct PacketKey {
  static const napi_type_tag kTag;
  static constexpr const char* kName = "PacketKey";

  int aead = kAes128Gcm;
  int hash = kSha256;
  std::string labelPrefix;       // "quic " (v1) or "quicv2 " (RFC 9369 §3.3.2)
  Secret<kMaxHashLen> secret;    // the traffic secret, kept for the next key phase
  Secret<32> hpKey;              // kept across key updates (RFC 9001 §6.1)
  uint8_t iv[kNonceLen] = {};
  AeadCipher cipher;
  HeaderProtector hp;

  ~PacketKey() { Release(); }
  bool live() const { return cipher.ready(); }
  void Release();
  // Derives key/iv (and hp unless hpFrom is given) from secret. False on OpenSSL failure.
  bool Init(int aeadId, int hashId, const uint8_t* secret, size_t secretLen,
            const std::string& prefix, const PacketKey* hpFrom);

  // RFC 9001 §5.3: nonce = iv XOR left-padded packet number.
  void Nonce(uint64_t pn, uint8_t* nonce) const {
    memcpy(nonce, iv, kNonceLen);
    for (int i = 0; i < 8; i++) nonce[kNonceLen - 1 - i] ^= static_cast<uint8_t>(pn >> (8 * i));
  }

  // p = packet start; arguments already validated by the caller. False on OpenSSL failure.
  bool Protect(uint8_t* p, size_t headerLen, size_t pnLen, size_t payloadLen, uint64_t pn);
  // p = packet start, len = packet length; returns pn or a kUnprotect* code.
  double Unprotect(uint8_t* p, size_t len, size_t pnOffset, int64_t largestPn, int keyPhase);
  bool Open(uint8_t* p, size_t headerLen, size_t len, uint64_t pn);
};

// A packet to protect in buf, from the arguments (buf, start, headerLength, pnLength,
// payloadLength) at a[first..first+4], each checked (packet.cc). The sample of RFC 9001 §5.4.2
// and the tag fit; the first byte is not looked at.
struct ProtectArgs {
  uint8_t* p;  // the packet's first byte
  size_t headerLength, pnLength, payloadLength;
};
ProtectArgs ArgProtect(napi_env env, const napi_value* a);

// Batch exports and the benchmark loop (packet_batch.cc), registered by InitPacket.
void InitPacketBatch(Napi::Env env, Napi::Object exports);

// RFC 9000 Appendix A.3.
uint64_t DecodePacketNumber(int64_t largestPn, uint64_t truncated, unsigned bits);

}  // namespace zquic
