// IoError: messages that say what failed, why (with the errno's name), and what to do.
#include <weft/io_error.hpp>

#include <netdb.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace weft {

namespace {

class IoCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "weft.io"; }
  std::string message(int c) const override {
    switch (static_cast<IoErrc>(c)) {
      case IoErrc::unexpected_eof: return "the stream ended before the expected number of bytes arrived";
    }
    return "unknown weft I/O error " + std::to_string(c);
  }
};

class ResolveCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "weft.resolve"; }
  std::string message(int c) const override { return ::gai_strerror(c); }
};

const char* eai_name(int c) {
  switch (c) {
    case EAI_AGAIN: return "EAI_AGAIN";
    case EAI_BADFLAGS: return "EAI_BADFLAGS";
    case EAI_FAIL: return "EAI_FAIL";
    case EAI_FAMILY: return "EAI_FAMILY";
    case EAI_MEMORY: return "EAI_MEMORY";
    case EAI_NONAME: return "EAI_NONAME";
    case EAI_SERVICE: return "EAI_SERVICE";
    case EAI_SOCKTYPE: return "EAI_SOCKTYPE";
    case EAI_SYSTEM: return "EAI_SYSTEM";
#ifdef EAI_NODATA
    case EAI_NODATA: return "EAI_NODATA";
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY: return "EAI_ADDRFAMILY";
#endif
    default: return nullptr;
  }
}

// What to do about the errors people actually meet.
const char* hint(int e) {
  switch (e) {
    case ECONNREFUSED: return "nothing is listening at that address";
    case EADDRINUSE: return "another socket is bound there; choose another address or stop the other server";
    case EADDRNOTAVAIL: return "the address is not local, or no ephemeral port is free";
    case EMFILE:
      return "the process's file descriptor limit is reached; close unused descriptors or raise RLIMIT_NOFILE "
             "(ulimit -n)";
    case ENFILE: return "the system-wide limit on open files is reached (fs.file-max)";
    case EACCES: return "permission denied (ports below 1024 need privileges; check file permissions)";
    case EPIPE:
    case ECONNRESET: return "the peer closed the connection; close this socket";
    case ETIMEDOUT: return "no answer in time";
    case ENETUNREACH:
    case EHOSTUNREACH: return "no route to that host";
    case ENOTCONN: return "the socket is not connected";
    case ENOTSOCK: return "this descriptor is not a socket";
    default: return nullptr;
  }
}

std::string format(const std::error_code& code, const std::string& op) {
  std::string s = op + ": " + code.message();
  if (code.category() == std::system_category()) {
    if (const char* n = ::strerrorname_np(code.value())) s += std::string(" (") + n + ")";
    if (const char* h = hint(code.value())) s += std::string("; ") + h;
  } else if (code.category() == resolve_category()) {
    if (const char* n = eai_name(code.value())) s += std::string(" (") + n + ")";
    if (code.value() == EAI_NONAME) s += "; check the host name, or that it has an address of the requested family";
    if (code.value() == EAI_AGAIN) s += "; the name server did not answer, try again later";
  }
  return s;
}

}  // namespace

const std::error_category& io_category() noexcept {
  static const IoCategory c;
  return c;
}

const std::error_category& resolve_category() noexcept {
  static const ResolveCategory c;
  return c;
}

IoError::IoError(std::error_code code, std::string operation)
    : Error(format(code, operation)), code_(code), operation_(std::move(operation)) {}

IoError::IoError(int errno_value, std::string operation)
    : IoError(std::error_code(errno_value, std::system_category()), std::move(operation)) {}

int IoError::errno_value() const noexcept {
  return code_.category() == std::system_category() ? code_.value() : 0;
}

}  // namespace weft
