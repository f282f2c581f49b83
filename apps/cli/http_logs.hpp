// GET /pipelines/ID/stages/STAGE/logs[?run=N][&follow=1] (docs/http.md#stage-logs):
// a stage's standard error as this server kept it (stage_logs.hpp). Plain
// text, the bytes as written; with follow=1 an event stream that the stream
// pump sends (no thread per client, http_pump.hpp), ended when the run ends.
#pragma once

#include <httplib.h>

#include <string>

#include <caf/all.hpp>

#include "cli/http_api.hpp"

namespace dairector::cli::http {

void serve_stage_logs(caf::scoped_actor& self, const http_api_config& cfg, const httplib::Request& req,
                      httplib::Response& res, const std::string& id, const std::string& stage);

}  // namespace dairector::cli::http
