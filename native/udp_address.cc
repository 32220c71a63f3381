// IP literals to socket addresses and back, and Node-style system errors (udp_address.h).
#include "udp_address.h"

#include <arpa/inet.h>
#include <uv.h>

namespace zquic {
namespace udp {

int ParseEndpoint(const std::string& ip, uint16_t port, bool v6Socket, Endpoint* out) {
  *out = Endpoint();
  in_addr a4;
  in6_addr a6;
  if (inet_pton(AF_INET, ip.c_str(), &a4) == 1) {
    if (v6Socket) {
      auto* s6 = reinterpret_cast<sockaddr_in6*>(&out->ss);
      s6->sin6_family = AF_INET6;
      s6->sin6_port = htons(port);
      s6->sin6_addr.s6_addr[10] = 0xff;
      s6->sin6_addr.s6_addr[11] = 0xff;
      memcpy(&s6->sin6_addr.s6_addr[12], &a4, 4);
      out->len = sizeof(sockaddr_in6);
    } else {
      auto* s4 = reinterpret_cast<sockaddr_in*>(&out->ss);
      s4->sin_family = AF_INET;
      s4->sin_port = htons(port);
      s4->sin_addr = a4;
      out->len = sizeof(sockaddr_in);
    }
    return AF_INET;
  }
  if (inet_pton(AF_INET6, ip.c_str(), &a6) == 1) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&out->ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    s6->sin6_addr = a6;
    out->len = sizeof(sockaddr_in6);
    return AF_INET6;
  }
  return 0;
}

namespace {

void SetString(napi_env env, napi_value obj, const char* key, const char* value) {
  napi_value v;
  if (napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v) != napi_ok ||
      napi_set_named_property(env, obj, key, v) != napi_ok)
    ThrowError(env, "cannot build an address");
}

void SetNumber(napi_env env, napi_value obj, const char* key, double value) {
  if (napi_set_named_property(env, obj, key, NewNumber(env, value)) != napi_ok)
    ThrowError(env, "cannot build an address");
}

// The text, port and family of `sa`; false for an unknown family or a short length.
bool Format(const sockaddr* sa, socklen_t len, char (&text)[INET6_ADDRSTRLEN], uint16_t* port,
            bool* v6) {
  if (sa == nullptr) return false;
  if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    auto* s4 = reinterpret_cast<const sockaddr_in*>(sa);
    *port = ntohs(s4->sin_port);
    *v6 = false;
    return inet_ntop(AF_INET, &s4->sin_addr, text, sizeof text) != nullptr;
  }
  if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    auto* s6 = reinterpret_cast<const sockaddr_in6*>(sa);
    *port = ntohs(s6->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
      *v6 = false;
      return inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], text, sizeof text) != nullptr;
    }
    *v6 = true;
    return inet_ntop(AF_INET6, &s6->sin6_addr, text, sizeof text) != nullptr;
  }
  return false;
}

}  // namespace

napi_value EndpointToJs(napi_env env, const sockaddr* sa, socklen_t len) {
  char text[INET6_ADDRSTRLEN];
  uint16_t port = 0;
  bool v6 = false;
  if (!Format(sa, len, text, &port, &v6)) return Null(env);
  napi_value obj;
  if (napi_create_object(env, &obj) != napi_ok) ThrowError(env, "cannot build an address");
  SetString(env, obj, "address", text);
  SetNumber(env, obj, "port", port);
  SetString(env, obj, "family", v6 ? "IPv6" : "IPv4");
  return obj;
}

napi_value SysError(napi_env env, int err, const char* syscall, const sockaddr* sa,
                    socklen_t len) {
  // On Unix libuv's error codes are the negated errno values.
  const char* code = uv_err_name(-err);
  char text[INET6_ADDRSTRLEN];
  uint16_t port = 0;
  bool v6 = false;
  bool named = Format(sa, len, text, &port, &v6);
  std::string message = std::string(syscall) + " " + code;
  if (named) message += " " + std::string(text) + ":" + std::to_string(port);
  napi_value msg, error;
  if (napi_create_string_utf8(env, message.c_str(), message.size(), &msg) != napi_ok ||
      napi_create_error(env, nullptr, msg, &error) != napi_ok)
    ThrowError(env, "cannot build an error");
  SetString(env, error, "code", code);
  SetNumber(env, error, "errno", -err);
  SetString(env, error, "syscall", syscall);
  if (named) {
    SetString(env, error, "address", text);
    SetNumber(env, error, "port", port);
  }
  return error;
}

}  // namespace udp
}  // namespace zquic
