// The native batched UDP socket (Linux): recvmmsg with UDP_GRO, sendmmsg with UDP_SEGMENT,
// ECN through IP_TOS / IPV6_TCLASS, ICMP errors through IP_RECVERR / IPV6_RECVERR, polled on
// Node's own libuv loop. udp_socket.cc holds the socket, udp_exports.cc its N-API functions
// (typed in lib/crypto/native.ts, wrapped by lib/net/udp-socket.ts). No protocol logic here.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <deque>
#include <memory>
#include <vector>

#include "udp_address.h"

namespace zquic {
namespace udp {

// One datagram to send: bytes (borrowed for the length of a call), destination, ECN codepoint,
// and its flow (the peer index of its descriptor): one GSO message never spans two flows. On
// loopback a GSO message reaches the receiver whole, and a reuseport group steers it as a whole
// by its first datagram (udp_group.h): datagrams of two connections must not share one.
struct Datagram {
  const uint8_t* data;
  uint32_t length;
  const Endpoint* dest;
  uint8_t ecn;
  uint32_t flow;
};

struct Stats {
  double datagramsSent = 0, bytesSent = 0, datagramsReceived = 0, bytesReceived = 0;
  double sendSyscalls = 0, recvSyscalls = 0, gsoMessages = 0, groMessages = 0, eagain = 0;
  double queueDrops = 0, sendErrors = 0, truncated = 0;
  int recvBufferSize = 0, sendBufferSize = 0;
};

struct BindOptions {
  Endpoint local;
  int family;  // AF_INET or AF_INET6: the family of the bound address
  bool ipv6Only;
  bool reusePort;
  // UDP_GRO (default on). Off for a steered reuseport group: the kernel coalesces a flow's
  // datagrams before the steering program sees them, and one client socket may carry
  // connections owned by different workers.
  bool gro = true;
  int recvBufferSize;
  int sendBufferSize;
  size_t sendQueueSize;  // bytes of datagrams the native queue may hold while blocked
};

// Creates, configures (buffers, ECN, ICMP errors, GRO) and binds a non-blocking socket; returns
// its fd. Throws a Napi::Error made by SysError on a failing system call.
int BindSocket(napi_env env, const BindOptions& options);

class UdpSocket {
 public:
  static const napi_type_tag kTag;
  static constexpr const char* kName = "UdpSocket";

  // Creates, configures and binds the socket and starts polling; throws a Napi::Error made by
  // SysError on a failing system call. `emit` is called as emit(kind, ...) (see Emit).
  static UdpSocket* Open(napi_env env, const BindOptions& options, napi_value emit);
  // Polls its own duplicate of `fd`, a bound UDP socket of this process (one of a UdpGroup,
  // handed to a worker thread); whoever owns `fd` keeps it.
  static UdpSocket* Adopt(napi_env env, int fd, size_t sendQueueSize, napi_value emit);
  // The External handed to JavaScript, held strongly until Close (an open socket is never
  // collected). The object is deleted once both the External is finalized and the libuv
  // handle is closed, whichever comes last.
  napi_value Wrap();

  bool live() const { return !closing_; }
  bool v6() const { return v6_; }
  bool v6Only() const { return v6Only_; }
  bool blocked() const { return !queue_.empty(); }
  size_t queued() const { return queue_.size(); }
  bool gso() const { return gso_; }
  bool gro() const { return gro_; }
  const Stats& stats() const { return stats_; }
  const Endpoint& local() const { return local_; }

  // Sends (or queues while blocked) datagrams in order; returns how many were accepted.
  size_t Send(const Datagram* d, size_t n);
  void SetRef(bool ref);
  // Stops polling and closes the fd; idempotent. `teardown`: called by the environment's
  // cleanup hook (no JavaScript may run).
  void Close(bool teardown);
  // Test seam: the next `calls` send system calls report EAGAIN without being made (loopback
  // never blocks a UDP sender: its transmit path releases the send buffer at once).
  void InjectEagain(uint32_t calls) { injectEagain_ = calls; }

 private:
  // Callback kinds for emit(kind, ...): a batch (buffer, desc, count, peers), writable (no
  // arguments), an error (Error). Mirrored by EMIT in lib/net/udp-socket.ts.
  enum Kind { kBatch = 0, kWritable = 1, kError = 2 };
  static constexpr size_t kRecvMessages = 64;   // messages per recvmmsg (one wake-up)
  static constexpr size_t kRecvSlot = 65536;    // a whole (GRO) datagram fits in a slot
  static constexpr size_t kFlushMax = 1024;     // queued datagrams sent per writable wake-up
  static constexpr size_t kPendingErrors = 16;  // send errors kept to report from the loop
  struct Queued {
    Endpoint dest;
    uint8_t ecn;
    uint32_t flow;
    std::vector<uint8_t> bytes;
  };
  struct PendingError {
    int err;
    Endpoint dest;
  };
  struct alignas(cmsghdr) SendControl {
    char buf[CMSG_SPACE(sizeof(uint16_t)) + CMSG_SPACE(sizeof(int))];
  };
  struct alignas(cmsghdr) RecvControl {
    char buf[2 * CMSG_SPACE(sizeof(int)) + 64];
  };

  explicit UdpSocket(napi_env env) : env_(env) {}
  // Takes `fd` (closed on failure) and starts polling it.
  static UdpSocket* Start(napi_env env, int fd, size_t sendQueueSize, napi_value emit);
  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnClosed(uv_handle_t* handle);
  static void OnTeardown(napi_async_cleanup_hook_handle handle, void* arg);
  static void OnFinalize(napi_env env, void* data, void* hint);

  void Poll(int status, int events);
  void UpdatePoll(bool force);
  void Receive();
  size_t DrainErrors();
  void Flush();
  void EmitPendingErrors();
  size_t SendNow(const Datagram* d, size_t n);
  size_t BuildMessages(const Datagram* d, size_t n);
  bool Enqueue(const Datagram& d);
  void Emit(napi_value* argv, size_t argc);
  void EmitError(napi_value error);

  napi_env env_;
  int fd_ = -1;
  bool v6_ = false, v6Only_ = false;
  bool gso_ = false, gro_ = false;
  Endpoint local_;
  uv_poll_t poll_;
  int pollEvents_ = 0;
  bool closing_ = false, closed_ = false, finalized_ = false;
  napi_ref emit_ = nullptr;
  napi_ref self_ = nullptr;  // the External, while open
  napi_async_context async_ = nullptr;
  napi_async_cleanup_hook_handle hook_ = nullptr;
  Stats stats_;
  uint32_t injectEagain_ = 0;

  // Receive: one slot per message of the preallocated slab.
  std::unique_ptr<uint8_t[]> slab_;
  mmsghdr recvHdr_[kRecvMessages];
  iovec recvIov_[kRecvMessages];
  Endpoint recvFrom_[kRecvMessages];
  RecvControl recvControl_[kRecvMessages];

  // Send: scratch messages (reused), one per GSO run or datagram.
  std::vector<mmsghdr> sendHdr_;
  std::vector<iovec> sendIov_;
  std::vector<SendControl> sendControl_;
  std::vector<size_t> msgFirst_, msgSegments_, msgBytes_;

  // Datagrams waiting for the socket to become writable, in order; bounded by queueLimit_.
  std::deque<Queued> queue_;
  std::vector<Datagram> flushScratch_;
  size_t queuedBytes_ = 0, queueLimit_ = 0;
  std::vector<PendingError> pendingErrors_;
};

}  // namespace udp
}  // namespace zquic
