// Turning code addresses into text for dumps, stall reports and fatal reports (lib/introspect/symbolize.cpp).
//
// With elfutils libdw (built in when meson finds it, WEFT_HAVE_LIBDW): every frame gets its
// function (from the ELF symbol table, so static functions and lambdas are named too), its source
// file:line when the module has debug info, and one extra frame per inlined call at that address.
// Without libdw, or for a module libdw cannot read: dladdr's dynamic symbols, "function+0xoff
// (module)" or "module+0xoff" (the weft/dump.hpp contract, and what weft::detail::symbolize gave
// before libdw).
//
// Thread-safe (one lock around libdw's state and a cache of resolved addresses); not
// async-signal-safe: signal handlers record raw addresses and symbolize later, on another thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace weft::detail {

// The frames at code address `pc`, innermost first: the inlined calls (marked "(inlined)"), then
// the function that contains `pc`. For a return address, pass the address of the call (pc - 1).
// Names are shortened (shorten_templates) unless the environment has WEFT_FULL_NAMES=1.
std::vector<std::string> symbolize_frames(const void* pc);

// True when this build resolves source lines (it was built with libdw).
bool symbolize_has_source_lines() noexcept;

// Template argument lists longer than `keep` characters (after shortening the lists nested in them)
// become "<...>": "std::chrono::duration<long, std::ratio<1l, 1000000000l> >" reads
// "std::chrono::duration<...>", "weft::JoinHandle<int>" stays. Operators (operator<, operator<<,
// operator<=>, operator->) are left alone.
std::string shorten_templates(std::string_view name, std::size_t keep = 24);

}  // namespace weft::detail
