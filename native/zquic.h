// Shared helpers for the zquic addon: argument checks that throw TypeError/RangeError naming
// the argument, bounds-checked typed-array access, opaque native handles, secure wiping.
// Every native file registers its exports with one InitXxx(env, exports) declared here and
// called from addon.cc.
#pragma once

#include <napi.h>
#include <openssl/crypto.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>

namespace zquic {

// --- registration (one line per native file in addon.cc) ---
void InitHkdf(Napi::Env env, Napi::Object exports);
void InitAead(Napi::Env env, Napi::Object exports);
void InitPacket(Napi::Env env, Napi::Object exports);
void InitX25519(Napi::Env env, Napi::Object exports);
void InitMlKem(Napi::Env env, Napi::Object exports);  // mlkem.cc (+ mlkem_openssl.cc, mlkem_liboqs.cc)
void InitUdp(Napi::Env env, Napi::Object exports);    // udp_exports.cc (+ udp_socket.cc, udp_address.cc)
void InitMemory(Napi::Env env, Napi::Object exports);  // memory.cc

// --- errors ---
[[noreturn]] inline void ThrowType(napi_env env, const std::string& msg) {
  throw Napi::TypeError::New(env, msg);
}
[[noreturn]] inline void ThrowRange(napi_env env, const std::string& msg) {
  throw Napi::RangeError::New(env, msg);
}
[[noreturn]] inline void ThrowError(napi_env env, const std::string& msg) {
  throw Napi::Error::New(env, msg);
}

// Raw napi callbacks (used on the hot path: no CallbackInfo/vector allocation) run their body
// through Guard, which turns a thrown Napi::Error into a pending JavaScript exception.
// If a JavaScript exception is already pending (e.g. an array getter threw inside
// napi_get_element), that one propagates and ours is dropped.
template <typename F>
inline napi_value Guard(napi_env env, F&& body) {
  bool pending = false;
  try {
    return body();
  } catch (const Napi::Error& e) {
    if (napi_is_exception_pending(env, &pending) == napi_ok && !pending) napi_throw(env, e.Value());
  } catch (const std::exception& e) {
    if (napi_is_exception_pending(env, &pending) == napi_ok && !pending)
      napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}

// Reads up to N arguments; missing ones are `undefined`.
template <size_t N>
struct Args {
  napi_value v[N];
  size_t count = N;
  Args(napi_env env, napi_callback_info info) {
    napi_status s = napi_get_cb_info(env, info, &count, v, nullptr, nullptr);
    if (s != napi_ok) ThrowError(env, "cannot read arguments");
    if (count < N) {
      napi_value undef;
      napi_get_undefined(env, &undef);
      for (size_t i = count; i < N; i++) v[i] = undef;
    }
  }
  napi_value operator[](size_t i) const { return v[i]; }
};

// --- numbers ---
// Largest integer a JS number holds exactly (2^53 - 1).
constexpr double kMaxSafeInteger = 9007199254740991.0;

inline double ArgNumber(napi_env env, napi_value v, const char* name) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok)
    ThrowType(env, std::string(name) + " must be a number");
  return d;
}

// An integer in [min, max]; NaN, infinities and fractions are RangeErrors.
inline int64_t ArgInt(napi_env env, napi_value v, const char* name, int64_t min, int64_t max) {
  double d = ArgNumber(env, v, name);
  if (!(d >= static_cast<double>(min) && d <= static_cast<double>(max)) || std::trunc(d) != d)
    ThrowRange(env, std::string(name) + " must be an integer in [" + std::to_string(min) + ", " +
                        std::to_string(max) + "]");
  return static_cast<int64_t>(d);
}

// Same check for a value already read as a double (e.g. from a Float64Array descriptor).
inline bool IsIntIn(double d, double min, double max) {
  return d >= min && d <= max && std::trunc(d) == d;
}

// --- byte views ---
struct Bytes {
  uint8_t* data;
  size_t length;
};

// A typed array of the given type, not detached and not backed by a SharedArrayBuffer (whose
// bytes another thread could change while we read them). data is never null.
inline Bytes ArgTypedArray(napi_env env, napi_value v, const char* name, napi_typedarray_type want,
                           const char* typeName) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is)
    ThrowType(env, std::string(name) + " must be a " + typeName);
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset) != napi_ok ||
      type != want)
    ThrowType(env, std::string(name) + " must be a " + typeName);
  bool isAb = false;
  if (napi_is_arraybuffer(env, ab, &isAb) != napi_ok || !isAb)
    ThrowType(env, std::string(name) + " must not be backed by a SharedArrayBuffer");
  bool detached = false;
  if (napi_is_detached_arraybuffer(env, ab, &detached) != napi_ok || detached)
    ThrowType(env, std::string(name) + " is backed by a detached ArrayBuffer");
  static uint8_t empty[1];
  size_t elem = want == napi_float64_array ? 8 : 1;
  return Bytes{data ? static_cast<uint8_t*>(data) : empty, data ? length * elem : 0};
}

inline Bytes ArgBytes(napi_env env, napi_value v, const char* name) {
  return ArgTypedArray(env, v, name, napi_uint8_array, "Uint8Array");
}

// A Uint8Array whose length is exactly `len`.
inline Bytes ArgBytesLen(napi_env env, napi_value v, const char* name, size_t len) {
  Bytes b = ArgBytes(env, v, name);
  if (b.length != len)
    ThrowRange(env, std::string(name) + " must be " + std::to_string(len) + " bytes long");
  return b;
}

// A Float64Array viewed as doubles (count = number of elements).
struct Doubles {
  double* data;
  size_t count;
};
inline Doubles ArgFloat64(napi_env env, napi_value v, const char* name) {
  Bytes b = ArgTypedArray(env, v, name, napi_float64_array, "Float64Array");
  return Doubles{reinterpret_cast<double*>(b.data), b.length / 8};
}

inline std::string ArgString(napi_env env, napi_value v, const char* name, size_t maxLen) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok)
    ThrowType(env, std::string(name) + " must be a string");
  if (len > maxLen)
    ThrowRange(env, std::string(name) + " must be at most " + std::to_string(maxLen) + " bytes");
  std::string s(len, '\0');
  napi_get_value_string_utf8(env, v, s.data(), len + 1, &len);
  return s;
}

// --- results ---
inline napi_value NewBuffer(napi_env env, size_t len, uint8_t** data) {
  napi_value out;
  void* p = nullptr;
  if (napi_create_buffer(env, len, &p, &out) != napi_ok) ThrowError(env, "out of memory");
  *data = static_cast<uint8_t*>(p);
  return out;
}
inline napi_value NewBufferCopy(napi_env env, const uint8_t* src, size_t len) {
  uint8_t* p;
  napi_value out = NewBuffer(env, len, &p);
  if (len) memcpy(p, src, len);
  return out;
}
inline napi_value NewNumber(napi_env env, double d) {
  napi_value out;
  napi_create_double(env, d, &out);
  return out;
}
inline napi_value NewBool(napi_env env, bool b) {
  napi_value out;
  napi_get_boolean(env, b, &out);
  return out;
}
inline napi_value Undefined(napi_env env) {
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}
inline napi_value Null(napi_env env) {
  napi_value out;
  napi_get_null(env, &out);
  return out;
}

// --- secrets ---
inline void Wipe(void* p, size_t n) {
  if (p && n) OPENSSL_cleanse(p, n);
}

// Fixed-size secret storage wiped on destruction.
template <size_t N>
struct Secret {
  uint8_t b[N] = {};
  size_t len = 0;
  ~Secret() { Wipe(b, sizeof b); }
  void Clear() {
    Wipe(b, sizeof b);
    len = 0;
  }
};

// --- opaque native handles ---
// A native object is handed to JavaScript as an External tagged with its type (N-API type tags
// prevent passing one kind of handle, or a foreign External, where another is expected).
// T provides: static const napi_type_tag kTag; static constexpr const char* kName;
// bool live() const; void Release() (frees and wipes; also called by the destructor).
template <typename T>
napi_value WrapHandle(napi_env env, T* obj) {
  napi_value ext;
  napi_status s = napi_create_external(
      env, obj, [](napi_env, void* data, void*) { delete static_cast<T*>(data); }, nullptr, &ext);
  if (s != napi_ok) {
    delete obj;
    ThrowError(env, "cannot create native handle");
  }
  if (napi_type_tag_object(env, ext, &T::kTag) != napi_ok)
    ThrowError(env, "cannot tag native handle");
  return ext;
}

// The handle's object, which may already be released (destroyed).
template <typename T>
T* ArgHandleAny(napi_env env, napi_value v, const char* name) {
  napi_valuetype t;
  bool ok = false;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_check_object_type_tag(env, v, &T::kTag, &ok) != napi_ok || !ok)
    ThrowType(env, std::string(name) + " must be a native " + T::kName);
  void* p = nullptr;
  napi_get_value_external(env, v, &p);
  return static_cast<T*>(p);
}

// The handle's object; a destroyed one is an Error.
template <typename T>
T* ArgHandle(napi_env env, napi_value v, const char* name) {
  T* obj = ArgHandleAny<T>(env, v, name);
  if (!obj->live()) ThrowError(env, std::string(T::kName) + " has been destroyed");
  return obj;
}

// Registers a raw napi callback as exports[name].
inline void Export(Napi::Env env, Napi::Object exports, const char* name, napi_callback cb) {
  napi_value fn;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn) != napi_ok)
    throw Napi::Error::New(env, std::string("cannot export ") + name);
  exports.Set(name, Napi::Value(env, fn));
}

}  // namespace zquic
