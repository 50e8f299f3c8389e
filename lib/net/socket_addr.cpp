#include <weft/error.hpp>
#include <weft/socket_addr.hpp>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>
#include <string>

namespace weft {

namespace {
sockaddr_in* v4(sockaddr_storage& s) noexcept { return reinterpret_cast<sockaddr_in*>(&s); }
const sockaddr_in* v4(const sockaddr_storage& s) noexcept { return reinterpret_cast<const sockaddr_in*>(&s); }
sockaddr_in6* v6(sockaddr_storage& s) noexcept { return reinterpret_cast<sockaddr_in6*>(&s); }
const sockaddr_in6* v6(const sockaddr_storage& s) noexcept { return reinterpret_cast<const sockaddr_in6*>(&s); }

SocketAddr make_v4(std::uint32_t host_order_ip, std::uint16_t port) noexcept {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(host_order_ip);
  return SocketAddr::from_native(reinterpret_cast<const sockaddr*>(&a), sizeof a);
}

SocketAddr make_v6(const in6_addr& ip, std::uint16_t port) noexcept {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  a.sin6_addr = ip;
  return SocketAddr::from_native(reinterpret_cast<const sockaddr*>(&a), sizeof a);
}

// Parses a numeric address into `out`; false if it is neither IPv4 nor IPv6 ("fe80::1%eth0" keeps
// its zone as the scope id).
bool parse_ip(std::string_view ip, std::uint16_t port, sockaddr_storage& out) {
  std::string text(ip);
  std::memset(&out, 0, sizeof out);
  if (::inet_pton(AF_INET, text.c_str(), &v4(out)->sin_addr) == 1) {
    v4(out)->sin_family = AF_INET;
    v4(out)->sin_port = htons(port);
    return true;
  }
  std::string zone;
  if (auto pct = text.find('%'); pct != std::string::npos) {
    zone = text.substr(pct + 1);
    text.resize(pct);
  }
  if (::inet_pton(AF_INET6, text.c_str(), &v6(out)->sin6_addr) != 1) return false;
  v6(out)->sin6_family = AF_INET6;
  v6(out)->sin6_port = htons(port);
  if (!zone.empty()) {
    unsigned idx = ::if_nametoindex(zone.c_str());
    if (idx == 0) {
      auto [p, ec] = std::from_chars(zone.data(), zone.data() + zone.size(), idx);
      if (ec != std::errc() || p != zone.data() + zone.size()) return false;
    }
    v6(out)->sin6_scope_id = idx;
  }
  return true;
}
}  // namespace

SocketAddr::SocketAddr() noexcept {
  std::memset(&storage_, 0, sizeof storage_);
  v4(storage_)->sin_family = AF_INET;
}

SocketAddr::SocketAddr(std::string_view ip, std::uint16_t port) {
  if (!parse_ip(ip, port, storage_)) {
    throw Error("SocketAddr: '" + std::string(ip) + "' is not a numeric IPv4 or IPv6 address; resolve host names "
                "with weft::resolve(host, port)");
  }
}

SocketAddr SocketAddr::loopback_v4(std::uint16_t port) noexcept { return make_v4(INADDR_LOOPBACK, port); }
SocketAddr SocketAddr::any_v4(std::uint16_t port) noexcept { return make_v4(INADDR_ANY, port); }
SocketAddr SocketAddr::loopback_v6(std::uint16_t port) noexcept { return make_v6(in6addr_loopback, port); }
SocketAddr SocketAddr::any_v6(std::uint16_t port) noexcept { return make_v6(in6addr_any, port); }

std::optional<SocketAddr> SocketAddr::parse(std::string_view text) {
  std::string_view host, port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // bare IPv6 needs brackets
  }
  unsigned port = 0;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || p != port_text.data() + port_text.size() || port > 65535 || port_text.empty()) {
    return std::nullopt;
  }
  SocketAddr a;
  if (!parse_ip(host, static_cast<std::uint16_t>(port), a.storage_)) return std::nullopt;
  return a;
}

std::optional<SocketAddr> SocketAddr::from_ip(std::string_view ip, std::uint16_t port) {
  SocketAddr a;
  if (!parse_ip(ip, port, a.storage_)) return std::nullopt;
  return a;
}

SocketAddr SocketAddr::from_native(const sockaddr* sa, socklen_t len) {
  SocketAddr a;
  if (!sa || (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in)))) {
    if (sa) std::memcpy(&a.storage_, sa, sizeof(sockaddr_in));
    return a;
  }
  if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    std::memcpy(&a.storage_, sa, sizeof(sockaddr_in6));
    return a;
  }
  throw Error("SocketAddr::from_native: address family " + std::to_string(sa->sa_family) +
              " (length " + std::to_string(len) + ") is not IPv4 or IPv6");
}

std::uint16_t SocketAddr::port() const noexcept {
  return ntohs(is_v6() ? v6(storage_)->sin6_port : v4(storage_)->sin_port);
}

void SocketAddr::set_port(std::uint16_t port) noexcept {
  if (is_v6()) v6(storage_)->sin6_port = htons(port);
  else v4(storage_)->sin_port = htons(port);
}

socklen_t SocketAddr::native_len() const noexcept {
  return is_v6() ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

std::string SocketAddr::ip() const {
  char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = {};
  if (is_v6()) {
    ::inet_ntop(AF_INET6, &v6(storage_)->sin6_addr, buf, sizeof buf);
    std::string s = buf;
    if (const std::uint32_t scope = v6(storage_)->sin6_scope_id) {
      char name[IF_NAMESIZE] = {};
      s += "%";
      s += ::if_indextoname(scope, name) ? std::string(name) : std::to_string(scope);
    }
    return s;
  }
  ::inet_ntop(AF_INET, &v4(storage_)->sin_addr, buf, sizeof buf);
  return buf;
}

std::string SocketAddr::to_string() const {
  std::string s;
  if (is_v6()) s.append("[").append(ip()).append("]");
  else s = ip();
  return s.append(":").append(std::to_string(port()));
}

bool operator==(const SocketAddr& a, const SocketAddr& b) noexcept {
  if (a.family() != b.family()) return false;
  if (a.is_v6()) {
    const auto *x = v6(a.storage_), *y = v6(b.storage_);
    return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
           std::memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
  }
  const auto *x = v4(a.storage_), *y = v4(b.storage_);
  return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
}

}  // namespace weft
