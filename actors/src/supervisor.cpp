#include "supervisor_state.hpp"

#include <chrono>
#include <cstdio>
#include <span>
#include <variant>

#include "dairector/actors/journal.hpp"
#include "dairector/actors/process.hpp"
#include "dairector/actors/secret.hpp"
#include "dairector/json_bounds.hpp"
#include "dairector/plan.hpp"
#include "dairector/assert.hpp"
#include "dairector/invariants.hpp"
#include "dairector/journal/trace.hpp"
#include "dairector/reducer.hpp"
#include "dairector/request.hpp"
#include "dairector/retry.hpp"
#include "dairector/text_check.hpp"
#include "answers.hpp"
#include "dispatch.hpp"

namespace dairector::actors {

namespace {

reply ok_reply(const supervisor_actor* self) { return reply{reply::ok, {}, self->state.state.seq()}; }

reply refusal(const supervisor_actor* self, const error& err) {
  return reply{reply_code(err.code), err.message, self->state.state.seq()};
}

std::int64_t now_ms(const supervisor_config& cfg) {
  if (cfg.clock_ms) return cfg.clock_ms();
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

event make_event(supervisor_actor* self, event_type type, std::string by) {
  event e;
  e.type = type;
  e.seq = self->state.state.seq() + 1;
  e.at_ms = now_ms(self->state.cfg);
  e.by = std::move(by);
  e.pipeline = self->state.cfg.pipeline;
  return e;
}

// Kills a run's work: its command's process group here, or on its worker process.
void stop_run(supervisor_actor* self, std::uint64_t run, live_run& r) {
  r.killed = true;
  withdraw(self, run, r);  // a run still waiting for a worker (dispatch.hpp)
  if (r.remote) self->send(self->state.cfg.worker_gate, remote_kill{r.worker, self->state.cfg.pipeline, run});
  else kill_process_group(r.pgid);
}

// Kills what is left of runs that are no longer live (cancelled, outdated,
// rolled back): rule 3 fences their results; this stops their work.
void stop_fenced_runs(supervisor_actor* self) {
  auto& st = self->state;
  for (auto& [run, r] : st.runs) {
    if (r.killed || st.state.is_live_run(r.stage, run)) continue;
    stop_run(self, run, r);
  }
}

void offer_rest(supervisor_actor* self);

// After a state change: tell the watchers, stop fenced work, and tell the
// director if the pipeline may rest now.
void changed(supervisor_actor* self, const event& e) {
  auto& st = self->state;
  if (st.cfg.check_invariants) {
    // Test builds (tests/actors/harness.hpp): the core's invariants hold
    // after every event the supervisor applies, or the process stops here.
    const auto broken = check_invariants(st.state);
    for (const auto& why : broken)
      std::fprintf(stderr, "pipeline '%s' after seq %llu: %s\n", st.cfg.pipeline.c_str(),
                   static_cast<unsigned long long>(e.seq), why.c_str());
    DAIRECTOR_ASSERT(broken.empty(), "the supervisor's state breaks an invariant");
  }
  for (const auto& w : st.watchers) self->send(w, state_update{e, st.state});
  stop_fenced_runs(self);
  offer_rest(self);
}

// Applies a checked completion once it is durable. Nothing ran in between
// (the supervisor awaited the journal), so it cannot be refused now.
void install(supervisor_actor* self, const event& e) {
  const auto err = apply_in_place(self->state.state, e);
  DAIRECTOR_ASSERT(!err, "a durable event was refused after its check");
  changed(self, e);
}

void drive(supervisor_actor* self);
void journal_failed(supervisor_actor* self, const std::string& why);

// Back-pressure (supervisor.hpp): the journal acknowledged every event up to
// `seq`. Once the backlog is under the bound again, the driver makes the
// decisions and starts that waited for it.
void acknowledged(supervisor_actor* self, std::uint64_t seq);

// Asks the journal to say when everything sent so far is durable, once half
// the bound is unacknowledged (or `now`, to rest): the answer is usually back
// before the bound is reached. A sync, not a wait: the supervisor carries on
// meanwhile.
void ask_for_sync(supervisor_actor* self, bool now = false) {
  auto& st = self->state;
  if (st.sync_asked || (!now && st.backlog() < (st.cfg.journal_backlog_events_max + 1) / 2)) return;
  st.sync_asked = true;
  const std::uint64_t upto = st.state.seq();
  self->request(st.cfg.journal, caf::infinite, journal_sync_atom::value)
      .then(
          [=](std::uint64_t) {
            self->state.sync_asked = false;
            acknowledged(self, upto);
          },
          [=](caf::error& err) {
            self->state.sync_asked = false;
            journal_failed(self, describe(err));
          });
}

void acknowledged(supervisor_actor* self, std::uint64_t seq) {
  auto& st = self->state;
  const bool was_behind = st.behind();
  mark_durable(self, seq);
  ask_for_sync(self);  // for what was sent since the sync was asked
  if (was_behind && !st.behind()) drive(self);
  offer_rest(self);
}

// Resting (director.hpp): nothing to do, nobody to tell, nothing to lose.
bool restable(const supervisor_state& st) {
  return st.cfg.director && st.cfg.journal && st.journal_error.empty() && st.runs.size() == 0 && st.watchers.empty() &&
         st.owed.empty() && may_rest(st.state);
}

// Tells the director, once per seq, that the pipeline may rest; everything
// it wrote is made durable first (the director rebuilds it from the journal).
void offer_rest(supervisor_actor* self) {
  auto& st = self->state;
  if (!st.cfg.director || st.idle_told == st.state.seq() || !restable(st)) return;
  if (st.backlog() > 0) return ask_for_sync(self, /*now=*/true);  // `acknowledged` comes back here
  st.idle_told = st.state.seq();
  if (auto director = caf::actor_cast<caf::actor>(st.cfg.director))
    self->send(director, idle_atom::value, st.cfg.pipeline, st.state.seq(),
               static_cast<std::uint8_t>(outcome(st.state)));
}

// A client command after the journal failed (nothing it records could be
// made durable) or past the bound: refused, nothing applied.
std::optional<reply> refuse_if_cannot_record(const supervisor_actor* self) {
  const auto& st = self->state;
  if (!st.journal_error.empty()) return reply{reply::unavailable, st.journal_error, st.state.seq()};
  if (!st.behind()) return std::nullopt;
  return reply{reply::behind,
               "the journal is " + std::to_string(st.backlog()) + " events behind pipeline '" + st.cfg.pipeline +
                   "' (the bound is " + std::to_string(st.cfg.journal_backlog_events_max) +
                   "): retry once it catches up",
               st.state.seq()};
}

// How an event goes to the journal: appended (nobody waits for it), or
// persisted for someone's answer (the journal commits it at once, sharing the
// commit with whatever is queued, and says so; `acknowledged` then delivers
// the answers it covers).
enum class to_journal { append, persist };

// Memory first, then the journal without waiting (rule 4): starts, cancels,
// context changes and the supervisor's own decisions. Applied in place: no
// copy unless a watcher still holds parts of the state.
// The journal hears of an event before any watcher does, so whoever saw it
// can rely on it being queued for disk.
std::optional<error> record(supervisor_actor* self, const event& e, to_journal how = to_journal::append) {
  if (auto err = apply_in_place(self->state.state, e)) return err;
  if (const auto& journal = self->state.cfg.journal) {
    if (how == to_journal::append) {
      self->send(journal, append_atom::value, e);
    } else {
      const std::uint64_t seq = e.seq;
      self->request(journal, caf::infinite, persist_atom::value, e)
          .then([=](std::uint64_t) { acknowledged(self, seq); },
                [=](caf::error& err) { journal_failed(self, describe(err)); });
    }
    ask_for_sync(self);
  }
  changed(self, e);
  return std::nullopt;
}

// A start: applied, sent to the journal, dispatched, in that order (rule 4);
// a client's start is persisted so that its answer can wait for the commit,
// the driver's is appended.
std::optional<error> start_stage(supervisor_actor* self, const event& e, to_journal how = to_journal::append) {
  trace::mark(trace::point::start_sent);
  if (auto err = record(self, e, how)) return err;
  dispatch(self, e.stage);
  return std::nullopt;
}

std::optional<error> start_stage(supervisor_actor* self, stage_index i, const std::string& by) {
  event e = make_event(self, event_type::stage_started, by);
  e.stage = i;
  e.run = e.seq;  // a fresh run id: the seq of its start (rule 3)
  return start_stage(self, e);
}

// run.retry (docs/spec.md#retry-run-the-stage-again): a timer, a delayed message to itself, for
// the earliest retry that waits, computed from its own clock. After a restart
// the state (replayed from the journal) still says when each retry is due, and
// drive arms the timer again: a retry starts at its time, not sooner, not
// never. A timer that fires early (another clock) just arms itself again; one
// that fires for nothing (the retry was cancelled or started) changes nothing.
void arm_retry_timer(supervisor_actor* self) {
  auto& st = self->state;
  if (!st.cfg.drive || st.state.pending()) return;  // the resolution drives again
  const auto due = next_retry_at(st.state);
  if (!due || (st.retry_timer_at != 0 && st.retry_timer_at <= *due)) return;
  st.retry_timer_at = *due;
  const std::int64_t wait = std::max<std::int64_t>(0, *due - now_ms(st.cfg));
  self->delayed_send(self, std::chrono::milliseconds(wait), retry_due_atom::value);
}

// The driver: settle what the pipeline owes, then start everything startable
// (parallel branches in parallel). The lock is the core's: nothing is
// startable while a confirmation is pending. Past the journal's bound it
// stops where it is; `acknowledged` runs it again (supervisor.hpp).
void drive(supervisor_actor* self) {
  auto& st = self->state;
  if (!st.journal_error.empty()) return;
  for (int guard = 0; guard < 1000 && !st.behind(); ++guard) {
    auto owed = next_system_event(st.state);
    if (!owed) break;
    event e = make_event(self, owed->type, st.cfg.by);
    e.stage = owed->stage;
    e.text = owed->text;
    e.rerun = owed->rerun;
    e.run = owed->run;
    e.delay_ms = owed->delay_ms;
    const auto err = record(self, e);
    DAIRECTOR_ASSERT(!err, "the plan proposed an event the reducer refuses");
  }
  if (!st.cfg.drive) return;  // owed decisions are settled; starts are left to requests
  for (stage_index i : startable(st.state, now_ms(st.cfg))) {
    if (st.behind()) return;
    // A retry whose time came is refused only if this clock went back since:
    // the timer below tries again.
    start_stage(self, i, st.cfg.by);
  }
  arm_retry_timer(self);
}

// The journal lost a write: nothing unacknowledged was applied, but memory
// may be ahead of disk, so no more starts; watchers are told.
// Every answer still owed is the journal's error: none is a success.
void journal_failed(supervisor_actor* self, const std::string& why) {
  auto& st = self->state;
  if (st.journal_error.empty()) {
    st.journal_error = "journal failed: " + why;
    for (const auto& w : st.watchers) self->send(w, journal_failed_atom::value, st.journal_error);
  }
  fail_owed(self, st.journal_error);
}

// A worker's name and error (a command's stderr) are outside text: the
// journal keeps them as one line of valid UTF-8 (a byte that is not would
// make the event impossible to encode).
std::string one_line(const std::string& text) { return control_refusal(text) ? escape_for_terminal(text) : text; }

// A result that is not its run's own (no or a wrong capability, or not from
// where the run went): nothing changes; logged once per run.
void refuse_result(supervisor_actor* self, std::uint64_t run, live_run& lr) {
  auto& st = self->state;
  ++st.results_refused;
  if (lr.refusal_logged || !st.cfg.log) return;
  lr.refusal_logged = true;
  st.cfg.log("pipeline '" + st.cfg.pipeline + "': refused a result for run " + std::to_string(run) + " of stage '" +
             st.cfg.spec->stages()[lr.stage].name +
             "' that is not the run's own (without its capability, or not from where the run went); the run goes on");
}

// A worker's result (`endpoint`: the worker process it came from, through the
// gate; null: this process's workers). Only a run that is out is answered,
// and only with its capability. Fenced results are recorded as discarded; a
// live one is made durable first and applied only then (rule 5).
void on_result(supervisor_actor* self, stage_result& r, const caf::actor_addr* endpoint) {
  trace::mark(trace::point::result_received);
  auto& st = self->state;
  auto it = st.runs.find(r.run);
  if (it == st.runs.end()) return offer_rest(self);  // not out (never, or no longer): nothing to answer
  live_run& lr = it->second;
  // A remote run is answered through the gate by the worker process it went
  // to; a local one by this process's workers.
  const bool from_its_worker = endpoint ? lr.remote && lr.worker && *endpoint == lr.worker.address() : !lr.remote;
  if (!from_its_worker || r.stage_index != lr.stage || !tokens_equal(r.capability, lr.capability))
    return refuse_result(self, it->first, lr);
  if (lr.remote) self->send(st.cfg.registry, unassign_request{lr.worker});
  release_slot(self, lr);
  st.runs.erase(it);
  if (!st.state.is_live_run(r.stage_index, r.run)) {
    event e = make_event(self, event_type::result_discarded, one_line(r.worker));
    e.stage = r.stage_index;
    e.run = r.run;
    e.text = r.ok ? "completed" : "failed";
    record(self, e);
    return;
  }
  std::shared_ptr<const json> output = r.output_value;  // in process: admitted by run_job
  if (r.ok && !output) {
    // From a worker process: admitted here, within the bounds of a value.
    json_fault fault{};
    auto parsed = parse_json(r.output, "the worker's output", value_limits, &fault);
    std::optional<std::string> refused;
    if (!parsed) refused = fault == json_fault::not_json ? "the worker's output is not JSON" : parsed.err().message;
    else refused = value_refusal(*parsed, "the worker's output");
    if (refused) {
      r.ok = false;
      r.error = std::move(*refused);
    } else {
      output = std::make_shared<const json>(std::move(*parsed));
    }
  }
  event e = make_event(self, r.ok ? event_type::stage_completed : event_type::stage_failed, one_line(r.worker));
  e.stage = r.stage_index;
  e.run = r.run;
  e.payload = std::move(output);
  e.text = one_line(r.error);
  // Checked before it is written, applied only once durable (rule 5).
  if (check(st.state, e)) return;
  if (!st.cfg.journal) {
    install(self, e);
    drive(self);
    return;
  }
  self->request(st.cfg.journal, caf::infinite, persist_atom::value, e)
      .await(
          [=](std::uint64_t) {
            trace::mark(trace::point::persist_answered);
            mark_durable(self, e.seq);  // and all before it (supervisor.hpp)
            install(self, e);
            drive(self);
          },
          [=](caf::error& err) {
            // Not durable, so never applied: the run stays running, and no
            // new start is made until the journal works again.
            journal_failed(self, describe(err));
          });
}

void on_down(supervisor_actor* self, const caf::down_msg& dm) {
  auto& st = self->state;
  forget_actor(st.watchers, dm.source);
  forget_worker(st.shared_workers, dm.source);
  // A worker process: the registry hears it from us before we ask it again.
  if (auto rw = std::find(st.remote_workers.begin(), st.remote_workers.end(), dm.source);
      rw != st.remote_workers.end()) {
    st.remote_workers.erase(rw);
    if (st.cfg.registry) self->send(st.cfg.registry, lost_report{dm.source});
  }
  // A worker that died took its runs with it: interrupted, startable again.
  std::vector<std::pair<std::uint64_t, stage_index>> lost;
  for (auto it = st.runs.begin(); it != st.runs.end();) {
    if (it->second.worker && it->second.worker.address() == dm.source) {
      release_slot(self, it->second);
      lost.emplace_back(it->first, it->second.stage);
      it = st.runs.erase(it);
    } else {
      ++it;
    }
  }
  std::sort(lost.begin(), lost.end());
  for (auto [run, stage] : lost) {
    if (!st.state.is_live_run(stage, run)) continue;
    event e = make_event(self, event_type::stage_interrupted, "system");
    e.stage = stage;
    e.run = run;
    record(self, e);
  }
  if (!lost.empty()) drive(self);
  offer_rest(self);  // a watcher or a worker gone may be all it waited for
}

// Rule 8: carry on from the journal. A run the journal shows running has no
// worker any more (the process that ran it is gone): it is interrupted, and
// the driver starts it again with a fresh run id.
void recover(supervisor_actor* self) {
  auto& st = self->state;
  st.state = std::move(*st.cfg.recovered);
  st.cfg.recovered.reset();
  st.durable_seq = st.state.seq();  // read back from the journal
  st.cfg.spec = st.state.spec_ptr();  // the journal's spec is the pipeline's
  st.cfg.pipeline = st.state.pipeline();
  for (stage_index i = 0; i < st.state.size(); ++i) {
    if (st.state.stage(i).stored != run_status::running) continue;
    event e = make_event(self, event_type::stage_interrupted, "system");
    e.stage = i;
    e.run = st.state.stage(i).run;
    record(self, e);
  }
}

// Stopping: the running commands are killed, and the answers still owed
// say that their events may not be durable (the journal may still commit
// them: a client that retries finds out).
void stop_all(supervisor_actor* self) {
  for (auto& [run, r] : self->state.runs) stop_run(self, run, r);
  fail_owed(self, "pipeline '" + self->state.cfg.pipeline +
                      "' stopped before the journal confirmed the change: it may or may not be recorded");
}

// A client's change: turned into its event by the core (request.hpp), applied
// and persisted, then what became owed or startable, and the answer once the
// change is durable. A start is dispatched too.
// Either the refusal or the seq of the event whose durability the answer awaits.
std::variant<reply, std::uint64_t> apply_request(supervisor_actor* self, const request& r,
                                                 std::span<const event> history = {}) {
  if (auto no = refuse_if_cannot_record(self)) return *no;
  auto e = event_for(self->state.state, r, now_ms(self->state.cfg), history);
  if (!e) return refusal(self, e.err());
  const auto err = r.what == request::kind::start ? start_stage(self, *e, to_journal::persist)
                                                  : record(self, *e, to_journal::persist);
  if (err) return refusal(self, *err);
  drive(self);
  return e->seq;
}

caf::result<reply> command(supervisor_actor* self, const request& r) {
  auto done = apply_request(self, r);
  if (auto* no = std::get_if<reply>(&done)) return std::move(*no);
  return when_durable(self, std::get<std::uint64_t>(done), ok_reply(self));
}

request make_request(request::kind what, const std::string& by, const std::string& stage = {}) {
  request r;
  r.what = what;
  r.by = by;
  r.stage = stage;
  return r;
}

}  // namespace

caf::behavior supervisor(supervisor_actor* self, supervisor_config cfg) {
  if (!cfg.workers) cfg.workers = std::make_shared<local_workers>();
  cfg.journal_backlog_events_max = std::max<std::uint64_t>(1, cfg.journal_backlog_events_max);
  self->state.cfg = std::move(cfg);
  for (const auto& w : self->state.cfg.watchers) {
    self->state.watchers.push_back(w);
    self->monitor(w);
  }
  self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
  // An exit request (from whoever links to or stops it) kills the running
  // commands' process groups before the supervisor goes.
  self->set_exit_handler([=](caf::exit_msg& em) {
    stop_all(self);
    self->quit(em.reason);
  });
  self->set_default_handler([](caf::scheduled_actor*, caf::message_view&) -> caf::result<caf::message> {
    return caf::make_error(caf::sec::unexpected_message);
  });
  if (self->state.cfg.recovered) {
    recover(self);
  } else {
    // Persisted: whoever created the pipeline is answered once this is
    // durable (durable_atom), and the commit need not wait for company.
    event created = make_event(self, event_type::pipeline_created, self->state.cfg.by);
    created.spec = self->state.cfg.spec;
    // The seed of the retries' jitter (retry.hpp), drawn here (the core has
    // no randomness) and recorded, so every replay computes the same delays.
    created.seed = self->state.cfg.seed != 0 ? self->state.cfg.seed : random_u64();
    created.seed &= seed_mask;
    created.payload = self->state.cfg.input;
    record(self, created, to_journal::persist);
  }
  drive(self);
  offer_rest(self);  // rebuilt finished: nothing changes, so say so now
  // Every client command below is answered only once its event is durable
  // (`when_durable`); a refusal records nothing and is answered at once.
  return {
      [=](start_atom, const std::string& stage, const std::string& by) -> caf::result<reply> {
        return command(self, make_request(request::kind::start, by, stage));
      },
      [=](stage_result& r) { on_result(self, r, nullptr); },
      [=](remote_result& rr) { on_result(self, rr.result, &rr.endpoint); },
      [=](remote_undeliverable& u) {
        // The gate no longer knows that worker (it was forgotten after it was
        // assigned): like its down, whose message is on its way.
        if (auto it = self->state.runs.find(u.run); it != self->state.runs.end() && it->second.remote)
          on_down(self, caf::down_msg{u.endpoint, caf::exit_reason::remote_link_unreachable});
      },
      [=](pgid_atom, std::uint64_t run, std::int32_t pgid) {
        auto& st = self->state;
        auto it = st.runs.find(run);
        if (it == st.runs.end()) return;  // result already in: the group was reaped
        it->second.pgid = pgid;
        if (it->second.killed || !st.state.is_live_run(it->second.stage, run)) {
          it->second.killed = true;
          kill_process_group(pgid);  // fenced before its process was known
        }
      },
      [=](cancel_atom, const std::string& stage, const std::string& by) -> caf::result<reply> {
        return command(self, make_request(request::kind::cancel, by, stage));
      },
      [=](context_atom, const std::string& stage, const std::string& context,
          const std::string& by) -> caf::result<reply> {
        request r = make_request(request::kind::context, by, stage);
        if (!context.empty()) {  // empty: keep the stage's own context
          auto value = parse_json(context, "the context", value_limits);
          if (!value) return refusal(self, make_error(errc::decode_failed, value.err().message));
          r.context = std::make_shared<const json>(std::move(*value));
        }
        return command(self, r);
      },
      [=](resolve_atom, bool approved, const std::string& note, const std::string& by) -> caf::result<reply> {
        request r = make_request(approved ? request::kind::confirm : request::kind::reject, by);
        r.note = note;
        return command(self, r);
      },
      [=](retry_atom, const std::string& stage, const std::string& by) -> caf::result<reply> {
        return command(self, make_request(request::kind::retry, by, stage));
      },
      [=](retry_due_atom) {
        self->state.retry_timer_at = 0;
        drive(self);
      },
      [=](rollback_atom, std::uint64_t to, const std::string& by) -> caf::result<reply> {
        auto& st = self->state;
        if (!st.cfg.journal)
          return reply{reply::unavailable, "rollback needs a journal (this pipeline is in memory only)",
                       st.state.seq()};
        if (auto r = refuse_if_cannot_record(self)) return *r;
        auto rp = self->make_response_promise<reply>();
        self->request(st.cfg.journal, caf::infinite, history_atom::value, st.cfg.pipeline)
            .await(
                [=](std::vector<event>& history) mutable {
                  request r = make_request(request::kind::rollback, by);
                  r.to = to;
                  auto done = apply_request(self, r, history);
                  if (auto* no = std::get_if<reply>(&done)) {
                    rp.deliver(std::move(*no));
                    return;
                  }
                  answer_when_durable(self, std::get<std::uint64_t>(done), ok_reply(self), rp);
                },
                [=](caf::error& err) mutable {
                  rp.deliver(reply{reply::unavailable, "journal: " + describe(err), self->state.state.seq()});
                });
        return rp;
      },
      [=](durable_atom, std::uint64_t seq) -> caf::result<reply> {
        return when_durable(self, seq, reply{reply::ok, {}, seq});
      },
      [=](journal_failed_atom, const std::string& why) { journal_failed(self, why); },
      [=](state_atom) { return self->state.state; },
      [=](watch_atom, const caf::actor& watcher) {
        self->state.watchers.push_back(watcher);
        self->monitor(watcher);
        return self->state.state;
      },
      [=](stop_atom) {
        stop_all(self);
        self->quit();
      },
      [=](evict_atom, std::uint64_t seq) -> caf::result<bool> {
        auto& st = self->state;
        if (seq != st.state.seq() || !restable(st) || st.backlog() > 0) {
          // Something changed since it said so: tell again when it may rest.
          st.idle_told = 0;
          offer_rest(self);
          return false;
        }
        auto rp = self->make_response_promise<bool>();
        rp.deliver(true);
        self->quit();
        return rp;
      },
  };
}

bool may_rest(const system_state& s) {
  if (s.empty() || s.pending()) return false;
  const pipeline_outcome o = outcome(s);
  if (o != pipeline_outcome::done && o != pipeline_outcome::failed && o != pipeline_outcome::cancelled) return false;
  for (stage_index i = 0; i < s.size(); ++i)
    if (s.stage(i).stored == run_status::running) return false;
  return true;
}

caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_config cfg) {
  return sys.spawn(supervisor, std::move(cfg));
}

const supervisor_state& inspect_supervisor(const caf::actor& a) {
  return dynamic_cast<supervisor_actor&>(*caf::actor_cast<caf::abstract_actor*>(a)).state;
}

reply::code_t reply_code(errc code) {
  switch (code) {
    case errc::refused: return reply::refused;
    case errc::blocked: return reply::blocked;
    case errc::not_found: return reply::not_found;
    case errc::spec_invalid:
    case errc::decode_failed: return reply::invalid;
    case errc::journal:
    case errc::fenced:
    case errc::unavailable:
    case errc::owned: return reply::unavailable;
    case errc::behind: return reply::behind;
  }
  return reply::unavailable;
}

errc errc_of(const reply& r) {
  switch (r.code) {
    case reply::refused: return errc::refused;
    case reply::blocked: return errc::blocked;
    case reply::not_found: return errc::not_found;
    case reply::invalid: return errc::decode_failed;
    case reply::behind: return errc::behind;
    default: return errc::unavailable;  // a byte from elsewhere: `ok` is never asked, any other is unknown
  }
}

void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<reply>("dairector_reply");
  cfg.add_message_type<job>("dairector_job");
  cfg.add_message_type<stage_result>("dairector_result");
}

void configure_system(caf::actor_system_config& cfg) {
  register_message_types(cfg);
  cfg.set("work-stealing.moderate-poll-attempts", std::size_t{0});
  cfg.set("work-stealing.relaxed-sleep-duration", caf::timespan{std::chrono::milliseconds(1)});
}

std::string describe(const caf::error& err) {
  if (!err) return "no error";
  // Our own failures (the journal's) carry their sentence as the context.
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0)) return ctx.get_as<std::string>(0);
  return caf::to_string(err);
}

}  // namespace dairector::actors
