// mpsc: the non-template parts (errors). The channel itself is a template in weft/mpsc.hpp; its
// waits go through detail::wait_any (lib/sched/waiter.cpp).
#include <weft/mpsc.hpp>

#include <string>

namespace weft::detail {

void mpsc_throw_bad_capacity() {
  throw Error("weft::mpsc::channel: capacity 0 is not allowed (a bounded channel holds at least one message); "
              "pass a capacity >= 1, or use mpsc::unbounded_channel() for no limit");
}

void mpsc_throw_no_channel(const char* op) {
  throw Error(std::string("weft::mpsc: ") + op +
              " on a Sender/Receiver that has no channel (default-constructed or moved-from); get one from "
              "mpsc::channel() or mpsc::unbounded_channel()");
}

}  // namespace weft::detail
