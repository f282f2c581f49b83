// The reducer, its invariants, time travel and the codec over long random
// histories (docs/contributing.md#how-races-and-crashes-are-tested; docs/contributing.md#habit-9-tests-sit-by-layer-and-read-as-stories: the seed is printed and
// accepted back).
//
//   DAIRECTOR_SEED=N           replay the run that printed "random_walk seed=N"
//   DAIRECTOR_SEED=random      a fresh seed from std::random_device (printed)
//   DAIRECTOR_WALK_EVENTS=N    accept N events in total (default 100000)
//   DAIRECTOR_WALK=W           replay only walk W of that seed (as a failure names it)
//
// Each walk draws a random DAG (1..40 stages, edges to earlier stages so fan-out
// and fan-in occur, random `confirm` and `on_failure` policies) and then, step
// by step, one event of any kind: mostly what a supervisor, its workers and its
// users could send (starts, results, stale results, cancels, interruptions,
// context changes, confirmations, re-runs, rollbacks), and some deliberately
// illegal ones, which must be refused and leave the state as it was. After
// every accepted event the invariants must hold and the event must have had the
// effect docs/events.md#event-types gives it; at the end of a walk the history must fold back to
// the live state, time travel must give the states seen on the way, and every
// event must survive encode -> decode -> encode.
#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "dairector/codec.hpp"
#include "dairector/invariants.hpp"
#include "dairector/plan.hpp"
#include "dairector/reducer.hpp"
#include "dairector/retry.hpp"

namespace {

using namespace dairector;
using rng = std::mt19937_64;

// Bounds (docs/contributing.md#habit-8-bound-everything).
constexpr std::uint64_t seed_default = 20261122;
constexpr std::uint64_t walk_events_default = 100'000;
constexpr std::uint64_t walk_seq_max = 1200;        // one pipeline's history (each rollback folds a prefix of it)
constexpr std::uint64_t storm_seq = 2600;           // a retry storm: enough starts to reach stage_attempts_max
constexpr std::uint32_t walk_stages_max = 40;
constexpr std::uint64_t failures_reported_max = 5;  // then the run stops
constexpr std::int64_t walk_epoch_ms = 1'795'000'000'000;  // late 2026

// ---------------------------------------------------------------- configuration

struct walk_config {
  std::uint64_t seed = seed_default;
  std::uint64_t events = walk_events_default;
  std::optional<std::uint64_t> only_walk;
};

std::optional<std::uint64_t> parse_count(std::string_view text) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

walk_config config_from_env() {
  walk_config c;
  if (const char* s = std::getenv("DAIRECTOR_SEED"); s && *s) {
    if (std::string_view(s) == "random") {
      std::random_device dev;
      c.seed = (std::uint64_t{dev()} << 32) | dev();
    } else {
      auto v = parse_count(s);
      BOOST_REQUIRE_MESSAGE(v, "DAIRECTOR_SEED must be a number or 'random', got '" << s << "'");
      c.seed = *v;
    }
  }
  if (const char* s = std::getenv("DAIRECTOR_WALK_EVENTS"); s && *s) {
    auto v = parse_count(s);
    BOOST_REQUIRE_MESSAGE(v && *v > 0, "DAIRECTOR_WALK_EVENTS must be a positive number, got '" << s << "'");
    c.events = *v;
  }
  if (const char* s = std::getenv("DAIRECTOR_WALK"); s && *s) {
    auto v = parse_count(s);
    BOOST_REQUIRE_MESSAGE(v, "DAIRECTOR_WALK must be a walk number, got '" << s << "'");
    c.only_walk = *v;
  }
  return c;
}

// ---------------------------------------------------------------- randomness

std::uint64_t pick(rng& g, std::uint64_t lo, std::uint64_t hi) {
  return std::uniform_int_distribution<std::uint64_t>(lo, hi)(g);
}
bool chance(rng& g, double p) { return std::bernoulli_distribution(p)(g); }
double between(rng& g, double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(g); }
stage_index pick_stage(rng& g, std::size_t n) { return static_cast<stage_index>(pick(g, 0, n - 1)); }
template <class T>
const T& one_of(rng& g, const std::vector<T>& v) {
  return v[pick(g, 0, v.size() - 1)];
}

// Texts that stress the codec: quotes, escapes, newlines, non-ASCII.
const std::vector<std::string> texts = {
    "ok", "exit status 1: boom", "line one\nline two", "quote \" and backslash \\", "zo\u00eb \u2014 \u00fcn\u00efcode \u2713",
    "tab\there", "{\"not\": \"json\"}", "", "x",
};

json random_json(rng& g, int depth) {
  switch (pick(g, 0, depth > 0 ? 8 : 5)) {
    case 0: return nullptr;
    case 1: return chance(g, 0.5);
    case 2: return static_cast<std::int64_t>(pick(g, 0, 2'000'000)) - 1'000'000;
    case 3: return pick(g, std::uint64_t{1} << 63, ~std::uint64_t{0});  // only fits unsigned
    case 4: return between(g, -1e9, 1e9);
    case 5: return one_of(g, texts);
    case 6: {
      json a = json::array();
      for (std::uint64_t k = pick(g, 0, 3); k > 0; --k) a.push_back(random_json(g, depth - 1));
      return a;
    }
    default: {
      json o = json::object();
      for (std::uint64_t k = pick(g, 0, 3); k > 0; --k) o["k" + std::to_string(pick(g, 0, 9))] = random_json(g, depth - 1);
      return o;
    }
  }
}

std::shared_ptr<const json> random_payload(rng& g) { return std::make_shared<const json>(random_json(g, 3)); }

// ---------------------------------------------------------------- random specs

struct spec_stats {
  std::uint64_t stages = 0, edges = 0, confirms = 0, on_failures = 0, retries = 0, fan_in_max = 0, fan_out_max = 0;
};

json random_run(rng& g) {
  switch (pick(g, 0, 4)) {
    case 0: return {{"builtin", "echo"}};
    case 1: return {{"builtin", "sleep"}, {"ms", pick(g, 0, 500)}};
    case 2: return {{"builtin", "fail"}, {"times", pick(g, 0, 3)}};
    case 3: {
      json r = {{"command", {"sh", "-c", "echo \"$1\"", one_of(g, texts)}}};
      if (chance(g, 0.5)) r["timeout_s"] = pick(g, 1, 600);
      if (chance(g, 0.3)) r["env"] = {{"MODE", one_of(g, texts)}};
      return r;
    }
    default: return {{"handler", "h" + std::to_string(pick(g, 0, 9))}};
  }
}

// Stage k may only come after stages drawn before it, so the graph is a DAG;
// the file order is then shuffled so the topological sort has work to do.
std::shared_ptr<const pipeline_spec> random_spec(rng& g, std::uint32_t n, spec_stats& stats) {
  static const std::array<const char*, 3> prefixes = {"s", "stage-", "x_"};
  std::vector<std::string> names(n);
  std::vector<std::vector<bool>> upstream(n, std::vector<bool>(n, false));
  std::vector<std::uint64_t> fan_out(n, 0);
  std::vector<json> stages;
  for (std::uint32_t k = 0; k < n; ++k) {
    names[k] = std::string(prefixes[pick(g, 0, prefixes.size() - 1)]) + std::to_string(k);
    json after = json::array();
    if (k > 0 && !chance(g, 0.12)) {
      std::vector<std::uint32_t> chosen;
      for (std::uint64_t want = pick(g, 1, std::min<std::uint32_t>(k, 3)); chosen.size() < want;) {
        // Half of the edges go to a recent stage (chains), half anywhere (wide fan-out).
        const std::uint32_t lo = chance(g, 0.5) && k > 4 ? k - 4 : 0;
        auto up = static_cast<std::uint32_t>(pick(g, lo, k - 1));
        if (std::find(chosen.begin(), chosen.end(), up) == chosen.end()) chosen.push_back(up);
      }
      for (std::uint32_t up : chosen) {
        after.push_back(names[up]);
        upstream[k][up] = true;
        for (std::uint32_t u = 0; u < up; ++u) upstream[k][u] = upstream[k][u] || upstream[up][u];
        ++fan_out[up];
      }
      stats.edges += chosen.size();
      stats.fan_in_max = std::max<std::uint64_t>(stats.fan_in_max, chosen.size());
    }
    json s = {{"name", names[k]}, {"after", after}, {"run", random_run(g)}};
    if (chance(g, 0.3)) {
      s["run"]["retry"] = {{"max_attempts", pick(g, 1, 4)}, {"backoff_ms", pick(g, 0, 3000)}};
      if (chance(g, 0.5)) s["run"]["retry"]["backoff_max_ms"] = pick(g, 3000, 10'000);
      ++stats.retries;
    }
    if (chance(g, 0.2)) {
      s["confirm"] = "Approve " + names[k] + "?";
      ++stats.confirms;
    }
    std::vector<std::uint32_t> ups;
    for (std::uint32_t u = 0; u < k; ++u)
      if (upstream[k][u]) ups.push_back(u);
    if (!ups.empty() && chance(g, 0.3)) {
      s["on_failure"] = {{"rerun", names[one_of(g, ups)]}, {"max_attempts", pick(g, 1, 3)}};
      ++stats.on_failures;
    }
    stages.push_back(std::move(s));
  }
  for (auto f : fan_out) stats.fan_out_max = std::max(stats.fan_out_max, f);
  stats.stages += n;
  std::shuffle(stages.begin(), stages.end(), g);
  json doc = {{"name", "walk"}, {"stages", stages}};
  auto spec = parse_spec(doc);
  // (Boost evaluates a message's operands even when the check passes.)
  if (!spec) BOOST_FAIL("a random spec was refused: " << spec.err().message << "\n" << doc.dump());
  // The canonical form is a fixed point (spec.hpp: parsing it gives an equal spec).
  auto again = parse_spec((*spec)->to_json());
  BOOST_REQUIRE_MESSAGE(again.ok() && (*again)->to_json() == (*spec)->to_json(),
                        "a spec's canonical form does not parse back to itself:\n" << doc.dump());
  return *spec;
}

// ---------------------------------------------------------------- checks

// Everything a state holds, copied out, so a change to memory that two states
// share (a copy-on-write slip) shows up; payloads by identity.
struct fingerprint {
  std::uint64_t seq = 0;
  std::vector<stage_state> stages;
  std::vector<const void*> payloads;
  std::optional<std::tuple<stage_index, std::uint64_t, std::string>> pending;
  bool operator==(const fingerprint&) const = default;
};

fingerprint fingerprint_of(const system_state& s) {
  fingerprint f;
  f.seq = s.seq();
  for (stage_index i = 0; i < s.size(); ++i) {
    f.stages.push_back(s.stage(i));
    const stage_payload& p = s.payload(i);
    f.payloads.insert(f.payloads.end(), {p.output.get(), p.context.get(), p.error.get()});
  }
  if (const confirmation* c = s.pending()) f.pending.emplace(c->stage, c->requested_seq, c->message);
  return f;
}

bool same_pending(const confirmation* a, const confirmation* b) {
  if (!a || !b) return a == b;
  return a->stage == b->stage && a->requested_seq == b->requested_seq && a->message == b->message;
}

bool same_payload(const stage_payload& a, const stage_payload& b) {
  return a.output == b.output && a.context == b.context && a.error == b.error;
}

// What make_outdated touches: a stage that has run.
bool has_run(run_status st) {
  return st == run_status::running || st == run_status::completed || st == run_status::failed;
}

bool asks_confirmation(const system_state& s, stage_index i) {
  const stage_state& st = s.stage(i);
  return st.stored == run_status::completed && s.spec()[i].confirm && !st.confirmed;
}

bool retry_owed(const system_state& s, stage_index i) {
  const auto& policy = s.spec()[i].on_failure;
  const stage_state& st = s.stage(i);
  return policy && st.stored == run_status::failed && !st.given_up && st.reruns >= policy->max_attempts;
}

bool rerun_allowed(const system_state& s, stage_index i) {
  const auto& policy = s.spec()[i].on_failure;
  const stage_state& st = s.stage(i);
  return policy && st.stored == run_status::failed && !st.given_up && st.reruns < policy->max_attempts;
}

// The effect docs/events.md#event-types gives each event, checked stage by stage: `b` before,
// `a` after. Returns what is wrong, or nothing.
class effect_check {
public:
  effect_check(const system_state& b, const event& e, const system_state& a)
      : b_(b), e_(e), a_(a), touched_(b.size(), false) {}

  std::string run() {
    if (a_.seq() != e_.seq) return "the state's seq is " + std::to_string(a_.seq());
    if (e_.type == event_type::pipeline_created) return created();
    if (a_.size() != b_.size()) return "the number of stages changed";
    by_type();
    for (stage_index i = 0; i < b_.size() && err_.empty(); ++i) {
      if (!touched_[i]) {
        expect(i, a_.stage(i) == b_.stage(i), "changed, but the event does not concern it");
        expect(i, same_payload(a_.payload(i), b_.payload(i)), "payloads changed, but the event does not concern it");
      } else if (a_.stage(i).stored != b_.stage(i).stored) {
        expect(i, a_.stage(i).since == e_.seq, "changed status without recording the event's seq");
      }
    }
    if (err_.empty() && !pending_checked_) {
      // Only a cascade or a cancel may drop a confirmation, and only a moot one.
      const confirmation* p = b_.pending();
      const bool moot = p && a_.stage(p->stage).stored != run_status::completed &&
                        a_.stage(p->stage).stored != run_status::failed;
      if (!same_pending(a_.pending(), moot && may_drop_pending_ ? nullptr : p))
        err_ = "the pending confirmation changed unexpectedly";
    }
    return err_;
  }

private:
  // A new pipeline: every stage idle, never started, nothing pending.
  std::string created() const {
    if (!b_.empty()) return "pipeline_created was applied to a pipeline";
    if (a_.spec_ptr() != e_.spec || a_.pipeline() != e_.pipeline) return "the new pipeline is not the event's";
    for (stage_index i = 0; i < a_.size(); ++i) {
      const stage_payload& p = a_.payload(i);
      if (!(a_.stage(i) == stage_state{}) || p.output || p.context || p.error)
        return "stage '" + a_.spec()[i].name + "' of a new pipeline is not fresh";
    }
    return a_.pending() ? "a new pipeline has a pending confirmation" : "";
  }

  void expect(stage_index i, bool ok, const std::string& what) {
    if (!ok && err_.empty()) err_ = "stage '" + b_.spec()[i].name + "' " + what;
  }
  const stage_state& was(stage_index i) const { return b_.stage(i); }
  const stage_state& now(stage_index i) const { return a_.stage(i); }

  void outdated_by(stage_index j, stage_index cause, outdated_reason why) {
    touched_[j] = true;
    if (!has_run(was(j).stored)) {
      expect(j, now(j) == was(j), "changed by a cascade although it had not run");
      return;
    }
    expect(j, now(j).stored == run_status::outdated && now(j).reason == why && now(j).cause == cause &&
                  !now(j).confirmed && now(j).tries == 0,
           "was not made outdated by the cascade (with a fresh retry budget)");
    expect(j, same_payload(a_.payload(j), b_.payload(j)), "payloads changed in a cascade");
  }

  void result_of_run() {
    const stage_index i = e_.stage;
    touched_[i] = true;
    const stage_payload& p = a_.payload(i);
    const stage_payload& q = b_.payload(i);
    expect(i, now(i).run == was(i).run && now(i).attempt == was(i).attempt, "changed its run on a result");
    expect(i, p.context == q.context, "lost its context on a result");
    switch (e_.type) {
      case event_type::stage_completed:
        expect(i, now(i).stored == run_status::completed && now(i).reruns == 0 && now(i).tries == 0,
               "is not completed with a fresh retry budget");
        expect(i, p.output && *p.output == *e_.payload && !p.error, "does not hold the run's output");
        break;
      case event_type::stage_failed:
        expect(i, now(i).stored == run_status::failed, "is not failed");
        expect(i, p.error && *p.error == e_.text && p.output == q.output, "does not hold the run's error");
        expect(i, a_.retry_at(i) == 0, "has a retry scheduled before the system scheduled one");
        break;
      case event_type::stage_cancelled:
        expect(i, now(i).stored == run_status::cancelled && same_payload(p, q), "is not cancelled");
        break;
      case event_type::stage_interrupted:
        expect(i, now(i).stored == run_status::idle && same_payload(p, q), "is not idle after an interruption");
        break;
      case event_type::pipeline_created:
      case event_type::stage_started:
      case event_type::result_discarded:
      case event_type::context_changed:
      case event_type::confirmation_requested:
      case event_type::confirmation_resolved:
      case event_type::rolled_back:
      case event_type::rerun_requested:
      case event_type::retry_scheduled:
      case event_type::retry_requested: err_ = "result_of_run for an event that ends no run"; break;
    }
  }

  void by_type();
  void rollback();

  const system_state& b_;
  const event& e_;
  const system_state& a_;
  std::vector<bool> touched_;
  bool pending_checked_ = false;
  bool may_drop_pending_ = false;
  std::string err_;
};

void effect_check::by_type() {
  const pipeline_spec& sp = b_.spec();
  const stage_index i = e_.stage;
  switch (e_.type) {
    case event_type::pipeline_created: err_ = "pipeline_created was applied twice"; break;
    case event_type::stage_started:
      touched_[i] = true;
      expect(i,
             now(i).stored == run_status::running && now(i).run == e_.seq && now(i).attempt == was(i).attempt + 1 &&
                 now(i).reason == outdated_reason::none && !now(i).confirmed && !now(i).given_up &&
                 now(i).tries == std::min(was(i).tries + 1, 0xFFFF),
             "is not running the new run");
      expect(i, b_.retry_at(i) <= e_.at_ms, "started before its retry was due");
      expect(i, same_payload(a_.payload(i), b_.payload(i)), "payloads changed on a start");
      break;
    case event_type::stage_completed:
    case event_type::stage_failed:
    case event_type::stage_interrupted: result_of_run(); break;
    case event_type::stage_cancelled:
      if (i != no_stage) {
        result_of_run();
        break;
      }
      may_drop_pending_ = true;
      for (stage_index j = 0; j < b_.size(); ++j) {
        if (was(j).stored == run_status::completed || was(j).stored == run_status::cancelled) continue;
        touched_[j] = true;
        expect(j, now(j).stored == run_status::cancelled && same_payload(a_.payload(j), b_.payload(j)),
               "is not cancelled by a whole-pipeline cancel");
      }
      break;
    case event_type::result_discarded: break;
    case event_type::context_changed: {
      touched_[i] = true;
      const stage_payload& p = a_.payload(i);
      expect(i, now(i) == was(i), "changed by its own context change (only downstream may)");
      expect(i, p.context && *p.context == *e_.payload, "does not hold the new context");
      expect(i, p.output == b_.payload(i).output && p.error == b_.payload(i).error, "lost its output or error");
      for (stage_index d : sp[i].downstream) outdated_by(d, i, outdated_reason::context);
      may_drop_pending_ = true;
      break;
    }
    case event_type::confirmation_requested: {
      pending_checked_ = true;
      const confirmation* c = a_.pending();
      if (!c || c->stage != i || c->requested_seq != e_.seq || c->message != e_.text)
        err_ = "the confirmation was not recorded as pending";
      break;
    }
    case event_type::confirmation_resolved:
      pending_checked_ = true;
      touched_[i] = true;
      if (a_.pending()) err_ = "the confirmation is still pending after it was resolved";
      if (was(i).stored == run_status::completed && e_.approved)
        expect(i, now(i).stored == run_status::completed && now(i).confirmed, "is not confirmed");
      else if (was(i).stored == run_status::completed)
        expect(i,
               now(i).stored == run_status::outdated && now(i).reason == outdated_reason::rejected && now(i).cause == i,
               "is not outdated by its rejection");
      else if (e_.approved)
        expect(i, now(i).stored == run_status::failed && now(i).reruns == 0, "did not get another round of re-runs");
      else
        expect(i, now(i).stored == run_status::failed && now(i).given_up, "did not give up");
      break;
    case event_type::rerun_requested: {
      may_drop_pending_ = true;
      outdated_by(e_.rerun, i, outdated_reason::rerun);
      for (stage_index d : sp[e_.rerun].downstream) outdated_by(d, i, outdated_reason::rerun);
      expect(i, now(i).reruns == was(i).reruns + 1, "did not count the re-run");
      break;
    }
    case event_type::rolled_back: rollback(); break;
    case event_type::retry_scheduled: {
      touched_[i] = true;
      const auto& policy = sp[i].retry;
      expect(i, now(i) == was(i), "changed its bookkeeping when its retry was scheduled");
      expect(i, policy && e_.delay_ms == retry_delay_ms(*policy, b_.seed(), i, was(i).tries),
             "was scheduled with a delay that is not its policy's");
      expect(i, a_.retry_at(i) == e_.at_ms + static_cast<std::int64_t>(e_.delay_ms), "does not hold its retry time");
      expect(i, same_payload(a_.payload(i), b_.payload(i)), "payloads changed when a retry was scheduled");
      break;
    }
    case event_type::retry_requested: {
      auto reset = [&](stage_index k) {
        touched_[k] = true;
        expect(k,
               now(k).stored == run_status::idle && now(k).tries == 0 && now(k).reruns == 0 && !now(k).given_up &&
                   now(k).run == was(k).run && now(k).attempt == was(k).attempt,
               "is not startable again with a fresh budget after a retry");
        expect(k, same_payload(a_.payload(k), b_.payload(k)), "payloads changed by a retry");
      };
      reset(i);
      for (stage_index d : sp[i].downstream)
        if (was(d).stored == run_status::failed || was(d).stored == run_status::cancelled) reset(d);
      break;
    }
  }
}

// Rollback restores the target's stages and payloads; a run that was live at
// the target is not live now (its worker is gone or fenced), so it is idle.
void effect_check::rollback() {
  pending_checked_ = true;
  const system_state& t = *e_.target;
  if (!same_pending(a_.pending(), t.pending())) err_ = "the pending confirmation is not the target's";
  for (stage_index i = 0; i < b_.size(); ++i) {
    touched_[i] = true;
    stage_state want = t.stage(i);
    if (want.stored == run_status::running) {
      want.stored = run_status::idle;
      want.since = e_.seq;
    } else if (!(want == was(i))) {
      want.since = e_.seq;
    }
    expect(i, now(i) == want, "is not restored to its state at the rollback's target");
    expect(i, same_payload(a_.payload(i), t.payload(i)), "payloads are not the target's");
  }
}

// ---------------------------------------------------------------- counts

struct tally {
  std::array<std::uint64_t, event_type_count> applied{}, refused{};
  std::uint64_t illegal = 0;        // deliberately illegal events tried (all must be refused)
  std::uint64_t stale_results = 0;  // late results refused, then recorded as result_discarded
  std::uint64_t blocked = 0;        // starts refused with errc::blocked
  std::uint64_t violations = 0;     // states with invariant violations (must stay 0)
  std::uint64_t failures = 0;       // every failed check, violations included
  std::uint64_t walks = 0, storms = 0, at_attempt_limit = 0;
  std::uint64_t folds = 0, time_travels = 0, round_trips = 0;
  spec_stats specs;

  std::uint64_t total(const std::array<std::uint64_t, event_type_count>& a) const {
    std::uint64_t n = 0;
    for (auto v : a) n += v;
    return n;
  }
};

// ---------------------------------------------------------------- one walk

// Relative weights of the legal moves; each walk scales them at random so some
// walks are orderly and others chaotic.
enum move : std::size_t {
  m_system, m_resolve, m_start, m_complete, m_fail, m_interrupt, m_cancel_stage, m_stale, m_restart,
  m_rerun, m_request, m_context, m_cancel_all, m_rollback, m_retry, move_count
};
constexpr std::array<double, move_count> move_weights = {30, 30, 30, 25, 8, 3, 3, 2.5, 3, 1, 1, 3, 0.6, 1.2, 1.5};

class walker {
public:
  walker(rng& g, tally& t, std::uint64_t seed, std::uint64_t walk, std::uint64_t walk_seed)
      : g_(g), t_(t), seed_(seed), walk_(walk), walk_seed_(walk_seed) {}

  /// Runs one whole walk; false once a check failed (already reported).
  bool run();
  std::uint64_t applied() const { return s_.seq(); }

private:
  // -- the harness
  event make(event_type type, stage_index stage = no_stage);
  bool accept(const event& e);
  bool refuse(const event& e, const char* form);
  void fail(const std::string& what, const event* e);
  std::string describe(const event& e) const;
  void record();
  void check_history();
  void check_codec(std::vector<event>& decoded);

  // -- moves
  bool step_legal();
  void before_creation();
  bool start(stage_index i);
  bool finish(stage_index i, event_type type);
  bool stale_result();
  bool rollback();
  bool illegal();
  std::optional<bool> illegal_form(std::uint64_t form);
  void check_views();
  std::optional<std::pair<stage_index, std::uint64_t>> stale_run();
  std::vector<stage_index> stages_where(bool (*pred)(const system_state&, stage_index)) const;

  rng& g_;
  tally& t_;
  const std::uint64_t seed_, walk_, walk_seed_;
  std::uint64_t step_ = 0;
  bool failed_ = false;
  std::shared_ptr<const pipeline_spec> spec_;
  std::string id_;
  system_state s_;
  std::vector<event> events_;
  std::vector<std::vector<std::uint64_t>> runs_;  // every run ever started, per stage
  std::map<std::uint64_t, system_state> kept_;    // checkpoints for time travel
  std::vector<std::uint64_t> checkpoints_;
  std::array<double, move_count> weights_{};
  double illegal_rate_ = 0.1;
};

std::string walker::describe(const event& e) const {
  std::string out = encode_event_text(e, spec_.get());
  if (e.type == event_type::rolled_back) out += e.target ? " (target resolved)" : " (no target)";
  return out;
}

void walker::fail(const std::string& what, const event* e) {
  failed_ = true;
  if (++t_.failures > failures_reported_max) return;
  std::ostringstream os;
  os << "random_walk seed=" << seed_ << " walk=" << walk_ << " (walk seed " << walk_seed_ << ") step=" << step_
     << " seq=" << s_.seq() << (e ? "\n  event: " + describe(*e) : "") << "\n  " << what
     << (e && e->type == event_type::pipeline_created ? "" : "\n  spec: " + spec_->to_json().dump())
     << "\n  replay: DAIRECTOR_SEED=" << seed_ << " DAIRECTOR_WALK=" << walk_;
  BOOST_ERROR(os.str());
}

event walker::make(event_type type, stage_index stage) {
  static const std::vector<std::string> users = {"user:ana", "user:zo\u00eb", "system"};
  event e;
  e.seq = s_.seq() + 1;
  e.at_ms = walk_epoch_ms + static_cast<std::int64_t>(e.seq * 1000 + pick(g_, 0, 999));
  e.by = stage != no_stage && chance(g_, 0.5) ? "worker:w" + std::to_string(stage) : one_of(g_, users);
  e.pipeline = id_;
  e.type = type;
  e.stage = stage;
  return e;
}

// An event the rules allow: it must be accepted, keep the invariants and have
// its documented effect, and the state it was applied to must not change.
bool walker::accept(const event& e) {
  const fingerprint before = fingerprint_of(s_);
  result<system_state> next = apply(s_, e);
  if (!next) {
    fail("a legal event was refused: " + std::string(to_string(next.err().code)) + ": " + next.err().message, &e);
    return false;
  }
  if (!(fingerprint_of(s_) == before)) return fail("applying an event changed the state it was applied to", &e), false;
  // The supervisor checks a completion before writing it (rule 5): the check
  // must accept exactly what apply accepts.
  if (auto err = check(s_, e)) return fail("check refused a legal event: " + err->message, &e), false;
  if (auto v = check_invariants(*next); !v.empty()) {
    ++t_.violations;
    std::string all;
    for (const auto& line : v) all += "\n    " + line;
    return fail("invariant violations after the event:" + all, &e), false;
  }
  if (std::string wrong = effect_check(s_, e, *next).run(); !wrong.empty())
    return fail("wrong effect: " + wrong, &e), false;
  if (chance(g_, 0.5)) {
    // The supervisor's path: the same event applied in place, to a state that
    // mostly nobody else holds, must give the same facts as on a shared copy.
    if (auto err = apply_in_place(s_, e); err || !same_facts(s_, *next))
      return fail("apply_in_place " + (err ? "refused it: " + err->message : "gives another state"), &e), false;
  } else {
    s_ = std::move(*next);
  }
  ++t_.applied[static_cast<std::size_t>(e.type)];
  events_.push_back(e);
  if (e.type == event_type::stage_started) runs_[e.stage].push_back(e.run);
  record();
  return true;
}

// An event the rules forbid: it must be refused, with the right code and a
// reason, and leave the state untouched, on a copy and in place.
bool walker::refuse(const event& e, const char* form) {
  const fingerprint before = fingerprint_of(s_);
  result<system_state> next = apply(s_, e);
  if (next) return fail(std::string("an illegal event (") + form + ") was accepted", &e), false;
  ++t_.refused[static_cast<std::size_t>(e.type)];
  if (!(fingerprint_of(s_) == before)) return fail("a refused event changed the state", &e), false;
  // In place, a refusal must leave the state exactly as it was (reducer.hpp), and say the same.
  if (std::optional<error> err = apply_in_place(s_, e);
      !err || err->code != next.err().code || err->message != next.err().message)
    return fail(std::string("apply_in_place and apply disagree on an illegal event (") + form + ")", &e), false;
  if (!(fingerprint_of(s_) == before)) return fail("a refusal in place changed the state", &e), false;
  if (std::optional<error> err = check(s_, e);
      !err || err->code != next.err().code || err->message != next.err().message)
    return fail(std::string("check and apply disagree on an illegal event (") + form + ")", &e), false;
  // Under the lock a start (and a retry, which would lead to one) is blocked.
  const bool start_in_order = (e.type == event_type::stage_started || e.type == event_type::retry_requested) &&
                              e.seq == s_.seq() + 1 && e.pipeline == id_ && e.stage < s_.size();
  const errc want = start_in_order && s_.pending() ? errc::blocked : errc::refused;
  if (next.err().code != want)
    return fail(std::string("refused (") + form + ") with code " + to_string(next.err().code) + ", expected " +
                    to_string(want) + ": " + next.err().message,
                &e),
           false;
  if (want == errc::blocked) {
    ++t_.blocked;
    if (next.err().message.find(s_.pending()->message) == std::string::npos)
      return fail("a blocked start does not give the confirmation's message", &e), false;
  }
  if (next.err().message.empty()) return fail("a refusal without a reason", &e), false;
  return true;
}

void walker::record() {
  if (std::binary_search(checkpoints_.begin(), checkpoints_.end(), s_.seq())) kept_.emplace(s_.seq(), s_);
}

std::vector<stage_index> walker::stages_where(bool (*pred)(const system_state&, stage_index)) const {
  std::vector<stage_index> out;
  for (stage_index i = 0; i < s_.size(); ++i)
    if (pred(s_, i)) out.push_back(i);
  return out;
}

bool is_running(const system_state& s, stage_index i) { return s.stage(i).stored == run_status::running; }
bool can_restart(const system_state& s, stage_index i) {
  const stage_state& st = s.stage(i);
  return (st.stored == run_status::failed || st.stored == run_status::cancelled) && !s.pending() &&
         st.attempt < stage_attempts_max && s.upstream_done(i);
}
bool can_request(const system_state& s, stage_index i) {
  return !s.pending() && (asks_confirmation(s, i) || retry_owed(s, i));
}
bool can_retry(const system_state& s, stage_index i) {
  const stage_state& st = s.stage(i);
  return (st.stored == run_status::failed || st.stored == run_status::cancelled) && st.run != 0 && !s.pending();
}
bool can_cancel(const system_state& s, stage_index i) {
  return s.stage(i).stored != run_status::completed && s.stage(i).stored != run_status::cancelled;
}

bool walker::start(stage_index i) {
  event e = make(event_type::stage_started, i);
  e.run = e.seq;
  // A retry starts when it is due (a driver waits for its timer).
  e.at_ms = std::max(e.at_ms, s_.retry_at(i) + static_cast<std::int64_t>(pick(g_, 0, 1)));
  return accept(e);
}

bool walker::finish(stage_index i, event_type type) {
  event e = make(type, i);
  e.run = s_.stage(i).run;
  if (type == event_type::stage_completed) e.payload = random_payload(g_);
  if (type == event_type::stage_failed) e.text = one_of(g_, texts);
  return accept(e);
}

std::optional<std::pair<stage_index, std::uint64_t>> walker::stale_run() {
  for (int tries = 0; tries < 4; ++tries) {
    const stage_index i = pick_stage(g_, s_.size());
    if (runs_[i].empty()) continue;
    const std::uint64_t run = one_of(g_, runs_[i]);
    if (!s_.is_live_run(i, run)) return std::pair{i, run};
  }
  return std::nullopt;
}

// Rule 3: a worker's late result for a fenced run is refused, and the
// supervisor records it as discarded.
bool walker::stale_result() {
  auto stale = stale_run();
  if (!stale) return true;
  const bool completed = chance(g_, 0.6);
  event late = make(completed ? event_type::stage_completed : event_type::stage_failed, stale->first);
  late.run = stale->second;
  if (completed) late.payload = random_payload(g_);
  else late.text = "late failure";
  if (!refuse(late, "a late result")) return false;
  ++t_.stale_results;
  event e = make(event_type::result_discarded, stale->first);
  e.run = stale->second;
  e.text = completed ? "completed" : "failed";
  return accept(e);
}

bool walker::rollback() {
  const std::uint64_t to = pick(g_, 1, s_.seq());
  result<system_state> target = state_at(events_, to);
  ++t_.time_travels;
  if (!target) return fail("state_at(" + std::to_string(to) + ") failed: " + target.err().message, nullptr), false;
  if (auto kept = kept_.find(to); kept != kept_.end() && !same_facts(kept->second, *target))
    return fail("state_at(" + std::to_string(to) + ") is not the state seen at that seq", nullptr), false;
  event e = make(event_type::rolled_back);
  e.to = to;
  e.target = std::make_shared<const system_state>(std::move(*target));
  return accept(e);
}

bool walker::step_legal() {
  const auto sys = next_system_event(s_);
  const auto ready = startable(s_);
  const auto running = stages_where(is_running);
  const auto restart = stages_where(can_restart);
  const auto rerun = stages_where(rerun_allowed);
  const auto request = stages_where(can_request);
  const auto retry = stages_where(can_retry);
  const bool cancel_all = !stages_where(can_cancel).empty();
  std::array<bool, move_count> can = {
      sys.has_value(), s_.pending() != nullptr, !ready.empty(), !running.empty(), !running.empty(),
      !running.empty(), !running.empty(), true, !restart.empty(), !rerun.empty(), !request.empty(),
      true, cancel_all, true, !retry.empty()};
  double sum = 0;
  for (std::size_t m = 0; m < move_count; ++m) sum += can[m] ? weights_[m] : 0;
  double x = between(g_, 0, sum);
  std::size_t m = 0;
  for (; m + 1 < move_count; ++m) {
    if (!can[m]) continue;
    if (x < weights_[m]) break;
    x -= weights_[m];
  }
  switch (static_cast<move>(m)) {
    case m_system: {
      event e = *sys;
      event full = make(e.type, e.stage);
      full.by = "system";
      full.text = e.text;
      full.rerun = e.rerun;
      full.run = e.run;
      full.delay_ms = e.delay_ms;
      if (e.type == event_type::retry_scheduled && chance(g_, 0.1)) {
        // A delay that is not the policy's (a replay of another seed) is refused.
        event wrong = full;
        wrong.delay_ms = e.delay_ms + pick(g_, 1, 5);
        if (!refuse(wrong, "a retry_scheduled whose delay is not the policy's")) return false;
      }
      return accept(full);
    }
    case m_resolve: {
      event e = make(event_type::confirmation_resolved, s_.pending()->stage);
      e.approved = chance(g_, 0.75);
      e.text = one_of(g_, texts);
      return accept(e);
    }
    case m_start: return start(one_of(g_, ready));
    case m_complete: return finish(one_of(g_, running), event_type::stage_completed);
    case m_fail: return finish(one_of(g_, running), event_type::stage_failed);
    case m_interrupt: return finish(one_of(g_, running), event_type::stage_interrupted);
    case m_cancel_stage: return finish(one_of(g_, running), event_type::stage_cancelled);
    case m_stale: return stale_result();
    case m_restart: return start(one_of(g_, restart));
    case m_rerun: {
      event e = make(event_type::rerun_requested, one_of(g_, rerun));
      e.rerun = spec_->stages()[e.stage].on_failure->rerun;
      return accept(e);
    }
    case m_request: {
      event e = make(event_type::confirmation_requested, one_of(g_, request));
      e.text = "please decide on " + spec_->stages()[e.stage].name;
      return accept(e);
    }
    case m_context: {
      event e = make(event_type::context_changed, pick_stage(g_, s_.size()));
      e.payload = std::make_shared<const json>(json{{"note", one_of(g_, texts)}, {"v", pick(g_, 0, 99)}});
      return accept(e);
    }
    case m_cancel_all: return accept(make(event_type::stage_cancelled));
    case m_retry: return accept(make(event_type::retry_requested, one_of(g_, retry)));
    case m_rollback:
    case move_count: return rollback();
  }
  return true;
}

// ---------------------------------------------------------------- illegal moves

const std::vector<event_type> stage_types = {
    event_type::stage_started,   event_type::stage_completed,        event_type::stage_failed,
    event_type::stage_interrupted, event_type::result_discarded,     event_type::context_changed,
    event_type::confirmation_requested, event_type::confirmation_resolved, event_type::rerun_requested,
    event_type::retry_scheduled, event_type::retry_requested,
};

// One deliberately illegal event of the given form, or nothing when the form
// has no instance in this state.
std::optional<bool> walker::illegal_form(std::uint64_t form) {
  const std::size_t n = s_.size();
  const stage_index any = pick_stage(g_, n);
  auto some = [&](auto pred) -> std::optional<stage_index> {
    std::vector<stage_index> v;
    for (stage_index i = 0; i < n; ++i)
      if (pred(i)) v.push_back(i);
    if (v.empty()) return std::nullopt;
    return one_of(g_, v);
  };
  auto filled = [&](event_type type, stage_index stage) {
    event e = make(type, stage);
    e.run = e.seq;
    e.payload = random_payload(g_);
    e.text = "completed";
    return e;
  };
  switch (form) {
    case 0: {
      event e = filled(event_type::context_changed, any);
      const std::array<std::uint64_t, 4> seqs = {s_.seq(), s_.seq() + 2, 0, s_.seq() + 1000};
      e.seq = seqs[pick(g_, 0, seqs.size() - 1)];
      return refuse(e, "a seq out of order");
    }
    case 1: {
      event e = filled(event_type::context_changed, any);
      e.pipeline = id_ + "-other";
      return refuse(e, "another pipeline's event");
    }
    case 2: {
      event e = make(event_type::pipeline_created);
      e.spec = spec_;
      return refuse(e, "a second pipeline_created");
    }
    case 3: return refuse(filled(one_of(g_, stage_types), static_cast<stage_index>(n + pick(g_, 0, 5))), "a stage out of range");
    case 4: return refuse(filled(one_of(g_, stage_types), no_stage), "no stage");
    case 5: {
      event e = filled(event_type::stage_started, any);
      e.run = chance(g_, 0.5) ? e.seq - 1 : e.seq + pick(g_, 1, 9);
      return refuse(e, "a start whose run id is not fresh");
    }
    case 6: {
      auto i = some([&](stage_index k) {
        const stage_state& st = s_.stage(k);
        return st.stored == run_status::running || st.stored == run_status::completed || st.attempt >= stage_attempts_max;
      });
      if (!i) return std::nullopt;
      return refuse(filled(event_type::stage_started, *i), "a start of a running or completed stage, or past the attempt limit");
    }
    case 7: {
      auto i = some([&](stage_index k) { return !s_.upstream_done(k); });
      if (!i) return std::nullopt;
      return refuse(filled(event_type::stage_started, *i), "a start before its upstream is done");
    }
    case 8:
      if (!s_.pending()) return std::nullopt;
      return refuse(filled(event_type::stage_started, any), "a start while a confirmation is pending");
    case 9: {
      static const std::vector<event_type> results = {event_type::stage_completed, event_type::stage_failed,
                                                      event_type::stage_interrupted, event_type::stage_cancelled};
      auto stale = stale_run();
      event e = filled(one_of(g_, results), stale ? stale->first : any);
      e.run = stale ? stale->second : e.seq + 3;  // a run that was never started is not live either
      return refuse(e, "a result for a run that is not live");
    }
    case 10: {
      auto i = some([&](stage_index k) { return is_running(s_, k); });
      if (!i) return std::nullopt;
      event e = filled(event_type::stage_completed, *i);
      e.run = s_.stage(*i).run;
      e.payload = nullptr;
      return refuse(e, "a completion without an output");
    }
    case 11: {
      auto i = some([&](stage_index k) { return !is_running(s_, k); });
      if (!i) return std::nullopt;
      event e = filled(event_type::stage_cancelled, *i);
      e.run = s_.stage(*i).run;
      return refuse(e, "a cancel of a stage that is not running");
    }
    case 12:
      if (some([&](stage_index k) { return can_cancel(s_, k); })) return std::nullopt;
      return refuse(make(event_type::stage_cancelled), "a whole-pipeline cancel with nothing to cancel");
    case 13: {
      event e = filled(event_type::result_discarded, any);
      switch (pick(g_, 0, 3)) {
        case 0: {
          auto i = some([&](stage_index k) { return is_running(s_, k); });
          if (!i) return std::nullopt;
          e.stage = *i;
          e.run = s_.stage(*i).run;
          return refuse(e, "a discard of a live run");
        }
        case 1: e.run = 0; return refuse(e, "a discard of run 0");
        case 2: e.run = e.seq + pick(g_, 0, 5); return refuse(e, "a discard of a run not yet started");
        default: {
          auto stale = stale_run();
          if (!stale) return std::nullopt;
          std::tie(e.stage, e.run) = *stale;
          e.text = chance(g_, 0.5) ? "cancelled" : "Completed";
          return refuse(e, "a discard with an unknown outcome");
        }
      }
    }
    case 14: {
      event e = filled(event_type::context_changed, any);
      e.payload = nullptr;
      return refuse(e, "a context change without a context");
    }
    case 15: {
      event e = filled(event_type::confirmation_requested, any);
      e.text = "why not";
      if (s_.pending()) return refuse(e, "a second confirmation");
      if (chance(g_, 0.5)) {
        auto i = some([&](stage_index k) { return can_request(s_, k); });
        if (!i) return std::nullopt;
        e.stage = *i;
        e.text.clear();
        return refuse(e, "a confirmation without a message");
      }
      auto i = some([&](stage_index k) { return !can_request(s_, k); });
      if (!i) return std::nullopt;
      e.stage = *i;
      return refuse(e, "a confirmation nothing asks for");
    }
    case 16: {
      event e = filled(event_type::confirmation_resolved, any);
      e.approved = chance(g_, 0.5);
      if (!s_.pending()) return refuse(e, "a resolution with nothing pending");
      auto i = some([&](stage_index k) { return k != s_.pending()->stage; });
      if (!i) return std::nullopt;
      e.stage = *i;
      return refuse(e, "a resolution for another stage");
    }
    case 17: {
      event e = filled(event_type::rerun_requested, any);
      const std::uint64_t kind = pick(g_, 0, 2);
      auto i = some([&](stage_index k) {
        const bool policy = spec_->stages()[k].on_failure.has_value();
        return kind == 0 ? !policy : kind == 1 ? policy : policy && !rerun_allowed(s_, k);
      });
      if (!i) return std::nullopt;
      e.stage = *i;
      const auto& policy = spec_->stages()[*i].on_failure;
      e.rerun = policy ? policy->rerun : any;
      if (kind == 1) e.rerun = chance(g_, 0.2) ? no_stage : (policy->rerun + 1 + pick_stage(g_, n - 1)) % static_cast<stage_index>(n);
      return refuse(e, kind == 0 ? "a re-run without a policy" : kind == 1 ? "a re-run of the wrong stage" : "a re-run not owed");
    }
    case 18: {
      // A retry of a stage that is not failed or cancelled, or never ran, or under the lock.
      auto i = some([&](stage_index k) { return !can_retry(s_, k); });
      if (!i) return std::nullopt;
      return refuse(make(event_type::retry_requested, *i), "a retry of a stage that cannot be retried");
    }
    case 19: {
      // A retry_scheduled that is not owed: no policy, not failed, already scheduled, or another run.
      auto i = some([&](stage_index k) {
        const auto sys = next_system_event(s_);
        return !(sys && sys->type == event_type::retry_scheduled && sys->stage == k);
      });
      if (!i) return std::nullopt;
      event e = make(event_type::retry_scheduled, *i);
      e.run = s_.stage(*i).run;
      const auto& policy = spec_->stages()[*i].retry;
      e.delay_ms = policy ? retry_delay_ms(*policy, s_.seed(), *i, s_.stage(*i).tries) : 0;
      if (s_.pending() || !policy || s_.stage(*i).stored != run_status::failed || s_.retry_at(*i) != 0 ||
          s_.stage(*i).tries >= policy->max_attempts)
        return refuse(e, "a retry_scheduled that is not owed");
      return std::nullopt;  // owed by the reducer's rules even if the plan would wait (not illegal)
    }
    case 20: {
      // A start of a stage whose retry is not due yet.
      auto i = some([&](stage_index k) { return s_.retry_at(k) != 0 && !s_.pending() && s_.upstream_done(k) &&
                                                s_.stage(k).attempt < stage_attempts_max; });
      if (!i) return std::nullopt;
      event e = filled(event_type::stage_started, *i);
      e.at_ms = s_.retry_at(*i) - static_cast<std::int64_t>(pick(g_, 1, 1000));
      return refuse(e, "a start before its retry is due");
    }
    default: {
      event e = make(event_type::rolled_back);
      e.to = pick(g_, 1, s_.seq());
      switch (pick(g_, 0, 4)) {
        case 0: return refuse(e, "a rollback without a resolved target");
        case 1:
          e.to = 0;
          e.target = std::make_shared<const system_state>();
          return refuse(e, "a rollback to seq 0");
        case 2:
          e.to = e.seq + pick(g_, 0, 3);
          e.target = std::make_shared<const system_state>(s_);
          return refuse(e, "a rollback to the future");
        case 3:
          if (s_.seq() < 2) return std::nullopt;
          e.to = pick(g_, 1, s_.seq() - 1);
          e.target = std::make_shared<const system_state>(s_);  // the state at s_.seq(), not at `to`
          return refuse(e, "a rollback whose target is another seq's state");
        default:
          e.to = 1;
          e.target = std::make_shared<const system_state>(system_state::created(spec_, id_ + "-x", 1));
          return refuse(e, "a rollback to another pipeline's state");
      }
    }
  }
}

constexpr std::uint64_t illegal_form_count = 22;

bool walker::illegal() {
  ++t_.illegal;
  std::optional<bool> done = illegal_form(pick(g_, 0, illegal_form_count - 1));
  return done ? *done : *illegal_form(0);
}

// Only pipeline_created, at seq 1, with a spec and an id, starts a pipeline.
void walker::before_creation() {
  static const std::vector<event_type> others = {
      event_type::stage_started, event_type::stage_cancelled, event_type::context_changed,
      event_type::confirmation_resolved, event_type::rolled_back};
  event early = make(one_of(g_, others), 0);
  early.run = 1;
  early.payload = random_payload(g_);
  refuse(early, "an event before pipeline_created");
  event e = make(event_type::pipeline_created);
  e.spec = spec_;
  e.seed = chance(g_, 0.2) ? 0 : pick(g_, 1, seed_mask);  // 0: as in a journal from before seeds
  event late = e;
  late.seq = 2;
  event no_spec = e;
  no_spec.spec = nullptr;
  event no_id = e;
  no_id.pipeline.clear();
  t_.illegal += 4;
  if (!failed_ && refuse(late, "pipeline_created at seq 2") && refuse(no_spec, "pipeline_created without a spec") &&
      refuse(no_id, "pipeline_created without an id"))
    accept(e);
}

// Derived views (plan.hpp, state_to_json) agree with the stored facts.
void walker::check_views() {
  const json j = state_to_json(s_);
  if (j["stages"].size() != s_.size() || j["seq"] != s_.seq()) return fail("state_to_json disagrees with the state", nullptr);
  bool running = false, all_done = true;
  for (stage_index i = 0; i < s_.size(); ++i) {
    const stage_state& st = s_.stage(i);
    running = running || st.stored == run_status::running;
    all_done = all_done && st.stored == run_status::completed && (!spec_->stages()[i].confirm || st.confirmed);
    if (st.stored == run_status::running && handler_input(s_, i)["run"] != st.run)
      return fail("handler_input does not carry the live run", nullptr);
  }
  const pipeline_outcome o = outcome(s_);
  if ((o == pipeline_outcome::done) != (all_done && !running && !s_.pending()))
    return fail(std::string("outcome is ") + to_string(o) + " but the stages say otherwise", nullptr);
  if ((o == pipeline_outcome::waiting) != (!running && s_.pending() != nullptr))
    return fail(std::string("outcome is ") + to_string(o) + " but the pending confirmation says otherwise", nullptr);
  if (next_retry_at(s_) && !s_.pending() && o != pipeline_outcome::active)
    return fail(std::string("a retry waits but the outcome is ") + to_string(o), nullptr);
  for (stage_index i = 0; i < s_.size(); ++i) {
    const bool shown = j["stages"][i].contains("retry_at");
    if (shown != (s_.retry_at(i) != 0) || (shown && j["stages"][i]["retry_at"] != format_time(s_.retry_at(i))))
      return fail("state_to_json's retry_at disagrees with stage '" + spec_->stages()[i].name + "'", nullptr);
  }
  // Every waiting retry is startable once due, none before.
  auto lists = [](const std::vector<stage_index>& v, stage_index i) { return std::find(v.begin(), v.end(), i) != v.end(); };
  for (stage_index i : startable(s_, INT64_MAX)) {
    if (s_.stage(i).stored != run_status::failed) continue;
    const std::int64_t due = s_.retry_at(i);
    if (lists(startable(s_, due - 1), i) || !lists(startable(s_, due), i))
      return fail("stage '" + spec_->stages()[i].name + "' is startable before its retry is due, or not when due", nullptr);
  }
  for (stage_index i : startable(s_)) {
    const run_status st = s_.stage(i).stored;
    if (s_.pending() || !s_.upstream_done(i) || (st != run_status::idle && st != run_status::outdated))
      return fail("startable lists stage '" + spec_->stages()[i].name + "', which cannot start", nullptr);
  }
}

// ---------------------------------------------------------------- the end of a walk

void walker::check_codec(std::vector<event>& decoded) {
  for (const event& e : events_) {
    const json j = encode_event(e, spec_.get());
    result<event> d = decode_event(j, spec_.get());
    if (!d || !same_event(e, *d))
      return fail("encode -> decode changed the event" + (d ? std::string() : ": " + d.err().message), &e);
    const std::string line = encode_event_text(*d, spec_.get());
    result<event> again = decode_event_text(line, spec_.get());
    if (!again || !same_event(*d, *again) || encode_event(*again, spec_.get()) != j)
      return fail("encode -> decode -> encode is not stable: " + line, &e);
    ++t_.round_trips;
    decoded.push_back(std::move(*d));
  }
}

void walker::check_history() {
  auto check_fold = [&](const std::vector<event>& history, const char* which) {
    ++t_.folds;
    result<system_state> folded = fold(history);
    if (!folded) return fail(std::string("fold(") + which + ") refused: " + folded.err().message, nullptr), false;
    if (!same_facts(*folded, s_)) return fail(std::string("fold(") + which + ") is not the live state", nullptr), false;
    for (const auto& [seq, kept] : kept_) {
      ++t_.time_travels;
      result<system_state> then = state_at(history, seq);
      if (!then || !same_facts(*then, kept))
        return fail(std::string("state_at(") + which + ", " + std::to_string(seq) + ") is not the state seen then",
                    nullptr),
               false;
    }
    return true;
  };
  if (!check_fold(events_, "the history")) return;
  result<system_state> origin = state_at(events_, 0);
  result<system_state> beyond = state_at(events_, events_.size() + 1);
  if (!origin || !origin->empty()) return fail("state_at(0) is not the empty state", nullptr);
  if (beyond || beyond.err().code != errc::not_found) return fail("state_at past the end is not not_found", nullptr);
  std::vector<event> decoded;
  check_codec(decoded);
  // A journal holds no rollback targets: fold resolves them from the history.
  if (!failed_) check_fold(decoded, "the decoded history");
}

bool walker::run() {
  const bool storm = chance(g_, 0.03);
  const auto n = static_cast<std::uint32_t>(storm ? 1 : pick(g_, 1, walk_stages_max));
  spec_ = random_spec(g_, n, t_.specs);
  id_ = "walk-" + std::to_string(walk_);
  runs_.assign(n, {});
  for (std::size_t m = 0; m < move_count; ++m) weights_[m] = move_weights[m] * between(g_, 0.25, 2.0);
  illegal_rate_ = between(g_, 0.03, 0.2);
  const std::uint64_t length = storm ? storm_seq : pick(g_, 1, walk_seq_max);
  if (storm) {
    // Starts and interruptions until the stage reaches stage_attempts_max; nothing
    // that would end the loop (a completion, a rollback, a whole-pipeline cancel).
    ++t_.storms;
    weights_.fill(0.2);
    weights_[m_start] = weights_[m_restart] = weights_[m_interrupt] = 40;
    weights_[m_complete] = weights_[m_rollback] = weights_[m_cancel_all] = 0;
    illegal_rate_ = 0.02;
  }
  checkpoints_ = {1};
  for (int k = 0; k < 4; ++k) checkpoints_.push_back(pick(g_, 1, length));
  std::sort(checkpoints_.begin(), checkpoints_.end());
  ++t_.walks;
  before_creation();
  for (step_ = 1; !failed_ && s_.seq() < length && step_ <= 4 * length + 16; ++step_) {
    if (chance(g_, illegal_rate_)) illegal();
    else step_legal();
    if (!failed_ && chance(g_, 0.03)) check_views();
  }
  for (stage_index i = 0; i < s_.size(); ++i) t_.at_attempt_limit += s_.stage(i).attempt >= stage_attempts_max;
  if (!failed_) check_history();
  return !failed_;
}

void report(const walk_config& cfg, const tally& t, double seconds) {
  std::ostringstream os;
  os << "random_walk seed=" << cfg.seed << ": " << t.walks << " walks (" << t.storms << " retry storms), "
     << t.total(t.applied) << " events applied, " << t.total(t.refused) << " refused (" << t.illegal
     << " deliberately illegal, " << t.stale_results << " late results, " << t.blocked << " blocked starts), "
     << t.violations << " invariant violations, " << t.failures << " failed checks, in " << seconds << " s\n"
     << "  specs: " << t.specs.stages << " stages, " << t.specs.edges << " edges, fan-in up to " << t.specs.fan_in_max
     << ", fan-out up to " << t.specs.fan_out_max << ", " << t.specs.confirms << " with confirm, "
     << t.specs.on_failures << " with on_failure, " << t.specs.retries << " with run.retry\n"
     << "  checks: " << t.folds << " folds, " << t.time_travels << " time travels, " << t.round_trips
     << " codec round trips, " << t.at_attempt_limit << " stages at the attempt limit\n"
     << "  per type (applied / refused):";
  for (std::size_t k = 0; k < event_type_count; ++k)
    os << "\n    " << to_string(static_cast<event_type>(k)) << ": " << t.applied[k] << " / " << t.refused[k];
  BOOST_TEST_MESSAGE(os.str());
  std::cout << os.str() << std::endl;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(random_walk)

BOOST_AUTO_TEST_CASE(random_histories_keep_the_invariants_and_replay) {
  const walk_config cfg = config_from_env();
  BOOST_TEST_MESSAGE("random_walk seed=" << cfg.seed);
  std::cout << "random_walk seed=" << cfg.seed << " (replay with DAIRECTOR_SEED=" << cfg.seed << ")" << std::endl;
  rng master(cfg.seed);
  tally t;
  std::uint64_t applied = 0;
  const auto began = std::chrono::steady_clock::now();
  // Whole walks until the budget is spent: a walk never depends on the budget,
  // so DAIRECTOR_WALK replays it exactly.
  for (std::uint64_t w = 0; applied < cfg.events && t.failures < failures_reported_max; ++w) {
    const std::uint64_t walk_seed = master();
    if (cfg.only_walk && w < *cfg.only_walk) continue;
    rng g(walk_seed);
    walker walk(g, t, cfg.seed, w, walk_seed);
    walk.run();
    applied += walk.applied();
    if (cfg.only_walk) break;
  }
  report(cfg, t, std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count());
  BOOST_TEST(t.violations == 0u);
  BOOST_TEST(t.failures == 0u);
  if (!cfg.only_walk && t.failures == 0) {
    BOOST_TEST(applied >= cfg.events);
    // The walk must keep reaching every kind of event, legal and illegal.
    for (std::size_t k = 0; k < event_type_count && cfg.events >= walk_events_default; ++k) {
      BOOST_TEST(t.applied[k] > 0u, to_string(static_cast<event_type>(k)) << " was never applied");
      BOOST_TEST(t.refused[k] > 0u, to_string(static_cast<event_type>(k)) << " was never refused");
    }
    if (cfg.events >= walk_events_default) BOOST_TEST(t.at_attempt_limit > 0u);
  }
}

BOOST_AUTO_TEST_SUITE_END()
