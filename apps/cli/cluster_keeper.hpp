// What `serve` does as one of many servers on PostgreSQL (docs/cluster.md):
// it joins the cluster under its node name, keeps its lease, hosts the
// pipelines it owns, takes over its share of the orphans (the pipelines of
// servers whose lease ran out), gives up the pipelines another server has
// taken (fencing already refuses its appends to them), and on a clean stop
// lets everything go at once.
//
// It runs on serve's main thread, a round every `tick_ms`: the database's
// clock decides who is live, so nothing here depends on this machine's.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "dairector/journal/cluster.hpp"
#include "dairector/journal_store.hpp"

namespace dairector::cli {

struct keeper_config {
  caf::actor director;  // hosts the pipelines (director.hpp)
  caf::actor journal;   // the durable journal: own_atom (journal.hpp)
  std::string workdir;  // where a taken-over pipeline's commands run when its journal names no folder
  std::int64_t lease_ms = 5000;
  std::size_t max_pipelines = 0;  // takes no orphans past this many hosted (0: no bound)
  std::function<void(const std::string&)> say;
};

class cluster_keeper {
public:
  /// `reader`: a read-only store on the same database (histories of the
  /// pipelines it takes over, and their folders).
  cluster_keeper(caf::actor_system& sys, std::unique_ptr<cluster_membership> membership,
                 std::unique_ptr<journal_store> reader, keeper_config cfg);

  /// Joins, waiting (up to a lease and a second) for an earlier process of
  /// the same name to lose its lease; then carries on the pipelines its name
  /// owns. An error: the name is held by a live server, or the database fails.
  std::optional<error> start(const std::function<bool()>& stop_requested);
  /// One round: renew (a lost lease gives everything up and joins again),
  /// give up what others own now, take this server's share of the orphans.
  void tick();
  /// A clean stop, after the director stopped: every pipeline is let go and
  /// the lease ends, so the others take over at once.
  void leave();
  /// How long between rounds: short enough that a takeover starts well
  /// within a second after a lease runs out.
  std::int64_t tick_ms() const noexcept;
  /// The servers, as of the last round (`GET /cluster`).
  nlohmann::json view() const;

private:
  bool adopt(const std::string& id);
  void give_up(const std::vector<std::string>& ids, const std::string& why);
  std::vector<std::string> hosted();
  void say_once(const std::string& line);

  caf::scoped_actor self_;
  std::unique_ptr<cluster_membership> membership_;
  std::unique_ptr<journal_store> reader_;
  keeper_config cfg_;
  mutable std::mutex view_mutex_;
  nlohmann::json view_ = nlohmann::json::array();
  bool database_down_ = false;  // said once until it answers again
  bool journal_down_ = false;   // the journal failed a write; its pipelines are given up
  std::set<std::string> said_;  // failures already logged
  bool adopt_mine_ = false;     // host what this node owns (after a new lease or a reopened journal)
};

}  // namespace dairector::cli
