// What the supervisor benchmarks (actor_bench, journal_bench, worker_bench,
// growth_bench) share: their actor system settings, the pipeline they loop
// and its workers (no-op, or producing an output of a given size), a
// recorded history of it, running many of them to the end, CAF's own
// messaging floor, and process CPU time.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <dairector/dairector.hpp>

#include "bench_support.hpp"

namespace dairector::bench {

/// The benchmarks' actor system: as our programs configure it, no console log, and
/// `threads` scheduler threads (0: CAF's default, max(cores, 4)).
inline void configure_bench_system(caf::actor_system_config& cfg, std::size_t threads) {
  actors::configure_system(cfg);
  cfg.set("logger.console", caf::atom("none"));
  if (threads > 0) cfg.set("scheduler.max-threads", threads);
}

/// Local workers with one non-blocking in-process handler, `name`.
inline std::shared_ptr<actors::local_workers> handler_workers(const std::string& name, actors::stage_handler fn) {
  auto handlers = std::make_shared<actors::handler_registry>();
  handlers->add(name, std::move(fn), /*blocking=*/false);
  return std::make_shared<actors::local_workers>(handlers, "worker:bench");
}

/// Local workers with the non-blocking no-op handler `looping_spec` names.
inline std::shared_ptr<actors::local_workers> noop_workers() {
  return handler_workers("noop", [](const json&) -> result<json> { return json::object(); });
}

/// A stage output of `bytes` bytes of text (a JSON string), made anew for
/// each run as a worker would: the run id, then filler.
inline json make_payload(std::size_t bytes, std::uint64_t run) {
  std::string text(bytes, 'x');
  const std::string id = std::to_string(run);
  std::copy_n(id.begin(), std::min(id.size(), text.size()), text.begin());
  return json(std::move(text));
}

/// Local workers whose non-blocking handler "payload" returns make_payload(bytes).
inline std::shared_ptr<actors::local_workers> payload_workers(std::size_t bytes) {
  return handler_workers("payload", [bytes](const json& input) -> result<json> {
    return make_payload(bytes, input.value("run", std::uint64_t{0}));
  });
}

/// A chain of `stages` stages (at least 2): `stages - 1` runs of `handler`,
/// then a last stage that fails on purpose `rounds` times, with on_failure
/// re-running the first stage: a pipeline that loops by itself with no driver
/// outside, 2 x stages + 1 transitions a round (13 for the default 6 stages).
inline std::shared_ptr<const pipeline_spec> looping_spec(int rounds, int stages_n = 6,
                                                         const std::string& handler = "noop") {
  json stages = json::array();
  for (int k = 0; k + 1 < stages_n; ++k) {
    json s = {{"name", "s" + std::to_string(k)}, {"run", {{"handler", handler}}}};
    if (k > 0) s["after"] = {"s" + std::to_string(k - 1)};
    stages.push_back(s);
  }
  stages.push_back({{"name", "check"},
                    {"after", {"s" + std::to_string(stages_n - 2)}},
                    {"run", {{"builtin", "fail"}, {"times", rounds}}},
                    {"on_failure", {{"rerun", "s0"}, {"max_attempts", std::max(rounds, 1)}}}});
  auto spec = parse_spec(json{{"name", "bench"}, {"stages", stages}});
  // Built from constants: a refusal is a bug in this function.
  if (!spec) throw std::logic_error("looping_spec: " + spec.err().message);
  return *spec;
}

/// One pipeline's whole history, recorded through a supervisor on the
/// memory journal; an error if the pipeline did not end done.
inline result<std::vector<event>> record_history(caf::actor_system& sys, std::shared_ptr<const pipeline_spec> spec,
                                                 const std::shared_ptr<actors::local_workers>& workers) {
  caf::scoped_actor self{sys};
  auto journal = sys.spawn(actors::memory_journal, actors::memory_journal_events_max);
  actors::supervisor_config sc;
  sc.pipeline = "history";
  sc.spec = std::move(spec);
  sc.journal = journal;
  sc.workers = workers;
  sc.watchers = {caf::actor{self}};
  auto sup = actors::spawn_supervisor(sys, sc);
  pipeline_outcome last = pipeline_outcome::active;
  while (last == pipeline_outcome::active)
    self->receive([&](actors::state_update& u) { last = outcome(u.state); });
  std::vector<event> h;
  self->request(journal, caf::infinite, actors::history_atom::value, std::string("history"))
      .receive([&](std::vector<event>& x) { h = std::move(x); }, [](caf::error&) {});
  self->send(sup, actors::stop_atom::value);
  self->send_exit(journal, caf::exit_reason::user_shutdown);
  if (last != pipeline_outcome::done)
    return make_error(errc::refused, std::string("the recorded pipeline ended ") + to_string(last));
  return h;
}

/// looping_spec(rounds)'s history.
inline result<std::vector<event>> record_history(caf::actor_system& sys, int rounds,
                                                 const std::shared_ptr<actors::local_workers>& workers) {
  return record_history(sys, looping_spec(rounds), workers);
}

/// Process CPU time (all threads), in seconds: the cost per transition is
/// steadier than wall-clock rates on a shared machine.
inline double process_cpu_s() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto sec = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

/// One timed run of many actors: wall and process CPU seconds, transitions
/// made, and (run_pipelines) the resident memory before and at the end.
struct run_result {
  double seconds = 0;
  double cpu = 0;  // process CPU seconds
  std::uint64_t transitions = 0;
  std::uint64_t not_done = 0;  // pipelines that did not end done
  std::size_t rss_before = 0, rss_done = 0;
  double per_s() const { return seconds > 0 ? double(transitions) / seconds : 0; }
  double cpu_us_per_transition() const { return transitions > 0 ? cpu * 1e6 / double(transitions) : 0; }
};

using poll_atom = caf::atom_constant<caf::atom("bpoll")>;

/// A pipeline whose seq has not moved for this long while it is active is
/// stuck: reported (its state on standard error) and counted as not done.
inline constexpr std::chrono::seconds pipeline_stuck_after{30};

/// Waits for supervisors to end, without a blocking round trip per
/// pipeline: asks at most 16 at a time for their state (in order), asks one
/// that is still active again 5 ms later (polling, not a test), and sends
/// (ok_atom, transitions, not_done) to `reply_to` once every one has ended.
inline caf::behavior end_collector(caf::event_based_actor* self, std::shared_ptr<const std::vector<caf::actor>> sups,
                                   caf::actor reply_to) {
  struct progress {
    std::uint64_t next = 0, ended = 0, transitions = 0, not_done = 0;
  };
  using clock = std::chrono::steady_clock;
  auto p = std::make_shared<progress>();
  auto ended = [=](std::uint64_t transitions, bool done) {
    p->transitions += transitions;
    p->not_done += done ? 0 : 1;
    if (++p->ended == sups->size()) {
      self->send(reply_to, caf::ok_atom::value, p->transitions, p->not_done);
      self->quit();
    } else if (p->next < sups->size()) {
      self->send(self, poll_atom::value, p->next++, std::uint64_t{0}, clock::now().time_since_epoch().count());
    }
  };
  if (sups->empty()) {
    self->send(reply_to, caf::ok_atom::value, std::uint64_t{0}, std::uint64_t{0});
    self->quit();
    return {};
  }
  for (; p->next < std::min<std::uint64_t>(16, sups->size()); ++p->next)
    self->send(self, poll_atom::value, p->next, std::uint64_t{0}, clock::now().time_since_epoch().count());
  // (poll, pipeline, its seq when last asked, since when it has had that seq)
  return {[=](poll_atom, std::uint64_t i, std::uint64_t seq, clock::rep since) {
    self->request((*sups)[i], caf::infinite, actors::state_atom::value)
        .then(
            [=](system_state& s) {
              const pipeline_outcome o = outcome(s);
              if (o != pipeline_outcome::active) return ended(s.seq(), o == pipeline_outcome::done);
              const auto now = clock::now().time_since_epoch().count();
              if (s.seq() != seq) {
                self->delayed_send(self, std::chrono::milliseconds(5), poll_atom::value, i, s.seq(), now);
              } else if (clock::duration(now - since) < pipeline_stuck_after) {
                self->delayed_send(self, std::chrono::milliseconds(5), poll_atom::value, i, seq, since);
              } else {
                std::fprintf(stderr, "pipeline %s is stuck at seq %llu, active: %s\n", s.pipeline().c_str(),
                             static_cast<unsigned long long>(s.seq()), state_to_json(s).dump().c_str());
                ended(s.seq(), false);
              }
            },
            [=](caf::error&) { ended(0, false); });
  }};
}

/// Runs `count` supervisors of `spec` concurrently to their end (ids
/// prefix0, prefix1, ...), on `journal` (invalid: none), then stops them.
/// Timed from the first spawn to the last end; the resident memory is read
/// before the spawns and once every pipeline has ended, before they stop.
inline run_result run_pipelines(caf::actor_system& sys, const std::shared_ptr<const pipeline_spec>& spec,
                                std::size_t count, const caf::actor& journal,
                                const std::shared_ptr<actors::local_workers>& workers, const std::string& prefix) {
  caf::scoped_actor self{sys};
  run_result out;
  auto sups = std::make_shared<std::vector<caf::actor>>();
  sups->reserve(count);
  out.rss_before = rss_bytes();
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = process_cpu_s();
  for (std::size_t p = 0; p < count; ++p) {
    actors::supervisor_config sc;
    sc.pipeline = prefix + std::to_string(p);
    sc.spec = spec;
    sc.journal = journal;
    sc.workers = workers;
    sups->push_back(actors::spawn_supervisor(sys, sc));
  }
  sys.spawn(end_collector, std::shared_ptr<const std::vector<caf::actor>>(sups), caf::actor{self});
  self->receive([&](caf::ok_atom, std::uint64_t transitions, std::uint64_t not_done) {
    out.transitions = transitions;
    out.not_done = not_done;
  });
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out.cpu = process_cpu_s() - cpu_start;
  out.rss_done = rss_bytes();
  for (auto& s : *sups) self->send(s, actors::stop_atom::value);
  return out;
}

// CAF's own floor for a supervisor's shape of work: each pair is a
// "supervisor" that sends its "worker" a message and waits for the answer,
// as a pipeline does once per run. A run is two transitions (started and
// completed), so 2 x round trips/s is what the actors could reach if the
// supervisor and the worker did nothing else.
inline caf::behavior pong_actor(caf::event_based_actor* self, int /*unused: CAF 0.17 needs an argument*/) {
  return {[=](std::uint64_t x) { self->send(caf::actor_cast<caf::actor>(self->current_sender()), x); }};
}

inline caf::behavior ping_actor(caf::event_based_actor* self, caf::actor peer, std::uint64_t rounds, caf::actor done) {
  self->send(peer, std::uint64_t{1});
  return {[=](std::uint64_t x) {
    if (x >= rounds) {
      self->send(done, caf::ok_atom::value);
      self->send_exit(peer, caf::exit_reason::user_shutdown);
      self->quit();
      return;
    }
    self->send(peer, x + 1);
  }};
}

/// `pairs` ping-pong pairs exchanging about `transitions_min` / 2 round trips
/// in all (at least one each); 2 transitions per round trip.
inline run_result run_ping_pong(caf::actor_system& sys, int pairs, std::uint64_t transitions_min) {
  caf::scoped_actor self{sys};
  const std::uint64_t rounds = std::max<std::uint64_t>(1, transitions_min / 2 / static_cast<std::uint64_t>(pairs));
  run_result out;
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = process_cpu_s();
  for (int p = 0; p < pairs; ++p) sys.spawn(ping_actor, sys.spawn(pong_actor, 0), rounds, caf::actor{self});
  for (int p = 0; p < pairs; ++p) self->receive([](caf::ok_atom) {});
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out.cpu = process_cpu_s() - cpu_start;
  out.transitions = 2 * rounds * static_cast<std::uint64_t>(pairs);
  return out;
}

}  // namespace dairector::bench
