// libFuzzer target: any bytes as one journal line (docs/events.md), decoded
// against the example spec (examples/dairector.json).
//
// decode_event_text must answer every input with an event or an error value,
// never a crash, an exception or undefined behaviour. An event it accepts must
// be stable: encode -> decode gives the same event and the same encoding. And
// when its seq follows one of the states of a short, fixed history of that
// pipeline, applying it must either be refused or keep the invariants: a
// journal line that decodes is never a way to corrupt a state.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "dairector/codec.hpp"
#include "dairector/invariants.hpp"
#include "dairector/reducer.hpp"

namespace {

using namespace dairector;

[[noreturn]] void broken(const std::string& what, std::string_view input) {
  std::fprintf(stderr, "fuzz_event: %s\ninput: %.*s\n", what.c_str(), static_cast<int>(input.size()), input.data());
  std::abort();
}

struct fixture {
  std::shared_ptr<const pipeline_spec> spec;
  std::vector<event> history;  // pipeline "p-1" through most statuses
  std::vector<system_state> states;  // states[k]: after seq k
};

// idea 0, analyze 1 (confirm), slice 2, handoff 3, execute 4, validate 5
// (on_failure: rerun execute, max 3), in the example's topological order.
fixture make_fixture() {
  fixture f;
  auto spec = load_spec(DAIRECTOR_EXAMPLE_SPEC);
  if (!spec) {
    std::fprintf(stderr, "fuzz_event: %s\n", spec.err().message.c_str());
    std::exit(2);
  }
  f.spec = *spec;
  auto add = [&](event_type type, stage_index stage) -> event& {
    event e;
    e.seq = f.history.size() + 1;
    e.at_ms = 1'795'000'000'000 + static_cast<std::int64_t>(e.seq) * 1000;
    e.by = "system";
    e.pipeline = "p-1";
    e.type = type;
    e.stage = stage;
    if (type == event_type::stage_started) e.run = e.seq;
    return f.history.emplace_back(std::move(e));
  };
  auto run_of = [&](stage_index stage) {
    for (auto it = f.history.rbegin(); it != f.history.rend(); ++it)
      if (it->type == event_type::stage_started && it->stage == stage) return it->run;
    return std::uint64_t{0};
  };
  auto complete = [&](stage_index stage) {
    add(event_type::stage_started, stage);
    event& e = add(event_type::stage_completed, stage);
    e.run = run_of(stage);
    e.payload = std::make_shared<const json>(json{{"stage", stage}});
  };
  add(event_type::pipeline_created, no_stage).spec = f.spec;
  complete(0);
  complete(1);
  add(event_type::confirmation_requested, 1).text = "Approve the design before slicing?";
  add(event_type::confirmation_resolved, 1).approved = true;
  complete(2);
  complete(3);
  complete(4);
  add(event_type::stage_started, 5);
  event& failed = add(event_type::stage_failed, 5);
  failed.run = run_of(5);
  failed.text = "exit status 1";
  add(event_type::rerun_requested, 5).rerun = 4;
  add(event_type::stage_started, 4);
  add(event_type::context_changed, 1).payload = std::make_shared<const json>(json{{"note", "again"}});
  add(event_type::stage_started, 2);
  auto folded = fold(f.history);
  if (!folded) broken("the fixture does not fold: " + folded.err().message, "");
  for (std::uint64_t k = 0; k <= f.history.size(); ++k) f.states.push_back(*state_at(f.history, k));
  return f;
}

const fixture& the_fixture() {
  static const fixture f = make_fixture();
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  the_fixture();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fixture& f = the_fixture();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  result<event> decoded = decode_event_text(text, f.spec.get());
  if (!decoded) {
    if (decoded.err().code != errc::decode_failed || decoded.err().message.empty()) broken("a bad refusal", text);
    return 0;
  }
  const event& e = *decoded;
  const std::string once = encode_event_text(e, f.spec.get());
  result<event> again = decode_event_text(once, f.spec.get());
  if (!again) broken("its own encoding is refused: " + again.err().message + "\nencoded: " + once, text);
  if (!same_event(e, *again)) broken("encode -> decode changed the event\nencoded: " + once, text);
  const std::string twice = encode_event_text(*again, f.spec.get());
  if (twice != once) broken("encode -> decode -> encode is not stable\nfirst:  " + once + "\nsecond: " + twice, text);

  // Apply it after the fixture's state at seq - 1, if there is one.
  if (e.seq == 0 || e.seq > f.states.size()) return 0;
  event applied = e;
  if (e.type == event_type::rolled_back && e.to >= 1 && e.to < f.states.size())
    applied.target = std::make_shared<const system_state>(f.states[e.to]);
  result<system_state> next = apply(f.states[e.seq - 1], applied);
  if (!next) return 0;
  if (auto v = check_invariants(*next); !v.empty()) broken("an accepted event breaks an invariant: " + v.front(), text);
  std::vector<event> history(f.history.begin(), f.history.begin() + static_cast<std::ptrdiff_t>(e.seq - 1));
  history.push_back(*again);  // as read back from a journal: no rollback target
  result<system_state> folded = fold(history);
  if (!folded || !same_facts(*folded, *next)) broken("fold does not reproduce the applied event", text);
  return 0;
}
