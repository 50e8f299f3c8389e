// weft/detail/config.hpp — what every public header needs first: the compiler check and the
// symbol-visibility markers.
#pragma once

// weft uses C++20 throughout (concepts, std::source_location, std::stop_token, <bit>...). The checks
// come before any standard header so that an old compiler or language level gets this message, not
// an error from deep inside a weft header.
#if !defined(__cplusplus) || __cplusplus < 202002L
#error "weft needs C++20 or later: compile with -std=c++20 (or gnu++20, c++23...); g++ >= 11 or clang++ >= 16"
#endif
#if defined(__clang__) && __clang_major__ < 16
// clang 14/15 lack a usable std::source_location (every spawn records its call site with it).
#error "weft needs clang++ 16 or later (std::source_location), or g++ 11 or later"
#elif defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 11
#error "weft needs g++ 11 or later, or clang++ 16 or later"
#endif

// libweft.so is built with -fvisibility=hidden (plus lib/weft.map): only what the public headers
// declare is exported. Each public header wraps its declarations in WEFT_API_BEGIN/WEFT_API_END,
// which covers the inline and template code too: an inline variable or a function-local static in
// a header must have one address program-wide (dumps compare WaitDesc addresses), so it must not be
// hidden in the library while the program has its own copy.
//
// A header that names a library-internal type (Worker, Scheduler...) forward-declares it between
// WEFT_INTERNAL_BEGIN/END: under g++, a class first declared inside a default-visibility region
// keeps default visibility when lib/ defines it, which would export all its members.
#define WEFT_API_BEGIN _Pragma("GCC visibility push(default)")
#define WEFT_API_END _Pragma("GCC visibility pop")
#define WEFT_INTERNAL_BEGIN _Pragma("GCC visibility push(hidden)")
#define WEFT_INTERNAL_END _Pragma("GCC visibility pop")
