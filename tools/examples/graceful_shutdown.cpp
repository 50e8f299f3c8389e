// graceful_shutdown: an echo server that stops cleanly on Ctrl-C (SIGINT) or SIGTERM.
//
//   build/tools/graceful_shutdown [port]     then: nc 127.0.0.1 <port>, type, Ctrl-C the server
//
// The pattern: route the signals to weft's signal thread (block_signals, before the runtime
// starts) and subscribe to them before anything else; run the server in a fiber whose connection fibers
// belong to a JoinSet; wait for a signal; cancel the server. Cancellation unwinds each connection
// fiber from wherever it is suspended (its read or write), RAII closes its socket, the JoinSet
// waits until every one has finished, and main returns 0.
#include <weft/weft.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  const auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 8080);
  weft::block_signals({SIGINT, SIGTERM});  // before the workers start: only weft's signal thread takes them
  weft::Runtime rt;
  return rt.block_on([&] {
    weft::SignalStream stop({SIGINT, SIGTERM});  // from here on, Ctrl-C is ours to handle
    weft::TcpListener listener = weft::TcpListener::bind(weft::SocketAddr::loopback_v4(port));
    std::printf("listening on %s; Ctrl-C to stop\n", listener.local_addr().to_string().c_str());
    std::fflush(stdout);

    auto server = weft::spawn([&] {
      weft::JoinSet<void> connections;  // its destructor cancels and waits for every connection
      for (;;) {
        weft::TcpStream conn = listener.accept();
        connections.spawn([c = std::move(conn)]() mutable {
          char buf[4096];
          try {
            while (std::size_t n = c.read(buf, sizeof buf)) c.write_all(buf, n);
          } catch (const weft::IoError&) {
            // reset by the peer: just this connection ends
          }
        });
        while (connections.try_join_next()) {
        }  // reap finished connections
      }
    });

    const int sig = stop.recv();
    std::printf("%s: cancelling the server and its connections\n", ::strsignal(sig));
    server.abort();
    (void)server.join();  // cancelled, as asked; returns once every connection fiber has unwound and closed its socket
    std::puts("all connections closed; exiting 0");
    return 0;
  });
}
