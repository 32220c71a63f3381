// The reuseport group (udp_group.h).
#ifdef __linux__

#include "udp_group.h"

#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <unistd.h>

#include <memory>

namespace zquic {
namespace udp {

const napi_type_tag UdpGroup::kTag = {0x7a717569635f7564ULL, 0x705f67726f757073ULL};

UdpGroup* UdpGroup::Bind(napi_env env, BindOptions o, size_t count) {
  std::unique_ptr<UdpGroup> g(new UdpGroup());
  g->fds_.reserve(count);
  o.reusePort = true;
  // GRO merges a 4-tuple's datagrams before the steering program runs on the first of them:
  // several connections from one client socket would reach the first one's worker.
  o.gro = count == 1;
  for (size_t i = 0; i < count; i++) {
    g->fds_.push_back(BindSocket(env, o));  // a throw closes the others (~UdpGroup)
    if (i > 0) continue;
    Endpoint bound;
    bound.len = sizeof bound.ss;
    if (getsockname(g->fds_[0], reinterpret_cast<sockaddr*>(&bound.ss), &bound.len) != 0)
      throw Napi::Error(env, SysError(env, errno, "getsockname", nullptr, 0));
    // Port 0 picked one: the others join it.
    uint16_t port = bound.ss.ss_family == AF_INET6
                        ? reinterpret_cast<sockaddr_in6*>(&bound.ss)->sin6_port
                        : reinterpret_cast<sockaddr_in*>(&bound.ss)->sin_port;
    if (o.local.ss.ss_family == AF_INET6)
      reinterpret_cast<sockaddr_in6*>(&o.local.ss)->sin6_port = port;
    else
      reinterpret_cast<sockaddr_in*>(&o.local.ss)->sin_port = port;
  }
  return g.release();
}

void UdpGroup::Steer(napi_env env, const sock_filter* program, size_t length) {
  sock_fprog prog{static_cast<unsigned short>(length), const_cast<sock_filter*>(program)};
  if (setsockopt(fds_[0], SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) != 0)
    throw Napi::Error(env, SysError(env, errno, "setsockopt", nullptr, 0));
}

void UdpGroup::Release() {
  for (int fd : fds_) close(fd);
  fds_.clear();
}

}  // namespace udp
}  // namespace zquic

#endif  // __linux__
