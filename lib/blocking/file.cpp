// read_file / write_file on the blocking pool.
#include <weft/blocking.hpp>
#include <weft/file.hpp>
#include <weft/io_error.hpp>
#include <weft/this_fiber.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>
#include <string>

namespace weft {

namespace {

[[noreturn]] void fail(const char* op, const std::filesystem::path& p) {
  const int e = errno;  // before the message allocates
  throw IoError(e, std::string(op) + " " + p.string());
}

std::string read_now(const std::filesystem::path& path) {
  int fd;
  do fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) fail("read_file", path);
  std::string out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      const int e = errno;
      ::close(fd);
      errno = e;
      fail("read_file", path);
    }
  }
  ::close(fd);
  return out;
}

void write_now(const std::filesystem::path& path, std::string_view data) {
  // Written beside the target and renamed over it, so readers (and a cancelled caller) see the old
  // contents or the new, never a partial file.
  std::filesystem::path tmp = path;
  tmp += ".weft-tmp-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}());
  int fd;
  do fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) fail("write_file", path);
  auto bail = [&] {
    const int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    errno = e;
    fail("write_file", path);
  };
  // Keep an existing file's permissions.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) ::fchmod(fd, st.st_mode & 07777);
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      bail();
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    errno = e;
    fail("write_file", path);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    errno = e;
    fail("write_file", path);
  }
}

// Runs `fn` on the pool and waits; a cancelled caller aborts it (effective only if not started).
template <class F>
auto on_pool(const char* name, F fn) {
  auto h = spawn_blocking(Options{.name = name}, std::move(fn));
  try {
    return std::move(h.join()).value();  // rethrows the IoError raised on the pool thread
  } catch (const Cancelled&) {
    h.abort();
    throw;
  }
}

}  // namespace

std::string read_file(const std::filesystem::path& path) {
  if (!this_fiber::in_fiber()) return read_now(path);
  return on_pool("read_file", [path] { return read_now(path); });
}

void write_file(const std::filesystem::path& path, std::string_view data) {
  if (!this_fiber::in_fiber()) return write_now(path, data);
  on_pool("write_file", [path, copy = std::string(data)] { write_now(path, copy); });
}

}  // namespace weft
