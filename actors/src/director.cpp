#include "dairector/actors/director.hpp"

namespace dairector::actors {

namespace {

// Spawns and remembers one pipeline's supervisor; `sc.pipeline` is its id.
reply host(director_actor* self, supervisor_config sc) {
  auto& st = self->state;
  const std::string id = sc.pipeline;
  if (st.stopping) return reply{reply::unavailable, "the director is stopping", 0};
  if (id.empty() || !sc.spec) return reply{reply::invalid, "a pipeline needs an id and a spec", 0};
  if (st.pipelines.count(id)) return reply{reply::invalid, "pipeline '" + id + "' already exists", 0};
  if (st.pipelines.size() >= st.cfg.pipelines_max)
    return reply{reply::unavailable,
                 "this director hosts " + std::to_string(st.pipelines.size()) + " pipelines, the limit", 0};
  const std::uint64_t seq = sc.recovered ? sc.recovered->seq() : 1;
  sc.journal = st.cfg.journal;
  sc.gate = st.gate;
  sc.workers = st.cfg.workers;
  sc.registry = st.cfg.registry;
  sc.clock_ms = st.cfg.clock_ms;
  sc.drive = st.cfg.drive;
  auto sup = self->spawn(supervisor, std::move(sc));
  self->monitor(sup);
  st.ids.emplace(sup.address(), id);
  st.pipelines.emplace(id, sup);
  return reply{reply::ok, {}, seq};
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
    st.pipelines.erase(it->second);
    st.ids.erase(it);
    if (st.stopping && st.pipelines.empty()) self->quit();
  });
  return {
      [=](create_atom, const std::string& id, std::shared_ptr<const pipeline_spec> spec,
          const std::string& workdir) -> caf::result<reply> {
        supervisor_config sc;
        sc.pipeline = id;
        sc.spec = std::move(spec);
        sc.workdir = workdir;
        reply hosted = host(self, std::move(sc));
        if (!hosted.is_ok()) return hosted;
        // Answered by the supervisor once `pipeline_created` is durable (or
        // with the journal's error): the director goes on meanwhile.
        auto rp = self->make_response_promise<reply>();
        rp.delegate(self->state.pipelines.at(id), durable_atom::value, hosted.seq);
        return rp;
      },
      [=](recover_atom, const system_state& state, const std::string& workdir) -> reply {
        supervisor_config sc;
        sc.pipeline = state.pipeline();
        sc.spec = state.spec_ptr();
        sc.workdir = workdir;
        sc.recovered = state;
        return host(self, std::move(sc));
      },
      [=](lookup_atom, const std::string& id) -> caf::result<caf::actor> {
        auto it = self->state.pipelines.find(id);
        if (it == self->state.pipelines.end())
          return caf::make_error(caf::sec::runtime_error, "no pipeline '" + id + "'");
        return it->second;
      },
      [=](list_atom) {
        std::vector<std::string> ids;
        ids.reserve(self->state.pipelines.size());
        for (const auto& [id, sup] : self->state.pipelines) ids.push_back(id);
        std::sort(ids.begin(), ids.end());
        return ids;
      },
      [=](stop_atom) {
        auto& st = self->state;
        st.stopping = true;
        for (const auto& [id, sup] : st.pipelines) self->send(sup, stop_atom::value);
        if (st.pipelines.empty()) self->quit();
      },
      [=](const std::string& id, caf::message& request) -> caf::result<caf::message> {
        auto it = self->state.pipelines.find(id);
        if (it == self->state.pipelines.end())
          return caf::make_error(caf::sec::runtime_error, "no pipeline '" + id + "'");
        auto rp = self->make_response_promise();
        rp.delegate(it->second, std::move(request));  // the answer goes straight to the requester
        return rp;
      },
  };
}

}  // namespace dairector::actors
