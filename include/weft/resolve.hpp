/// @file
/// weft/resolve.hpp — host name resolution without blocking a worker thread.
///
/// @verbatim
///   std::vector<weft::SocketAddr> addrs = weft::resolve("localhost", 8080);
///   weft::TcpStream s = weft::TcpStream::connect(addrs.front());
///   // or simply: weft::TcpStream::connect("localhost", 8080);
///
/// getaddrinfo blocks, so resolve() runs it on the blocking pool (weft/blocking.hpp) and suspends
/// the calling fiber meanwhile; a numeric address ("127.0.0.1", "::1") is parsed at once without
/// the pool, and from a plain thread the lookup runs on that thread. Results keep getaddrinfo's
/// order (by default: the addresses to try first come first), without duplicates, IPv4 and IPv6
/// alike. Failures throw weft::IoError with a resolve_category() code ("resolve nope.invalid:
/// Name or service not known (EAI_NONAME)").
///
/// Cancellation: the caller throws weft::Cancelled at once; a lookup that has not started is
/// dropped, one in progress finishes in the background (getaddrinfo cannot be interrupted) and its
/// result is discarded.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/socket_addr.hpp>

#include <cstdint>
#include <string_view>
#include <vector>

WEFT_API_BEGIN

namespace weft {

/// Which addresses resolve() returns: IPv4 and IPv6 (Any), or only one family.
enum class AddressFamily { Any, V4, V6 };

/// Addresses for `host` (a name or a numeric address) with `port`, for stream sockets.
std::vector<SocketAddr> resolve(std::string_view host, std::uint16_t port, AddressFamily family = AddressFamily::Any);

}  // namespace weft

WEFT_API_END
