// Opening the PostgreSQL journal (its schema and version), ownership, meta.
#include <charconv>

#include "dairector/codec.hpp"
#include "dairector/journal/open.hpp"
#include "pg_store.hpp"

namespace dairector {

namespace {

// pg_advisory_xact_lock's key while the schema is created ("DAIR"): two
// servers starting at once on a fresh database create it once.
constexpr const char* schema_lock_sql = "SELECT pg_advisory_xact_lock(1145129298)";

// From the catalog's rows (a fresh snapshot each statement), not its cache:
// a server that waited for the lock sees the schema another one just made.
const char* const meta_exists_sql =
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = 'dairector' AND tablename = 'meta')";

error journal_error(std::string message) { return make_error(errc::journal, std::move(message)); }

// Every table in one transaction, under the advisory lock. The owners and
// nodes tables hold who writes each pipeline (docs/cli.md#postgresql-journal) and the servers' leases.
const char* const schema_sql =
    "CREATE SCHEMA IF NOT EXISTS dairector;"
    "CREATE TABLE dairector.meta(key text PRIMARY KEY, value text NOT NULL);"
    "CREATE TABLE dairector.head(one boolean PRIMARY KEY DEFAULT true CHECK (one), pos bigint NOT NULL);"
    "CREATE TABLE dairector.events(pos bigint PRIMARY KEY, pipeline text NOT NULL, seq bigint NOT NULL,"
    " type text NOT NULL, at_ms bigint NOT NULL, \"by\" text NOT NULL, body text NOT NULL, crc bigint NOT NULL,"
    " UNIQUE(pipeline, seq));"
    "CREATE TABLE dairector.owners(pipeline text PRIMARY KEY, node text NOT NULL, epoch bigint NOT NULL);"
    "CREATE TABLE dairector.nodes(name text PRIMARY KEY, incarnation bigint NOT NULL, http text NOT NULL DEFAULT '',"
    " lease_until timestamptz NOT NULL, stopping boolean NOT NULL DEFAULT false);"
    "INSERT INTO dairector.head VALUES(true, 0);"
    "INSERT INTO dairector.meta VALUES('created_by', 'dairector');";

}  // namespace

pg_journal_store::pg_journal_store(const std::string& uri, journal_options opt, std::vector<std::string> settings)
    : journal_store(redact_journal_name(uri), std::move(opt)),
      db_(uri, std::move(settings), std::chrono::milliseconds(std::max<std::int64_t>(1, opt_.answer_timeout_ms))) {}

result<std::unique_ptr<journal_store>> pg_journal_store::open(const std::string& uri, journal_options opt) {
  std::vector<std::string> settings{"SET client_min_messages = warning"};
  // A commit is acknowledged once durable (full) or once in the server's WAL
  // buffers (normal: a crash of the server may lose the last ones).
  settings.emplace_back(opt.sync == journal_sync::full ? "SET synchronous_commit = on" : "SET synchronous_commit = off");
  if (opt.read_only) settings.emplace_back("SET default_transaction_read_only = on");
  // A writer waits for a lock at most the answer timeout (another writer
  // stopped in the middle of a transaction holds its locks), and a writer
  // that stops in the middle of one loses its session, and so its locks,
  // after as long: nobody waits for a stopped process for ever.
  if (!opt.read_only && opt.answer_timeout_ms > 0) {
    const std::string ms = std::to_string(opt.answer_timeout_ms);
    settings.emplace_back("SET lock_timeout = " + ms);
    settings.emplace_back("SET idle_in_transaction_session_timeout = " + ms);
  }
  const bool read_only = opt.read_only;
  std::unique_ptr<pg_journal_store> j(new pg_journal_store(uri, std::move(opt), std::move(settings)));
  if (auto why = j->db_.ensure()) return j->failure("cannot connect: " + *why);

  // Whether the schema is there, then its version (a statement naming a
  // table that does not exist fails as a whole).
  pg::answer exists = j->db_.run(meta_exists_sql);
  if (!exists.ok()) return j->failure("cannot read its format version: " + exists.why);
  if (exists.text(0, 0) != "t") {
    if (read_only) return make_error(errc::not_found, "journal " + j->path_ + " is empty (nothing was ever written to it)");
    if (auto err = j->create_schema()) return *err;
  }
  pg::answer version = j->db_.run("SELECT value FROM dairector.meta WHERE key = 'format_version'");
  if (!version.ok()) return j->failure("cannot read its format version: " + version.why);
  const std::string_view v = version.count() == 1 ? version.text(0, 0) : std::string_view();
  int n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n < 1)
    return journal_error("journal " + j->path_ + " has a schema 'dairector' that is not a dairector journal");
  if (n > journal_format_version)
    return journal_error("journal " + j->path_ + " has format version " + std::to_string(n) +
                         ", newer than this dairector reads (" + std::to_string(journal_format_version) + ")");
  return std::unique_ptr<journal_store>(std::move(j));
}

std::optional<error> pg_journal_store::create_schema() {
  auto fail = [&](const std::string& why) {
    db_.run("ROLLBACK");
    return failure("cannot create the schema: " + why);
  };
  for (const char* sql : {"BEGIN", schema_lock_sql}) {
    pg::answer a = db_.run(sql);
    if (!a.ok()) return fail(a.why);
  }
  // Another server may have created it while this one waited for the lock.
  pg::answer exists = db_.run(meta_exists_sql);
  if (!exists.ok()) return fail(exists.why);
  if (exists.text(0, 0) != "t") {
    pg::answer a = db_.run(schema_sql);
    if (!a.ok()) return fail(a.why);
    a = db_.run("INSERT INTO dairector.meta VALUES('format_version', $1)", {std::to_string(journal_format_version)});
    if (!a.ok()) return fail(a.why);
  }
  pg::answer done = db_.run("COMMIT");
  if (!done.ok()) return failure("cannot create the schema: " + done.why);
  return std::nullopt;
}

error pg_journal_store::unreadable(const std::string& why) const { return failure("cannot read: " + why); }

// The last durable seq from the rows themselves. A pipeline whose rows do
// not run 1..n, or after whose last row the journal-wide order has a gap,
// takes no more events: its history cannot be trusted.
result<std::uint64_t> pg_journal_store::durable_seq(const std::string& pipeline) {
  pg::answer a = db_.read(
      "SELECT count(*), coalesce(max(seq), 0), coalesce(max(pos), 0) FROM dairector.events WHERE pipeline = $1",
      {pipeline});
  if (!a.ok()) return unreadable(a.why);
  const std::uint64_t events = a.counted(0, 0), last_seq = a.counted(0, 1), last_pos = a.counted(0, 2);
  if (events != last_seq)
    return journal_error("journal " + path_ + " is corrupt: pipeline '" + pipeline + "' has " +
                         std::to_string(events) + " events but its last seq is " + std::to_string(last_seq) +
                         "; it takes no more events");
  if (events > 0) {
    auto gaps = known_gaps();
    if (!gaps) return gaps.err();
    if (const pos_gap* gap = gap_after(last_pos))
      return journal_error("journal " + path_ + " is corrupt: pipeline '" + pipeline + "', event seq " +
                           std::to_string(last_seq + 1) + ": its history may be cut short (" +
                           describe_gap(gap->from, gap->to, "missing") + "), so it takes no more events");
  }
  return last_seq;
}

result<std::shared_ptr<const pipeline_spec>> pg_journal_store::created_spec(const std::string& pipeline) {
  pg::answer a = db_.read("SELECT body FROM dairector.events WHERE pipeline = $1 AND seq = 1", {pipeline});
  if (!a.ok()) return unreadable(a.why);
  if (a.count() == 0) return make_error(errc::not_found, "journal " + path_ + " has no pipeline '" + pipeline + "'");
  auto created = decode_event_text(a.text(0, 0), nullptr);
  if (!created || created->type != event_type::pipeline_created || !created->spec)
    return journal_error("journal " + path_ + " is corrupt: pipeline '" + pipeline +
                         "' does not begin with a readable pipeline_created");
  return created->spec;
}

std::optional<error> pg_journal_store::put_meta(const std::string& key, const std::string& value) {
  if (opt_.read_only) return failure("it is open read-only");
  if (auto why = db_.ensure()) return failure("write failed: " + *why);
  pg::answer a = db_.run(
      "INSERT INTO dairector.meta(key, value) VALUES($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      {key, value});
  if (!a.ok()) return failure("write failed: " + a.why);
  return std::nullopt;
}

result<std::optional<std::string>> pg_journal_store::get_meta(const std::string& key) {
  pg::answer a = db_.read("SELECT value FROM dairector.meta WHERE key = $1", {key});
  if (!a.ok()) return unreadable(a.why);
  if (a.count() == 0) return std::optional<std::string>();
  return std::optional<std::string>(std::string(a.text(0, 0)));
}

// Only from an owner that is gone: this node itself (an earlier process of
// it), nobody (let go), or a node whose lease has run out by the database's
// clock (docs/cluster.md#leases); a live owner keeps it (errc::fenced). The
// new epoch fences whoever held the pipeline: their appends wait for this
// update (they lock the row) and then find it moved on.
result<std::uint64_t> pg_journal_store::own(const std::string& pipeline) {
  if (opt_.read_only) return failure("it is open read-only");
  if (failed_) return failure("it failed earlier; it takes no more writes until reopened");
  pg::answer a = db_.run(
      "INSERT INTO dairector.owners(pipeline, node, epoch)"
      " SELECT $1, $2, 1 WHERE EXISTS (SELECT 1 FROM dairector.events WHERE pipeline = $1 AND seq = 1)"
      " ON CONFLICT (pipeline) DO UPDATE SET node = excluded.node, epoch = dairector.owners.epoch + 1"
      " WHERE dairector.owners.node IN (excluded.node, '') OR NOT EXISTS (SELECT 1 FROM dairector.nodes n"
      "   WHERE n.name = dairector.owners.node AND n.lease_until >= now() AND NOT n.stopping)"
      " RETURNING epoch",
      {pipeline, opt_.owner});
  if (!a.ok()) return failure("cannot take pipeline '" + pipeline + "': " + a.why);
  if (a.count() == 0) {
    pg::answer owner = db_.run("SELECT node FROM dairector.owners WHERE pipeline = $1", {pipeline});
    if (owner.ok() && owner.count() == 1)
      return make_error(errc::fenced, "journal " + path_ + ": pipeline '" + pipeline + "' is owned by '" +
                                          std::string(owner.text(0, 0)) + "', which is live");
    return make_error(errc::not_found, "journal " + path_ + " has no pipeline '" + pipeline + "'");
  }
  const std::uint64_t epoch = a.counted(0, 0);
  epochs_[pipeline] = epoch;
  checker_.forget(pipeline);  // its previous owner may have appended: read its durable seq again
  return epoch;
}

// Keeps the epoch: whoever owns it next gets a higher one. Only if this
// store still holds it (otherwise it is not ours to let go).
std::optional<error> pg_journal_store::disown(const std::string& pipeline) {
  auto it = epochs_.find(pipeline);
  if (it == epochs_.end()) return std::nullopt;
  const std::string epoch = std::to_string(it->second);
  epochs_.erase(it);
  checker_.forget(pipeline);
  pg::answer a = db_.run("UPDATE dairector.owners SET node = '' WHERE pipeline = $1 AND node = $2 AND epoch = $3",
                         {pipeline, opt_.owner, epoch});
  if (!a.ok()) return failure("cannot let go of pipeline '" + pipeline + "': " + a.why);
  return std::nullopt;
}

std::vector<std::string> pg_journal_store::take_fenced() { return std::exchange(fenced_, {}); }

// The database is the whole truth: after a failed write nothing here is
// kept (what was owned is owned again through `own`, by the caller).
std::optional<error> pg_journal_store::reopen() {
  if (auto why = db_.ensure()) return failure("cannot reconnect: " + *why);
  failed_ = false;
  epochs_.clear();
  fenced_.clear();
  checker_ = append_checker();
  return std::nullopt;
}

result<std::unique_ptr<journal_store>> open_postgresql_journal(const std::string& uri, journal_options opt) {
  return pg_journal_store::open(uri, std::move(opt));
}

}  // namespace dairector
