// broadcast: the non-template parts (errors). The channel is a template in weft/broadcast.hpp.
#include <weft/broadcast.hpp>

#include <string>

namespace weft::detail {

void broadcast_throw_bad_capacity() {
  throw Error("weft::broadcast::channel: capacity 0 is not allowed; the channel must keep at least one value "
              "for its receivers (pick how far a receiver may fall behind before it is told it lagged)");
}

void broadcast_throw_no_channel(const char* op) {
  throw Error(std::string("weft::broadcast: ") + op +
              " on a Sender/Receiver that has no channel (default-constructed or moved-from); get one from "
              "broadcast::channel() or Sender::subscribe()");
}

}  // namespace weft::detail
