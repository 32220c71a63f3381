// PacketKey: key derivation (RFC 9001 §5.1, RFC 9369 §3.3.2) and whole-packet
// protect/unprotect (RFC 9001 §5.3-5.4) on validated arguments.
#include "packet_key.h"

namespace zquic {

const napi_type_tag PacketKey::kTag = {0x7a71756963504b45ULL, 0x59b01c5e3f8a2d77ULL};

void PacketKey::Release() {
  cipher.Free();
  hp.Free();
  secret.Clear();
  hpKey.Clear();
  Wipe(iv, sizeof iv);
}

bool PacketKey::Init(int aeadId, int hashId, const uint8_t* s, size_t sLen,
                     const std::string& prefix, const PacketKey* hpFrom) {
  aead = aeadId;
  hash = hashId;
  labelPrefix = prefix;
  if (sLen > sizeof secret.b) return false;
  memcpy(secret.b, s, sLen);
  secret.len = sLen;
  size_t keyLen = AeadKeyLen(aead);
  Secret<32> key;
  std::string kLabel = prefix + "key", ivLabel = prefix + "iv", hpLabel = prefix + "hp";
  bool ok = HkdfExpandLabel(hash, s, sLen, kLabel.data(), kLabel.size(), nullptr, 0, key.b,
                            keyLen) &&
            HkdfExpandLabel(hash, s, sLen, ivLabel.data(), ivLabel.size(), nullptr, 0, iv,
                            kNonceLen);
  if (hpFrom) {
    memcpy(hpKey.b, hpFrom->hpKey.b, keyLen);
  } else {
    ok = ok && HkdfExpandLabel(hash, s, sLen, hpLabel.data(), hpLabel.size(), nullptr, 0,
                               hpKey.b, keyLen);
  }
  hpKey.len = keyLen;
  ok = ok && cipher.Init(aead, key.b) && hp.Init(aead, hpKey.b);
  if (!ok) Release();
  return ok;
}

bool PacketKey::Protect(uint8_t* p, size_t headerLen, size_t pnLen, size_t payloadLen,
                        uint64_t pn) {
  uint8_t nonce[kNonceLen];
  Nonce(pn, nonce);
  uint8_t* payload = p + headerLen;
  if (!cipher.Seal(nonce, p, headerLen, payload, payloadLen, payload + payloadLen)) return false;
  // RFC 9001 §5.4.2: the sample starts 4 bytes after the start of the packet number.
  size_t pnOffset = headerLen - pnLen;
  uint8_t mask[5];
  if (!hp.Mask(p + pnOffset + 4, mask)) return false;
  // RFC 9001 §5.4.1: 4 bits masked in long headers, 5 in short headers.
  p[0] ^= mask[0] & ((p[0] & 0x80) ? 0x0f : 0x1f);
  for (size_t i = 0; i < pnLen; i++) p[pnOffset + i] ^= mask[1 + i];
  return true;
}

double PacketKey::Unprotect(uint8_t* p, size_t len, size_t pnOffset, int64_t largestPn,
                            int keyPhase) {
  // RFC 9001 §5.4.2: the sample must fit in the packet (4 bytes for the packet number, 16).
  if (pnOffset > len || len - pnOffset < 4 + kSampleLen) return kUnprotectMalformed;
  uint8_t mask[5];
  if (!hp.Mask(p + pnOffset + 4, mask)) return kUnprotectMalformed;
  bool longHeader = (p[0] & 0x80) != 0;
  p[0] ^= mask[0] & (longHeader ? 0x0f : 0x1f);
  size_t pnLen = (p[0] & 0x03) + 1;
  uint64_t truncated = 0;
  for (size_t i = 0; i < pnLen; i++) {
    p[pnOffset + i] ^= mask[1 + i];
    truncated = (truncated << 8) | p[pnOffset + i];
  }
  uint64_t pn = DecodePacketNumber(largestPn, truncated, static_cast<unsigned>(pnLen * 8));
  if (pn > static_cast<uint64_t>(kMaxSafeInteger)) return kUnprotectMalformed;
  // RFC 9001 §6: the Key Phase bit (0x04) exists only in short headers.
  if (keyPhase >= 0 && !longHeader && ((p[0] >> 2) & 1) != keyPhase) return kUnprotectKeyPhase;
  return Open(p, pnOffset + pnLen, len, pn) ? static_cast<double>(pn) : kUnprotectAuthFailed;
}

bool PacketKey::Open(uint8_t* p, size_t headerLen, size_t len, uint64_t pn) {
  if (headerLen > len || len - headerLen < kTagLen) return false;
  uint8_t nonce[kNonceLen];
  Nonce(pn, nonce);
  size_t payloadLen = len - headerLen - kTagLen;
  return cipher.Open(nonce, p, headerLen, p + headerLen, payloadLen, p + len - kTagLen);
}

uint64_t DecodePacketNumber(int64_t largestPn, uint64_t truncated, unsigned bits) {
  // RFC 9000 Appendix A.3 (largestPn = -1 when nothing has been received yet).
  uint64_t expected = static_cast<uint64_t>(largestPn + 1);
  uint64_t win = uint64_t{1} << bits;
  uint64_t hwin = win / 2;
  uint64_t mask = win - 1;
  uint64_t candidate = (expected & ~mask) | truncated;
  if (candidate + hwin <= expected && candidate < (uint64_t{1} << 62) - win) return candidate + win;
  if (candidate > expected + hwin && candidate >= win) return candidate - win;
  return candidate;
}

}  // namespace zquic
