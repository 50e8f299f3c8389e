// watch: the non-template parts (errors). The channel is a template in weft/watch.hpp.
#include <weft/watch.hpp>

#include <string>

namespace weft::detail {

void watch_throw_no_channel(const char* op) {
  throw Error(std::string("weft::watch: ") + op +
              " on a Sender/Receiver that has no channel (default-constructed or moved-from); get one from "
              "watch::channel() or Sender::subscribe()");
}

}  // namespace weft::detail
