// The idle throttle alone (lib/sched/idle.hpp): which workers search for work and which are
// parked. What the scheduler relies on: at most half the workers search at once; the last searcher
// to stop is told so (it then wakes another or re-checks for work); and every notification takes
// exactly one parked worker off the list, which then knows it was woken (and counts as searching)
// — never lost, never given to two. Workers and notifiers are plain threads that yield at random
// points (a preemption between any two steps).
#include "sched/idle.hpp"
#include "test_util.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <random>
#include <thread>
#include <vector>

namespace {

using weft::detail::Idle;

TEST_CASE("Idle: at most half the workers search; the last one out is told") {
  Idle idle(4);
  CHECK(idle.worker_to_searching());
  CHECK(idle.worker_to_searching());
  CHECK_FALSE(idle.worker_to_searching());  // 2 of 4 search already
  CHECK(idle.num_searching() == 2);
  CHECK_FALSE(idle.worker_from_searching());
  CHECK(idle.worker_from_searching());  // the last searcher
  CHECK(idle.num_searching() == 0);

  Idle one(1);
  CHECK(one.worker_to_searching());  // a lone worker may always search
  CHECK(one.worker_from_searching());
}

TEST_CASE("Idle: a notification takes one parked worker, which learns it was woken") {
  Idle idle(3);
  CHECK_FALSE(idle.anyone_parked());
  CHECK(idle.worker_to_notify() == -1);  // nobody parked
  CHECK(idle.worker_to_searching());
  CHECK(idle.worker_to_parked(1, true));  // it was the last searcher: it must re-check for work
  CHECK_FALSE(idle.worker_to_parked(2, false));
  CHECK(idle.anyone_parked());
  const int woken = idle.worker_to_notify();
  CHECK((woken == 1 || woken == 2));
  CHECK(idle.worker_to_notify() == -1);  // someone searches now: no second wake-up
  const int other = woken == 1 ? 2 : 1;
  CHECK(idle.worker_from_parked(static_cast<unsigned>(woken)));       // taken off the list: searching
  CHECK_FALSE(idle.worker_from_parked(static_cast<unsigned>(other)));  // woke for its own reasons
  CHECK(idle.num_searching() == 1);
  CHECK(idle.worker_from_searching());
  CHECK_FALSE(idle.anyone_parked());
}

// N worker threads cycle: search (if admitted), park, wait a little for a kick, unpark. M notifier
// threads keep calling worker_to_notify and kick whoever it names.
void idle_round(unsigned workers, unsigned notifiers, long cycles, unsigned seed) {
  Idle idle(workers);
  std::unique_ptr<std::atomic<bool>[]> kicked(new std::atomic<bool>[workers]);
  std::unique_ptr<std::atomic<long>[]> kicks(new std::atomic<long>[workers]);
  std::vector<long> woken(workers, 0);
  for (unsigned i = 0; i < workers; ++i) {
    kicked[i] = false;
    kicks[i] = 0;
  }
  std::atomic<int> searching_now{0};
  std::atomic<int> max_searching{0};
  std::atomic<unsigned> running{workers};
  std::atomic<long> stray_kicks{0};
  auto note_searching = [&] {
    const int now = searching_now.fetch_add(1) + 1;
    int m = max_searching.load();
    while (now > m && !max_searching.compare_exchange_weak(m, now)) {
    }
  };

  std::vector<std::thread> ts;
  for (unsigned n = 0; n < notifiers; ++n) {
    ts.emplace_back([&, n] {
      std::minstd_rand r(seed * 31 + n + 1);
      while (running.load() > 0) {
        const int idx = idle.worker_to_notify();
        if (idx >= 0) {
          kicks[static_cast<unsigned>(idx)].fetch_add(1);
          if (r() % 4 == 0) std::this_thread::yield();  // the kick lands late
          kicked[static_cast<unsigned>(idx)].store(true);
        } else if (r() % 8 == 0) {
          std::this_thread::yield();
        }
      }
    });
  }
  for (unsigned i = 0; i < workers; ++i) {
    ts.emplace_back([&, i] {
      std::minstd_rand r(seed * 131 + i + 7);
      for (long c = 0; c < cycles; ++c) {
        bool searching = false;
        if (r() % 2 == 0 && idle.worker_to_searching()) {
          note_searching();
          searching = true;
          if (r() % 8 == 0) std::this_thread::yield();
        }
        if (searching) searching_now.fetch_sub(1);
        (void)idle.worker_to_parked(i, searching);
        for (unsigned spin = r() % 64; spin > 0 && !kicked[i].load(); --spin) std::this_thread::yield();
        if (idle.worker_from_parked(i)) {
          // A notifier took us off the list and counted us as searching: its kick is on the way.
          while (!kicked[i].exchange(false)) std::this_thread::yield();
          ++woken[i];
          note_searching();
          searching_now.fetch_sub(1);
          (void)idle.worker_from_searching();
        } else if (kicked[i].load()) {
          stray_kicks.fetch_add(1);  // a kick for a park nobody was told it woke from
        }
      }
      running.fetch_sub(1);
    });
  }
  for (auto& t : ts) t.join();

  long total_kicks = 0, total_woken = 0;
  for (unsigned i = 0; i < workers; ++i) {
    CAPTURE(i);
    CHECK(kicks[i].load() == woken[i]);  // every notification reached exactly its worker
    CHECK_FALSE(kicked[i].load());
    total_kicks += kicks[i].load();
    total_woken += woken[i];
  }
  CHECK(total_kicks == total_woken);
  CHECK(stray_kicks.load() == 0);
  CHECK(max_searching.load() <= static_cast<int>(std::max(1u, (workers + 1) / 2)));
  CHECK(idle.num_searching() == 0);  // every searcher was counted out again
  CHECK_FALSE(idle.anyone_parked());
}

TEST_CASE("Idle: under many threads, notifications are neither lost nor doubled and the search cap holds") {
  const long rounds = weft_test::scaled(20, 3);
  for (unsigned workers : {1u, 2u, 4u, 8u}) {
    for (unsigned notifiers : {1u, 3u}) {
      CAPTURE(workers);
      CAPTURE(notifiers);
      for (long round = 0; round < rounds; ++round) {
        idle_round(workers, notifiers, weft_test::scaled(2000, 200), static_cast<unsigned>(round * 13 + workers));
      }
    }
  }
}

}  // namespace
