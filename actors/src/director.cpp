#include "dairector/actors/director.hpp"

#include "dairector/actors/journal.hpp"
#include "dairector/journal_store.hpp"
#include "dairector/plan.hpp"
#include "supervisor_state.hpp"

namespace dairector::actors {

// The code is the errc plus one: a caf::error with code 0 means no error.
caf::error director_error(errc code, std::string sentence) {
  return caf::error(static_cast<std::uint8_t>(static_cast<int>(code) + 1), director_error_category,
                    caf::make_message(std::move(sentence)));
}

std::optional<errc> errc_of(const caf::error& err) {
  if (!err || err.category() != director_error_category) return std::nullopt;
  return static_cast<errc>(err.code() - 1);
}

namespace {

using entry = director_state::entry;

bool evicts(const director_state& st) { return st.cfg.evict_after_ms >= 0 && st.cfg.journal; }

std::string damage_sentence(const std::string& id, const entry& e) {
  std::string out = "pipeline '" + id + "' is damaged in the journal";
  if (e.damage && e.damage->first > 0) out += " at seq " + std::to_string(e.damage->first);
  return out + (e.damage ? ": " + e.damage->second : std::string()) + "; it is not run";
}

// Spawns the supervisor of `e` (new, recovered or rebuilt); the director
// monitors it and is the only one that routes requests to it.
caf::actor spawn_supervisor(director_actor* self, const std::string& id, entry& e, supervisor_config sc) {
  auto& st = self->state;
  sc.journal = st.cfg.journal;
  sc.gate = st.gate;
  sc.workers = st.cfg.workers;
  sc.registry = st.cfg.registry;
  sc.worker_gate = st.cfg.worker_gate;
  sc.log = st.cfg.log;
  sc.clock_ms = st.cfg.clock_ms;
  sc.drive = st.cfg.drive;
  if (evicts(st)) sc.director = self->address();
  auto sup = self->spawn(supervisor, std::move(sc));
  self->monitor(sup);
  st.ids.emplace(sup.address(), id);
  e.phase = entry::live;
  e.sup = sup;
  e.idle_seq = 0;
  return sup;
}

std::optional<reply> refuse_new(director_actor* self, const std::string& id) {
  auto& st = self->state;
  if (st.stopping) return reply{reply::unavailable, "the director is stopping", 0};
  if (st.pipelines.count(id)) return reply{reply::invalid, "pipeline '" + id + "' already exists", 0};
  if (st.ids.size() >= st.cfg.pipelines_max)
    return reply{reply::unavailable, "this director hosts " + std::to_string(st.ids.size()) + " pipelines, the limit",
                 0};
  if (st.pipelines.size() >= st.cfg.pipelines_known_max)
    return reply{reply::unavailable,
                 "this director knows " + std::to_string(st.pipelines.size()) + " pipelines, the limit", 0};
  return std::nullopt;
}

entry& add_entry(director_actor* self, const std::string& id, const std::string& name, const std::string& workdir) {
  entry e;
  e.name = name;
  e.workdir = &*self->state.workdirs.insert(workdir).first;
  return self->state.pipelines.emplace(id, std::move(e)).first->second;
}

// Spawns and remembers one pipeline's supervisor; `sc.pipeline` is its id.
reply host(director_actor* self, supervisor_config sc) {
  const std::string id = sc.pipeline;
  if (id.empty() || !sc.spec) return reply{reply::invalid, "a pipeline needs an id and a spec", 0};
  if (auto refused = refuse_new(self, id)) return *refused;
  const std::uint64_t seq = sc.recovered ? sc.recovered->seq() : 1;
  entry& e = add_entry(self, id, sc.spec->name(), sc.workdir);
  spawn_supervisor(self, id, e, std::move(sc));
  return reply{reply::ok, {}, seq};
}

// A new pipeline: answered by its supervisor once `pipeline_created` is
// durable (or with the journal's error); the director goes on meanwhile.
caf::result<reply> create(director_actor* self, const std::string& id, std::shared_ptr<const pipeline_spec> spec,
                          const std::string& workdir, std::shared_ptr<const json> input) {
  supervisor_config sc;
  sc.pipeline = id;
  sc.spec = std::move(spec);
  sc.workdir = workdir;
  sc.input = std::move(input);
  reply hosted = host(self, std::move(sc));
  if (!hosted.is_ok()) return hosted;
  auto rp = self->make_response_promise<reply>();
  rp.delegate(self->state.pipelines.at(id).sup, durable_atom::value, hosted.seq);
  return rp;
}


// A request that waited for the supervisor (an empty message: a lookup, which
// gets the supervisor itself).
void hand_over(caf::response_promise& rp, caf::message& request, const caf::actor& sup) {
  if (request.empty()) rp.deliver(sup);
  else rp.delegate(sup, std::move(request));
}

void fail_waiting(entry& e, const caf::error& why) {
  auto waiting = std::move(e.waiting);
  e.waiting.clear();
  for (auto& [rp, request] : waiting) rp.deliver(why);
}

void rebuilt(director_actor* self, const std::string& id, result<system_state> state);

// Reads a resting pipeline's history back and replays it (the journal actor
// flushes first, so it holds everything the old supervisor wrote).
void rebuild(director_actor* self, const std::string& id) {
  auto& st = self->state;
  entry& e = st.pipelines.at(id);
  if (st.ids.size() >= st.cfg.pipelines_max)
    return fail_waiting(e, director_error(errc::journal, "this director hosts " + std::to_string(st.ids.size()) +
                                                             " pipelines, the limit: retry later"));
  e.phase = entry::rebuilding;
  self->request(st.cfg.journal, caf::infinite, history_atom::value, id)
      .then([=](std::vector<event>& history) { rebuilt(self, id, replay(history)); },
            [=](caf::error& err) { rebuilt(self, id, make_error(errc::not_found, describe(err))); });
}

void rebuilt(director_actor* self, const std::string& id, result<system_state> state) {
  auto& st = self->state;
  auto it = st.pipelines.find(id);
  if (it == st.pipelines.end() || it->second.phase != entry::rebuilding) return;
  entry& e = it->second;
  if (st.stopping) {
    e.phase = entry::resting;
    return fail_waiting(e, director_error(errc::journal, "the director is stopping"));
  }
  if (!state) {
    // A history that no longer replays is damage (never run); one that cannot
    // be read now (the journal failed) may read later.
    const bool damage = state.err().code == errc::journal;
    e.phase = damage ? entry::damaged : entry::resting;
    if (damage) e.damage = std::make_shared<const std::pair<std::uint64_t, std::string>>(0, state.err().message);
    return fail_waiting(e, director_error(errc::journal, damage ? damage_sentence(id, e)
                                                                : "pipeline '" + id + "' cannot be read back from "
                                                                                      "the journal: " +
                                                                      state.err().message));
  }
  supervisor_config sc;
  sc.pipeline = id;
  sc.spec = state->spec_ptr();
  sc.workdir = *e.workdir;
  sc.recovered = std::move(*state);
  auto sup = spawn_supervisor(self, id, e, std::move(sc));
  auto waiting = std::move(e.waiting);
  e.waiting.clear();
  for (auto& [rp, request] : waiting) hand_over(rp, request, sup);
}

// A request for pipeline `id` (empty: a lookup): handed to its supervisor, or
// held, in order, while the supervisor is rebuilt or asked to rest.
caf::result<caf::message> route(director_actor* self, const std::string& id, caf::message request) {
  auto& st = self->state;
  auto it = st.pipelines.find(id);
  if (it == st.pipelines.end()) return director_error(errc::not_found, "no pipeline '" + id + "'");
  entry& e = it->second;
  if (e.phase == entry::damaged) return director_error(errc::journal, damage_sentence(id, e));
  auto rp = self->make_response_promise();
  if (e.phase == entry::live) {
    ++e.touched;
    hand_over(rp, request, e.sup);
    return rp;
  }
  if (st.stopping) return director_error(errc::journal, "the director is stopping");
  if (e.waiting.size() >= waiting_requests_max)
    return director_error(errc::journal, "pipeline '" + id + "' already has " + std::to_string(e.waiting.size()) +
                                             " requests waiting for its supervisor: retry");
  e.waiting.emplace_back(rp, std::move(request));
  if (e.phase == entry::resting) rebuild(self, id);
  return rp;
}

void evicted(director_actor* self, const std::string& id, const caf::actor& sup, std::uint64_t asked, bool rested);
void arm(director_actor* self, const std::string& id, entry& e);

// Asks an idle supervisor to go; it declines if anything changed since it said so.
void evict(director_actor* self, const std::string& id, entry& e) {
  e.phase = entry::evicting;
  const caf::actor sup = e.sup;
  const std::uint64_t asked = e.idle_seq;
  self->request(sup, caf::infinite, evict_atom::value, asked)
      .then([=](bool rested) { evicted(self, id, sup, asked, rested); },
            [=](caf::error&) {});  // it is gone: its down message says so
}

void evicted(director_actor* self, const std::string& id, const caf::actor& sup, std::uint64_t asked, bool rested) {
  auto& st = self->state;
  auto it = st.pipelines.find(id);
  if (it == st.pipelines.end() || it->second.sup != sup || it->second.phase != entry::evicting) return;
  entry& e = it->second;
  if (rested) {
    e.phase = entry::resting;
    e.sup = nullptr;
    e.seq = asked;
    e.idle_seq = 0;
    if (!e.waiting.empty()) rebuild(self, id);
    return;
  }
  e.phase = entry::live;
  auto waiting = std::move(e.waiting);
  e.waiting.clear();
  for (auto& [rp, request] : waiting) hand_over(rp, request, sup);
  if (e.idle_seq == asked) e.idle_seq = 0;
  else arm(self, id, e);  // it said it is idle again since (at a later seq)
}

void arm(director_actor* self, const std::string& id, entry& e) {
  if (self->state.cfg.evict_after_ms == 0) return evict(self, id, e);
  self->delayed_send(self, std::chrono::milliseconds(self->state.cfg.evict_after_ms), evict_atom::value, id,
                     e.idle_seq, e.touched);
}

}  // namespace

caf::behavior director(director_actor* self, director_config cfg) {
  if (!cfg.workers) cfg.workers = std::make_shared<local_workers>();
  self->state.cfg = std::move(cfg);
  self->state.gate = self->spawn<caf::linked>(command_gate, self->state.cfg.command_limit);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    auto it = st.ids.find(dm.source);
    if (it == st.ids.end()) return;
    const std::string id = std::move(it->second);
    st.ids.erase(it);
    auto p = st.pipelines.find(id);
    if (p != st.pipelines.end() && p->second.sup && p->second.sup.address() == dm.source) {
      // Ended without resting (stopped, or it failed): it rests now; the
      // journal holds what it did.
      entry& e = p->second;
      e.phase = entry::resting;
      e.sup = nullptr;
      if (e.idle_seq > 0) e.seq = e.idle_seq;
      if (st.stopping) fail_waiting(e, director_error(errc::journal, "the director is stopping"));
      else if (!e.waiting.empty()) rebuild(self, id);
    }
    if (st.stopping && st.ids.empty()) self->quit();
  });
  return {
      [=](create_atom, const std::string& id, std::shared_ptr<const pipeline_spec> spec,
          const std::string& workdir) -> caf::result<reply> {
        return create(self, id, std::move(spec), workdir, nullptr);
      },
      [=](create_atom, const std::string& id, std::shared_ptr<const pipeline_spec> spec, const std::string& workdir,
          std::shared_ptr<const json> input) -> caf::result<reply> {
        return create(self, id, std::move(spec), workdir, std::move(input));
      },
      [=](recover_atom, const system_state& state, const std::string& workdir) -> reply {
        const std::string& id = state.pipeline();
        supervisor_config sc;
        sc.pipeline = id;
        sc.spec = state.spec_ptr();
        sc.workdir = workdir;
        sc.recovered = state;
        return host(self, std::move(sc));
      },
      [=](recover_atom, const std::string& id, const std::string& name, std::uint64_t seq,
          const std::string& workdir, std::uint8_t outcome) -> reply {
        // Finished before the restart (may_rest): nothing to run or interrupt,
        // so it rests until asked for, without a supervisor for now.
        if (id.empty()) return reply{reply::invalid, "a pipeline needs an id", 0};
        if (auto refused = refuse_new(self, id)) return *refused;
        entry& e = add_entry(self, id, name, workdir);
        e.phase = entry::resting;
        e.seq = seq;
        e.outcome = outcome;
        return reply{reply::ok, {}, seq};
      },
      [=](damaged_atom, const std::string& id, const std::string& name, std::uint64_t seq, std::uint64_t damaged_seq,
          const std::string& why) -> reply {
        auto& st = self->state;
        if (st.pipelines.count(id)) return reply{reply::invalid, "pipeline '" + id + "' already exists", 0};
        entry e;
        e.phase = entry::damaged;
        e.name = name;
        e.seq = seq;
        e.damage = std::make_shared<const std::pair<std::uint64_t, std::string>>(damaged_seq, why);
        st.pipelines.emplace(id, std::move(e));
        return reply{reply::ok, {}, seq};
      },
      [=](idle_atom, const std::string& id, std::uint64_t seq, std::uint8_t outcome) {
        auto it = self->state.pipelines.find(id);
        if (it == self->state.pipelines.end() || !it->second.sup ||
            caf::actor_cast<caf::actor>(self->current_sender()) != it->second.sup)
          return;
        entry& e = it->second;
        e.idle_seq = seq;
        e.outcome = outcome;
        if (e.phase == entry::live) arm(self, id, e);  // evicting: its answer looks at idle_seq
      },
      [=](evict_atom, const std::string& id, std::uint64_t seq, std::uint32_t touched) {
        // An idle timer: no request routed since it was armed, and nothing changed.
        auto it = self->state.pipelines.find(id);
        if (it == self->state.pipelines.end() || it->second.phase != entry::live || it->second.idle_seq != seq) return;
        entry& e = it->second;
        if (touched == e.touched) evict(self, id, e);
        else arm(self, id, e);
      },
      [=](archive_atom, const std::vector<std::string>& ids) -> reply {
        auto& st = self->state;
        auto finished = [](std::uint8_t o) {
          return o == static_cast<std::uint8_t>(pipeline_outcome::done) ||
                 o == static_cast<std::uint8_t>(pipeline_outcome::failed) ||
                 o == static_cast<std::uint8_t>(pipeline_outcome::cancelled);
        };
        std::string busy;
        for (const std::string& id : ids) {
          auto it = st.pipelines.find(id);
          if (it == st.pipelines.end()) return reply{reply::not_found, "no pipeline '" + id + "'", 0};
          entry& e = it->second;
          if (e.phase == entry::resting && finished(e.outcome)) continue;
          if ((e.phase == entry::live || e.phase == entry::evicting) && e.idle_seq > 0 && finished(e.outcome)) {
            if (e.phase == entry::live) evict(self, id, e);  // it goes to rest unless something changed
            if (busy.empty()) busy = id;
            continue;
          }
          const std::string how = e.phase == entry::damaged ? std::string("damaged")
                                  : finished(e.outcome) || e.outcome == entry::outcome_unknown
                                      ? std::string("not finished")
                                      : std::string(to_string(static_cast<pipeline_outcome>(e.outcome)));
          return reply{reply::refused,
                       "pipeline '" + id + "' is " + how + ": only finished pipelines (done, failed or cancelled) are archived",
                       0};
        }
        if (!busy.empty())
          return reply{reply::unavailable, "pipeline '" + busy + "' is being put to rest before it is archived: retry", 0};
        for (const std::string& id : ids) st.pipelines.erase(id);  // no request reaches them any more
        return reply{reply::ok, {}, 0};
      },
      [=](lookup_atom, const std::string& id) { return route(self, id, caf::message()); },
      [=](known_atom, const std::string& id) -> caf::result<bool> {
        auto it = self->state.pipelines.find(id);
        if (it == self->state.pipelines.end()) return director_error(errc::not_found, "no pipeline '" + id + "'");
        if (it->second.phase == entry::damaged) return director_error(errc::journal, damage_sentence(id, it->second));
        return true;
      },
      [=](list_atom) {
        std::vector<std::string> ids;
        ids.reserve(self->state.pipelines.size());
        for (const auto& [id, e] : self->state.pipelines) ids.push_back(id);
        std::sort(ids.begin(), ids.end());
        return ids;
      },
      [=](summary_atom) {
        std::vector<hosted_pipeline> out;
        out.reserve(self->state.pipelines.size());
        for (const auto& [id, e] : self->state.pipelines) {
          hosted_pipeline h{id, e.name, e.seq, e.phase == entry::live ? e.sup : caf::actor(), 0, {}, {}};
          if (e.outcome <= static_cast<std::uint8_t>(pipeline_outcome::cancelled))
            h.outcome = to_string(static_cast<pipeline_outcome>(e.outcome));
          if (e.phase == entry::damaged) {
            h.damaged_seq = e.damage ? e.damage->first : 0;
            h.damage = damage_sentence(id, e);
          }
          out.push_back(std::move(h));
        }
        std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
        return out;
      },
      [=](release_atom, const std::string& id) {
        auto& st = self->state;
        auto it = st.pipelines.find(id);
        if (it == st.pipelines.end()) return;
        entry& e = it->second;
        fail_waiting(e, director_error(errc::fenced, "pipeline '" + id + "' is owned by another server now"));
        // Its down message finds no entry (or a new one, for another supervisor).
        if (e.sup) self->send(e.sup, stop_atom::value);
        st.pipelines.erase(it);
      },
      [=](stop_atom) {
        auto& st = self->state;
        st.stopping = true;
        for (auto& [id, e] : st.pipelines) {
          if (e.sup) self->send(e.sup, stop_atom::value);
          else fail_waiting(e, director_error(errc::journal, "the director is stopping"));
        }
        if (st.ids.empty()) self->quit();
      },
      [=](const std::string& id, caf::message& request) { return route(self, id, std::move(request)); },
  };
}

}  // namespace dairector::actors
