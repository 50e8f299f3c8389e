/// @file
/// weft/io_error.hpp — what a failed I/O call throws.
///
/// @verbatim
///   try {
///     weft::TcpStream s = weft::TcpStream::connect(weft::SocketAddr::loopback_v4(9));
///   } catch (const weft::IoError& e) {
///     std::puts(e.what());   // "TcpStream::connect 127.0.0.1:9: Connection refused (ECONNREFUSED);
///                            //  nothing is listening at that address"
///     if (e.code() == std::errc::connection_refused) { /* retry later */ }
///   }
///
/// An IoError carries the failing operation and an error code: an errno value (system_category),
/// a getaddrinfo EAI_* value (resolve_category()), or one of weft's own (io_category(): an
/// unexpected EOF in read_exact). Its message says what failed, why, and for the common cases
/// what to do. It derives from weft::Error, so `catch (const weft::Error&)` sees every weft
/// failure. Cancellation is never an IoError: it is weft::Cancelled (see weft/error.hpp).
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/error.hpp>

#include <string>
#include <system_error>

WEFT_API_BEGIN

namespace weft {

/// weft's own I/O conditions (io_category()).
enum class IoErrc {
  unexpected_eof = 1,  // read_exact: the peer closed the stream before enough bytes arrived
};

}  // namespace weft

template <>
struct std::is_error_code_enum<weft::IoErrc> : std::true_type {};

namespace weft {

/// The category of weft::IoErrc codes ("weft.io").
const std::error_category& io_category() noexcept;
/// getaddrinfo's EAI_* codes (negative ints on glibc), with gai_strerror messages.
const std::error_category& resolve_category() noexcept;

/// Lets an IoErrc convert to std::error_code (`code == IoErrc::unexpected_eof`).
inline std::error_code make_error_code(IoErrc e) noexcept { return {static_cast<int>(e), io_category()}; }

/// A failed socket, file or resolver operation: the error code, and the operation that failed.
class IoError : public Error {
 public:
  /// `operation` names the call and its object, e.g. "TcpStream::connect 127.0.0.1:9".
  IoError(std::error_code code, std::string operation);
  /// An errno value (system_category).
  IoError(int errno_value, std::string operation);

  /// The error: an errno value (system_category), an IoErrc, or a resolver error.
  const std::error_code& code() const noexcept { return code_; }
  /// The errno value if code() is in system_category, else 0.
  int errno_value() const noexcept;
  /// The call and its object, e.g. "TcpStream::connect 127.0.0.1:9".
  const std::string& operation() const noexcept { return operation_; }
  /// read_exact hit EOF first.
  bool is_eof() const noexcept { return code_ == IoErrc::unexpected_eof; }

 private:
  std::error_code code_;
  std::string operation_;
};

}  // namespace weft

WEFT_API_END
