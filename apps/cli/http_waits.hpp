// Silent waits made visible (docs/http.md#waiting-for-a-worker): a run whose
// start is recorded (its stage stays `running` in the journal, whose
// statuses are fixed by docs/events.md) but that waits in the registry for a
// worker process gets `"waiting": {"for": "worker", "reason", "since"}` on
// its stage in the state a live server answers. Composed here from a query
// to the registry (registry.hpp, waits_request), not stored anywhere.
#pragma once

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "cli/http_api.hpp"
#include "dairector/state.hpp"

namespace dairector::cli::http {

/// `state_json` (state_to_json(s)) with the waits of its running stages
/// added; unchanged without a registry, or if it does not answer.
nlohmann::json with_waits(caf::scoped_actor& self, const http_api_config& cfg, const system_state& s,
                          nlohmann::json state_json);

}  // namespace dairector::cli::http
