/// @file
/// weft/file.hpp — whole-file reads and writes that do not block a worker thread.
///
/// @verbatim
///   std::string config = weft::read_file("/etc/hostname");
///   weft::write_file("/tmp/out.txt", "hello\n");
///
/// Regular files cannot be waited on with epoll, so these run on the blocking pool
/// (weft/blocking.hpp) and suspend the calling fiber meanwhile; from a plain thread they simply run
/// on that thread. Failures throw weft::IoError naming the call and the path ("read_file
/// /nope: No such file or directory (ENOENT)").
///
/// Cancellation (the wait is a suspension point): the calling fiber throws weft::Cancelled at once.
/// If the pool had not started the operation yet it never will (the file is untouched); if it had,
/// it runs to completion in the background and its result is dropped — so after a cancelled
/// write_file the file holds either its old contents or all of `data` (it is written to a temporary
/// file in the same directory and renamed into place), never a mix.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <filesystem>
#include <string>
#include <string_view>

WEFT_API_BEGIN

namespace weft {

/// The whole file's contents.
std::string read_file(const std::filesystem::path& path);
/// Replaces the file's contents with `data` atomically for readers (write a temporary file beside
/// it, then rename it over `path`; no fsync, so not crash-durable), keeping an existing file's
/// permissions or creating it with 0666 & ~umask. A symlink at `path` is replaced, not followed.
/// `data` is copied for the pool thread.
void write_file(const std::filesystem::path& path, std::string_view data);

}  // namespace weft

WEFT_API_END
