// Shared helpers for the core suites: the specs they run on, and `history`, a
// builder that applies one event at a time, checks the invariants after every
// event (docs/design.md#the-model), and keeps the events and the state after each
// of them so a suite can fold, time-travel or compare.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "dairector/codec.hpp"
#include "dairector/event.hpp"
#include "dairector/invariants.hpp"
#include "dairector/plan.hpp"
#include "dairector/reducer.hpp"
#include "dairector/spec.hpp"
#include "dairector/state.hpp"

namespace dairector {

// How Boost.Test prints the core's enums in a failed check (found by ADL).
inline std::ostream& boost_test_print_type(std::ostream& os, stage_status v) { return os << to_string(v); }
inline std::ostream& boost_test_print_type(std::ostream& os, errc v) { return os << to_string(v); }
inline std::ostream& boost_test_print_type(std::ostream& os, event_type v) { return os << to_string(v); }
inline std::ostream& boost_test_print_type(std::ostream& os, pipeline_outcome v) { return os << to_string(v); }
inline std::ostream& boost_test_print_type(std::ostream& os, run_status v) {
  return os << "run_status(" << static_cast<int>(v) << ")";
}
inline std::ostream& boost_test_print_type(std::ostream& os, outdated_reason v) {
  return os << "outdated_reason(" << static_cast<int>(v) << ")";
}

}  // namespace dairector

namespace dairector::test {

// ---------------------------------------------------------------- messages

inline bool contains(std::string_view text, std::string_view needle) {
  return text.find(needle) != std::string_view::npos;
}

/// A check that names both strings when it fails, at the caller's line.
#define DAIRECTOR_CHECK_CONTAINS(text, needle)                                      \
  BOOST_CHECK_MESSAGE(::dairector::test::contains((text), (needle)),                \
                      "\"" << (text) << "\" should contain \"" << (needle) << "\"")

template <class T>
std::string describe(const result<T>& r) {
  if (r.ok()) return "ok";
  return std::string(to_string(r.err().code)) + ": " + r.err().message;
}

inline std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "; ") + l;
  return out;
}

// ---------------------------------------------------------------- specs

inline std::shared_ptr<const pipeline_spec> must_parse_doc(const json& doc) {
  auto r = parse_spec(doc);
  BOOST_REQUIRE_MESSAGE(r.ok(), "the test spec is refused: " << describe(r));
  return *r;
}

inline std::shared_ptr<const pipeline_spec> must_parse(std::string_view text) {
  auto r = parse_spec_text(text, "test spec");
  BOOST_REQUIRE_MESSAGE(r.ok(), "the test spec is refused: " << describe(r));
  return *r;
}

/// a → b → c → d
inline std::shared_ptr<const pipeline_spec> line_spec() {
  return must_parse(R"({"name": "line", "stages": [
    {"name": "a", "run": {"builtin": "echo"}},
    {"name": "b", "after": ["a"], "run": {"builtin": "echo"}},
    {"name": "c", "after": ["b"], "run": {"builtin": "echo"}},
    {"name": "d", "after": ["c"], "run": {"builtin": "echo"}}]})");
}

/// a → {b, c} → d
inline std::shared_ptr<const pipeline_spec> diamond_spec() {
  return must_parse(R"({"name": "diamond", "stages": [
    {"name": "a", "run": {"builtin": "echo"}},
    {"name": "b", "after": ["a"], "run": {"builtin": "echo"}},
    {"name": "c", "after": ["a"], "run": {"builtin": "echo"}},
    {"name": "d", "after": ["b", "c"], "run": {"builtin": "echo"}}]})");
}

inline constexpr int fan_width = 20;

/// The name of leaf k of the fan-out: f00 … f19.
inline std::string leaf(int k) {
  return std::string("f") + char('0' + k / 10) + char('0' + k % 10);
}

/// src → {f00 … f19} → join
inline std::shared_ptr<const pipeline_spec> fan_out_spec() {
  json stages = json::array();
  stages.push_back({{"name", "src"}, {"run", {{"builtin", "echo"}}}});
  json leaves = json::array();
  for (int k = 0; k < fan_width; ++k) {
    stages.push_back({{"name", leaf(k)}, {"after", json::array({"src"})}, {"run", {{"builtin", "echo"}}}});
    leaves.push_back(leaf(k));
  }
  stages.push_back({{"name", "join"}, {"after", leaves}, {"run", {{"builtin", "echo"}}}});
  return must_parse_doc(json{{"name", "fan"}, {"stages", stages}});
}

/// The example of docs/spec.md (examples/dairector.json; CTest sets the folder).
inline std::string example_path() {
  const char* dir = std::getenv("DAIRECTOR_EXAMPLES");
  BOOST_REQUIRE_MESSAGE(dir != nullptr, "DAIRECTOR_EXAMPLES is not set: run the suite through ctest");
  return std::string(dir) + "/dairector.json";
}

inline std::shared_ptr<const pipeline_spec> example_spec() {
  auto r = load_spec(example_path());
  BOOST_REQUIRE_MESSAGE(r.ok(), "the example spec is refused: " << describe(r));
  return *r;
}

// ---------------------------------------------------------------- states

/// A copy of everything a state stores, held in storage of its own, so a
/// refused or copy-applied event can be shown to leave the original untouched
/// (a copy of the state itself would share the storage it checks).
struct snapshot {
  std::uint64_t seq = 0;
  std::vector<stage_state> stages;
  std::vector<stage_payload> payloads;
  std::optional<confirmation> pending;

  explicit snapshot(const system_state& s) : seq(s.seq()) {
    for (stage_index i = 0; i < s.size(); ++i) {
      stages.push_back(s.stage(i));
      payloads.push_back(s.payload(i));
    }
    if (s.pending()) pending = *s.pending();
  }

  /// True if `s` still holds exactly these facts (payloads by pointer).
  bool matches(const system_state& s) const {
    if (s.seq() != seq || s.size() != stages.size()) return false;
    for (stage_index i = 0; i < s.size(); ++i) {
      if (!(s.stage(i) == stages[i])) return false;
      const stage_payload& p = s.payload(i);
      if (p.output != payloads[i].output || p.context != payloads[i].context || p.error != payloads[i].error)
        return false;
    }
    if (pending.has_value() != (s.pending() != nullptr)) return false;
    return !pending || (pending->stage == s.pending()->stage && pending->message == s.pending()->message &&
                        pending->requested_seq == s.pending()->requested_seq);
  }
};

inline void require_sound(const system_state& s, std::string_view after) {
  const auto violations = check_invariants(s);
  BOOST_REQUIRE_MESSAGE(violations.empty(), "invariants broken after " << after << ": " << joined(violations));
}

// ---------------------------------------------------------------- history

inline constexpr std::int64_t history_epoch_ms = 1'795'321'233'123;  // 2026-11-22T04:20:33.123Z

/// One pipeline's history, built event by event. Every event goes through
/// `apply` on a copy of the current state (the old states are kept, so this is
/// also the copy-on-write path), and the invariants are checked after it.
class history {
public:
  /// `input`: the pipeline's input given at creation (docs/protocol.md#the-input).
  explicit history(std::shared_ptr<const pipeline_spec> spec, std::string id = "p-1",
                   std::shared_ptr<const json> input = nullptr)
      : spec_(std::move(spec)), id_(std::move(id)) {
    states_.emplace_back();
    event e = make(event_type::pipeline_created, "user:test");
    e.spec = spec_;
    e.payload = std::move(input);
    push(std::move(e));
  }

  const system_state& state() const { return states_.back(); }
  /// Every event from seq 1, as a journal would hold them (rollbacks unresolved).
  const std::vector<event>& events() const { return events_; }
  /// states()[k] is the state right after seq k; states()[0] is the empty state.
  const std::vector<system_state>& states() const { return states_; }
  const pipeline_spec& spec() const { return *spec_; }
  const std::shared_ptr<const pipeline_spec>& spec_ptr() const { return spec_; }
  const std::string& id() const { return id_; }
  std::uint64_t seq() const { return state().seq(); }

  stage_index at(std::string_view name) const {
    const stage_index i = spec_->find(name);
    BOOST_REQUIRE_MESSAGE(i != no_stage, "no stage '" << name << "' in the test spec");
    return i;
  }
  stage_status status(std::string_view name) const { return state().status(at(name)); }
  const stage_state& stage(std::string_view name) const { return state().stage(at(name)); }

  /// An event at the next seq with its common fields filled.
  event make(event_type type, std::string by = "user:test") const {
    event e;
    e.seq = seq() + 1;
    e.at_ms = history_epoch_ms + static_cast<std::int64_t>(e.seq) * 1000;
    e.by = std::move(by);
    e.pipeline = id_;
    e.type = type;
    return e;
  }
  event make(event_type type, std::string_view stage_name, std::string by) const {
    event e = make(type, std::move(by));
    e.stage = at(stage_name);
    return e;
  }

  // Events that are built but not applied (for refusals).
  event start_event(std::string_view name) const {
    event e = make(event_type::stage_started, name, "user:test");
    e.run = e.seq;
    return e;
  }
  event completed_event(std::string_view name, std::uint64_t run, json output = json::object()) const {
    event e = make(event_type::stage_completed, name, "worker:w1");
    e.run = run;
    e.payload = std::make_shared<const json>(std::move(output));
    return e;
  }
  event failed_event(std::string_view name, std::uint64_t run, std::string why = "exit status 1") const {
    event e = make(event_type::stage_failed, name, "worker:w1");
    e.run = run;
    e.text = std::move(why);
    return e;
  }
  event run_event(event_type type, std::string_view name, std::uint64_t run) const {
    event e = make(type, name, type == event_type::stage_cancelled ? "user:test" : "worker:w1");
    e.run = run;
    return e;
  }
  event resolved_event(std::string_view name, bool approved, std::string note = "") const {
    event e = make(event_type::confirmation_resolved, name, "user:test");
    e.approved = approved;
    e.text = std::move(note);
    return e;
  }

  /// Applies an event that must be legal, then checks the invariants.
  const system_state& push(event e) {
    event resolved = e;
    // A journal holds rollbacks unresolved; the target comes from the history.
    if (e.type == event_type::rolled_back && !e.target && e.to < states_.size())
      resolved.target = std::make_shared<const system_state>(states_[e.to]);
    auto next = apply(state(), resolved);
    BOOST_REQUIRE_MESSAGE(next.ok(), "seq " << e.seq << " " << to_string(e.type) << stage_label(e)
                                            << " was refused: " << describe(next));
    require_sound(*next, std::string(to_string(e.type)) + stage_label(e));
    events_.push_back(std::move(e));
    states_.push_back(std::move(*next));
    return state();
  }

  /// Applies an event that must be refused, with this code; returns the
  /// message. The current state must not change.
  std::string refuse(const event& e, errc code = errc::refused) const {
    const snapshot before(state());
    auto next = apply(state(), e);
    BOOST_REQUIRE_MESSAGE(!next.ok(), to_string(e.type) << stage_label(e) << " at seq " << e.seq
                                                        << " should be refused but was applied");
    BOOST_CHECK_MESSAGE(next.err().code == code, "refused with " << to_string(next.err().code) << " ("
                                                                 << next.err().message << "), expected "
                                                                 << to_string(code));
    BOOST_CHECK_MESSAGE(before.matches(state()), "a refused event changed the state it was applied to");
    return next.err().message;
  }

  // Legal events, applied.
  std::uint64_t start(std::string_view name) {
    event e = start_event(name);
    const std::uint64_t run = e.run;
    push(std::move(e));
    return run;
  }
  void complete(std::string_view name, json output) {
    push(completed_event(name, live_run(name), std::move(output)));
  }
  void complete(std::string_view name) {
    const std::uint64_t run = live_run(name);
    complete(name, json{{"stage", std::string(name)}, {"run", run}});
  }
  void fail(std::string_view name, std::string why = "exit status 1") {
    push(failed_event(name, live_run(name), std::move(why)));
  }
  void cancel(std::string_view name) { push(run_event(event_type::stage_cancelled, name, live_run(name))); }
  void interrupt(std::string_view name) { push(run_event(event_type::stage_interrupted, name, live_run(name))); }
  void cancel_all() { push(make(event_type::stage_cancelled, "user:test")); }
  void discard(std::string_view name, std::uint64_t run, std::string outcome_text = "completed") {
    event e = run_event(event_type::result_discarded, name, run);
    e.by = "system";
    e.text = std::move(outcome_text);
    push(std::move(e));
  }
  void change_context(std::string_view name, json context = json{{"note", "changed"}}) {
    event e = make(event_type::context_changed, name, "user:test");
    e.payload = std::make_shared<const json>(std::move(context));
    push(std::move(e));
  }
  void request_confirmation(std::string_view name, std::string message) {
    event e = make(event_type::confirmation_requested, name, "system");
    e.text = std::move(message);
    push(std::move(e));
  }
  void resolve(std::string_view name, bool approved, std::string note = "") {
    push(resolved_event(name, approved, std::move(note)));
  }
  void approve(std::string_view name) { resolve(name, true, "looks good"); }
  void retry(std::string_view name) { push(make(event_type::retry_requested, name, "user:test")); }
  void reject(std::string_view name) { resolve(name, false, "not like this"); }
  void roll_back(std::uint64_t to) {
    event e = make(event_type::rolled_back, "user:test");
    e.to = to;
    push(std::move(e));
  }
  /// Applies what `next_system_event` owes, if anything; returns its type.
  std::optional<event_type> system_step() {
    auto owed = next_system_event(state());
    if (!owed) return std::nullopt;
    event e = make(owed->type, "system");
    e.stage = owed->stage;
    e.rerun = owed->rerun;
    e.text = owed->text;
    e.run = owed->run;
    e.delay_ms = owed->delay_ms;
    push(std::move(e));
    return owed->type;
  }

  /// The live run of a running stage.
  std::uint64_t live_run(std::string_view name) const {
    const stage_state& st = stage(name);
    BOOST_REQUIRE_MESSAGE(st.stored == run_status::running, "stage '" << name << "' is not running");
    return st.run;
  }

private:
  std::string stage_label(const event& e) const {
    if (e.stage == no_stage || e.stage >= spec_->size()) return "";
    return " '" + (*spec_)[e.stage].name + "'";
  }

  std::shared_ptr<const pipeline_spec> spec_;
  std::string id_;
  std::vector<event> events_;
  std::vector<system_state> states_;
};

/// Starts and completes every startable stage, in topological order, until
/// nothing is startable. It applies no system event: it stops at a stage that
/// waits for a confirmation (the caller asks and answers).
inline void run_to_end(history& h) {
  for (int round = 0; round < 10'000; ++round) {
    const auto ready = startable(h.state());
    if (ready.empty()) return;
    for (stage_index i : ready) {
      const std::string name = h.spec()[i].name;
      h.start(name);
      h.complete(name);
    }
  }
  BOOST_FAIL("run_to_end did not settle within its step budget");
}

/// The names of the stages in `set`, for readable comparisons.
inline std::vector<std::string> names_of(const pipeline_spec& spec, const std::vector<stage_index>& set) {
  std::vector<std::string> out;
  for (stage_index i : set) out.push_back(spec[i].name);
  return out;
}

/// The names of the stages whose status is `status`, in topological order.
inline std::vector<std::string> with_status(const system_state& s, stage_status status) {
  std::vector<std::string> out;
  for (stage_index i = 0; i < s.size(); ++i)
    if (s.status(i) == status) out.push_back(s.spec()[i].name);
  return out;
}

using names = std::vector<std::string>;

}  // namespace dairector::test
