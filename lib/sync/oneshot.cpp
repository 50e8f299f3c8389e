// oneshot: the non-template parts (errors). The channel is a template in weft/oneshot.hpp.
#include <weft/oneshot.hpp>

#include <string>

namespace weft::detail {

void oneshot_throw_no_channel(const char* op) {
  throw Error(std::string("weft::oneshot: ") + op +
              " on a Sender/Receiver that has no channel (default-constructed, moved-from, or a sender that "
              "already sent); get a pair from oneshot::channel()");
}

void oneshot_throw_taken() {
  throw Error("weft::oneshot::Receiver::recv: the value was already received; a oneshot channel carries one "
              "value (use an mpsc channel for a stream)");
}

}  // namespace weft::detail
