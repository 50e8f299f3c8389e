/// @file
/// weft/stream_socket.hpp — the byte-stream operations shared by TcpStream and UnixStream.
///
/// @verbatim
///   void greet(weft::StreamSocket& s) {                // works for TCP and Unix streams alike
///     s.write_all("hello\n");
///     char buf[64];
///     std::size_t n = s.read(buf, sizeof buf);         // 0 = the peer closed its side (EOF)
///     if (n == 0) return;
///     std::optional<std::size_t> m = weft::timeout(std::chrono::seconds(1), [&] { return s.read(buf, sizeof buf); });
///     if (!m) std::puts("no reply within 1 s");        // the read was cancelled; nothing was consumed
///   }
///
/// Every operation suspends the calling fiber, never the thread, while the socket is not ready
/// (from a plain thread it blocks that thread instead). Each is a suspension point: if the fiber
/// is cancelled (abort, timeout, shutdown) it throws weft::Cancelled — on entry, or while
/// waiting. What a cancelled call did is stated per call below: single calls (read, write, their
/// vectored forms) guarantee that *nothing* was transferred; the looping ones (read_exact,
/// write_all) report through `progress` how much was. Failures throw weft::IoError; EOF is not an
/// error for read (it returns 0); writing to a closed peer is an IoError (EPIPE/ECONNRESET), never
/// a SIGPIPE.
///
/// Threads: one fiber may read while another writes (a common split); two fibers reading (or two
/// writing) at once interleave their data unpredictably. However many fibers wait on one socket,
/// at most one per direction holds a watcher on a libev loop; the others queue behind it. Never close or destroy a socket while
/// another fiber is suspended in an operation on it: cancel and join that fiber first, or wake it
/// with shutdown(Shutdown::Read) (its read returns 0).
///
/// Fairness: a fiber whose reads and writes never have to wait (a fast peer) yields to other
/// fibers every 64 operations, so one busy connection cannot starve a worker.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/owned_fd.hpp>
#include <weft/socket.hpp>

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

WEFT_API_BEGIN

namespace weft {


/// Which half of a stream StreamSocket::shutdown() closes: the read half, the write half, or both.
enum class Shutdown { Read, Write, Both };

/// The operations every connected byte stream shares (TcpStream, UnixStream): reads and writes that
/// suspend the calling fiber instead of blocking its worker. Owns its descriptor. See
/// weft/stream_socket.hpp for the cancellation and threading rules.
class StreamSocket : public Socket {
 public:
  /// Reads at most `len` bytes into `buf`, waiting until at least one is available. Returns the
  /// count, or 0 at EOF (or if `len` is 0). Cancelled: no byte was consumed.
  std::size_t read(void* buf, std::size_t len);
  /// Reads exactly `len` bytes. Throws IoError (is_eof()) if the stream ends first. On every exit
  /// — return, IoError, Cancelled — `*progress` (if given) holds the bytes stored in `buf` so far;
  /// those are consumed from the stream.
  void read_exact(void* buf, std::size_t len, std::size_t* progress = nullptr);
  /// As read, scattering into several buffers (readv). Cancelled: nothing consumed.
  std::size_t read_vectored(std::span<const iovec> bufs);

  /// Writes at most `len` bytes, waiting until the socket can take at least one. Returns the count
  /// (may be less than len). Cancelled: nothing was sent.
  std::size_t write(const void* buf, std::size_t len);
  /// Writes all `len` bytes. On every exit `*progress` (if given) holds how many were handed to the
  /// kernel. After a Cancelled or an IoError the peer may have received a prefix: unless you track
  /// `progress`, treat the stream as broken and close it.
  void write_all(const void* buf, std::size_t len, std::size_t* progress = nullptr);
  /// write_all() for the bytes of `data`.
  void write_all(std::string_view data, std::size_t* progress = nullptr) {
    write_all(data.data(), data.size(), progress);
  }
  /// As write, gathering from several buffers (sendmsg). Cancelled: nothing was sent.
  std::size_t write_vectored(std::span<const iovec> bufs);
  /// All bytes of all buffers, in order; `progress` as for write_all (a total over the buffers).
  void write_all_vectored(std::span<const iovec> bufs, std::size_t* progress = nullptr);

  /// Closes the read half (a suspended read returns 0, later reads return 0), the write half (the
  /// peer reads EOF once it has everything sent so far), or both. Never suspends.
  void shutdown(Shutdown how);

 protected:
  /// A closed socket (no fd) gets no I/O state; every operation on it throws weft::Error.
  StreamSocket(detail::OwnedFd fd, const char* kind) : Socket(std::move(fd), kind) {}
  /// Takes over `o`'s descriptor and I/O state; `o` becomes closed.
  StreamSocket(StreamSocket&&) noexcept = default;
  /// Closes this socket, then takes over the other's descriptor; the other becomes closed.
  StreamSocket& operator=(StreamSocket&&) noexcept = default;
  ~StreamSocket() = default;

  /// "TcpStream::read (127.0.0.1:5000 -> 127.0.0.1:40000)": names the call for error messages.
  std::string context(const char* op) const;
};

}  // namespace weft

WEFT_API_END
