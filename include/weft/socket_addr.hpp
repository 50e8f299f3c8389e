/// @file
/// weft/socket_addr.hpp — an IPv4 or IPv6 address with a port.
///
/// @verbatim
///   weft::SocketAddr a = weft::SocketAddr::loopback_v4(8080);          // 127.0.0.1:8080
///   weft::SocketAddr b("::1", 8080);                                    // [::1]:8080
///   std::optional<weft::SocketAddr> c = weft::SocketAddr::parse("10.0.0.7:443");
///   std::printf("%s, port %u\n", a.to_string().c_str(), unsigned(a.port()));
///
/// Numeric addresses only: names go through weft::resolve (weft/resolve.hpp). A value type (a
/// sockaddr_storage inside), cheap to copy, comparable, printable ("1.2.3.4:80", "[::1]:80").
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

WEFT_API_BEGIN

namespace weft {

/// An IPv4 or IPv6 address with a port, as the socket calls take it (a sockaddr_storage).
class SocketAddr {
 public:
  /// 0.0.0.0:0 (an "unspecified" address; binding to it picks any interface and a free port).
  SocketAddr() noexcept;
  /// A numeric IPv4 ("127.0.0.1") or IPv6 ("::1", "fe80::1%eth0") address; throws weft::Error if
  /// `ip` is not one (resolve host names with weft::resolve).
  SocketAddr(std::string_view ip, std::uint16_t port);

  static SocketAddr loopback_v4(std::uint16_t port) noexcept;  ///< 127.0.0.1
  static SocketAddr loopback_v6(std::uint16_t port) noexcept;  ///< ::1
  static SocketAddr any_v4(std::uint16_t port) noexcept;       ///< 0.0.0.0
  static SocketAddr any_v6(std::uint16_t port) noexcept;       ///< ::
  /// "1.2.3.4:80" or "[::1]:80"; nullopt if `text` is not of that form.
  static std::optional<SocketAddr> parse(std::string_view text);
  /// A numeric address without the port ("::1") and a port; nullopt if `ip` is not numeric.
  static std::optional<SocketAddr> from_ip(std::string_view ip, std::uint16_t port);
  /// From a sockaddr of family AF_INET or AF_INET6; throws weft::Error for any other family.
  static SocketAddr from_native(const sockaddr* sa, socklen_t len);

  /// An IPv4 address.
  bool is_v4() const noexcept { return storage_.ss_family == AF_INET; }
  /// An IPv6 address.
  bool is_v6() const noexcept { return storage_.ss_family == AF_INET6; }
  /// AF_INET or AF_INET6.
  int family() const noexcept { return storage_.ss_family; }
  /// The port, in host byte order.
  std::uint16_t port() const noexcept;
  /// Replaces the port (host byte order).
  void set_port(std::uint16_t port) noexcept;
  /// The address without the port ("127.0.0.1", "::1").
  std::string ip() const;
  /// "127.0.0.1:80", "[::1]:80".
  std::string to_string() const;

  /// The address for the socket calls (bind, connect, sendto), with native_len().
  const sockaddr* native() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  /// The size of native()'s structure: sizeof(sockaddr_in) or sizeof(sockaddr_in6).
  socklen_t native_len() const noexcept;

  friend bool operator==(const SocketAddr& a, const SocketAddr& b) noexcept;

 private:
  sockaddr_storage storage_;
};

}  // namespace weft

WEFT_API_END
