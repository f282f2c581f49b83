// What a server in a cluster (docs/cluster.md) answers about the pipelines
// another server owns: their history and state read from the shared
// database, and where their owner listens, so that a change is carried to
// it. Shared by the HTTP threads: one reader connection, one at a time.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dairector/journal/cluster.hpp"
#include "dairector/journal_store.hpp"

namespace dairector::cli {

class cluster_reads {
public:
  cluster_reads(std::unique_ptr<journal_store> reader, std::unique_ptr<cluster_membership> lookup)
      : reader_(std::move(reader)), lookup_(std::move(lookup)) {}

  /// A pipeline's events (errc::not_found: the database has no such pipeline).
  result<std::vector<event>> history(const std::string& id);
  /// Every pipeline's events after journal-wide position `after` (GET /events).
  result<std::vector<positioned_event>> events_after(std::uint64_t after, std::size_t limit);
  /// Every pipeline in the database, in order of creation.
  result<std::vector<pipeline_summary>> pipelines();
  /// The HTTP address of the pipeline's live owner; errc::journal while it
  /// has none (its owner is gone and the others have not taken it yet).
  result<std::string> owner_http(const std::string& id);

private:
  std::mutex mutex_;
  std::unique_ptr<journal_store> reader_;
  std::unique_ptr<cluster_membership> lookup_;
};

}  // namespace dairector::cli
