// resolve(): getaddrinfo on the blocking pool.
#include <weft/blocking.hpp>
#include <weft/io_error.hpp>
#include <weft/resolve.hpp>
#include <weft/this_fiber.hpp>

#include <netdb.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace weft {

namespace {

std::vector<SocketAddr> lookup(const std::string& host, std::uint16_t port, AddressFamily family) {
  addrinfo hints{};
  hints.ai_family = family == AddressFamily::V4 ? AF_INET : family == AddressFamily::V6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* res = nullptr;
  const std::string what = "resolve " + host;
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc == EAI_NONAME || rc == EAI_ADDRFAMILY) {
    // AI_ADDRCONFIG hides loopback-only families on hosts without other addresses; ask again.
    hints.ai_flags = 0;
    rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  }
  if (rc == EAI_SYSTEM) throw IoError(errno, what);
  if (rc != 0) throw IoError(std::error_code(rc, resolve_category()), what);
  std::vector<SocketAddr> out;
  for (addrinfo* a = res; a; a = a->ai_next) {
    if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
    SocketAddr s = SocketAddr::from_native(a->ai_addr, a->ai_addrlen);
    s.set_port(port);
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  ::freeaddrinfo(res);
  if (out.empty()) throw IoError(std::error_code(EAI_NONAME, resolve_category()), what);
  return out;
}

bool family_ok(const SocketAddr& a, AddressFamily f) {
  return f == AddressFamily::Any || (f == AddressFamily::V4 ? a.is_v4() : a.is_v6());
}

}  // namespace

std::vector<SocketAddr> resolve(std::string_view host, std::uint16_t port, AddressFamily family) {
  std::string name(host);
  if (name.size() > 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
  if (std::optional<SocketAddr> numeric = SocketAddr::from_ip(name, port)) {
    if (!family_ok(*numeric, family)) {
      throw IoError(std::error_code(EAI_ADDRFAMILY, resolve_category()), "resolve " + name);
    }
    return {*numeric};
  }
  if (name.empty()) throw IoError(std::error_code(EAI_NONAME, resolve_category()), "resolve (empty host name)");
  if (!this_fiber::in_fiber()) return lookup(name, port, family);
  auto h = spawn_blocking(Options{.name = "resolve"}, [name, port, family] { return lookup(name, port, family); });
  try {
    return std::move(h.join()).value();  // rethrows the lookup's IoError
  } catch (const Cancelled&) {
    h.abort();  // drops it if it has not started
    throw;
  }
}

}  // namespace weft
