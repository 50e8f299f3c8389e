// weft::Select: waits on several channel operations and a deadline in one fiber (or thread);
// exactly one operation takes effect per run(), also when selects race each other, when they time
// out, and when the selecting fiber is aborted at random points.
#include "sync_util.hpp"

#include <weft/broadcast.hpp>
#include <weft/channel_select.hpp>
#include <weft/mpsc.hpp>
#include <weft/notify.hpp>
#include <weft/oneshot.hpp>
#include <weft/watch.hpp>

#include <atomic>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using weft_sync_test::Rng;

namespace {

TEST_CASE("select: the header's usage example") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      auto [jobs_tx, jobs] = weft::mpsc::channel<int>(8);
      auto [quit_tx, quit] = weft::oneshot::channel<bool>();
      auto [out, results] = weft::mpsc::channel<int>(8);
      (void)jobs_tx.send(5);
      std::size_t fired = weft::Select()
          .recv(jobs, [&](std::optional<int> job) { std::printf("job %d\n", job.value_or(-1)); })
          .recv(quit, [&](std::optional<bool>) { std::puts("quit"); })
          .send(out, 42, [&](weft::SendResult<int> r) { std::printf("sent: %d\n", bool(r)); })
          .timeout(100ms, [&] { std::puts("idle for 100 ms"); })
          .run();                                  // the index of the branch that ran (0..3)
      // Both the job and the send were ready: exactly one of them happened.
      CHECK((fired == 0 || fired == 2));
      if (fired == 0) CHECK((jobs.size() == 0 && results.size() == 0));
      if (fired == 2) CHECK((jobs.size() == 1 && *results.try_recv() == 42));
    });
  });
}

TEST_CASE("select: timeouts, deadlines, a thread caller, and an empty select") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      auto [tx, rx] = weft::mpsc::channel<int>(1);
      const auto t0 = std::chrono::steady_clock::now();
      bool timed_out = false;
      CHECK(weft::Select().recv(rx, [](std::optional<int>) {}).timeout(10ms, [&] { timed_out = true; }).run() == 1);
      CHECK(timed_out);
      CHECK(std::chrono::steady_clock::now() - t0 >= 10ms);
      // The earliest of two deadlines wins.
      CHECK(weft::Select()
                .deadline(std::chrono::steady_clock::now() + 1h, [] {})
                .timeout(1ms, [] {})
                .run() == 1);
      CHECK_THROWS_WITH_AS(weft::Select().run(), doctest::Contains("no branches"), weft::Error);
      // From a plain thread: blocks until a fiber sends.
      int got = 0;
      std::thread t([&, &rx = rx] {
        weft::Select().recv(rx, [&](std::optional<int> v) { got = v.value_or(-1); }).timeout(10s, [] {}).run();
      });
      weft::yield_now();
      CHECK(tx.send(9));
      t.join();
      CHECK(got == 9);
    });
  });
}

TEST_CASE("select: Notify, watch, broadcast and oneshot branches") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      weft::Notify note;
      auto [wtx, wrx] = weft::watch::channel<int>(0);
      auto [btx, brx] = weft::broadcast::channel<int>(4);
      auto [otx, orx] = weft::oneshot::channel<int>();
      std::vector<int> seen;
      auto once = [&] {
        return weft::Select()
            .notified(note, [&] { seen.push_back(1); })
            .changed(wrx, [&](bool ok) { seen.push_back(ok ? 2 : -2); })
            .recv(brx, [&](weft::broadcast::RecvResult<int> r) { seen.push_back(r ? 30 + *r : -3); })
            .recv(orx, [&](std::optional<int> v) { seen.push_back(v ? 40 + *v : -4); })
            .timeout(10s, [&] { seen.push_back(0); })
            .run();
      };
      note.notify_one();
      CHECK(once() == 0);
      wtx.send(5);
      CHECK(once() == 1);
      (void)btx.send(7);
      CHECK(once() == 2);
      (void)otx.send(1);
      CHECK(once() == 3);
      CHECK(seen == std::vector<int>{1, 2, 37, 41});
      // Nothing ready: a waiting select is woken by a later notify. (The oneshot is used up now:
      // selecting on it again would be a weft::Error, so this select leaves it out.)
      auto h = weft::spawn([&] {
        return weft::Select()
            .notified(note, [&] { seen.push_back(1); })
            .changed(wrx, [&](bool ok) { seen.push_back(ok ? 2 : -2); })
            .recv(brx, [&](weft::broadcast::RecvResult<int> r) { seen.push_back(r ? 30 + *r : -3); })
            .run();
      });
      weft::yield_now();
      note.notify_one();
      CHECK(h.join().value() == 0);
    });
  });
}

// Per-channel ledgers: values sent are 0,1,2,... per producer channel, so a loss or a duplicate
// shows up as a gap or a repeat.
struct Contig {
  long next = 0, bad = 0;
  void see(long v) {
    if (v != next) ++bad;
    next = v + 1;
  }
};

// One selector repeatedly selects over recv(a), recv(b), send(c) and a short timeout, while
// producers fill a and b and a consumer drains c. Exactly one op per run().
void exactly_one_stress(weft::Runtime& rt, bool abort_selectors) {
  rt.block_on([&] {
    const long n = weft_test::scaled(10000, 150);
    auto [atx, arx] = weft::mpsc::channel<long>(2);
    auto [btx, brx] = weft::mpsc::channel<long>(1);
    auto [ctx, crx] = weft::mpsc::channel<long>(1);
    auto pa = weft::spawn([atx = std::move(atx), n] {
      for (long i = 0; i < n; ++i) CHECK(atx.send(i));
    });
    auto pb = weft::spawn([btx = std::move(btx), n] {
      for (long i = 0; i < n; ++i) {
        CHECK(btx.send(i));
        if (i % 5 == 0) weft::yield_now();
      }
    });
    Contig ca, cb, cc;
    std::atomic<long> c_received{0};
    auto consumer = weft::spawn([&crx = crx, &cc, &c_received] {
      while (std::optional<long> v = crx.recv()) {
        cc.see(*v);
        c_received.fetch_add(1);
        if (*v % 3 == 0) weft::yield_now();
      }
    });
    long runs = 0, ra = 0, rb = 0, sc = 0, timeouts = 0;
    bool a_open = true, b_open = true;
    long next_c = 0;
    // Handlers run with no suspension point before their bookkeeping: an abort lands either
    // before the select took effect (it then took none) or after the handler finished. A closed
    // channel is always ready, so its branch is dropped once it reported the close (else it would
    // win every run and, on one worker, starve the producers).
    auto on_a = [&](std::optional<long> v) {
      if (v) ca.see(*v), ++ra; else a_open = false;
    };
    auto on_b = [&](std::optional<long> v) {
      if (v) cb.see(*v), ++rb; else b_open = false;
    };
    auto on_c = [&](weft::SendResult<long> r) {
      CHECK(r);
      ++next_c;
      ++sc;
    };
    auto on_timeout = [&] { ++timeouts; };
    const auto tick = std::chrono::microseconds(200);
    auto select_loop = [&] {
      while (a_open || b_open) {
        if (a_open && b_open) {
          weft::Select().recv(arx, on_a).recv(brx, on_b).send(ctx, next_c, on_c).timeout(tick, on_timeout).run();
        } else if (a_open) {
          weft::Select().recv(arx, on_a).send(ctx, next_c, on_c).timeout(tick, on_timeout).run();
        } else {
          weft::Select().send(ctx, next_c, on_c).recv(brx, on_b).timeout(tick, on_timeout).run();
        }
        ++runs;
      }
    };
    if (abort_selectors) {
      Rng rng(5);
      for (;;) {
        auto h = weft::spawn(select_loop);
        weft_sync_test::random_yields(rng, 8);
        h.abort();
        if (h.join()) break;
      }
    } else {
      select_loop();
    }
    pa.join().value();
    pb.join().value();
    ctx = {};
    consumer.join().value();
    CHECK(ca.bad == 0);
    CHECK(cb.bad == 0);
    CHECK(cc.bad == 0);
    CHECK(ra == n);
    CHECK(rb == n);
    CHECK(c_received.load() == sc);
    CHECK(cc.next == sc);
    // Two close notifications are runs too.
    CHECK(runs == ra + rb + sc + timeouts + 2);
  });
}

TEST_CASE("select: exactly one operation per run — recv, recv, send, timeout") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) { exactly_one_stress(rt, false); });
}

TEST_CASE("select: cancel-safety — the selecting fiber aborted at random points") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) { exactly_one_stress(rt, true); });
}

// Two selects facing each other: A offers to send on ab and receive on ba; B offers to receive on
// ab and send on ba. Each run does exactly one of its two operations, whatever the other does.
TEST_CASE("select: two selects racing on the same channels from both ends") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      const long n = weft_test::scaled(10000, 200);
      auto [ab_tx, ab_rx] = weft::mpsc::channel<long>(1);
      auto [ba_tx, ba_rx] = weft::mpsc::channel<long>(1);
      struct Side {
        long sent = 0, received = 0, bad = 0, next_in = 0;
      };
      Side sa, sb;
      auto run_side = [n](Side& s, weft::mpsc::Sender<long>& tx, weft::mpsc::Receiver<long>& rx) {
        while (s.sent < n || s.received < n) {
          if (s.sent < n && s.received < n) {
            weft::Select()
                .send(tx, s.sent, [&](weft::SendResult<long> r) { s.sent += r ? 1 : 0; })
                .recv(rx, [&](std::optional<long> v) {
                  if (!v || *v != s.next_in) ++s.bad;
                  s.next_in = v.value_or(s.next_in) + 1;
                  ++s.received;
                })
                .run();
          } else if (s.sent < n) {
            if (tx.send(s.sent)) ++s.sent;
          } else {
            std::optional<long> v = rx.recv();
            if (!v || *v != s.next_in) ++s.bad;
            s.next_in = v.value_or(s.next_in) + 1;
            ++s.received;
          }
        }
      };
      auto a = weft::spawn([&] { run_side(sa, ab_tx, ba_rx); });
      auto b = weft::spawn([&] { run_side(sb, ba_tx, ab_rx); });
      CHECK(weft::timeout(60s, [&] {
        a.join().value();
        b.join().value();
      }));
      CHECK(sa.bad == 0);
      CHECK(sb.bad == 0);
      CHECK(sa.received == n);
      CHECK(sb.received == n);
    });
  });
}

TEST_CASE("select: a losing send keeps nothing in the channel; closed channels count as ready") {
  weft_test::for_each_worker_count([](weft::Runtime& rt) {
    rt.block_on([] {
      auto [tx, rx] = weft::mpsc::channel<int>(1);
      CHECK(tx.send(0));  // full
      auto [qtx, qrx] = weft::mpsc::channel<int>(1);
      CHECK(qtx.send(1));
      // The send cannot proceed (full), the recv can: the send must not happen later either.
      CHECK(weft::Select().send(tx, 99, [](weft::SendResult<int>) {}).recv(qrx, [](std::optional<int>) {}).run() == 1);
      CHECK(*rx.recv() == 0);
      CHECK_FALSE(rx.try_recv().has_value());
      // A closed receiver side makes the send branch ready with the value handed back.
      rx = {};
      int back = 0;
      CHECK(weft::Select().send(tx, 5, [&](weft::SendResult<int> r) { back = r.is_closed() ? r.value() : -1; }).run() == 0);
      CHECK(back == 5);
    });
  });
}

// White-box: the path where an operation becomes ready between its try_now() and its enroll()
// (a race window in real runs) — it must complete at enrollment, exactly once.
template <class Op, class MakeReady>
auto complete_at_enroll(Op op, MakeReady make_ready) {
  CHECK_FALSE(op.try_now());
  make_ready();
  weft::detail::Waiter w;
  w.arm();
  op.enroll(w);
  CHECK(w.woken());  // it won its own wait
  CHECK(w.block() == weft::detail::WakeReason::Notify);
  CHECK(op.withdraw());
  return op.take();
}

TEST_CASE("select: an operation that becomes ready just before enrolling completes exactly once") {
  auto body = [] {
    {
      auto [tx, rx] = weft::mpsc::channel<int>(1);
      std::optional<int> v = complete_at_enroll(select_recv_op(rx), [&, &tx = tx] { CHECK(tx.try_send(3)); });
      CHECK(v == 3);
      CHECK_FALSE(rx.try_recv().has_value());
    }
    {
      auto [tx, rx] = weft::mpsc::channel<int>(1);
      CHECK(tx.try_send(1));
      weft::SendResult<int> r = complete_at_enroll(select_send_op(tx, 2), [&, &rx = rx] { CHECK(*rx.try_recv() == 1); });
      CHECK(r);
      CHECK(*rx.try_recv() == 2);
      CHECK_FALSE(rx.try_recv().has_value());
    }
    {
      auto [tx, rx] = weft::oneshot::channel<int>();
      std::optional<int> v = complete_at_enroll(select_recv_op(rx), [&, &tx = tx] { CHECK(tx.send(4)); });
      CHECK(v == 4);
    }
    {
      auto [tx, rx] = weft::broadcast::channel<int>(2);
      weft::broadcast::RecvResult<int> r = complete_at_enroll(select_recv_op(rx), [&, &tx = tx] { CHECK(tx.send(5)); });
      CHECK(*r == 5);
      CHECK(rx.try_recv().is_empty());
    }
    {
      auto [tx, rx] = weft::watch::channel<int>(0);
      bool changed = complete_at_enroll(select_changed_op(rx), [&, &tx = tx] { tx.send(6); });
      CHECK(changed);
      CHECK_FALSE(rx.has_changed());
    }
    {
      weft::Notify n;
      complete_at_enroll(select_notified_op(n), [&] { n.notify_one(); });
      CHECK_FALSE(n.notified_for(std::chrono::milliseconds(0)));  // the permit was used once
    }
  };
  body();  // on a plain thread
  weft::Runtime rt = weft_test::make_runtime(2);
  rt.block_on(body);  // in a fiber
}

}  // namespace
