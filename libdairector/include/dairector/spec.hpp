// A pipeline spec (docs/spec.md): named stages forming a DAG, each with a
// handler (`run`) and optional policies (`confirm`, `on_failure`).
//
// A parsed spec is immutable and shared by every state of its pipeline
// (`std::shared_ptr<const pipeline_spec>`). Stages are stored in topological
// order (ties broken by their order in the file), and a stage is referred to
// everywhere by its index in that order. The direct and transitive upstream
// and downstream sets are computed once, at parse time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "dairector/result.hpp"

namespace dairector {

using json = nlohmann::json;

/// Index of a stage in its spec's topological order.
using stage_index = std::uint32_t;
inline constexpr stage_index no_stage = 0xFFFFFFFFu;

// Bounds (docs/contributing.md#habit-8-bound-everything). Units last.
inline constexpr std::size_t stage_count_max = 1000;
inline constexpr std::size_t stage_name_length_max = 64;
inline constexpr std::uint32_t on_failure_attempts_max = 1000;
inline constexpr std::uint32_t run_timeout_s_max = 7 * 24 * 3600;
inline constexpr std::uint32_t run_timeout_s_default = 3600;
inline constexpr std::uint64_t sleep_ms_max = 24ull * 3600 * 1000;
inline constexpr std::size_t spec_file_bytes_max = 16u << 20;  // a spec's text, read from a file or not
// run.retry (docs/spec.md#retry-run-the-stage-again): every run counts, the first included.
inline constexpr std::uint32_t retry_attempts_max = 100;
inline constexpr std::uint64_t retry_backoff_ms_max = 24ull * 3600 * 1000;
inline constexpr std::uint64_t retry_backoff_ms_default = 1000;
inline constexpr std::uint64_t retry_backoff_max_ms_default = 60'000;

/// How a stage's work is done.
struct run_spec {
  enum class kind { echo, sleep, fail, command, handler };
  kind what = kind::echo;
  std::uint64_t ms = 0;           // sleep: how long
  std::uint32_t times = 0;        // fail: how many first attempts fail
  std::vector<std::string> argv;  // command
  std::uint32_t timeout_s = run_timeout_s_default;  // command
  std::map<std::string, std::string> env;           // command: added to the environment
  std::string handler;            // handler: name of an in-process C++ callable

  bool operator==(const run_spec&) const = default;
};

/// run.retry: a failed or timed-out run is run again, up to `max_attempts`
/// runs in all, after an exponential backoff with jitter (retry.hpp).
struct retry_spec {
  std::uint32_t max_attempts = 1;  // runs, the first included: 1 = no retry
  std::uint64_t backoff_ms = retry_backoff_ms_default;          // before the 2nd run
  std::uint64_t backoff_max_ms = retry_backoff_max_ms_default;  // the backoff never grows past this
  bool operator==(const retry_spec&) const = default;
};

struct on_failure_spec {
  stage_index rerun = no_stage;   // a strict upstream of the stage
  std::uint32_t max_attempts = 0; // reruns before a confirmation is requested
  bool operator==(const on_failure_spec&) const = default;
};

/// A set of stages as a bitset over topological indexes.
class stage_set {
public:
  stage_set() = default;
  explicit stage_set(std::size_t n) : words_((n + 63) / 64, 0) {}
  bool contains(stage_index i) const noexcept {
    return (words_[i / 64] >> (i % 64)) & 1u;
  }
  void insert(stage_index i) noexcept { words_[i / 64] |= std::uint64_t{1} << (i % 64); }
  void merge(const stage_set& other) noexcept {
    for (std::size_t w = 0; w < words_.size(); ++w) words_[w] |= other.words_[w];
  }
private:
  std::vector<std::uint64_t> words_;
};

struct stage_spec {
  std::string name;
  std::vector<stage_index> after;        // direct upstream, ascending
  std::vector<stage_index> before;       // direct downstream, ascending
  std::vector<stage_index> upstream;     // transitive, ascending
  std::vector<stage_index> downstream;   // transitive, ascending
  stage_set upstream_set;
  stage_set downstream_set;
  run_spec run;
  std::optional<std::string> confirm;
  std::optional<on_failure_spec> on_failure;
  std::optional<retry_spec> retry;  // given in the spec as run.retry
};

/// Where a spec document comes from (see parse_spec).
enum class spec_source { outside, journal };

class pipeline_spec {
public:
  const std::string& name() const noexcept { return name_; }
  std::size_t size() const noexcept { return stages_.size(); }
  const stage_spec& operator[](stage_index i) const { return stages_[i]; }
  const std::vector<stage_spec>& stages() const noexcept { return stages_; }

  /// The index of a stage, or no_stage.
  stage_index find(std::string_view name) const;

  /// True if `up` is strictly (transitively) upstream of `down`.
  bool is_upstream(stage_index up, stage_index down) const {
    return stages_[down].upstream_set.contains(up);
  }

  /// The canonical JSON form (stages in topological order, defaults filled).
  /// Parsing it gives an equal spec; it is what `pipeline_created` stores.
  json to_json() const;

  friend result<std::shared_ptr<const pipeline_spec>> parse_spec(const json& doc, spec_source source);

private:
  std::string name_;
  std::vector<stage_spec> stages_;
  std::map<std::string, stage_index, std::less<>> by_name_;
};

/// Validates a spec document. Every refusal names the stage and the problem.
/// A spec from outside is held to every rule; one read back from a journal
/// is not refused for a rule added after it was written (a confirmation
/// message with a control character: it is escaped when printed).
result<std::shared_ptr<const pipeline_spec>> parse_spec(const json& doc, spec_source source = spec_source::outside);
/// Parses JSON text (at most spec_file_bytes_max, json_depth_max deep, no key
/// twice in an object), then `parse_spec`. `where` names the source in messages.
result<std::shared_ptr<const pipeline_spec>> parse_spec_text(std::string_view text,
                                                              std::string_view where = "spec");
/// Reads a regular file of at most spec_file_bytes_max, then `parse_spec_text`.
result<std::shared_ptr<const pipeline_spec>> load_spec(const std::string& path);

/// Two shared payloads hold equal values (both null counts as equal).
bool same_json(const std::shared_ptr<const json>& a, const std::shared_ptr<const json>& b);

/// True for `[a-z][a-z0-9_-]{0,63}`.
bool is_valid_name(std::string_view name);

}  // namespace dairector
