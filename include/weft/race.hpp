/// @file
/// weft/race.hpp — race alternatives; the first to finish wins, the others are cancelled.
///
/// @verbatim
///   auto r = weft::race(
///       [&] { return fetch(primary); },                  // alternative 0 -> std::string
///       [&] { weft::sleep(100ms); });                     // alternative 1 -> void (monostate)
///   if (r.index() == 0) use(std::get<0>(r)); else std::puts("timed out");
///
/// race(f0, f1, ...) runs each alternative in its own child fiber, waits for the first to finish,
/// cancels the others **and waits until they have unwound** (so alternatives may borrow the
/// caller's locals, and every guard they hold is released before race returns). It returns a
/// std::variant whose index is the winner's position, holding its value (std::monostate for a
/// void alternative). If the winner panicked, its exception is rethrown (after the losers are
/// gone). Cancelling the caller cancels every alternative. Must be called from a fiber.
///
/// This was weft::select: the name differed from weft::Select (weft/channel_select.hpp, Go's
/// select over channel operations, in the calling fiber) only by case. weft/select.hpp keeps the
/// old name as a deprecated alias.
/// @endverbatim
#pragma once

#include <weft/detail/config.hpp>
#include <weft/detail/join_set_core.hpp>
#include <weft/error.hpp>
#include <weft/task.hpp>

#include <array>
#include <cstddef>
#include <exception>
#include <source_location>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

WEFT_API_BEGIN

namespace weft {

namespace detail {
template <class T>
using race_value_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

[[noreturn]] void race_winner_cancelled();

template <class Variant, std::size_t I, class T>
Variant race_take(FiberBase* f) {
  auto* t = static_cast<TaskOf<T>*>(f);
  Result<T> r = t->take_result();
  if (!r) {
    if (r.error().is_panic()) std::rethrow_exception(r.error().panic());
    race_winner_cancelled();
  }
  if constexpr (std::is_void_v<T>) {
    return Variant(std::in_place_index<I>);
  } else {
    return Variant(std::in_place_index<I>, std::move(*r));
  }
}

template <class... F, std::size_t... I>
auto race_impl(const std::source_location& loc, std::index_sequence<I...>, F&&... fs) {
  using Variant = std::variant<race_value_t<spawn_result_t<F>>...>;
  JoinSetCore core{"weft::race"};  // on any exit: aborts the alternatives and waits for them
  std::array<FiberBase*, sizeof...(F)> alts{};
  ((alts[I] = make_task(std::forward<F>(fs)),
    core.spawn(alts[I], Options{.name = "race#" + std::to_string(I)}, loc)),
   ...);
  FiberBase* winner = core.next(true);
  core.shutdown();  // cancel and wait for the losers before anything else
  struct Release {
    FiberBase* f;
    ~Release() { f->release(); }
  } keep{winner};
  using Taker = Variant (*)(FiberBase*);
  constexpr Taker takers[] = {&race_take<Variant, I, spawn_result_t<F>>...};
  std::size_t index = 0;
  while (alts[index] != winner) ++index;
  return takers[index](winner);
}
}  // namespace detail

/// Races the alternatives, each in its own child fiber: the first to finish wins, the others are
/// cancelled and waited for. Returns a std::variant holding the winner's value at the winner's
/// index (std::monostate for a void alternative). See weft/race.hpp.
template <class... F>
auto race(F&&... fs) {
  static_assert(sizeof...(F) >= 1, "weft::race needs at least one alternative");
  return detail::race_impl(std::source_location::current(), std::index_sequence_for<F...>{},
                             std::forward<F>(fs)...);
}

}  // namespace weft

WEFT_API_END
