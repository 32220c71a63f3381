// Socket addresses for the native UDP socket (udp_socket.cc): IP literals to sockaddr and back,
// and Node-style system errors ({code, errno, syscall, address, port}).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

#include "zquic.h"

namespace zquic {
namespace udp {

// A socket address with its length; zero-filled so that two equal addresses compare equal
// byte for byte (SameEndpoint).
struct Endpoint {
  sockaddr_storage ss;
  socklen_t len = 0;
  Endpoint() { memset(&ss, 0, sizeof ss); }
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&ss); }
};

inline bool SameEndpoint(const Endpoint& a, const Endpoint& b) {
  return a.len == b.len && memcmp(&a.ss, &b.ss, a.len) == 0;
}

// Parses an IP literal (no DNS, no scope id) and a port into `out`. On an IPv6 socket an IPv4
// literal becomes the v4-mapped ::ffff:a.b.c.d (RFC 4291 §2.5.5.2), which a dual-stack socket
// sends as IPv4. Returns AF_INET or AF_INET6 (the literal's own family), or 0 if `ip` is not
// an IP literal.
int ParseEndpoint(const std::string& ip, uint16_t port, bool v6Socket, Endpoint* out);

// {address, port, family} as lib/quic/path.ts's Address; a v4-mapped IPv6 address is
// reported as the plain IPv4 address it stands for. Null for a family other than IPv4/IPv6.
napi_value EndpointToJs(napi_env env, const sockaddr* sa, socklen_t len);

// An Error like Node's system errors: message "<syscall> <CODE>[ <address>:<port>]" and the
// properties code ('EADDRINUSE'...), errno (negative, as Node reports it), syscall and, when
// `sa` is given, address and port.
napi_value SysError(napi_env env, int err, const char* syscall, const sockaddr* sa = nullptr,
                    socklen_t len = 0);

}  // namespace udp
}  // namespace zquic
