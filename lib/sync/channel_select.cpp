// Select: the non-template parts. The waiting itself is detail::wait_any (lib/sched/waiter.cpp).
#include <weft/channel_select.hpp>

namespace weft::detail {

void select_throw_empty() {
  throw Error("weft::Select::run: no branches; add .recv(), .send(), .changed(), .notified() or .timeout() "
              "before run() (a Select with nothing to wait for would never return)");
}

}  // namespace weft::detail
