// The durable journal (docs/design.md#the-journal, rules 4, 5, 8, 9): an SQLite
// file in WAL mode holding every event of every pipeline it serves, one row
// each, never updated or deleted.
//
// On disk (format version 1, frozen; `PRAGMA application_id` marks the file):
//   meta(key, value)        format_version, created_by
//   events(pos, pipeline, seq, type, at_ms, by, body, crc)
//     pos   journal-wide order, gapless from 1 (INTEGER PRIMARY KEY)
//     seq   gapless per pipeline from 1; UNIQUE(pipeline, seq)
//     body  the event as one line of JSON (docs/events.md#the-format, the codec)
//     crc   CRC-32 over pipeline, seq, type, at_ms, by and body, verified on
//           every read: a row that does not match is corruption, never applied
//
// An event is validated before it is written (its pipeline's seq follows on,
// it encodes within event_bytes_max) and after it is read (checksum, decode,
// columns agree with the body, seq continuity). Whether it is legal in its
// pipeline's state is the reducer's question: `replay` folds and checks the
// invariants.
//
// The journal-wide order is checked too: `pos` must run 1, 2, 3, ... A
// missing row leaves a gap whose owner the format cannot name, so every
// pipeline whose last row comes before a gap may have lost its later events
// there: its history is refused (errc::journal naming the gap), never replayed
// as if it were whole. A pipeline with rows after the gap would show a seq gap
// instead, so no other pipeline can have lost a row there. A page of the
// table that SQLite cannot read ("database disk image is malformed") is read
// past, and the index (pipeline, seq, pos) says whose rows it held: exactly
// those pipelines are damaged (if the index cannot be read either, the
// positions count as a gap). A deleted *last* row of the whole journal looks
// exactly like a transaction that never committed (a torn tail) and cannot
// be told apart.
//
// One owner: a store opened for writing holds an exclusive lock on
// `PATH.lock` (a POSIX lock: released when the process dies, even by SIGKILL)
// that names its owner (pid and host, given by the caller); a second writer
// gets an error naming them. On the same open file it also holds an flock,
// which the owner hands to the stage commands it runs (owner_lock_fd): a new
// owner then also waits until no command of a dead one is still running.
// Read-only stores take no lock and work beside a running owner (WAL).
//
// Not thread-safe: one thread (the journal actor) uses a store.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dairector/event.hpp"
#include "dairector/result.hpp"
#include "dairector/state.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace dairector {

inline constexpr int journal_format_version = 1;
/// Gaps in the journal-wide order that are told apart; past this many the
/// last one runs to the end (every pipeline before it is suspect anyway).
inline constexpr std::size_t journal_gaps_max = 1'000;

enum class journal_sync {
  full,    // every commit survives power loss (fsync of the WAL on each commit)
  normal,  // a commit survives a process crash; the last ones may roll back after power loss
};

struct journal_options {
  bool read_only = false;
  journal_sync sync = journal_sync::full;
  /// Who writes, as data (the core reads no process ids): kept in the lock
  /// file and quoted to a second writer, e.g. "pid 4242 on host build-7".
  std::string owner = "an unnamed process";
  /// Test seam (fault injection): an append that would take the events this
  /// store has committed past this many fails as an I/O error would, writing
  /// nothing, and so does every append after it. Counted in events, not
  /// commits, so where the fault lands does not depend on batching. 0: never.
  std::uint64_t fail_after_events = 0;
  /// The previous owner is gone but processes it started (its stage
  /// commands, which end once they notice) still hold the lock: called with
  /// the owner the lock file names before each new try. True: try again
  /// (the caller waits a little first); false: give up with an error
  /// (errc::journal). Unset: give up at once.
  std::function<bool(const std::string& previous_owner)> wait_for_previous_runs = nullptr;
};

/// Hashes std::string and std::string_view alike, so that maps keyed by
/// pipeline id are searched with a view, without a copy.
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

struct pipeline_summary {
  std::string id;
  std::uint64_t seq = 0;  // its last event
};

/// What is wrong in a journal, as data (`journal check`, `serve`): either a
/// pipeline whose history cannot be read or replayed, or a stretch of the
/// journal-wide order that is missing or unreadable (`pipeline` empty).
struct journal_damage {
  std::string pipeline;
  /// The pipeline's first event that is missing, damaged or refused (0 when
  /// not known, e.g. its history could not be counted).
  std::uint64_t seq = 0;
  /// A stretch of the journal-wide order: positions `pos_from` to `pos_to`
  /// (0: to the end). For a pipeline, the gap that makes it suspect, if any.
  std::uint64_t pos_from = 0, pos_to = 0;
  std::string reason;  // a sentence, without the journal's path
};

class journal_store {
public:
  /// Opens (creating when writable and missing) the journal at `path`.
  /// Errors (errc::journal): not a dairector journal, a newer format, owned
  /// by another process ("... is owned by pid N on host H"), I/O.
  static result<std::unique_ptr<journal_store>> open(const std::string& path, journal_options opt = {});
  ~journal_store();
  journal_store(const journal_store&) = delete;
  journal_store& operator=(const journal_store&) = delete;

  /// Writes `events` in one transaction, all or none. Each pipeline's events
  /// must follow on from its last durable seq; a `pipeline_created` must be
  /// its pipeline's seq 1. On an error nothing of the batch is durable.
  std::optional<error> append(std::span<const event> events);

  /// A pipeline's events in seq order, every row verified; errc::not_found
  /// when the journal has no such pipeline; errc::journal (naming the seq)
  /// for a damaged row, a seq gap, a gap in the journal-wide order after its
  /// last event, or a page that cannot be read. On errc::journal `damage`,
  /// when given, receives the same facts as data.
  result<std::vector<event>> history(const std::string& pipeline, journal_damage* damage = nullptr);

  /// `history`, then `replay`: the pipeline's state after its last event
  /// (what recovery starts from). On errc::journal `damage` is filled as for
  /// `history`, with the seq of the event that does not replay.
  result<system_state> replayed(const std::string& pipeline, journal_damage* damage = nullptr);

  /// The stretches of the journal-wide order that are missing or unreadable,
  /// in order (at most `journal_gaps_max`; the last one then runs to the end).
  result<std::vector<journal_damage>> gaps();

  /// All damage: every gap, then every pipeline (in order of creation) whose
  /// history does not read or replay. Empty: the journal is sound.
  result<std::vector<journal_damage>> check();

  /// The pipelines in the journal, in order of creation.
  result<std::vector<pipeline_summary>> pipelines();

  /// Facts about a pipeline that are not events (e.g. the folder its
  /// commands run in, so that `resume` runs them where `run` did).
  std::optional<error> put_meta(const std::string& key, const std::string& value);
  result<std::optional<std::string>> get_meta(const std::string& key);

  /// Successful commits so far (group-commit statistics, the fault seam).
  std::uint64_t commits() const noexcept { return commits_; }
  const std::string& path() const noexcept { return path_; }
  /// The open lock file of a writable store (-1 when read-only): what the
  /// runs it starts must hold open until every process of theirs is dead.
  int owner_lock_fd() const noexcept { return lock_fd_; }

private:
  // Per pipeline, what appends need: its spec (stage names) and last durable
  // seq, each loaded from the table when first needed; and, during one
  // append, the seq its next event must have and a spec created by the batch.
  // The spec is held weakly: whoever appends holds it (a supervisor), and a
  // pipeline nobody hosts any more must not keep its spec here for ever
  // (serve releases finished pipelines). A history read hands its spec over.
  struct pipeline_info {
    const std::string* id = nullptr;  // its key in pipelines_
    std::weak_ptr<const pipeline_spec> spec;
    std::uint64_t durable = 0;
    bool durable_known = false;
    std::uint64_t batch = 0;  // the append that `next`, `held` and `created` belong to
    std::uint64_t next = 0;
    std::uint64_t last_pos = 0;  // of the batch's last row of this pipeline
    std::shared_ptr<const pipeline_spec> held;  // the spec, alive for the batch
    std::shared_ptr<const pipeline_spec> created;
  };
  // Each pipeline's rows as the table itself counts them (one scan, without
  // the index): events, last seq, where its last row is in the journal-wide
  // order, the pipelines in order of creation, and the gaps in that order.
  struct pipeline_count {
    std::uint64_t events = 0, last_seq = 0, last_pos = 0;
  };
  struct pos_gap {
    std::uint64_t from = 0, to = 0;  // to: 0 = to the end
    std::string why;
    std::size_t owners = 0;  // unreadable and attributed: the pipelines the index says had rows there
    bool attributed = false;  // the index says whose rows these were: nobody else is suspect
  };
  struct unreadable_row {
    std::uint64_t seq = 0, pos = 0;  // a pipeline's first row the table cannot read
  };
  struct census {
    std::unordered_map<std::string, pipeline_count, string_hash, std::equal_to<>> by_id;
    std::vector<const std::string*> order;  // keys of by_id (nodes do not move)
    std::vector<pos_gap> gaps;
    std::unordered_map<std::string, unreadable_row, string_hash, std::equal_to<>> unreadable;
  };

  journal_store() = default;
  pipeline_info& info_of(std::string_view pipeline);
  result<std::shared_ptr<const pipeline_spec>> spec_of(const std::string& pipeline);
  std::optional<error> load_durable(const std::string& pipeline, pipeline_info& info);
  result<const census*> counted();
  std::optional<error> scan_rows(census& all);
  std::uint64_t readable_from(std::uint64_t pos);
  void attribute_unreadable(census& all);
  const pos_gap* gap_after(const census& all, std::uint64_t pos) const;
  result<std::vector<event>> read_history(const std::string& pipeline, journal_damage* damage);
  error damaged(journal_damage d, journal_damage* out) const;
  bool step_done(sqlite3_stmt* s);

  std::string path_;
  journal_options opt_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* history_ = nullptr;
  int lock_fd_ = -1;
  std::uint64_t commits_ = 0;
  std::uint64_t events_committed_ = 0;  // by this store, for the fault seam
  std::uint64_t appends_ = 0;  // numbers the appends (pipeline_info::batch)
  bool failed_ = false;  // a commit failed: memory and disk may differ, so no more writes
  std::unordered_map<std::string, pipeline_info, string_hash, std::equal_to<>> pipelines_;
  std::size_t sweep_at_ = 0;  // pipelines_ is swept of pipelines nobody appends to at this size
  std::vector<pipeline_info*> touched_;  // by the append under way (nodes do not move)
  std::string bodies_;                   // the append's encoded events, end to end
  std::vector<std::size_t> body_ends_;
  std::optional<census> counted_;
  std::int64_t counted_version_ = -1;  // a reader's PRAGMA data_version when it counted
};

/// The state after a pipeline's history, with the invariants checked: what
/// recovery, `status` and time travel use. A refused event or a violated
/// invariant is corruption (errc::journal) naming the seq.
result<system_state> replay(std::span<const event> history, std::uint64_t upto_seq = UINT64_MAX);

}  // namespace dairector
