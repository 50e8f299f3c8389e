/// @file
/// weft/weft.hpp — everything. Include this, or the one header per concept it lists.
#pragma once

#include <weft/detail/config.hpp>
#include <weft/cancellation_token.hpp>
#include <weft/clock.hpp>
#include <weft/coop.hpp>
#include <weft/deadlock.hpp>
#include <weft/dump.hpp>
#include <weft/error.hpp>
#include <weft/fd.hpp>
#include <weft/fiber_local.hpp>
#include <weft/flight_recorder.hpp>
#include <weft/interval.hpp>
#include <weft/join_set.hpp>
#include <weft/local_set.hpp>
#include <weft/metrics.hpp>
#include <weft/result.hpp>
#include <weft/runtime.hpp>
#include <weft/scope.hpp>
#include <weft/race.hpp>
#include <weft/select.hpp>  // the deprecated old name of weft::race
#include <weft/shield.hpp>
#include <weft/sim.hpp>
#include <weft/stall.hpp>
#include <weft/stop_token.hpp>
#include <weft/task.hpp>
#include <weft/task_tracker.hpp>
#include <weft/this_fiber.hpp>
#include <weft/timeout.hpp>
#include <weft/top.hpp>
#include <weft/trace.hpp>
#include <weft/barrier.hpp>
#include <weft/broadcast.hpp>
#include <weft/channel.hpp>
#include <weft/channel_select.hpp>
#include <weft/completion.hpp>
#include <weft/condvar.hpp>
#include <weft/mpsc.hpp>
#include <weft/mutex.hpp>
#include <weft/notify.hpp>
#include <weft/once_cell.hpp>
#include <weft/oneshot.hpp>
#include <weft/rwlock.hpp>
#include <weft/semaphore.hpp>
#include <weft/wait_group.hpp>
#include <weft/watch.hpp>
#include <weft/blocking.hpp>
#include <weft/file.hpp>
#include <weft/io_error.hpp>
#include <weft/resolve.hpp>
#include <weft/signal.hpp>
#include <weft/socket_addr.hpp>
#include <weft/socket.hpp>
#include <weft/stream_socket.hpp>
#include <weft/tcp.hpp>
#include <weft/udp.hpp>
#include <weft/unix_socket.hpp>

/// @namespace weft
/// Stackful fibers for C++: Tokio-style tasks on Boost.Context and libev. A weft::Runtime runs
/// fibers on its worker threads; the rest of the namespace is what a fiber uses: spawning and
/// joining, cancellation, synchronisation primitives and channels, sockets, timers, and the
/// introspection tools (dumps, stall and deadlock reports, metrics, traces).
///
/// @namespace weft::this_fiber
/// What a fiber can do to itself: yield, sleep, ask who it is (weft/this_fiber.hpp).
///
/// @namespace weft::mpsc
/// Multi-producer, single-consumer channels, bounded and unbounded (weft/mpsc.hpp).
///
/// @namespace weft::oneshot
/// A channel for exactly one value: a reply, a result, a "done" signal (weft/oneshot.hpp).
///
/// @namespace weft::broadcast
/// Every receiver sees every value: a bounded fan-out that tells a slow receiver how many values it
/// lost (weft/broadcast.hpp).
///
/// @namespace weft::watch
/// The latest value of something, and a way to wait until it changes (weft/watch.hpp).

WEFT_API_BEGIN

WEFT_API_END
