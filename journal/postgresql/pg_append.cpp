// Appends to the PostgreSQL journal: one transaction per batch, with the
// owners of its pipelines locked and compared in it (fencing).
#include <algorithm>
#include <unordered_set>

#include "pg_store.hpp"

namespace dairector {

namespace {

// A transaction that lost a deadlock to another server's (or was chosen as
// a serialization victim) wrote nothing and may simply run again.
constexpr int write_tries_max = 3;

bool retryable(const std::string& state) { return state == "40P01" || state == "40001"; }

// The locks: first the owners rows of the batch's pipelines (in one order
// for everyone), then `head`, which every writer takes, so the positions of
// concurrent commits are handed out one batch after another, without holes.
const char* const lock_owners_sql =
    "SELECT pipeline, node, epoch FROM dairector.owners WHERE pipeline = ANY($1::text[])"
    " ORDER BY pipeline FOR SHARE";
const char* const create_owners_sql =
    "INSERT INTO dairector.owners(pipeline, node, epoch) SELECT p, $2, 1 FROM unnest($1::text[]) AS p"
    " ON CONFLICT (pipeline) DO NOTHING RETURNING pipeline";
// It answers the first position it wrote and how many rows (none: no head row).
const char* const insert_sql =
    "WITH h AS (UPDATE dairector.head SET pos = pos + $1 RETURNING pos - $1 AS base),"
    " i AS (INSERT INTO dairector.events(pos, pipeline, seq, type, at_ms, \"by\", body, crc)"
    " SELECT h.base + u.o, u.p, u.s, u.t, u.a, u.b, u.body, u.c FROM h,"
    " unnest($2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::bigint[])"
    " WITH ORDINALITY AS u(p, s, t, a, b, body, c, o) RETURNING 1)"
    " SELECT (SELECT base FROM h) + 1, (SELECT count(*) FROM i)";

}  // namespace

std::optional<error> pg_journal_store::append(std::span<const event> events) {
  if (opt_.read_only) return failure("it is open read-only");
  if (failed_) return failure("it failed earlier; it takes no more writes until reopened");
  last_append_pos_ = 0;  // until something of this append is durable
  if (events.empty()) return std::nullopt;
  if (auto err = injected_fault(events.size())) return err;
  if (auto err = checker_.prepare(events, *this)) return err;

  std::vector<refusal> fenced;
  std::vector<event> rest;  // the events of the pipelines not fenced, once some are
  std::size_t writing = events.size();
  for (;;) {
    std::vector<refusal> refused;
    if (auto why = write_prepared(refused)) {
      checker_.finish(false);
      failed_ = true;  // memory may now be ahead of the database: stop here
      return failure("write failed: " + *why);
    }
    if (refused.empty()) {
      committed(writing);
      checker_.finish(true);
      break;
    }
    // Nothing of this transaction was written: drop the fenced pipelines'
    // events and write the others' in a new one (at most once per pipeline).
    checker_.finish(false);
    for (const refusal& r : refused) {
      checker_.forget(r.pipeline);
      epochs_.erase(r.pipeline);
      fenced.push_back(r);
    }
    std::unordered_set<std::string> out;
    for (const refusal& r : fenced) out.insert(r.pipeline);
    std::vector<event> kept;
    for (const event& e : events)
      if (!out.count(e.pipeline)) kept.push_back(e);
    rest = std::move(kept);
    if (rest.empty()) break;
    writing = rest.size();
    if (auto err = checker_.prepare(rest, *this)) return err;
  }
  if (fenced.empty()) return std::nullopt;
  std::sort(fenced.begin(), fenced.end(), [](const refusal& x, const refusal& y) { return x.pipeline < y.pipeline; });
  std::string names;
  for (const refusal& r : fenced) {
    names += (names.empty() ? "'" : ", '") + r.pipeline + "' (owner now: " + r.owner + ")";
    fenced_.push_back(r.pipeline);
  }
  const bool one = fenced.size() == 1;
  return make_error(errc::fenced, "journal " + path_ + ": " + (one ? "pipeline " : "pipelines ") + names +
                                      (one ? " is" : " are") + " not this writer's any more; " +
                                      (one ? "its" : "their") + " events were not written (fenced)");
}

std::optional<std::string> pg_journal_store::write_prepared(std::vector<refusal>& refused) {
  const auto& rows = checker_.rows();
  // The batch's pipelines, in order of first appearance, and which it creates.
  std::vector<std::string> ids;
  std::vector<bool> created;
  std::unordered_map<std::string_view, std::size_t> index;
  std::string pipeline = "{", seq = "{", type = "{", at_ms = "{", by = "{", body = "{", crc = "{";
  for (const append_checker::row& r : rows) {
    const event& e = *r.e;
    auto [it, fresh] = index.try_emplace(e.pipeline, ids.size());
    if (fresh) {
      ids.push_back(e.pipeline);
      created.push_back(false);
    }
    if (e.type == event_type::pipeline_created) created[it->second] = true;
    pg::append_text_array_item(pipeline, e.pipeline);
    pg::append_integer_array_item(seq, static_cast<std::int64_t>(e.seq));
    pg::append_text_array_item(type, r.type);
    pg::append_integer_array_item(at_ms, e.at_ms);
    pg::append_text_array_item(by, e.by);
    pg::append_text_array_item(body, r.body);
    pg::append_integer_array_item(crc, static_cast<std::int64_t>(r.crc));
  }
  for (std::string* a : {&pipeline, &seq, &type, &at_ms, &by, &body, &crc}) pg::close_array(*a);
  const std::vector<std::string> insert{std::to_string(rows.size()), pipeline, seq, type, at_ms, by, body, crc};

  std::string why;
  for (int attempt = 1; attempt <= write_tries_max; ++attempt) {
    refused.clear();
    auto abort = [&](const pg::answer& a) {
      why = a.why;
      db_.run("ROLLBACK");
      return retryable(a.state) && attempt < write_tries_max;
    };
    pg::answer a = db_.run("BEGIN");
    if (!a.ok()) return a.why;
    if (auto bad = check_owners(ids, created, refused)) {
      if (abort(*bad)) continue;
      return why;
    }
    if (!refused.empty()) {
      db_.run("ROLLBACK");
      return std::nullopt;
    }
    a = db_.run(insert_sql, insert);
    if (!a.ok()) {
      if (abort(a)) continue;
      return why;
    }
    if (a.count() != 1 || a.counted(0, 1) != rows.size()) {
      db_.run("ROLLBACK");
      return "the journal's head row is missing (the schema was changed from outside)";
    }
    const std::uint64_t first_pos = a.counted(0, 0);
    a = db_.run("COMMIT");
    if (!a.ok()) {
      if (abort(a)) continue;
      return why;
    }
    for (std::size_t k = 0; k < ids.size(); ++k)
      if (created[k]) epochs_[ids[k]] = 1;
    last_append_pos_ = first_pos;
    return std::nullopt;
  }
  return why;
}

// In the transaction: the owners rows of the batch's pipelines, locked until
// it ends (an `own` waits for it, and an append after that `own` sees the
// new epoch). A pipeline the batch creates must have none yet (a second
// store creating the same id at once loses: its pipeline is refused); every
// other one must still be this store's at the epoch it holds.
std::optional<pg::answer> pg_journal_store::check_owners(const std::vector<std::string>& ids,
                                                          const std::vector<bool>& created,
                                                        std::vector<refusal>& refused) {
  std::string list = "{";
  for (const std::string& id : ids) pg::append_text_array_item(list, id);
  pg::close_array(list);
  pg::answer a = db_.run(lock_owners_sql, {list});
  if (!a.ok()) return a;
  std::unordered_map<std::string_view, std::pair<std::string_view, std::uint64_t>> owner;
  for (int k = 0; k < a.count(); ++k) owner[a.text(k, 0)] = {a.text(k, 1), a.counted(k, 2)};
  auto now = [&](const auto& row) {
    const std::string epoch = "at epoch " + std::to_string(row->second.second);
    return row->second.first.empty() ? "nobody, let go " + epoch : std::string(row->second.first) + " " + epoch;
  };
  std::string creating = "{";
  for (std::size_t k = 0; k < ids.size(); ++k) {
    auto row = owner.find(ids[k]);
    if (created[k]) {
      if (row != owner.end()) refused.push_back({ids[k], "created already, " + now(row)});
      else pg::append_text_array_item(creating, ids[k]);
      continue;
    }
    auto held = epochs_.find(ids[k]);
    if (row == owner.end()) refused.push_back({ids[k], "nobody"});
    else if (held == epochs_.end() || row->second.first != opt_.owner || row->second.second != held->second)
      refused.push_back({ids[k], now(row)});
  }
  pg::close_array(creating);
  if (!refused.empty() || creating == "{}") return std::nullopt;
  pg::answer made = db_.run(create_owners_sql, {creating, opt_.owner});
  if (!made.ok()) return made;
  std::unordered_set<std::string_view> mine;
  for (int k = 0; k < made.count(); ++k) mine.insert(made.text(k, 0));
  for (std::size_t k = 0; k < ids.size(); ++k)
    if (created[k] && !mine.count(ids[k])) refused.push_back({ids[k], "created by another writer at the same time"});
  return std::nullopt;
}

}  // namespace dairector
