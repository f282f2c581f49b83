#include "cli/http_waits.hpp"

#include "cli/http_support.hpp"
#include "dairector/codec.hpp"

namespace dairector::cli::http {

json with_waits(caf::scoped_actor& self, const http_api_config& cfg, const system_state& s, json state_json) {
  if (!cfg.registry || s.empty()) return state_json;
  auto waits = ask<std::vector<da::stage_wait>>(self, cfg.registry, errc::journal, da::waits_request{s.pipeline()});
  if (!waits) return state_json;
  for (const auto& w : *waits) {
    const stage_index i = s.spec().find(w.stage);
    // Only the live run's wait: a fenced run's is being withdrawn.
    if (i == no_stage || s.status(i) != stage_status::running || s.stage(i).run != w.run) continue;
    state_json["stages"][i]["waiting"] = {{"for", "worker"}, {"reason", w.reason}, {"since", format_time(w.since_ms)}};
  }
  return state_json;
}

}  // namespace dairector::cli::http
