// cluster_membership on PostgreSQL (journal/include/dairector/journal/cluster.hpp):
// every decision about liveness is made by the database, with its clock, in
// one statement, so that two servers never disagree about who is live.
#include <random>

#include "dairector/journal/cluster.hpp"
#include "dairector/journal/open.hpp"
#include "pg_connection.hpp"

namespace dairector {

namespace {

// A node is live while its lease has not run out and it is not stopping.
const char* const join_sql =
    "INSERT INTO dairector.nodes(name, incarnation, http, lease_until, stopping)"
    " VALUES($1, $2, $3, now() + $4::bigint * interval '1 millisecond', false)"
    " ON CONFLICT (name) DO UPDATE SET incarnation = EXCLUDED.incarnation, http = EXCLUDED.http,"
    "   lease_until = EXCLUDED.lease_until, stopping = false"
    " WHERE dairector.nodes.lease_until < now() OR dairector.nodes.stopping"
    " RETURNING name";
const char* const renew_sql =
    "UPDATE dairector.nodes SET lease_until = now() + $3::bigint * interval '1 millisecond'"
    " WHERE name = $1 AND incarnation = $2 AND NOT stopping AND lease_until >= now() RETURNING name";
const char* const owned_sql = "SELECT pipeline FROM dairector.owners WHERE node = $1 ORDER BY pipeline";
const char* const taken_sql =
    "SELECT pipeline FROM dairector.owners WHERE pipeline = ANY($2::text[]) AND node <> $1 ORDER BY pipeline";
// Orphans in an order of their own for each server (hashed with its name),
// so that servers taking over at once mostly pick different ones.
const char* const orphans_sql =
    "SELECT o.pipeline FROM dairector.owners o LEFT JOIN dairector.nodes n ON n.name = o.node"
    " WHERE o.node = '' OR n.name IS NULL OR n.lease_until < now() OR n.stopping"
    " ORDER BY md5(o.pipeline || $1) LIMIT $2::bigint";
const char* const live_sql = "SELECT count(*) FROM dairector.nodes WHERE lease_until >= now() AND NOT stopping";
const char* const nodes_sql =
    "SELECT n.name, n.http, n.lease_until >= now() AND NOT n.stopping,"
    " (extract(epoch FROM n.lease_until) * 1000)::bigint,"
    " (SELECT count(*) FROM dairector.owners o WHERE o.node = n.name)"
    " FROM dairector.nodes n ORDER BY n.name";
// Lets its pipelines go (the next owner's epoch fences anything late), then
// ends the lease, in one transaction.
const char* const owner_sql =
    "SELECT n.name, n.http, n.lease_until >= now() AND NOT n.stopping, (extract(epoch FROM n.lease_until) * 1000)::bigint"
    " FROM dairector.owners o JOIN dairector.nodes n ON n.name = o.node WHERE o.pipeline = $1";
const char* const leave_sql =
    "WITH gone AS (UPDATE dairector.nodes SET stopping = true, lease_until = now()"
    "   WHERE name = $1 AND incarnation = $2 RETURNING name)"
    " UPDATE dairector.owners SET node = '' WHERE node IN (SELECT name FROM gone)";

class pg_membership final : public cluster_membership {
public:
  pg_membership(const std::string& uri, std::string node, std::string http, std::int64_t lease_ms)
      : db_(uri, {"SET lock_timeout = " + std::to_string(std::max<std::int64_t>(1, lease_ms))},
            std::chrono::milliseconds(std::max<std::int64_t>(1, lease_ms))),
        name_(redact_journal_name(uri)), node_(std::move(node)), http_(std::move(http)),
        lease_ms_(std::to_string(lease_ms)) {
    // A new number for every join: the lease of an earlier process of the
    // same name is never renewed by this one.
    std::random_device seed;
    std::mt19937_64 pick(static_cast<std::uint64_t>(seed()) << 32 | seed());
    incarnation_ = std::to_string(pick() >> 1);
  }

  result<bool> join() override {
    auto a = run(join_sql, {node_, incarnation_, http_, lease_ms_});
    if (!a) return a.err();
    return a->count() == 1;
  }
  result<bool> renew() override {
    auto a = run(renew_sql, {node_, incarnation_, lease_ms_});
    if (!a) return a.err();
    return a->count() == 1;
  }
  result<std::vector<std::string>> owned() override { return column(owned_sql, {node_}); }
  result<std::vector<std::string>> taken(const std::vector<std::string>& hosted) override {
    std::string list = "{";
    for (const std::string& id : hosted) pg::append_text_array_item(list, id);
    pg::close_array(list);
    return column(taken_sql, {node_, list});
  }
  result<std::vector<std::string>> orphans(std::size_t max) override {
    return column(orphans_sql, {node_, std::to_string(max)});
  }
  result<std::size_t> live_nodes() override {
    auto a = read(live_sql, {});
    if (!a) return a.err();
    return static_cast<std::size_t>(a->counted(0, 0));
  }
  result<std::vector<cluster_node>> nodes() override {
    auto a = read(nodes_sql, {});
    if (!a) return a.err();
    std::vector<cluster_node> out;
    for (int k = 0; k < a->count(); ++k)
      out.push_back(cluster_node{std::string(a->text(k, 0)), std::string(a->text(k, 1)), a->text(k, 2) == "t",
                                 a->integer(k, 3), a->counted(k, 4)});
    return out;
  }
  result<std::optional<cluster_node>> owner_of(const std::string& pipeline) override {
    auto a = read(owner_sql, {pipeline});
    if (!a) return a.err();
    if (a->count() == 0) return std::optional<cluster_node>();
    return std::optional<cluster_node>(
        cluster_node{std::string(a->text(0, 0)), std::string(a->text(0, 1)), a->text(0, 2) == "t", a->integer(0, 3), 0});
  }
  std::optional<error> leave() override {
    auto a = run(leave_sql, {node_, incarnation_});
    if (!a) return a.err();
    return std::nullopt;
  }
  const std::string& node() const noexcept override { return node_; }

private:
  // One statement; a broken connection is made again first (the database
  // may have restarted), and its errors name the database without a password.
  result<pg::answer> run(const char* sql, std::initializer_list<std::string> params) {
    if (auto why = db_.ensure()) return make_error(errc::journal, "cluster database " + name_ + ": " + *why);
    pg::answer a = db_.run(sql, params);
    if (!a.ok()) return make_error(errc::journal, "cluster database " + name_ + ": " + a.why);
    return a;
  }
  // A statement that changes nothing: tried once more after a reconnect.
  result<pg::answer> read(const char* sql, std::initializer_list<std::string> params) {
    pg::answer a = db_.read(sql, params);
    if (!a.ok()) return make_error(errc::journal, "cluster database " + name_ + ": " + a.why);
    return a;
  }
  result<std::vector<std::string>> column(const char* sql, std::initializer_list<std::string> params) {
    auto a = read(sql, params);
    if (!a) return a.err();
    std::vector<std::string> out;
    out.reserve(static_cast<std::size_t>(a->count()));
    for (int k = 0; k < a->count(); ++k) out.emplace_back(a->text(k, 0));
    return out;
  }

  pg::connection db_;
  std::string name_;  // the URI without its password
  std::string node_, http_, lease_ms_, incarnation_;
};

}  // namespace

result<std::unique_ptr<cluster_membership>> cluster_membership::open(const std::string& uri, std::string node,
                                                                     std::string http, std::int64_t lease_ms) {
  if (!is_postgresql_uri(uri))
    return make_error(errc::journal, "a cluster needs a PostgreSQL journal (postgresql://...), not " + uri);
  auto m = std::make_unique<pg_membership>(uri, std::move(node), std::move(http), lease_ms);
  // The schema is the journal's: opened first, it exists by now.
  return std::unique_ptr<cluster_membership>(std::move(m));
}

}  // namespace dairector
