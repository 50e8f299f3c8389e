// JSON text for the tools' outputs (traces, dumps, deadlock reports, top snapshots): one string
// writer, so every output escapes the same way. Control characters become \u00XX (a fiber name or
// a symbol may hold any byte); bytes >= 0x80 pass through (UTF-8 stays UTF-8).
#pragma once

#include <cstdio>
#include <ostream>
#include <string_view>

namespace weft::detail {

inline void json_string(std::ostream& os, std::string_view s) {
  os << '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      os << '\\' << ch;
    } else if (c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      os << b;
    } else {
      os << ch;
    }
  }
  os << '"';
}

}  // namespace weft::detail
