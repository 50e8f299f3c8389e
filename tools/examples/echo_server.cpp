// echo_server: the smallest useful weft server — one fiber per connection, blocking-style code.
//   build/tools/echo_server            then: nc 127.0.0.1 8080
#include <weft/weft.hpp>

int main() {
  weft::Runtime rt;  // one worker thread per core
  rt.block_on([] {
    weft::TcpListener listener = weft::TcpListener::bind(weft::SocketAddr::loopback_v4(8080));
    for (;;) {
      weft::TcpStream conn = listener.accept();  // suspends this fiber, not the thread
      weft::spawn([c = std::move(conn)]() mutable {
        char buf[4096];
        try {
          while (std::size_t n = c.read(buf, sizeof buf)) c.write_all(buf, n);
        } catch (const weft::IoError&) {
          // the peer reset the connection: this fiber ends, the server goes on
        }
      }).detach();
    }
  });
}
