// A reuseport group (Linux SO_REUSEPORT): N UDP sockets bound to one address, one per worker
// thread, and the classic BPF program that picks the socket of each datagram
// (SO_ATTACH_REUSEPORT_CBPF). The group holds the sockets for its whole life, so a socket's
// index in the kernel's group never changes while workers come and go (each polls its own
// duplicate, udp_socket.h Adopt). The program itself is built in lib/net/steering.ts: no
// protocol logic here.
#pragma once

#include <vector>

#include "udp_socket.h"

struct sock_filter;

namespace zquic {
namespace udp {

class UdpGroup {
 public:
  static const napi_type_tag kTag;
  static constexpr const char* kName = "UdpGroup";

  // Binds `count` sockets in order (index i is the kernel's i-th member); with port 0 the first
  // one's port is used for the rest. Throws on a failing system call (nothing stays open).
  static UdpGroup* Bind(napi_env env, BindOptions options, size_t count);
  ~UdpGroup() { Release(); }

  bool live() const { return !fds_.empty(); }
  const std::vector<int>& fds() const { return fds_; }
  // Attaches the program to the group (through its first socket: it applies to all).
  void Steer(napi_env env, const sock_filter* program, size_t length);
  void Release();

 private:
  UdpGroup() = default;
  std::vector<int> fds_;
};

}  // namespace udp
}  // namespace zquic
