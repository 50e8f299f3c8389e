// write_fiber_json (fiber_json.hpp).
#include "introspect/fiber_json.hpp"

#include "observe/json.hpp"

namespace weft::detail {

void write_fiber_json(std::ostream& os, const FiberMetrics& f) {
  os << "{\"id\":" << f.id << ",\"name\":";
  json_string(os, f.name);
  os << ",\"wait\":";
  json_string(os, f.wait);
  os << ",\"waits_for\":[";
  for (std::size_t k = 0; k < f.waits_for.size(); ++k) os << (k ? "," : "") << f.waits_for[k];
  os << "],\"spawn_file\":";
  json_string(os, f.spawn_file);
  os << ",\"spawn_line\":" << f.spawn_line << ",\"spawn_function\":";
  json_string(os, f.spawn_function);
  os << ",\"status\":\"" << to_string(f.status) << "\",\"wait_kind\":";
  json_string(os, f.wait_kind ? f.wait_kind : "");
  os << ",\"held_by\":" << f.held_by << ",\"worker\":" << f.worker << ",\"runs\":" << f.runs << ",\"age_ns\":" << f.age_ns
     << ",\"run_ns\":" << f.run_ns << ",\"max_slice_ns\":" << f.max_slice_ns << ",\"stack_size\":" << f.stack_size
     << ",\"stack_high_water\":" << f.stack_high_water << ",\"backtrace\":[";
  for (std::size_t k = 0; k < f.backtrace.size(); ++k) {
    if (k) os << ",";
    json_string(os, f.backtrace[k]);
  }
  os << "]}";
}

}  // namespace weft::detail
