// weft/weft.hpp — everything. Include this, or the one header per concept it lists.
#pragma once

#include <weft/cancellation_token.hpp>
#include <weft/error.hpp>
#include <weft/fd.hpp>
#include <weft/join_set.hpp>
#include <weft/local_set.hpp>
#include <weft/metrics.hpp>
#include <weft/result.hpp>
#include <weft/runtime.hpp>
#include <weft/scope.hpp>
#include <weft/select.hpp>
#include <weft/shield.hpp>
#include <weft/task.hpp>
#include <weft/this_fiber.hpp>
#include <weft/timeout.hpp>
