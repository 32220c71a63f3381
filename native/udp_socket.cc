// The native batched UDP socket (udp_socket.h): socket setup, the poll callback, receive with
// GRO, send with GSO, the bounded queue used while the kernel pushes back, and lifetime.
#ifdef __linux__

#include "udp_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <unistd.h>

#include <algorithm>
#include <new>

namespace zquic {
namespace udp {

const napi_type_tag UdpSocket::kTag = {0x7a717569635f7564ULL, 0x705f736f636b6574ULL};

namespace {

// UDP_SEGMENT limits: the kernel accepts at most 64 segments per message (UDP_MAX_SEGMENTS on
// older kernels) and the whole message must fit one IP datagram.
constexpr size_t kMaxSegments = 64;
constexpr size_t kMaxGsoBytes = 65000;
// sendmmsg takes at most UIO_MAXIOV messages per call.
constexpr size_t kMaxMessagesPerCall = 1024;

[[noreturn]] void ThrowSys(napi_env env, int err, const char* syscall,
                           const Endpoint* ep = nullptr) {
  throw Napi::Error(env, SysError(env, err, syscall, ep ? ep->sa() : nullptr, ep ? ep->len : 0));
}

void SetInt(napi_env env, int fd, int level, int name, int value) {
  if (setsockopt(fd, level, name, &value, sizeof value) != 0) {
    int e = errno;
    close(fd);
    ThrowSys(env, e, "setsockopt");
  }
}

int GetInt(int fd, int level, int name) {
  int value = 0;
  socklen_t len = sizeof value;
  return getsockopt(fd, level, name, &value, &len) == 0 ? value : -1;
}

bool IsV4Mapped(const Endpoint& ep) {
  if (ep.ss.ss_family != AF_INET6) return false;
  return IN6_IS_ADDR_V4MAPPED(&reinterpret_cast<const sockaddr_in6*>(&ep.ss)->sin6_addr);
}

}  // namespace

int BindSocket(napi_env env, const BindOptions& o) {
  int fd = socket(o.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) ThrowSys(env, errno, "socket");
  bool v6 = o.family == AF_INET6;
  if (v6) SetInt(env, fd, IPPROTO_IPV6, IPV6_V6ONLY, o.ipv6Only ? 1 : 0);
  if (o.reusePort) SetInt(env, fd, SOL_SOCKET, SO_REUSEPORT, 1);
  SetInt(env, fd, SOL_SOCKET, SO_RCVBUF, o.recvBufferSize);
  SetInt(env, fd, SOL_SOCKET, SO_SNDBUF, o.sendBufferSize);
  // ICMP errors on the error queue (Linux IP_RECVERR): unconnected sockets get them only so.
  // ECN arrives in the TOS / Traffic Class byte (RFC 3168 §5, RFC 9000 §13.4). A dual-stack
  // socket receives IPv4 traffic through the IPv4 options, so it sets both.
  if (!v6 || !o.ipv6Only) {
    SetInt(env, fd, IPPROTO_IP, IP_RECVERR, 1);
    SetInt(env, fd, IPPROTO_IP, IP_RECVTOS, 1);
  }
  if (v6) {
    SetInt(env, fd, IPPROTO_IPV6, IPV6_RECVERR, 1);
    SetInt(env, fd, IPPROTO_IPV6, IPV6_RECVTCLASS, 1);
  }
  // GRO is an optimization: a kernel that refuses it delivers datagrams one by one.
  int one = 1;
  if (o.gro) setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one);
  if (bind(fd, o.local.sa(), o.local.len) != 0) {
    int e = errno;
    close(fd);
    ThrowSys(env, e, "bind", &o.local);
  }
  return fd;
}

UdpSocket* UdpSocket::Open(napi_env env, const BindOptions& o, napi_value emit) {
  return Start(env, BindSocket(env, o), o.sendQueueSize, emit);
}

UdpSocket* UdpSocket::Adopt(napi_env env, int fd, size_t sendQueueSize, napi_value emit) {
  // Only a UDP socket will do: the number may name anything in this process.
  if (GetInt(fd, SOL_SOCKET, SO_TYPE) != SOCK_DGRAM ||
      GetInt(fd, SOL_SOCKET, SO_PROTOCOL) != IPPROTO_UDP)
    ThrowError(env, "fd is not a UDP socket");
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) ThrowSys(env, errno, "fcntl");
  // O_NONBLOCK belongs to the open file, which the duplicate shares: set it all the same.
  int flags = fcntl(own, F_GETFL);
  if (flags < 0 || fcntl(own, F_SETFL, flags | O_NONBLOCK) != 0) {
    int e = errno;
    close(own);
    ThrowSys(env, e, "fcntl");
  }
  return Start(env, own, sendQueueSize, emit);
}

UdpSocket* UdpSocket::Start(napi_env env, int fd, size_t sendQueueSize, napi_value emit) {
  std::unique_ptr<UdpSocket> s(new (std::nothrow) UdpSocket(env));
  if (s) s->slab_.reset(new (std::nothrow) uint8_t[kRecvMessages * kRecvSlot]);
  if (!s || !s->slab_) {
    close(fd);
    ThrowError(env, "out of memory");
  }
  Endpoint local;
  local.len = sizeof local.ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local.ss), &local.len) != 0) {
    int e = errno;
    close(fd);
    ThrowSys(env, e, "getsockname");
  }
  s->fd_ = fd;
  s->v6_ = local.ss.ss_family == AF_INET6;
  s->v6Only_ = s->v6_ && GetInt(fd, IPPROTO_IPV6, IPV6_V6ONLY) == 1;
  s->gro_ = GetInt(fd, SOL_UDP, UDP_GRO) > 0;
  // A kernel with UDP_SEGMENT answers getsockopt for it (the value is the default size, 0).
  s->gso_ = GetInt(fd, SOL_UDP, UDP_SEGMENT) >= 0;
  s->local_ = local;
  s->queueLimit_ = sendQueueSize;
  s->stats_.recvBufferSize = GetInt(fd, SOL_SOCKET, SO_RCVBUF);
  s->stats_.sendBufferSize = GetInt(fd, SOL_SOCKET, SO_SNDBUF);

  uv_loop_t* loop = nullptr;
  napi_value name;
  bool ready = napi_get_uv_event_loop(env, &loop) == napi_ok && loop != nullptr &&
               napi_create_reference(env, emit, 1, &s->emit_) == napi_ok &&
               napi_create_string_utf8(env, "zquic:UdpSocket", NAPI_AUTO_LENGTH, &name) ==
                   napi_ok &&
               napi_async_init(env, nullptr, name, &s->async_) == napi_ok;
  int rc = ready ? uv_poll_init_socket(loop, &s->poll_, fd) : 0;
  if (!ready || rc != 0) {
    if (s->emit_) napi_delete_reference(env, s->emit_);
    if (s->async_) napi_async_destroy(env, s->async_);
    close(fd);
    if (!ready) ThrowError(env, "cannot set up the UDP socket");
    ThrowSys(env, -rc, "uv_poll_init");
  }
  // From here on the uv handle exists, so the object goes away only through Close.
  UdpSocket* p = s.release();
  p->poll_.data = p;
  rc = uv_poll_start(&p->poll_, UV_READABLE, OnPoll);
  p->pollEvents_ = UV_READABLE;
  if (rc != 0 || napi_add_async_cleanup_hook(env, OnTeardown, p, &p->hook_) != napi_ok) {
    p->finalized_ = true;  // nothing else owns it: OnClosed deletes it
    p->Close(false);
    if (rc != 0) ThrowSys(env, -rc, "uv_poll_start");
    ThrowError(env, "cannot set up the UDP socket");
  }
  return p;
}

napi_value UdpSocket::Wrap() {
  napi_value ext;
  if (napi_create_external(env_, this, OnFinalize, nullptr, &ext) != napi_ok) {
    finalized_ = true;  // no External will ever own it: OnClosed deletes it
    Close(false);
    ThrowError(env_, "cannot create native handle");
  }
  if (napi_type_tag_object(env_, ext, &kTag) != napi_ok ||
      napi_create_reference(env_, ext, 1, &self_) != napi_ok) {
    Close(false);  // the External owns it: deleted when both are done
    ThrowError(env_, "cannot create native handle");
  }
  return ext;
}

void UdpSocket::OnFinalize(napi_env, void* data, void*) {
  auto* s = static_cast<UdpSocket*>(data);
  s->finalized_ = true;
  if (s->closed_) delete s;
}

void UdpSocket::OnTeardown(napi_async_cleanup_hook_handle, void* arg) {
  static_cast<UdpSocket*>(arg)->Close(true);
}

void UdpSocket::Close(bool teardown) {
  if (closing_) return;
  closing_ = true;
  queue_.clear();
  queuedBytes_ = 0;
  pendingErrors_.clear();
  // uv_close stops polling first; only then may the fd be closed (uv_poll_t contract).
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), OnClosed);
  close(fd_);
  fd_ = -1;
  if (emit_) napi_delete_reference(env_, emit_);
  emit_ = nullptr;
  if (self_) napi_delete_reference(env_, self_);
  self_ = nullptr;
  // At teardown no JavaScript runs any more: async hooks get no destroy event.
  if (!teardown && async_) napi_async_destroy(env_, async_);
  async_ = nullptr;
}

void UdpSocket::OnClosed(uv_handle_t* handle) {
  auto* s = static_cast<UdpSocket*>(handle->data);
  s->closed_ = true;
  napi_async_cleanup_hook_handle hook = s->hook_;
  // Removing the hook may let the environment finalize the External (OnFinalize deletes).
  if (s->finalized_) delete s;
  if (hook) napi_remove_async_cleanup_hook(hook);
}

void UdpSocket::SetRef(bool ref) {
  if (closing_) return;
  if (ref)
    uv_ref(reinterpret_cast<uv_handle_t*>(&poll_));
  else
    uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
}

// Readable always; writable while datagrams are queued or send errors wait to be reported.
void UdpSocket::UpdatePoll(bool force) {
  if (closing_) return;
  int events = UV_READABLE;
  if (!queue_.empty() || !pendingErrors_.empty()) events |= UV_WRITABLE;
  if (events == pollEvents_ && !force) return;
  int rc = uv_poll_start(&poll_, events, OnPoll);
  pollEvents_ = rc == 0 ? events : 0;
  if (rc != 0) EmitError(SysError(env_, -rc, "uv_poll_start"));
}

void UdpSocket::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* s = static_cast<UdpSocket*>(handle->data);
  if (s->closing_) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(s->env_, &scope) != napi_ok) return;
  try {
    s->Poll(status, events);
  } catch (const Napi::Error& e) {
    // Out of memory and the like while building a batch: an uncaught exception, like a
    // throwing callback (never silently dropped).
    napi_fatal_exception(s->env_, e.Value());
  } catch (const std::exception& e) {
    napi_value msg, err;
    if (napi_create_string_utf8(s->env_, e.what(), NAPI_AUTO_LENGTH, &msg) == napi_ok &&
        napi_create_error(s->env_, nullptr, msg, &err) == napi_ok)
      napi_fatal_exception(s->env_, err);
  }
  napi_close_handle_scope(s->env_, scope);
}

void UdpSocket::Poll(int status, int events) {
  if (status < 0) {
    // libuv reports EPOLLERR (an error queued on the socket) as a failed poll and stops the
    // watcher: read the error queue, clear the socket error, and poll again.
    size_t drained = DrainErrors();
    int err = closing_ ? 0 : GetInt(fd_, SOL_SOCKET, SO_ERROR);
    if (err > 0 && drained == 0) EmitError(SysError(env_, err, "recvmsg"));
    UpdatePoll(true);
    return;
  }
  EmitPendingErrors();
  if (!closing_ && (events & UV_WRITABLE)) Flush();
  if (!closing_ && (events & UV_READABLE)) Receive();
  UpdatePoll(false);
}

void UdpSocket::Emit(napi_value* argv, size_t argc) {
  if (closing_ || emit_ == nullptr) return;
  napi_value fn, recv, result;
  if (napi_get_reference_value(env_, emit_, &fn) != napi_ok || fn == nullptr) return;
  // napi_make_callback needs an object receiver: the global one, as for a plain call.
  if (napi_get_global(env_, &recv) != napi_ok) return;
  // napi_make_callback runs queued microtasks and nextTicks afterwards, like Node's own I/O.
  napi_status st = napi_make_callback(env_, async_, recv, fn, argc, argv, &result);
  bool pending = false;
  if (st != napi_ok && napi_is_exception_pending(env_, &pending) == napi_ok && pending) {
    // A throwing callback is an uncaught exception, as it would be from a dgram 'message'.
    napi_value err;
    if (napi_get_and_clear_last_exception(env_, &err) == napi_ok) napi_fatal_exception(env_, err);
  }
}

void UdpSocket::EmitError(napi_value error) {
  napi_value argv[2] = {NewNumber(env_, kError), error};
  Emit(argv, 2);
}

void UdpSocket::EmitPendingErrors() {
  std::vector<PendingError> errors;
  errors.swap(pendingErrors_);
  for (const PendingError& p : errors) {
    if (closing_) return;
    EmitError(SysError(env_, p.err, "sendmmsg", p.dest.sa(), p.dest.len));
  }
}

size_t UdpSocket::DrainErrors() {
  size_t drained = 0;
  for (size_t k = 0; k < kRecvMessages && !closing_; k++) {
    Endpoint dest;
    uint8_t payload[64];
    iovec iov = {payload, sizeof payload};
    alignas(cmsghdr) char control[512];
    msghdr m{};
    m.msg_name = &dest.ss;
    m.msg_namelen = sizeof dest.ss;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    ssize_t r = recvmsg(fd_, &m, MSG_ERRQUEUE | MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    drained++;
    dest.len = std::min<socklen_t>(m.msg_namelen, sizeof dest.ss);
    int err = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
      bool recverr = (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
                     (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR);
      if (!recverr || c->cmsg_len < CMSG_LEN(sizeof(sock_extended_err))) continue;
      sock_extended_err ee;
      memcpy(&ee, CMSG_DATA(c), sizeof ee);
      // Local errors (e.g. EMSGSIZE) were already returned by the send call that caused them.
      if (ee.ee_origin == SO_EE_ORIGIN_ICMP || ee.ee_origin == SO_EE_ORIGIN_ICMP6)
        err = static_cast<int>(ee.ee_errno);
    }
    // msg_name is the destination of the datagram that caused the error (IP_RECVERR).
    if (err > 0) EmitError(SysError(env_, err, "recvmsg", dest.sa(), dest.len));
  }
  return drained;
}

void UdpSocket::Receive() {
  for (size_t k = 0; k < kRecvMessages; k++) {
    recvIov_[k] = {slab_.get() + k * kRecvSlot, kRecvSlot};
    msghdr& h = recvHdr_[k].msg_hdr;
    h = msghdr{};
    h.msg_name = &recvFrom_[k].ss;
    h.msg_namelen = sizeof recvFrom_[k].ss;
    h.msg_iov = &recvIov_[k];
    h.msg_iovlen = 1;
    h.msg_control = recvControl_[k].buf;
    h.msg_controllen = sizeof recvControl_[k].buf;
    recvHdr_[k].msg_len = 0;
  }
  int r;
  do {
    r = recvmmsg(fd_, recvHdr_, kRecvMessages, MSG_DONTWAIT, nullptr);
    stats_.recvSyscalls++;
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK) return;
    // A pending socket error (e.g. ECONNREFUSED after an ICMP port unreachable) is returned
    // once by a receive call; the error queue says which destination it was about.
    if (DrainErrors() == 0) EmitError(SysError(env_, e, "recvmmsg"));
    return;
  }

  // First pass: each message's segment size and ECN; totals for the batch.
  uint32_t segSize[kRecvMessages];
  uint8_t ecn[kRecvMessages];
  size_t count = 0, bytes = 0;
  for (int k = 0; k < r; k++) {
    msghdr& h = recvHdr_[k].msg_hdr;
    size_t len = recvHdr_[k].msg_len;
    segSize[k] = 0;
    ecn[k] = 0;
    if ((h.msg_flags & MSG_TRUNC) || len > kRecvSlot) {
      stats_.truncated++;
      recvHdr_[k].msg_len = 0;
      segSize[k] = UINT32_MAX;  // dropped
      continue;
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
      int v = 0;
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
          c->cmsg_len >= CMSG_LEN(sizeof(int))) {
        memcpy(&v, CMSG_DATA(c), sizeof v);
        if (v > 0) segSize[k] = static_cast<uint32_t>(v);
      } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS &&
                 c->cmsg_len >= CMSG_LEN(1)) {
        ecn[k] = CMSG_DATA(c)[0] & 3;  // IP_TOS arrives as one byte
      } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS &&
                 c->cmsg_len >= CMSG_LEN(sizeof(int))) {
        memcpy(&v, CMSG_DATA(c), sizeof v);
        ecn[k] = static_cast<uint8_t>(v & 3);
      }
    }
    size_t segs = 1;
    if (segSize[k] > 0 && len > segSize[k]) {
      segs = (len + segSize[k] - 1) / segSize[k];
      stats_.groMessages++;
    } else {
      segSize[k] = 0;  // one datagram
    }
    count += segs;
    bytes += len;
    recvFrom_[k].len = std::min<socklen_t>(h.msg_namelen, sizeof recvFrom_[k].ss);
  }
  if (count == 0) return;
  stats_.datagramsReceived += static_cast<double>(count);
  stats_.bytesReceived += static_cast<double>(bytes);

  // Second pass: the datagrams back to back in one fresh Buffer, their descriptors, and the
  // distinct senders.
  uint8_t* out;
  napi_value buffer = NewBuffer(env_, bytes, &out);
  napi_value ab, desc, peers;
  void* descData = nullptr;
  if (napi_create_arraybuffer(env_, count * 4 * sizeof(uint32_t), &descData, &ab) != napi_ok ||
      napi_create_typedarray(env_, napi_uint32_array, count * 4, ab, 0, &desc) != napi_ok ||
      napi_create_array(env_, &peers) != napi_ok)
    ThrowError(env_, "out of memory");
  auto* d = static_cast<uint32_t*>(descData);
  size_t peerOf[kRecvMessages];
  size_t peerCount = 0, at = 0, n = 0;
  for (int k = 0; k < r; k++) {
    if (segSize[k] == UINT32_MAX) continue;
    size_t p = 0;
    while (p < peerCount && !SameEndpoint(recvFrom_[peerOf[p]], recvFrom_[k])) p++;
    if (p == peerCount) {
      napi_value addr = EndpointToJs(env_, recvFrom_[k].sa(), recvFrom_[k].len);
      if (napi_set_element(env_, peers, static_cast<uint32_t>(p), addr) != napi_ok)
        ThrowError(env_, "out of memory");
      peerOf[peerCount++] = static_cast<size_t>(k);
    }
    size_t len = recvHdr_[k].msg_len;
    if (len) memcpy(out + at, recvIov_[k].iov_base, len);
    size_t seg = segSize[k] ? segSize[k] : len;
    size_t off = 0;
    do {
      size_t part = std::min(seg, len - off);
      d[n * 4] = static_cast<uint32_t>(at + off);
      d[n * 4 + 1] = static_cast<uint32_t>(part);
      d[n * 4 + 2] = static_cast<uint32_t>(p);
      d[n * 4 + 3] = ecn[k];
      n++;
      off += part;
    } while (off < len);
    at += len;
  }
  napi_value argv[5] = {NewNumber(env_, kBatch), buffer, desc,
                        NewNumber(env_, static_cast<double>(n)), peers};
  Emit(argv, 5);
}

size_t UdpSocket::Send(const Datagram* d, size_t n) {
  size_t sent = queue_.empty() ? SendNow(d, n) : 0;
  size_t accepted = sent;
  while (accepted < n && Enqueue(d[accepted])) accepted++;
  stats_.queueDrops += static_cast<double>(n - accepted);
  UpdatePoll(false);
  return accepted;
}

bool UdpSocket::Enqueue(const Datagram& d) {
  if (queuedBytes_ + d.length > queueLimit_) return false;
  queue_.push_back(
      Queued{*d.dest, d.ecn, d.flow, std::vector<uint8_t>(d.data, d.data + d.length)});
  queuedBytes_ += d.length;
  return true;
}

void UdpSocket::Flush() {
  if (queue_.empty()) return;
  size_t n = std::min(queue_.size(), kFlushMax);
  flushScratch_.resize(n);
  for (size_t i = 0; i < n; i++) {
    const Queued& q = queue_[i];
    flushScratch_[i] = Datagram{q.bytes.data(), static_cast<uint32_t>(q.bytes.size()), &q.dest,
                                q.ecn, q.flow};
  }
  size_t sent = SendNow(flushScratch_.data(), n);
  for (size_t i = 0; i < sent; i++) {
    queuedBytes_ -= queue_.front().bytes.size();
    queue_.pop_front();
  }
  if (queue_.empty()) {
    UpdatePoll(false);
    napi_value argv[1] = {NewNumber(env_, kWritable)};
    Emit(argv, 1);
  }
}

// Groups d[0..n) into messages: a run of datagrams to one destination with one ECN codepoint
// and one length (the last may be shorter) becomes one UDP_SEGMENT message (GSO). Returns the
// number of messages; msgFirst_[m] is the index of message m's first datagram.
size_t UdpSocket::BuildMessages(const Datagram* d, size_t n) {
  if (sendHdr_.size() < n) {
    sendHdr_.resize(n);
    sendIov_.resize(n);
    sendControl_.resize(n);
    msgFirst_.resize(n);
    msgSegments_.resize(n);
    msgBytes_.resize(n);
  }
  size_t m = 0;
  for (size_t i = 0; i < n; m++) {
    const Datagram& first = d[i];
    size_t j = i + 1, bytes = first.length;
    if (gso_ && first.length > 0) {
      while (j < n && j - i < kMaxSegments && d[j].length > 0 && d[j].length <= first.length &&
             d[j].ecn == first.ecn && d[j].flow == first.flow && bytes + d[j].length <= kMaxGsoBytes &&
             SameEndpoint(*d[j].dest, *first.dest)) {
        bytes += d[j].length;
        if (d[j++].length < first.length) break;  // a shorter datagram ends the run
      }
    }
    for (size_t k = i; k < j; k++)
      sendIov_[k] = {const_cast<uint8_t*>(d[k].data), d[k].length};
    mmsghdr& mh = sendHdr_[m];
    mh = mmsghdr{};
    msghdr& h = mh.msg_hdr;
    h.msg_name = const_cast<sockaddr*>(first.dest->sa());
    h.msg_namelen = first.dest->len;
    h.msg_iov = &sendIov_[i];
    h.msg_iovlen = j - i;
    SendControl& ctl = sendControl_[m];
    memset(ctl.buf, 0, sizeof ctl.buf);
    h.msg_control = ctl.buf;
    h.msg_controllen = sizeof ctl.buf;
    size_t used = 0;
    cmsghdr* c = CMSG_FIRSTHDR(&h);
    if (j - i > 1 && c != nullptr) {
      uint16_t seg = static_cast<uint16_t>(first.length);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof seg);
      memcpy(CMSG_DATA(c), &seg, sizeof seg);
      used += CMSG_SPACE(sizeof seg);
      c = CMSG_NXTHDR(&h, c);
    }
    if (first.ecn != 0 && c != nullptr) {
      // RFC 3168 §5: ECN is the low two bits of the TOS / Traffic Class byte. A v4-mapped
      // destination leaves as IPv4, which reads only IP-level options.
      int tos = first.ecn;
      bool ip6 = first.dest->ss.ss_family == AF_INET6 && !IsV4Mapped(*first.dest);
      c->cmsg_level = ip6 ? IPPROTO_IPV6 : IPPROTO_IP;
      c->cmsg_type = ip6 ? IPV6_TCLASS : IP_TOS;
      c->cmsg_len = CMSG_LEN(sizeof tos);
      memcpy(CMSG_DATA(c), &tos, sizeof tos);
      used += CMSG_SPACE(sizeof tos);
    }
    h.msg_controllen = used;
    if (used == 0) h.msg_control = nullptr;
    msgFirst_[m] = i;
    msgSegments_[m] = j - i;
    msgBytes_[m] = bytes;
    i = j;
  }
  return m;
}

// Sends d[0..n) now; returns the index of the first datagram the kernel did not take (n when
// all went out). A message the kernel rejects for another reason than back-pressure is lost,
// like a datagram dropped on the path, and reported through onerror from the loop.
size_t UdpSocket::SendNow(const Datagram* d, size_t n) {
  size_t base = 0;
  while (base < n) {
    size_t messages = BuildMessages(d + base, n - base);
    size_t m = 0;
    bool rebuild = false;
    while (m < messages) {
      int r;
      int e = 0;
      if (injectEagain_ > 0) {
        injectEagain_--;
        r = -1;
        e = EAGAIN;
      } else {
        r = sendmmsg(fd_, &sendHdr_[m], std::min(messages - m, kMaxMessagesPerCall), 0);
        e = r < 0 ? errno : 0;
        stats_.sendSyscalls++;
      }
      if (r > 0) {
        for (size_t k = m; k < m + static_cast<size_t>(r); k++) {
          stats_.datagramsSent += static_cast<double>(msgSegments_[k]);
          stats_.bytesSent += static_cast<double>(msgBytes_[k]);
          if (msgSegments_[k] > 1) stats_.gsoMessages++;
        }
        m += static_cast<size_t>(r);
        continue;
      }
      if (r == 0) e = EAGAIN;
      if (e == EINTR) continue;
      size_t at = base + msgFirst_[m];
      if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
        stats_.eagain++;
        return at;
      }
      if ((e == EIO || e == EINVAL) && msgSegments_[m] > 1) {
        // The path cannot take UDP_SEGMENT (no checksum offload, or a segment over the MTU):
        // from now on one message per datagram.
        gso_ = false;
        base = at;
        rebuild = true;
        break;
      }
      stats_.sendErrors += static_cast<double>(msgSegments_[m]);
      if (pendingErrors_.size() < kPendingErrors)
        pendingErrors_.push_back(PendingError{e, *d[at].dest});
      m++;
    }
    if (!rebuild) return n;
  }
  return n;
}

}  // namespace udp
}  // namespace zquic

#endif  // __linux__
