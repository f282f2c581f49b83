// One process on a PostgreSQL journal (`run`, `resume`, the embedding engine;
// docs/cluster.md#one-process):
// the process takes a lease as servers do, under a node name of its own, so
// that no server takes its pipeline over while it runs, and no second
// process drives the same pipeline; renewed on a thread of its own, ended
// (its pipeline let go) when the process ends.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "dairector/journal/cluster.hpp"
#include "dairector/journal_store.hpp"

namespace dairector {

class solo_lease {
public:
  /// This process's node name: process:HOST:PID (the journal is opened with
  /// it as its owner first, which also creates the schema of a new database).
  static std::string node_name();
  /// Nothing to do (and no thread) when `where` is not a PostgreSQL journal.
  static result<std::unique_ptr<solo_lease>> take(const std::string& where, std::int64_t lease_ms);
  ~solo_lease();  // ends the lease: its pipelines are let go
  solo_lease(const solo_lease&) = delete;
  solo_lease& operator=(const solo_lease&) = delete;

  /// The node name to open the journal with (journal_options::owner).
  const std::string& node() const noexcept { return node_; }

private:
  solo_lease(std::unique_ptr<cluster_membership> m, std::string node, std::int64_t lease_ms);
  void keep();

  std::unique_ptr<cluster_membership> membership_;
  std::string node_;
  std::int64_t lease_ms_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool ending_ = false;
  std::thread renewer_;
};

/// The lease a process takes by default (--lease-ms of serve).
inline constexpr std::int64_t lease_ms_default = 5000;

}  // namespace dairector
