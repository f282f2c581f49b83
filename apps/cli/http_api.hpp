// The live control API of `dairector serve` (docs/http.md): HTTP/JSON on
// cpp-httplib, each request turned into one message to the director or a
// supervisor (so mailbox order stays the order of history), and a
// server-sent-events stream of events as the journal commits them.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "dairector/result.hpp"

namespace dairector::cli {

class cluster_reads;

struct http_api_config {
  caf::actor_system* system = nullptr;
  caf::actor director;    // director.hpp
  caf::actor journal;     // journal.hpp: history, subscribe
  caf::actor registry;    // registry.hpp: workers connected (GET /metrics); may be invalid
  std::string token;      // every request but GET /healthz must send `Authorization: Bearer TOKEN`
  std::string workdir;    // where commands of pipelines created over HTTP run
  std::vector<std::string> names;  // --http-host: names the Host header may use besides the bound address
  std::function<nlohmann::json()> cluster;  // the servers of a cluster (GET /cluster); null: not in one
  /// In a cluster: the pipelines other servers own (read from the database;
  /// changes carried to their owner). Null: every pipeline is hosted here.
  std::shared_ptr<cluster_reads> others;
  std::string log_dir;  // the stage logs this server keeps (stage_logs.hpp); empty: none
  /// Where POST /archive writes its files (serve --archive-dir).
  std::string archive_dir = "dairector-archive";
};

class http_api {
 public:
  explicit http_api(http_api_config cfg);
  ~http_api();  // stops and joins
  http_api(const http_api&) = delete;
  http_api& operator=(const http_api&) = delete;

  /// Binds HOST:PORT (port 0: the system picks one; a port in use is an
  /// error, never shared); the bound port, or why not.
  result<int> bind(const std::string& host, int port);
  /// Serves on its own thread until stop().
  void start();
  void stop();

  /// Every route the API answers, as (method, pattern), e.g. ("GET",
  /// "/pipelines/{id}"): the table requests are dispatched by (GET routes
  /// answer HEAD too). `serve --list-routes` prints it; docs/openapi.json
  /// describes each.
  static std::vector<std::pair<std::string, std::string>> routes();

  struct impl;  // (named by the route table in http_api.cpp)

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace dairector::cli
