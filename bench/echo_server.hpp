// echo_server.hpp — the echo server of doc/bench.md's `echo` workload. Shared by
// weft_bench (`weft_bench echo_server --port P`, the server that is measured) and
// tests/stress/echo_test.cpp (which abuses it), so the server that is benchmarked is the one that
// is tested.
//
//   weft::TcpListener l = weft::TcpListener::bind(weft::SocketAddr::loopback_v4(port));
//   auto server = weft::spawn([&] { weft_echo::serve(l); });   // runs until cancelled
//   ...
//   server.abort();
//   server.join();                                              // every connection has unwound
//
// One fiber accepts; each connection gets a fiber that reads into a 4096-byte buffer and writes
// back everything it read, until EOF. Memory per connection is bounded by that buffer and the
// fiber's stack: a client that stops reading blocks its own fiber in write_all (and then the
// kernel's buffers push back on the client), nobody else's.
#pragma once

#include <weft/weft.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>

namespace weft_echo {

// Optional counters for tests.
struct Stats {
  std::atomic<long> accepted{0};
  std::atomic<long> open{0};      // connections being served now
  std::atomic<long> max_open{0};  // the most served at once
};

inline void serve_connection(weft::TcpStream s, Stats* st) {
  if (st) {
    const long now = st->open.fetch_add(1) + 1;
    long seen = st->max_open.load();
    while (now > seen && !st->max_open.compare_exchange_weak(seen, now)) {
    }
  }
  struct Closed {
    Stats* st;
    ~Closed() {
      if (st) st->open.fetch_sub(1);
    }
  } closed{st};
  char buf[4096];
  try {
    while (const std::size_t n = s.read(buf, sizeof buf)) s.write_all(buf, n);
  } catch (const weft::IoError&) {
    // Reset by the peer (or similar): this connection is over, the server is not.
  }
}

// Accepts until cancelled. The connection fibers belong to a JoinSet: cancelling the server
// cancels them too and waits until each has unwound (closing its socket).
inline void serve(weft::TcpListener& listener, Stats* st = nullptr) {
  weft::JoinSet<void> conns;
  for (;;) {
    weft::TcpStream s = listener.accept();
    if (st) st->accepted.fetch_add(1);
    try {
      s.set_nodelay(true);
    } catch (const weft::IoError&) {
      continue;  // already reset by the peer
    }
    conns.spawn([s = std::move(s), st]() mutable { serve_connection(std::move(s), st); });
    while (conns.try_join_next()) {
    }  // reap finished connections, so the set stays as large as the live ones
  }
}

}  // namespace weft_echo
