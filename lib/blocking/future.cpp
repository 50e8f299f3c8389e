// weft::wait(std::future): the non-template parts (errors). The wait is a template in weft/future.hpp.
#include <weft/future.hpp>

#include <string>

namespace weft::detail {

void future_throw_invalid(const char* what) {
  throw Error(std::string("weft::wait: the ") + what +
              " has no shared state (default-constructed, moved-from, or its value was already taken)");
}

}  // namespace weft::detail
