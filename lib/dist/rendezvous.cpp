// TCP rendezvous (see rendezvous.h). Messages are length-prefixed: a rank
// sends "rank world" as text, rank 0 answers with an 8-byte little-endian
// length and the payload, or a length of 2^63 + n and n bytes of error text.
#include "dist/rendezvous.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "core/error.h"

namespace mds::dist {

namespace {

using Clock = std::chrono::steady_clock;

struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

int ms_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(std::min<long long>(left, 1 << 30)) : 0;
}

// Waits until fd is readable/writable or the deadline passes.
bool wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, ms_left(deadline));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

bool send_all(int fd, const void* data, size_t n, Clock::time_point deadline) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    if (!wait_fd(fd, POLLOUT, deadline)) return false;
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w, n -= size_t(w);
  }
  return true;
}

bool recv_all(int fd, void* data, size_t n, Clock::time_point deadline) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    if (!wait_fd(fd, POLLIN, deadline)) return false;
    const ssize_t r = ::recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r, n -= size_t(r);
  }
  return true;
}

void put_u64(char* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = char((v >> (8 * i)) & 0xff);
}
uint64_t get_u64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(uint8_t(in[i])) << (8 * i);
  return v;
}

constexpr uint64_t kErrorFlag = uint64_t(1) << 63;
constexpr size_t kHelloBytes = 32;

bool send_message(int fd, const std::string& body, bool error, Clock::time_point deadline) {
  char len[8];
  put_u64(len, body.size() | (error ? kErrorFlag : 0));
  return send_all(fd, len, 8, deadline) && send_all(fd, body.data(), body.size(), deadline);
}

std::string serve(const LaunchEnv& env, const std::string& payload, Clock::time_point deadline, double timeout_s) {
  Fd listener(::socket(AF_INET6, SOCK_STREAM, 0));
  bool v6 = listener.fd >= 0;
  if (!v6) listener = Fd(::socket(AF_INET, SOCK_STREAM, 0));
  if (listener.fd < 0) throw_runtime("rendezvous: socket(): {}", std::strerror(errno));
  const int one = 1, zero = 0;
  ::setsockopt(listener.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc;
  if (v6) {
    ::setsockopt(listener.fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);  // IPv4 peers too
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_any;
    a.sin6_port = htons(uint16_t(env.master_port));
    rc = ::bind(listener.fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    a.sin_port = htons(uint16_t(env.master_port));
    rc = ::bind(listener.fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  if (rc != 0)
    throw_runtime("rendezvous: rank 0 cannot listen on port {} (MASTER_PORT): {}; another job may hold it, choose "
                  "another port",
                  env.master_port, std::strerror(errno));
  if (::listen(listener.fd, 128) != 0) throw_runtime("rendezvous: listen(): {}", std::strerror(errno));
  std::set<int> arrived;
  std::vector<Fd> peers;
  while (int(arrived.size()) < env.world_size - 1) {
    if (!wait_fd(listener.fd, POLLIN, deadline)) {
      std::string missing;
      for (int r = 1; r < env.world_size; ++r)
        if (!arrived.count(r)) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
      throw_runtime("rendezvous: rank(s) {} did not reach rank 0 at port {} within {} s (is every rank started, "
                    "with MASTER_ADDR={} reachable from it?)",
                    missing, env.master_port, timeout_s, env.master_addr);
    }
    Fd peer(::accept(listener.fd, nullptr, nullptr));
    if (peer.fd < 0) continue;
    char hello[kHelloBytes + 1] = {};
    if (!recv_all(peer.fd, hello, kHelloBytes, deadline)) continue;  // not one of ours, or gone
    int rank = -1, world = -1;
    if (std::sscanf(hello, "mds %d %d", &rank, &world) != 2) continue;
    std::string refusal;
    if (world != env.world_size)
      refusal = fmt::format("rank {} was started with a world of {} ranks, rank 0 with {}", rank, world, env.world_size);
    else if (rank < 1 || rank >= world)
      refusal = fmt::format("rank {} is outside the world of {}", rank, world);
    else if (arrived.count(rank))
      refusal = fmt::format("rank {} arrived twice (two processes with the same rank)", rank);
    if (!refusal.empty()) {
      send_message(peer.fd, refusal, true, deadline);
      throw_usage("rendezvous: {}", refusal);
    }
    arrived.insert(rank);
    peers.push_back(std::move(peer));
  }
  for (Fd& p : peers) send_message(p.fd, payload, false, deadline);
  return payload;
}

std::string join(const LaunchEnv& env, Clock::time_point deadline, double timeout_s) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  const std::string port = std::to_string(env.master_port);
  std::string last_error = "no attempt";
  while (Clock::now() < deadline) {
    const int g = ::getaddrinfo(env.master_addr.c_str(), port.c_str(), &hints, &res);
    if (g != 0) {
      last_error = fmt::format("cannot resolve MASTER_ADDR={}: {}", env.master_addr, ::gai_strerror(g));
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    for (addrinfo* a = res; a; a = a->ai_next) {
      Fd s(::socket(a->ai_family, a->ai_socktype, a->ai_protocol));
      if (s.fd < 0) continue;
      if (::connect(s.fd, a->ai_addr, a->ai_addrlen) != 0) {
        last_error = std::strerror(errno);
        continue;
      }
      char hello[kHelloBytes] = {};
      std::snprintf(hello, sizeof hello, "mds %d %d", env.rank, env.world_size);
      if (!send_all(s.fd, hello, kHelloBytes, deadline)) continue;
      char len[8];
      // Rank 0 answers once every rank has arrived.
      if (!recv_all(s.fd, len, 8, deadline)) {
        last_error = "rank 0 closed the connection or did not answer";
        continue;
      }
      const uint64_t n = get_u64(len) & ~kErrorFlag;
      if (n > (uint64_t(1) << 20)) throw_runtime("rendezvous: rank 0 sent a message of {} bytes", n);
      std::string body(n, '\0');
      if (!recv_all(s.fd, body.data(), n, deadline)) {
        last_error = "rank 0 closed the connection mid-message";
        continue;
      }
      ::freeaddrinfo(res);
      if (get_u64(len) & kErrorFlag) throw_usage("rendezvous: rank 0 refused rank {}: {}", env.rank, body);
      return body;
    }
    ::freeaddrinfo(res);
    res = nullptr;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // rank 0 may still be starting
  }
  throw_runtime("rendezvous: rank {} could not reach rank 0 at {}:{} within {} s ({})", env.rank, env.master_addr,
                env.master_port, timeout_s, last_error);
}

}  // namespace

std::string rendezvous(const LaunchEnv& env, const std::string& payload, double timeout_s) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000));
  if (env.world_size <= 1) return payload;
  return env.rank == 0 ? serve(env, payload, deadline, timeout_s) : join(env, deadline, timeout_s);
}

}  // namespace mds::dist
