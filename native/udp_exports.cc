// N-API functions of the native UDP socket (udp_socket.h): every argument checked here, with
// TypeError/RangeError naming it, before the socket sees it. Typed in lib/crypto/native.ts.
#include "zquic.h"

#ifdef __linux__

#include <algorithm>
#include <cstdio>
#include <unordered_map>
#include <vector>

#include <linux/filter.h>

#include "udp_group.h"
#include "udp_socket.h"

namespace zquic {

namespace {

using udp::Datagram;
using udp::Endpoint;
using udp::UdpGroup;
using udp::UdpSocket;

// Largest UDP payload a datagram descriptor may name (the UDP length field is 16 bits).
constexpr int64_t kMaxDatagram = 65535;
// Largest socket buffer asked of the kernel (it doubles the value it is given).
constexpr int64_t kMaxSocketBuffer = 1 << 30;
// Most sockets in a reuseport group (the kernel's limit is larger; a thread per socket is not).
constexpr int64_t kMaxGroup = 256;
// BPF_MAXINSNS: the longest classic BPF program the kernel takes.
constexpr size_t kMaxProgram = 4096;

bool ArgBool(napi_env env, napi_value v, const char* name) {
  bool b = false;
  if (napi_get_value_bool(env, v, &b) != napi_ok)
    ThrowType(env, std::string(name) + " must be a boolean");
  return b;
}

// A Uint32Array (count = number of elements).
struct Words {
  const uint32_t* data;
  size_t count;
};
Words ArgUint32(napi_env env, napi_value v, const char* name) {
  // ArgTypedArray measures non-Float64 arrays in elements.
  Bytes b = ArgTypedArray(env, v, name, napi_uint32_array, "Uint32Array");
  return Words{reinterpret_cast<const uint32_t*>(b.data), b.length};
}

napi_value Prop(napi_env env, napi_value obj, const char* key) {
  napi_value v;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok)
    ThrowType(env, std::string("cannot read ") + key);
  return v;
}

void CheckEmit(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_function)
    ThrowType(env, "emit must be a function");
}

// udpBind(address, port, ipv6Only, reusePort, recvBufferSize, sendBufferSize, sendQueueSize,
// emit) -> handle
napi_value JsBind(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<8> a(env, info);
    udp::BindOptions o;
    std::string address = ArgString(env, a[0], "address", 64);
    auto port = static_cast<uint16_t>(ArgInt(env, a[1], "port", 0, 65535));
    o.ipv6Only = ArgBool(env, a[2], "ipv6Only");
    o.reusePort = ArgBool(env, a[3], "reusePort");
    o.recvBufferSize = static_cast<int>(ArgInt(env, a[4], "recvBufferSize", 1, kMaxSocketBuffer));
    o.sendBufferSize = static_cast<int>(ArgInt(env, a[5], "sendBufferSize", 1, kMaxSocketBuffer));
    o.sendQueueSize = static_cast<size_t>(ArgInt(env, a[6], "sendQueueSize", 0, kMaxSocketBuffer));
    CheckEmit(env, a[7]);
    o.family = udp::ParseEndpoint(address, port, false, &o.local);
    if (o.family == 0) ThrowRange(env, "address must be an IPv4 or IPv6 literal");
    if (o.family == AF_INET6) udp::ParseEndpoint(address, port, true, &o.local);
    return UdpSocket::Open(env, o, a[7])->Wrap();
  });
}

// udpAdopt(fd, sendQueueSize, emit) -> handle: polls a duplicate of a group member's fd.
napi_value JsAdopt(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<3> a(env, info);
    int fd = static_cast<int>(ArgInt(env, a[0], "fd", 0, INT32_MAX));
    auto queue = static_cast<size_t>(ArgInt(env, a[1], "sendQueueSize", 0, kMaxSocketBuffer));
    CheckEmit(env, a[2]);
    return UdpSocket::Adopt(env, fd, queue, a[2])->Wrap();
  });
}

// udpGroupBind(address, port, ipv6Only, count, recvBufferSize, sendBufferSize) -> handle
napi_value JsGroupBind(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<6> a(env, info);
    udp::BindOptions o{};
    std::string address = ArgString(env, a[0], "address", 64);
    auto port = static_cast<uint16_t>(ArgInt(env, a[1], "port", 0, 65535));
    o.ipv6Only = ArgBool(env, a[2], "ipv6Only");
    auto count = static_cast<size_t>(ArgInt(env, a[3], "count", 1, kMaxGroup));
    o.recvBufferSize = static_cast<int>(ArgInt(env, a[4], "recvBufferSize", 1, kMaxSocketBuffer));
    o.sendBufferSize = static_cast<int>(ArgInt(env, a[5], "sendBufferSize", 1, kMaxSocketBuffer));
    o.family = udp::ParseEndpoint(address, port, false, &o.local);
    if (o.family == 0) ThrowRange(env, "address must be an IPv4 or IPv6 literal");
    if (o.family == AF_INET6) udp::ParseEndpoint(address, port, true, &o.local);
    return WrapHandle(env, UdpGroup::Bind(env, o, count));
  });
}

// udpGroupFds(handle) -> number[]: the members' fds, in the kernel's order.
napi_value JsGroupFds(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<1> a(env, info);
    const std::vector<int>& fds = ArgHandle<UdpGroup>(env, a[0], "group")->fds();
    Napi::Array out = Napi::Array::New(env, fds.size());
    for (size_t i = 0; i < fds.size(); i++) out.Set(static_cast<uint32_t>(i), fds[i]);
    return static_cast<napi_value>(out);
  });
}

// udpGroupSteer(handle, program): program is a Uint32Array of two words per instruction,
// [code | jt << 16 | jf << 24, k]; the kernel checks what it does.
napi_value JsGroupSteer(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<2> a(env, info);
    UdpGroup* g = ArgHandle<UdpGroup>(env, a[0], "group");
    Words w = ArgUint32(env, a[1], "program");
    if (w.count == 0 || w.count % 2 != 0 || w.count / 2 > kMaxProgram)
      ThrowRange(env, "program must hold 1.." + std::to_string(kMaxProgram) +
                          " instructions of two words each");
    std::vector<sock_filter> insns(w.count / 2);
    for (size_t i = 0; i < insns.size(); i++) {
      uint32_t op = w.data[2 * i];
      insns[i] = sock_filter{static_cast<uint16_t>(op & 0xffff),
                             static_cast<uint8_t>((op >> 16) & 0xff),
                             static_cast<uint8_t>(op >> 24), w.data[2 * i + 1]};
    }
    g->Steer(env, insns.data(), insns.size());
    return Undefined(env);
  });
}

napi_value JsGroupClose(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<1> a(env, info);
    ArgHandleAny<UdpGroup>(env, a[0], "group")->Release();
    return Undefined(env);
  });
}

// What udpSend needs per call, kept by the thread (each JS thread calls on its own) with its
// capacity: once warmed up a send allocates nothing. `busy` marks it in use: reading the peers
// may run JavaScript (getters) that calls udpSend again, which then takes its own.
struct SendScratch {
  bool busy = false;
  std::vector<uint32_t> desc;
  std::vector<Datagram> datagrams;
  std::vector<Endpoint> parsed;
  // parsed[slot[i]] is peers[i]; -1: not parsed yet. For the indices below min(datagrams,
  // peers) (the endpoint gives each run its own index); the others, a hostile caller's, in
  // `overflow`.
  std::vector<int32_t> slot;
  std::unordered_map<uint32_t, size_t> overflow;
};
thread_local SendScratch sendScratch;

// Destinations read from the peers array, each parsed once per call.
class Destinations {
 public:
  Destinations(napi_env env, napi_value peers, const UdpSocket& s, size_t count, SendScratch& sc)
      : env_(env), peers_(peers), socket_(s), parsed_(sc.parsed), slot_(sc.slot),
        overflow_(sc.overflow) {
    bool isArray = false;
    if (napi_is_array(env, peers, &isArray) != napi_ok || !isArray)
      ThrowType(env, "peers must be an array of addresses");
    napi_get_array_length(env, peers, &length_);
    size_t n = std::min<size_t>(count, length_);
    // At most one per datagram and one per peer: reserved up front, so pointers stay valid.
    parsed_.clear();
    parsed_.reserve(n);
    slot_.assign(n, -1);
    overflow_.clear();
  }
  uint32_t length() const { return length_; }

  const Endpoint* Get(uint32_t index) {
    int32_t* slot = index < slot_.size() ? &slot_[index] : nullptr;
    if (slot != nullptr && *slot >= 0) return &parsed_[static_cast<size_t>(*slot)];
    if (slot == nullptr) {
      auto it = overflow_.find(index);
      if (it != overflow_.end()) return &parsed_[it->second];
    }
    // (Names for the errors on the stack: "peers[4294967295].address" fits.)
    char name[24], address[40], port[40];
    snprintf(name, sizeof name, "peers[%u]", index);
    snprintf(address, sizeof address, "%s.address", name);
    snprintf(port, sizeof port, "%s.port", name);
    napi_value v;
    napi_valuetype t;
    if (napi_get_element(env_, peers_, index, &v) != napi_ok ||
        napi_typeof(env_, v, &t) != napi_ok || t != napi_object)
      ThrowType(env_, std::string(name) + " must be an address object");
    std::string ip = ArgString(env_, Prop(env_, v, "address"), address, 64);
    auto p = static_cast<uint16_t>(ArgInt(env_, Prop(env_, v, "port"), port, 1, 65535));
    Endpoint ep;
    int family = udp::ParseEndpoint(ip, p, socket_.v6(), &ep);
    if (family == 0) ThrowRange(env_, std::string(address) + " must be an IPv4 or IPv6 literal");
    if (family == AF_INET6 && !socket_.v6())
      ThrowRange(env_, std::string(name) + " is an IPv6 address but the socket is IPv4");
    if (family == AF_INET && socket_.v6Only())
      ThrowRange(env_, std::string(name) + " is an IPv4 address but the socket is IPv6-only");
    size_t at = parsed_.size();
    parsed_.push_back(ep);
    if (slot != nullptr)
      *slot = static_cast<int32_t>(at);
    else
      overflow_.emplace(index, at);
    return &parsed_.back();
  }

 private:
  napi_env env_;
  napi_value peers_;
  const UdpSocket& socket_;
  uint32_t length_ = 0;
  std::vector<Endpoint>& parsed_;
  std::vector<int32_t>& slot_;
  std::unordered_map<uint32_t, size_t>& overflow_;
};

[[noreturn]] void BadDesc(napi_env env, size_t i, size_t field, const char* what) {
  ThrowRange(env, "desc[" + std::to_string(i * 4 + field) + "] (" + what + " of datagram " +
                      std::to_string(i) + ") is out of range");
}

// udpSend(handle, buf, desc, count, peers) -> accepted
// Reading peers may run JavaScript (getters) that detaches buffers or closes the socket, so
// desc is copied first, peers are read next, and buf is looked at only after that.
napi_value JsSend(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<5> a(env, info);
    UdpSocket* s = ArgHandleAny<UdpSocket>(env, a[0], "socket");
    if (!s->live()) ThrowError(env, "send on a closed UDP socket");
    Words words = ArgUint32(env, a[2], "desc");
    auto count = static_cast<size_t>(
        ArgInt(env, a[3], "count", 0, static_cast<int64_t>(words.count / 4)));
    SendScratch nested;
    SendScratch& sc = sendScratch.busy ? nested : sendScratch;
    struct Hold {
      SendScratch& sc;
      explicit Hold(SendScratch& s) : sc(s) { sc.busy = true; }
      ~Hold() { sc.busy = false; }
    } hold(sc);
    std::vector<uint32_t>& desc = sc.desc;
    desc.assign(words.data, words.data + count * 4);
    Destinations dests(env, a[4], *s, count, sc);
    std::vector<Datagram>& datagrams = sc.datagrams;
    datagrams.resize(count);
    const Endpoint* last = nullptr;
    uint32_t lastIndex = 0;
    for (size_t i = 0; i < count; i++) {
      uint32_t peer = desc[i * 4 + 2], ecn = desc[i * 4 + 3];
      if (peer >= dests.length()) BadDesc(env, i, 2, "peer index");
      if (ecn > 3) BadDesc(env, i, 3, "ecn");
      if (last == nullptr || peer != lastIndex) {
        last = dests.Get(peer);
        lastIndex = peer;
      }
      datagrams[i] = Datagram{nullptr, 0, last, static_cast<uint8_t>(ecn), peer};
    }
    if (!s->live()) ThrowError(env, "send on a closed UDP socket");
    Bytes buf = ArgBytes(env, a[1], "buf");
    for (size_t i = 0; i < count; i++) {
      uint32_t offset = desc[i * 4], length = desc[i * 4 + 1];
      if (offset > buf.length) BadDesc(env, i, 0, "offset");
      if (length > kMaxDatagram || length > buf.length - offset) BadDesc(env, i, 1, "length");
      datagrams[i].data = buf.data + offset;
      datagrams[i].length = length;
    }
    return NewNumber(env, static_cast<double>(s->Send(datagrams.data(), count)));
  });
}

napi_value JsAddress(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<1> a(env, info);
    UdpSocket* s = ArgHandle<UdpSocket>(env, a[0], "socket");
    return udp::EndpointToJs(env, s->local().sa(), s->local().len);
  });
}

napi_value JsBlocked(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<1> a(env, info);
    return NewBool(env, ArgHandleAny<UdpSocket>(env, a[0], "socket")->blocked());
  });
}

napi_value JsStats(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<1> a(env, info);
    UdpSocket* s = ArgHandleAny<UdpSocket>(env, a[0], "socket");
    const udp::Stats& st = s->stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("datagramsSent", st.datagramsSent);
    o.Set("bytesSent", st.bytesSent);
    o.Set("datagramsReceived", st.datagramsReceived);
    o.Set("bytesReceived", st.bytesReceived);
    o.Set("sendSyscalls", st.sendSyscalls);
    o.Set("recvSyscalls", st.recvSyscalls);
    o.Set("gsoMessages", st.gsoMessages);
    o.Set("groMessages", st.groMessages);
    o.Set("eagain", st.eagain);
    o.Set("queued", static_cast<double>(s->queued()));
    o.Set("queueDrops", st.queueDrops);
    o.Set("sendErrors", st.sendErrors);
    o.Set("truncated", st.truncated);
    o.Set("recvBufferSize", st.recvBufferSize);
    o.Set("sendBufferSize", st.sendBufferSize);
    o.Set("gso", s->gso());
    o.Set("gro", s->gro());
    return static_cast<napi_value>(o);
  });
}

napi_value JsRef(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<2> a(env, info);
    UdpSocket* s = ArgHandleAny<UdpSocket>(env, a[0], "socket");
    s->SetRef(ArgBool(env, a[1], "ref"));
    return Undefined(env);
  });
}

napi_value JsClose(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<1> a(env, info);
    ArgHandleAny<UdpSocket>(env, a[0], "socket")->Close(false);
    return Undefined(env);
  });
}

napi_value JsInjectEagain(napi_env env, napi_callback_info info) {
  return Guard(env, [&] {
    Args<2> a(env, info);
    UdpSocket* s = ArgHandle<UdpSocket>(env, a[0], "socket");
    s->InjectEagain(static_cast<uint32_t>(ArgInt(env, a[1], "calls", 0, UINT32_MAX)));
    return Undefined(env);
  });
}

}  // namespace

void InitUdp(Napi::Env env, Napi::Object exports) {
  exports.Set("udpSupported", Napi::Boolean::New(env, true));
  Export(env, exports, "udpBind", JsBind);
  Export(env, exports, "udpSend", JsSend);
  Export(env, exports, "udpAddress", JsAddress);
  Export(env, exports, "udpBlocked", JsBlocked);
  Export(env, exports, "udpStats", JsStats);
  Export(env, exports, "udpRef", JsRef);
  Export(env, exports, "udpClose", JsClose);
  Export(env, exports, "udpInjectEagain", JsInjectEagain);
  Export(env, exports, "udpAdopt", JsAdopt);
  Export(env, exports, "udpGroupBind", JsGroupBind);
  Export(env, exports, "udpGroupFds", JsGroupFds);
  Export(env, exports, "udpGroupSteer", JsGroupSteer);
  Export(env, exports, "udpGroupClose", JsGroupClose);
}

}  // namespace zquic

#else  // the socket is Linux-only: elsewhere the addon says so and lib/net keeps node:dgram

namespace zquic {
void InitUdp(Napi::Env env, Napi::Object exports) {
  exports.Set("udpSupported", Napi::Boolean::New(env, false));
}
}  // namespace zquic

#endif  // __linux__
