// weft/weft.hpp — everything. Include this, or the one header per concept it lists.
#pragma once

#include <weft/detail/config.hpp>
#include <weft/cancellation_token.hpp>
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
#include <weft/select.hpp>
#include <weft/shield.hpp>
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
#include <weft/stream_socket.hpp>
#include <weft/tcp.hpp>
#include <weft/udp.hpp>
#include <weft/unix_socket.hpp>

WEFT_API_BEGIN

WEFT_API_END
