// JSON encoding of events (docs/events.md) and of time. Decoding validates
// everything it reads: a bad field, an unknown type or format version, an
// unknown stage is an error value naming the problem, never a crash.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "dairector/event.hpp"

namespace dairector {

/// `spec` resolves stage indexes to names; it may be null only for
/// `pipeline_created`, which carries its own spec. Decoding refuses a
/// document deeper than json_depth_max and an output or context deeper than
/// json_value_depth_max (json_bounds.hpp), before anything recursive runs.
json encode_event(const event& e, const pipeline_spec* spec);
result<event> decode_event(const json& j, const pipeline_spec* spec);

/// One line of JSON (no newline) and back; refuses input over event_bytes_max.
std::string encode_event_text(const event& e, const pipeline_spec* spec);
result<event> decode_event_text(std::string_view text, const pipeline_spec* spec);

/// "2026-11-22T04:20:33.123Z" from milliseconds since the epoch, and back.
std::string format_time(std::int64_t at_ms);
std::optional<std::int64_t> parse_time(std::string_view text);

}  // namespace dairector
