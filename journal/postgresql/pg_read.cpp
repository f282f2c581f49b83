// Reads of the PostgreSQL journal: histories streamed row by row through the
// checks every backend makes (history_checker), the pipelines, and the gaps
// in the journal-wide order.
#include <algorithm>
#include <cstdint>

#include "pg_store.hpp"

namespace dairector {

namespace {

// Every stretch of positions from 1 to head.pos that holds no row, in one
// statement (one snapshot: a commit beside it is wholly in or out): before
// the first row, between rows, and after the last row up to head.pos (a
// missing last row shows, unlike in SQLite).
const char* const gaps_sql =
    "WITH h AS (SELECT pos AS head FROM dairector.head),"
    " first AS (SELECT coalesce(min(pos), (SELECT head FROM h) + 1) AS pos FROM dairector.events),"
    " e AS (SELECT pos, lead(pos) OVER (ORDER BY pos) AS nxt FROM dairector.events)"
    " SELECT 1, first.pos - 1 FROM first WHERE first.pos > 1"
    " UNION ALL"
    " SELECT e.pos + 1, coalesce(e.nxt, h.head + 1) - 1 FROM e, h WHERE coalesce(e.nxt, h.head + 1) > e.pos + 1"
    " ORDER BY 1 LIMIT $1";

const char* const history_sql =
    "SELECT seq, type, at_ms, \"by\", body, crc, pos FROM dairector.events WHERE pipeline = $1 ORDER BY seq";

const char* const events_after_sql =
    "SELECT pos, pipeline, seq, type, at_ms, \"by\", body, crc FROM dairector.events WHERE pos > $1"
    " ORDER BY pos LIMIT $2";

// A row as read, kept until its pipeline's spec is known (the connection
// runs one statement at a time, so specs are looked up after the stream).
struct raw_row {
  std::uint64_t pos = 0, seq = 0;
  std::int64_t at_ms = 0;
  std::uint32_t crc = 0;
  std::string pipeline, type, by, body;
};

}  // namespace

result<std::vector<pg_journal_store::pos_gap>> pg_journal_store::scan_gaps() {
  pg::answer a = db_.read(gaps_sql, {std::to_string(journal_gaps_max + 1)});
  if (!a.ok()) return unreadable(a.why);
  std::vector<pos_gap> out;
  for (int k = 0; k < a.count(); ++k) out.push_back({a.counted(k, 0), a.counted(k, 1)});
  if (out.size() > journal_gaps_max) {
    out.resize(journal_gaps_max);
    out.back().to = 0;  // from the last one told apart to the end
  }
  gaps_ = out;
  return out;
}

result<const std::vector<pg_journal_store::pos_gap>*> pg_journal_store::known_gaps() {
  if (!gaps_) {
    auto scanned = scan_gaps();
    if (!scanned) return scanned.err();
  }
  return &*gaps_;
}

const pg_journal_store::pos_gap* pg_journal_store::gap_after(std::uint64_t pos) const {
  if (!gaps_) return nullptr;
  auto it = std::upper_bound(gaps_->begin(), gaps_->end(), pos,
                             [](std::uint64_t p, const pos_gap& g) { return p < g.from; });
  return it == gaps_->end() ? nullptr : &*it;
}

result<std::vector<event>> pg_journal_store::history(const std::string& pipeline, journal_damage* damage) {
  auto gaps = known_gaps();  // before the rows stream: the connection runs one statement at a time
  if (!gaps) return gaps.err();
  history_checker rows(pipeline);
  std::optional<journal_damage> bad;
  std::uint64_t last_pos = 0;
  const std::string params[] = {pipeline};
  auto why = db_.each_row(history_sql, params, [&](const PGresult* r) {
    bad = rows.add(static_cast<std::uint64_t>(pg::column_integer(r, 0)), pg::column(r, 1), pg::column_integer(r, 2),
                   pg::column(r, 3), pg::column(r, 4), static_cast<std::uint32_t>(pg::column_integer(r, 5)));
    last_pos = static_cast<std::uint64_t>(pg::column_integer(r, 6));
    return !bad;
  });
  if (why) return unreadable(*why);
  if (bad) return damaged(std::move(*bad), damage);
  std::vector<event>& out = rows.events();
  if (out.empty()) return make_error(errc::not_found, "journal " + path_ + " has no pipeline '" + pipeline + "'");
  // Whole as far as its own rows go; a gap after its last row may have taken its later events.
  if (const pos_gap* gap = gap_after(last_pos))
    return damaged(journal_damage{pipeline, out.size() + 1, gap->from, gap->to,
                                  "its history may be cut short: " + describe_gap(gap->from, gap->to, "missing") +
                                      ", after its last readable event (seq " + std::to_string(out.size()) +
                                      " at pos " + std::to_string(last_pos) + ")"},
                   damage);
  if (!opt_.read_only) checker_.remember_spec(pipeline, rows.spec());  // hosted again: appends use the reader's spec
  return std::move(out);
}

result<std::vector<positioned_event>> pg_journal_store::events_after(std::uint64_t after, std::size_t limit) {
  constexpr std::uint64_t bigint_max = INT64_MAX;
  const std::string params[] = {std::to_string(std::min<std::uint64_t>(after, bigint_max)),
                                std::to_string(std::min<std::uint64_t>(limit, bigint_max))};
  std::vector<raw_row> raw;
  auto why = db_.each_row(events_after_sql, params, [&](const PGresult* r) {
    raw.push_back(raw_row{static_cast<std::uint64_t>(pg::column_integer(r, 0)),
                          static_cast<std::uint64_t>(pg::column_integer(r, 2)), pg::column_integer(r, 4),
                          static_cast<std::uint32_t>(pg::column_integer(r, 7)), std::string(pg::column(r, 1)),
                          std::string(pg::column(r, 3)), std::string(pg::column(r, 5)), std::string(pg::column(r, 6))});
    return true;
  });
  if (why) return unreadable(*why);
  position_checker rows(after, [this](const std::string& id) { return created_spec(id); });
  for (const raw_row& r : raw)
    if (auto bad = rows.add(r.pos, r.pipeline, r.seq, r.type, r.at_ms, r.by, r.body, r.crc)) {
      if (rows.failed()) return *rows.failed();
      return damaged(std::move(*bad), nullptr);
    }
  return std::move(rows.events());
}

result<std::vector<journal_damage>> pg_journal_store::gaps() {
  auto scanned = scan_gaps();
  if (!scanned) return scanned.err();
  // How many pipelines each gap makes suspect: those whose last row is
  // before it and after any earlier gap (the earlier one names them).
  std::vector<std::size_t> suspects(scanned->size(), 0);
  if (!scanned->empty()) {
    pg::answer a = db_.read("SELECT max(pos) FROM dairector.events GROUP BY pipeline");
    if (!a.ok()) return unreadable(a.why);
    for (int k = 0; k < a.count(); ++k)
      if (const pos_gap* g = gap_after(a.counted(k, 0))) ++suspects[static_cast<std::size_t>(g - gaps_->data())];
  }
  std::vector<journal_damage> out;
  for (std::size_t k = 0; k < scanned->size(); ++k) {
    const pos_gap& g = (*scanned)[k];
    const std::size_t n = suspects[k];
    std::string reason = describe_gap(g.from, g.to, "missing");
    reason += n == 0 ? std::string("; no pipeline's history ends just before it")
                     : "; " + std::to_string(n) + (n == 1 ? " pipeline" : " pipelines") +
                           " whose history ends just before it may have lost events there";
    out.push_back(journal_damage{"", 0, g.from, g.to, std::move(reason)});
  }
  return out;
}

result<std::vector<pipeline_summary>> pg_journal_store::pipelines() {
  pg::answer a = db_.read(
      "SELECT pipeline, max(seq), coalesce(min(at_ms) FILTER (WHERE seq = 1), min(at_ms)), max(at_ms)"
      " FROM dairector.events GROUP BY pipeline ORDER BY min(pos)");
  if (!a.ok()) return unreadable(a.why);
  std::vector<pipeline_summary> out;
  out.reserve(static_cast<std::size_t>(a.count()));
  for (int k = 0; k < a.count(); ++k)
    out.push_back({std::string(a.text(k, 0)), a.counted(k, 1), a.integer(k, 2), a.integer(k, 3)});
  return out;
}

}  // namespace dairector
