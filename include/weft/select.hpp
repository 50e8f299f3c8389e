/// @file
/// weft/select.hpp — the old name of weft::race (weft/race.hpp), kept so existing code builds.
///
/// @verbatim
///   auto r = weft::race([&] { return fetch(primary); }, [&] { weft::sleep(100ms); });
/// @endverbatim
///
/// weft::select(f0, f1, ...) raced functions in child fibers; its name differed from weft::Select
/// (channel operations in the calling fiber, weft/channel_select.hpp) only by case, so it is now
/// weft::race. This alias forwards to it and warns at every use; it will be removed in 1.0.
#pragma once

#include <weft/detail/config.hpp>
#include <weft/race.hpp>

#include <utility>

WEFT_API_BEGIN

namespace weft {

/// Deprecated: the same as weft::race (weft/race.hpp).
template <class... F>
[[deprecated("weft::select was renamed weft::race (weft/race.hpp); weft::Select is the channel select")]]
auto select(F&&... fs) {
  return race(std::forward<F>(fs)...);
}

}  // namespace weft

WEFT_API_END
