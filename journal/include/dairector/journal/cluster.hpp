// One server's membership in a cluster on PostgreSQL (docs/cluster.md): many
// `dairector serve` processes share one database, and each pipeline is owned
// by one of them at a time.
//
// A server joins under its node name with a lease, timed by the database's
// clock (never the servers'), and renews it; a server that stops renewing
// (killed, paused, cut off) is no longer live once its lease has run out,
// and its pipelines are orphans that the live servers take over. Taking a
// pipeline over is the journal's `own` (journal_store.hpp), which gives it a
// new epoch: the appends of a former owner, however late, are refused by
// the database (fencing). A clean stop ends the lease at once.
//
// Tables (created by the PostgreSQL journal, schema `dairector`):
//   nodes(name, incarnation, http, lease_until, stopping)
//   owners(pipeline, node, epoch)
//
// Not thread-safe: one thread uses a membership (it has its own connection,
// so that renewing never waits behind the journal's commits).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dairector/result.hpp"

namespace dairector {

/// A server as `GET /cluster` shows it.
struct cluster_node {
  std::string name;
  std::string http;        // its HTTP API address, as it gave it
  bool live = false;       // its lease has not run out and it is not stopping
  std::int64_t lease_until_ms = 0;  // Unix ms, by the database's clock
  std::uint64_t pipelines = 0;      // owned
};

class cluster_membership {
public:
  /// Connects to the database at `uri` (a postgresql:// URI); joins nothing yet.
  static result<std::unique_ptr<cluster_membership>> open(const std::string& uri, std::string node, std::string http,
                                                         std::int64_t lease_ms);
  virtual ~cluster_membership() = default;

  /// Joins as a new incarnation of the node. False while a live server holds
  /// the name (its lease has not run out): try again later.
  virtual result<bool> join() = 0;
  /// Renews the lease. False: it ran out (or the name was taken): this
  /// server owns nothing any more and must stop its pipelines, then join again.
  virtual result<bool> renew() = 0;
  /// Pipelines this node's name owns in the database (after a restart: those
  /// of its previous incarnation, which it carries on).
  virtual result<std::vector<std::string>> owned() = 0;
  /// Of `hosted`, those another node owns now (or that were let go): a
  /// pipeline the database does not know yet (its creation is not yet
  /// durable) is not among them.
  virtual result<std::vector<std::string>> taken(const std::vector<std::string>& hosted) = 0;
  /// Up to `max` pipelines whose owner is gone (not live, stopping, or let
  /// go), in an order that differs between servers so that they share out.
  virtual result<std::vector<std::string>> orphans(std::size_t max) = 0;
  /// How many servers are live (this one included, once joined).
  virtual result<std::size_t> live_nodes() = 0;
  /// The server that owns `pipeline` (nullopt: no such pipeline, or let go).
  virtual result<std::optional<cluster_node>> owner_of(const std::string& pipeline) = 0;
  /// Every server the database knows, live or not, by name.
  virtual result<std::vector<cluster_node>> nodes() = 0;
  /// A clean stop: the lease ends now, so the others take over at once.
  virtual std::optional<error> leave() = 0;

  virtual const std::string& node() const noexcept = 0;
};

}  // namespace dairector
