// Module entry point: each native/*.cc registers its exports here.
#include <napi.h>

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  return exports;
}

NODE_API_MODULE(zquic, Init)
