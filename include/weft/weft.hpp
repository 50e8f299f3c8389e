// weft/weft.hpp — everything. Include this, or the one header per concept it lists.
#pragma once

#include <weft/error.hpp>
#include <weft/fd.hpp>
#include <weft/metrics.hpp>
#include <weft/result.hpp>
#include <weft/runtime.hpp>
#include <weft/task.hpp>
#include <weft/this_fiber.hpp>
