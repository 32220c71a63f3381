// Module entry point: each native/*.cc exposes one InitXxx(env, exports) (declared in zquic.h)
// and is registered below with one line.
#include "zquic.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  zquic::InitHkdf(env, exports);
  zquic::InitAead(env, exports);
  zquic::InitPacket(env, exports);
  zquic::InitX25519(env, exports);
  zquic::InitMlKem(env, exports);
  zquic::InitUdp(env, exports);
  zquic::InitMemory(env, exports);
  return exports;
}

NODE_API_MODULE(zquic, Init)
