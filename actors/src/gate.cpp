#include "dairector/actors/gate.hpp"

#include "dairector/actors/registry.hpp"
#include "dairector/actors/secret.hpp"
#include "dairector/actors/stage_logs.hpp"

namespace dairector::actors {

namespace {

// Whatever the gate does not take: counted; the first few are logged.
void note_dropped(gate_actor* self, const std::string& what) {
  actors::note_dropped(self, what, "worker port: ", gate_drops_logged_max);
}

void refuse_result(gate_actor* self, const stage_result& r, const std::string& why) {
  ++self->state.results_refused;
  note_dropped(self, "a result for pipeline '" + r.pipeline.substr(0, 128) + "' run " + std::to_string(r.run) + " (" + why +
                 ")");
}

caf::actor_addr sender_of(gate_actor* self) {
  return self->current_sender() ? self->current_sender()->address() : caf::actor_addr{};
}

const std::string* secret_of(gate_actor* self, const caf::actor& endpoint) {
  auto it = self->state.secrets.find(endpoint.address());
  return it == self->state.secrets.end() ? nullptr : &it->second;
}

}  // namespace

caf::behavior worker_gate(gate_actor* self, gate_config cfg) {
  self->state.cfg = std::move(cfg);
  // It monitors and links nobody: a down or error message is a peer's.
  self->set_down_handler([=](caf::down_msg&) { note_dropped(self, "a down message"); });
  drop_what_it_does_not_take(self, [](gate_actor* g, const char* what) { note_dropped(g, what); });
  return {
      [=](register_atom, const std::string& token, std::vector<std::string>& stages, std::uint32_t capacity,
          std::string& name, caf::actor& endpoint, const std::string& secret) -> caf::result<reply> {
        auto& st = self->state;
        if (st.cfg.token.empty() || !tokens_equal(token, st.cfg.token))
          return refuse_registration(st.cfg.log, name, endpoint, "wrong token");
        if (secret.size() < secret_bytes || secret.size() > secret_chars_max)
          return refuse_registration(st.cfg.log, name, endpoint,
                                     "the worker secret must be " + std::to_string(secret_bytes) + " to " +
                                         std::to_string(secret_chars_max) + " characters");
        if (!endpoint) return refuse_registration(st.cfg.log, name, endpoint, "no endpoint actor");
        if (st.registering.size() >= gate_registrations_max)
          return reply{reply::unavailable, "the server is busy with other registrations: retry", 0};
        // Not a request: its response could be forged (registration in messages.hpp).
        const std::uint64_t id = ++st.registrations;
        auto rp = self->make_response_promise<reply>();
        st.registering.emplace(id, gate_registration{rp, endpoint.address(), secret});
        self->send(st.cfg.registry, registration{id, std::move(stages), capacity, std::move(name), endpoint});
        return rp;
      },
      [=](registration_answer& a) {
        auto& st = self->state;
        auto it = st.registering.find(a.id);
        if (it == st.registering.end()) return;
        if (a.answer.is_ok()) st.secrets[it->second.endpoint] = it->second.secret;
        it->second.answer.deliver(std::move(a.answer));
        st.registering.erase(it);
      },
      [=](stage_result& r) {
        auto& st = self->state;
        const caf::actor_addr from = sender_of(self);
        auto it = st.routes.find({from, r.pipeline, r.run});
        if (it == st.routes.end()) return refuse_result(self, r, "no such run out on that worker");
        if (!tokens_equal(r.capability, it->second.capability))
          return refuse_result(self, r, "without the run's capability");
        caf::actor to = std::move(it->second.supervisor);
        st.routes.erase(it);
        self->send(to, remote_result{from, std::move(r)});
      },
      [=](stage_log_atom, std::string& pipeline, std::string& stage, std::uint64_t run, std::string& capability,
          std::string& bytes, bool last) {
        auto& st = self->state;
        auto it = st.routes.find({sender_of(self), pipeline, run});
        if (it == st.routes.end() || it->second.stage != stage || !tokens_equal(capability, it->second.capability)) {
          ++st.logs_refused;
          return note_dropped(self, "a log chunk for pipeline '" + pipeline.substr(0, 128) + "' run " +
                                        std::to_string(run) + " (not a run out on that worker, or without its capability)");
        }
        if (bytes.size() > stage_log_chunk_bytes_max) bytes.resize(stage_log_chunk_bytes_max);
        if (st.cfg.logs)
          self->send(st.cfg.logs, stage_log_atom::value, std::move(pipeline), std::move(stage), run, std::string(),
                     std::move(bytes), last);
      },
      [=](remote_job& rj) {
        auto& st = self->state;
        auto sup = caf::actor_cast<caf::actor>(self->current_sender());
        if (!sup) return;
        const std::string* secret = secret_of(self, rj.endpoint);
        if (!secret) {
          // Forgotten since it was assigned: its supervisor handles it like the worker's down.
          self->send(sup, remote_undeliverable{rj.endpoint.address(), rj.j.run});
          return;
        }
        std::tuple<caf::actor_addr, std::string, std::uint64_t> key{rj.endpoint.address(), rj.j.pipeline, rj.j.run};
        if (st.routes.size() >= gate_runs_max && st.routes.count(key) == 0) {
          stage_result r;
          r.pipeline = rj.j.pipeline;
          r.stage_index = rj.j.stage_index;
          r.run = rj.j.run;
          r.capability = rj.j.capability;
          r.worker = "system";
          r.error = "the worker port has " + std::to_string(st.routes.size()) + " runs out on workers, the limit";
          self->send(sup, remote_result{rj.endpoint.address(), std::move(r)});
          return;
        }
        st.routes[key] = gate_route{sup, rj.j.capability, rj.j.stage};
        rj.j.secret = *secret;
        self->send(rj.endpoint, std::move(rj.j));
      },
      [=](remote_kill& k) {
        if (const std::string* secret = secret_of(self, k.endpoint))
          self->send(k.endpoint, kill_atom::value, *secret, k.pipeline, k.run);
      },
      [=](worker_forgotten& f) {
        auto& st = self->state;
        st.secrets.erase(f.endpoint);
        // Its runs are interrupted by their supervisors (they saw it go too).
        for (auto it = st.routes.begin(); it != st.routes.end();)
          it = std::get<0>(it->first) == f.endpoint ? st.routes.erase(it) : std::next(it);
      },
      [=](gate_close) { self->quit(); },
  };
}

}  // namespace dairector::actors
