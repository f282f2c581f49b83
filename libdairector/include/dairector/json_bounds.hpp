// Bounds on JSON, and the one parser for JSON that comes from outside.
//
// nlohmann's parser is iterative, but dump(), copies and comparisons of a
// value recurse once per level: a stage output nested 70,000 deep overflows
// the stack wherever it is next written or copied (the journal, a status
// answer, the next stage's input). So depth and size are bounded before
// anything recursive sees a value:
//
// - every JSON document read (a spec, a command's output, an HTTP body, a
//   journal row, a worker's result, a server's answer) nests at most
//   json_depth_max and is checked by a linear pass or an iterative walk;
// - every value admitted into a pipeline (a stage's output, a context) nests
//   at most json_value_depth_max, lower by the deepest envelope we wrap a
//   value in, so that no document we write around an admitted value can be
//   refused when it is read back; and it is at most json_value_bytes_max as
//   text, so that the event holding it stays under event_bytes_max.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "dairector/spec.hpp"

namespace dairector {

/// How deeply any JSON document read or written may nest arrays and objects.
inline constexpr std::size_t json_depth_max = 256;
/// The deepest envelope a value is written in: an event puts an output in one
/// object, a stage's input puts its upstream outputs two deep ({"inputs":
/// {"a": ...}}), a status answer three ({"stages": [{"output": ...}]}), the
/// HTTP history two ([{"output": ...}]). Room is left for more.
inline constexpr std::size_t json_envelope_depth_max = 8;
/// How deeply an admitted value (an output, a context) may nest.
inline constexpr std::size_t json_value_depth_max = json_depth_max - json_envelope_depth_max;
/// How large an admitted value may be as JSON text (a command's whole
/// standard output has the same bound).
inline constexpr std::size_t json_value_bytes_max = 16u << 20;
/// How large a JSON document read may be unless its reader says otherwise
/// (one event, one answer); event_bytes_max is this.
inline constexpr std::size_t json_bytes_max = 64u << 20;

static_assert(json_value_bytes_max + (1u << 20) < json_bytes_max, "an event must have room for a whole value");

struct json_limits {
  std::size_t depth_max = json_depth_max;
  std::size_t bytes_max = json_bytes_max;
};
/// The limits of an admitted value.
inline constexpr json_limits value_limits{json_value_depth_max, json_value_bytes_max};

/// How deeply `text` nests arrays and objects, from one linear pass that
/// counts brackets outside strings (no allocation). Counting stops past
/// `limit`: the answer is then limit + 1. Not a validation: text that is not
/// JSON gets some number.
std::size_t json_text_depth(std::string_view text, std::size_t limit = json_depth_max);

/// The depth of a value in memory and the length of its dump(), found by an
/// iterative walk that stops as soon as either is over its limit (the
/// answer is then over it too). A float counts as its longest form.
struct json_extent {
  std::size_t depth = 0;
  std::size_t bytes = 0;
};
json_extent measure_json(const json& value, json_limits limits = {});
/// Only the depth (no string is read): stops past `limit`.
std::size_t json_depth(const json& value, std::size_t limit = json_depth_max);

/// Why `value` may not be admitted as `what` ("the output"), or nullopt:
/// deeper than json_value_depth_max or larger than json_value_bytes_max.
std::optional<std::string> value_refusal(const json& value, std::string_view what);

/// What was wrong with JSON text that parse_json refused.
enum class json_fault { too_large, too_deep, duplicate_key, not_json };

/// Parses JSON text from outside: refuses text over `limits.bytes_max`,
/// nesting deeper than `limits.depth_max` (before any value is built past
/// it), a key that appears twice in one object (naming the key and the
/// object), and anything that is not one valid JSON value (nlohmann's
/// sentence, with line and column). `what` starts every message ("the body",
/// "spec.json"). The error code is decode_failed; `fault`, when given, says
/// which refusal it was.
result<json> parse_json(std::string_view text, std::string_view what, json_limits limits = {},
                        json_fault* fault = nullptr);

/// "1 MiB", "16 MiB", "300 bytes": a bound as people read it.
std::string bytes_text(std::size_t bytes);

}  // namespace dairector
