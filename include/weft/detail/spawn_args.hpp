// weft/detail/spawn_args.hpp — `spawn(f, args...)` like std::thread, keeping the spawn site.
// Internal: users never name these.
//
// Why overloads and not one variadic template: the spawn site is captured by a defaulted trailing
// `std::source_location` parameter, and a parameter pack followed by another parameter is never
// deduced, so `spawn(F&&, A&&..., loc = current())` cannot work. Each spawn entry point therefore
// keeps its one-callable form and adds the forms with one to WEFT_MAX_SPAWN_ARGS bound arguments
// by expanding WEFT_DETAIL_BOUND_SPAWNS (below) once. More arguments than that: bind them in a
// lambda.
#pragma once

#include <weft/detail/config.hpp>

#include <concepts>
#include <functional>
#include <source_location>
#include <stop_token>
#include <type_traits>
#include <utility>

#define WEFT_MAX_SPAWN_ARGS 4

WEFT_API_BEGIN

namespace weft {
struct Options;
namespace detail {

// Like std::thread: the callable and every argument are decay-copied into the fiber's closure when
// spawn is called, and handed to the callable as rvalues when the fiber runs (so a parameter of
// type T& does not bind; pass std::ref(x) to share x). The closure owns its copies, so arguments
// may be temporaries of the spawning fiber.
//
// Also like std::jthread: if f cannot be called with the arguments alone but can be with a
// std::stop_token before them, the closure takes that token (the fiber's, weft/task.hpp) and
// passes it first.
template <class F, class... A>
auto bind_spawn_args(F&& f, A&&... a) {
  if constexpr (std::is_invocable_v<std::decay_t<F>, std::decay_t<A>...>) {
    return [f = std::forward<F>(f), ... a = std::forward<A>(a)]() mutable -> decltype(auto) {
      return std::invoke(std::move(f), std::move(a)...);
    };
  } else {
    static_assert(std::is_invocable_v<std::decay_t<F>, std::stop_token, std::decay_t<A>...>,
                  "weft::spawn(f, args...): f cannot be called with these arguments, nor with a "
                  "std::stop_token before them (they are decay-copied and passed as rvalues, like "
                  "std::thread; use std::ref(x) to pass a reference)");
    return [f = std::forward<F>(f), ... a = std::forward<A>(a)](std::stop_token st) mutable -> decltype(auto) {
      return std::invoke(std::move(f), std::move(st), std::move(a)...);
    };
  }
}

// The bound-argument overloads step aside for the forms they would shadow: `spawn(Options, f)`
// (first argument an Options) and an explicit trailing source_location (an entry point forwarding
// its caller's site).
template <class F, class... A>
concept spawn_bindable = !std::is_same_v<std::remove_cvref_t<F>, Options> &&
                         (!std::is_same_v<std::remove_cvref_t<A>, std::source_location> && ...);

}  // namespace detail
}  // namespace weft

#define WEFT_DETAIL_UNPAREN(...) __VA_ARGS__
// The argument-binding overloads of one spawn entry point, for one..four arguments:
//   NAME(f, a1...)        and  NAME(opts, f, a1...)
// both bind (f, a1...) into one callable (bind_spawn_args) and call TARGET(opts, bound, loc), the
// entry point's own one-callable form. RET: the return type with its attributes, parenthesised
// (`([[nodiscard("...")]] auto)`, `(void)`); QUALS: what follows the parameter list (`const` or
// nothing). Every entry point (spawn, Handle/Runtime::spawn, JoinSet/Scope::spawn, spawn_local,
// spawn_blocking, TaskTracker::spawn) expands this once.
#define WEFT_DETAIL_BOUND_SPAWNS(RET, NAME, QUALS, TARGET)                                           \
  WEFT_DETAIL_BOUND_SPAWN_PAIR(RET, NAME, QUALS, TARGET, (class A1), (A1 && a1),                    \
                               (std::forward<A1>(a1)), (A1))                                        \
  WEFT_DETAIL_BOUND_SPAWN_PAIR(RET, NAME, QUALS, TARGET, (class A1, class A2), (A1 && a1, A2 && a2), \
                               (std::forward<A1>(a1), std::forward<A2>(a2)), (A1, A2))              \
  WEFT_DETAIL_BOUND_SPAWN_PAIR(RET, NAME, QUALS, TARGET, (class A1, class A2, class A3),            \
                               (A1 && a1, A2 && a2, A3 && a3),                                      \
                               (std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3)),  \
                               (A1, A2, A3))                                                        \
  WEFT_DETAIL_BOUND_SPAWN_PAIR(RET, NAME, QUALS, TARGET, (class A1, class A2, class A3, class A4),  \
                               (A1 && a1, A2 && a2, A3 && a3, A4 && a4),                            \
                               (std::forward<A1>(a1), std::forward<A2>(a2), std::forward<A3>(a3),   \
                                std::forward<A4>(a4)),                                              \
                               (A1, A2, A3, A4))
// The RET of the entry points that return a JoinHandle.
#define WEFT_DETAIL_JOIN_HANDLE_RET \
  ([[nodiscard("dropping a JoinHandle detaches the fiber; call .detach() to say so")]] auto)
#define WEFT_DETAIL_BOUND_SPAWN_PAIR(RET, NAME, QUALS, TARGET, TP, PP, FP, TYPES)                   \
  template <class F, WEFT_DETAIL_UNPAREN TP>                                                         \
    requires ::weft::detail::spawn_bindable<F, WEFT_DETAIL_UNPAREN TYPES>                            \
  WEFT_DETAIL_UNPAREN RET NAME(F&& fn, WEFT_DETAIL_UNPAREN PP,                                       \
                               const std::source_location& loc = std::source_location::current())   \
      QUALS {                                                                                        \
    return TARGET(::weft::Options{},                                                                 \
                  ::weft::detail::bind_spawn_args(std::forward<F>(fn), WEFT_DETAIL_UNPAREN FP), loc); \
  }                                                                                                  \
  template <class F, WEFT_DETAIL_UNPAREN TP>                                                         \
    requires ::weft::detail::spawn_bindable<F, WEFT_DETAIL_UNPAREN TYPES>                            \
  WEFT_DETAIL_UNPAREN RET NAME(::weft::Options opts, F&& fn, WEFT_DETAIL_UNPAREN PP,                 \
                               const std::source_location& loc = std::source_location::current())   \
      QUALS {                                                                                        \
    return TARGET(std::move(opts),                                                                   \
                  ::weft::detail::bind_spawn_args(std::forward<F>(fn), WEFT_DETAIL_UNPAREN FP), loc); \
  }

WEFT_API_END
