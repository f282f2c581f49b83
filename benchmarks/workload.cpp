#include "workload.hpp"

#include <string>

#include "dairector/reducer.hpp"

namespace dairector::bench {

const char* to_string(shape s) { return s == shape::chain ? "chain" : "fanout"; }

namespace {

// Stages s0..s{n-1}, already in topological order: s0 is the root.
result<std::shared_ptr<const pipeline_spec>> make_spec(shape kind, std::size_t n) {
  json stages = json::array();
  for (std::size_t i = 0; i < n; ++i) {
    json after = json::array();
    if (i > 0) after.push_back("s" + std::to_string(kind == shape::chain ? i - 1 : 0));
    stages.push_back({{"name", "s" + std::to_string(i)}, {"after", after}, {"run", {{"builtin", "echo"}}}});
  }
  return parse_spec({{"name", "bench"}, {"stages", stages}});
}

std::vector<event> make_history(const std::shared_ptr<const pipeline_spec>& spec, std::size_t events_target) {
  const auto output = std::make_shared<const json>(json{{"summary", "the shared output of every stage"}});
  const auto context = std::make_shared<const json>(json{{"note", "the requirements changed"}});
  std::vector<event> h;
  auto next = [&](event_type t, const char* by) -> event& {
    event& e = h.emplace_back();
    e.seq = h.size();
    e.at_ms = 1'700'000'000'000 + static_cast<std::int64_t>(e.seq);
    e.by = by;
    e.pipeline = "p-0001";
    e.type = t;
    return e;
  };
  next(event_type::pipeline_created, "system").spec = spec;
  const stage_index root = 0;
  // The root completes once; every other stage is started once per cycle.
  for (std::uint32_t cycle = 0; cycle + 1 < stage_attempts_max; ++cycle) {
    for (stage_index i = cycle == 0 ? root : root + 1; i < spec->size(); ++i) {
      event& start = next(event_type::stage_started, "system");
      start.stage = i;
      start.run = start.seq;
      const std::uint64_t run = start.run;
      event& done = next(event_type::stage_completed, "worker:w1");
      done.stage = i;
      done.run = run;
      done.payload = output;
    }
    event& change = next(event_type::context_changed, "user:bench");
    change.stage = root;
    change.payload = context;
    if (h.size() + 2 * spec->size() > events_target) break;
  }
  return h;
}

}  // namespace

result<workload> make_workload(shape kind, std::size_t stages, std::size_t events_target) {
  auto spec = make_spec(kind, stages);
  if (!spec) return spec.err();
  workload w{kind, stages, *spec, {}};
  w.history = make_history(w.spec, events_target);
  return w;
}

}  // namespace dairector::bench
