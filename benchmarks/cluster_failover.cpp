// cluster_bench's failover part (cluster_support.hpp): real `dairector serve`
// processes on one fresh database, SIGKILL of the owner of a pipeline whose
// first stage runs `sleep 3600` (so a run is always in flight), and the time
// from the kill (t0) to the first event the other server writes for it (t1:
// its `at_ms`, read from dairector.events; same machine, same clock). That
// event is the in-flight run's stage_interrupted: the takeover of
// docs/cluster.md#leases. The killed server is started again under its name
// and the new owner is killed next, alternating.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <iostream>
#include <regex>
#include <thread>

#include <httplib.h>

#include <dairector/journal/open.hpp>

#include "cluster_support.hpp"

namespace dairector::bench {

namespace {

const std::string pipeline_id = "held";

struct server {
  std::string node, log;
  pid_t pid = -1;
  int http_port = 0;
  int incarnation = 0;
  double ready_s = 0;  // from its start to its "ready" line
};

struct failover_env {
  std::string dairector, scratch, uri, token_file, token;
  std::int64_t lease_ms = 0;
};

// Polls `ready` every 10 ms for at most `seconds` (a bound, not a wait: the
// condition is what ends it).
template <class Ready>
bool poll_for(double seconds, Ready ready) {
  const auto start = clock_type::now();
  while (!ready()) {
    if (seconds_since(start) > seconds) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// Starts `node` (its next incarnation) and waits for its "ready" line: a
// restarted node first waits for its predecessor's lease to run out.
void start_server(const failover_env& env, server& s) {
  ++s.incarnation;
  s.log = env.scratch + "/" + s.node + "." + std::to_string(s.incarnation) + ".log";
  const auto start = clock_type::now();
  s.pid = start_child({env.dairector, "serve", "--journal", env.uri, "--node", s.node, "--lease-ms",
                       std::to_string(env.lease_ms), "--token-file", env.token_file, "--listen", "127.0.0.1:0",
                       "--http", "127.0.0.1:0", "--workdir", env.scratch},
                      s.log);
  const bool ready = poll_for(double(env.lease_ms) / 1e3 + 30, [&] {
    return read_text(s.log).find("dairector serve: ready") != std::string::npos || child_exited(s.pid);
  });
  const std::string text = read_text(s.log);
  if (!ready || text.find("dairector serve: ready") == std::string::npos)
    die("server " + s.node + " did not become ready:" + log_tail(s.log));
  s.ready_s = seconds_since(start);
  static const std::regex http(R"(http on 127\.0\.0\.1:([0-9]+))");
  std::smatch m;
  if (!std::regex_search(text, m, http)) die("server " + s.node + " did not say its HTTP port:" + log_tail(s.log));
  s.http_port = std::stoi(m[1].str());
}

// The pipeline's newest event: {pos, type, at_ms}, or pos 0 when it has none.
struct event_row {
  std::int64_t pos = 0, at_ms = 0;
  std::string type, by;
};

event_row newest_event(pg::connection& db) {
  auto a = db.run("SELECT pos, type, at_ms, \"by\" FROM dairector.events WHERE pipeline = $1 ORDER BY pos DESC LIMIT 1",
                  {pipeline_id});
  if (!a.ok()) die("reading the events: " + a.why);
  if (a.count() == 0) return {};
  return {a.integer(0, 0), a.integer(0, 2), std::string(a.text(0, 1)), std::string(a.text(0, 3))};
}

std::optional<event_row> first_event_after(pg::connection& db, std::int64_t pos) {
  auto a = db.run("SELECT pos, type, at_ms, \"by\" FROM dairector.events WHERE pipeline = $1 AND pos > $2"
                  " ORDER BY pos LIMIT 1",
                  {pipeline_id, std::to_string(pos)});
  if (!a.ok()) die("reading the events: " + a.why);
  if (a.count() == 0) return std::nullopt;
  return event_row{a.integer(0, 0), a.integer(0, 2), std::string(a.text(0, 1)), std::string(a.text(0, 3))};
}

std::string owner_of(pg::connection& db) {
  auto a = db.run("SELECT node FROM dairector.owners WHERE pipeline = $1", {pipeline_id});
  if (!a.ok()) die("reading the owners: " + a.why);
  return a.count() > 0 ? std::string(a.text(0, 0)) : "";
}

void create_pipeline(const failover_env& env, const server& s) {
  const json spec = {{"name", "held"},
                     {"stages", json::array({{{"name", "a"}, {"after", json::array()},
                                              {"run", {{"command", {"sleep", "3600"}}}}}})}};
  httplib::Client http("127.0.0.1", s.http_port);
  http.set_read_timeout(20, 0);
  auto res = http.Post("/pipelines", {{"Authorization", "Bearer " + env.token}},
                       json{{"spec", spec}, {"id", pipeline_id}}.dump(), "application/json");
  if (!res || res->status != 201)
    die("POST /pipelines to " + s.node + ": " + (res ? std::to_string(res->status) + " " + res->body : "no answer"));
}

}  // namespace

json measure_failover(pg_cluster& cluster, const std::string& dairector, const std::string& scratch,
                      std::int64_t lease_ms, int kills) {
  failover_env env{dairector, scratch, cluster.fresh("failover"), scratch + "/token", "", lease_ms};
  env.token = "cluster-bench-token-" + std::to_string(::getpid()) + "-0123456789";
  std::ofstream(env.token_file) << env.token << "\n";
  ::chmod(env.token_file.c_str(), 0600);
  pg::connection db(env.uri, {});
  if (auto why = db.ensure()) die("failover database: " + *why);

  std::cerr << "\nfailover: two servers (lease " << lease_ms << " ms), " << kills << " SIGKILLs of the owner\n";
  std::map<std::string, server> servers;
  for (const char* node : {"x", "y"}) servers[node].node = node;
  start_server(env, servers["x"]);  // first alone: it makes the credentials the other shares
  start_server(env, servers["y"]);
  create_pipeline(env, servers["x"]);

  const double wait_s = double(lease_ms) / 1e3 + 60;
  std::vector<double> failover_ms, detected_ms, restart_s;
  json kills_json = json::array();
  for (int k = 0; k < kills; ++k) {
    // The run is in flight: its stage_started is the newest event (after a
    // takeover: the restarted run's).
    event_row last;
    if (!poll_for(wait_s, [&] { return (last = newest_event(db)).type == "stage_started"; }))
      die("the pipeline's stage is not running (newest event: " + last.type + ")");
    const std::string owner = owner_of(db);
    if (!servers.count(owner)) die("the pipeline is owned by '" + owner + "', not by x or y");
    server& victim = servers[owner];
    const std::string survivor = owner == "x" ? "y" : "x";

    const std::int64_t t0 = unix_ms();
    kill_child(victim.pid);
    std::optional<event_row> next;
    if (!poll_for(wait_s, [&] { return (next = first_event_after(db, last.pos)).has_value(); }))
      die("nobody took the pipeline over within " + std::to_string(wait_s) + " s of the kill of " + owner +
          ":" + log_tail(servers[survivor].log));
    const std::int64_t seen = unix_ms();
    const std::string new_owner = owner_of(db);
    if (new_owner != survivor) die("after the kill of " + owner + " the pipeline is owned by '" + new_owner + "'");
    if (next->at_ms < t0) die("an event at " + std::to_string(next->at_ms) + " ms, before the kill at " + std::to_string(t0));
    failover_ms.push_back(double(next->at_ms - t0));
    detected_ms.push_back(double(seen - t0));
    std::fprintf(stderr, "  kill %2d: %s -> %s  %6lld ms (%s)\n", k + 1, owner.c_str(), survivor.c_str(),
                 static_cast<long long>(next->at_ms - t0), next->type.c_str());
    start_server(env, victim);  // the same name again, ready before the next kill
    restart_s.push_back(victim.ready_s);
    kills_json.push_back({{"killed", owner}, {"took_over", survivor}, {"failover_ms", next->at_ms - t0},
                          {"first_event", next->type}, {"seen_by_benchmark_ms", seen - t0},
                          {"restart_ready_s", victim.ready_s}});
  }
  for (auto& [name, s] : servers) stop_child(s.pid);

  const auto f = summarize(failover_ms);
  std::fprintf(stderr, "failover (kill -> first event of the new owner): p50 %.0f ms, max %.0f ms, lease %lld ms "
               "(target <= lease + 1 s)\n", f.median, f.max, static_cast<long long>(lease_ms));
  return {{"lease_ms", lease_ms},
          {"kills", kills},
          {"p50_ms", f.median},
          {"max_ms", f.max},
          {"min_ms", f.min},
          {"over_lease_p50_ms", f.median - double(lease_ms)},
          {"runs_ms", failover_ms},
          {"seen_by_benchmark_p50_ms", summarize(detected_ms).median},
          {"restart_ready_s_median", summarize(restart_s).median},
          {"each", kills_json},
          {"how", "two `dairector serve --journal URI --node x|y --lease-ms L` processes on a fresh database; a "
                  "pipeline whose stage runs `sleep 3600`; SIGKILL of its owner at t0 (wall clock); t1 = at_ms of "
                  "the first event after the kill in dairector.events (the in-flight run's stage_interrupted, "
                  "written by the other server); failover = t1 - t0. The killed server is started again under "
                  "its name (ready before the next kill) and the owners alternate."}};
}

}  // namespace dairector::bench
