// The durable journal (docs/design.md#the-journal, rules 4, 5, 8, 9): every
// event of every pipeline it serves, in order, never updated or deleted.
//
// This is the interface every backend implements (journal/: SQLite, the
// embedded default, and PostgreSQL, for many servers), and the checks every
// backend makes, so that no backend can skip one:
//   - before a write (append_checker): each pipeline's events follow on from
//     its last durable seq, a pipeline begins with pipeline_created at seq 1,
//     every event encodes within event_bytes_max; the batch is encoded once,
//     as the rows the backend stores (the codec's text and a CRC-32 over the
//     columns, row_crc);
//   - after a read (history_checker): seq continuity, the checksum, the
//     decode, the columns agree with the body, seq 1 is pipeline_created;
//   - whether an event is legal in its pipeline's state is the reducer's
//     question: `replay` folds and checks the invariants.
// A backend also checks the journal-wide order (`pos`, gapless from 1) in
// its own way and reports what is missing or unreadable (`gaps`).
//
// One owner writes a journal (or a pipeline, with PostgreSQL): a backend
// refuses a second writer with errc::journal naming the first.
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

namespace dairector {

/// The format of a PostgreSQL journal (SQLite's has its own: sqlite_journal_format).
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
  /// A backend on a database server (PostgreSQL): how long it waits for the
  /// server to connect or to say anything before it counts the connection
  /// lost, so that a database that hangs fails a write (and the caller's
  /// requests) instead of blocking them. Ignored by SQLite.
  std::int64_t answer_timeout_ms = 30'000;
  /// The format a backend creates a new journal in (0: its newest). Only
  /// SQLite has more than one: 1 for a dairector that reads no newer (an
  /// existing journal keeps its own; `journal upgrade` moves it on).
  int create_format = 0;
};

/// Hashes std::string and std::string_view alike, so that maps keyed by
/// pipeline id are searched with a view, without a copy.
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

/// A committed event and its place in the journal-wide order (`pos`: 1, 2,
/// ... over every pipeline, in commit order; GET /events, docs/http.md).
struct positioned_event {
  std::uint64_t pos = 0;
  event e;
  std::shared_ptr<const pipeline_spec> spec;  // its pipeline's (names its stages: encode_event_text)
};

struct pipeline_summary {
  std::string id;
  std::uint64_t seq = 0;  // its last event
  /// When it was created (its seq 1's `at`) and last changed (the latest
  /// `at` of its events), ms since the Unix epoch: `list`, GET /pipelines.
  std::int64_t created_ms = 0, last_ms = 0;
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

/// The interface of a journal backend. `open_journal` (journal/include/dairector/journal/open.hpp)
/// opens one by name: a file path (SQLite) or a postgresql:// URI.
class journal_store {
public:
  virtual ~journal_store() = default;
  journal_store(const journal_store&) = delete;
  journal_store& operator=(const journal_store&) = delete;

  /// Writes `events` in one transaction, all or none. Each pipeline's events
  /// must follow on from its last durable seq; a `pipeline_created` must be
  /// its pipeline's seq 1. On an error nothing of the batch is durable, and
  /// the store takes no more writes (memory may be ahead of disk).
  virtual std::optional<error> append(std::span<const event> events) = 0;

  /// A pipeline's events in seq order, every row verified; errc::not_found
  /// when the journal has no such pipeline; errc::journal (naming the seq)
  /// for a damaged row, a seq gap, a gap in the journal-wide order after its
  /// last event, or a page that cannot be read. On errc::journal `damage`,
  /// when given, receives the same facts as data.
  virtual result<std::vector<event>> history(const std::string& pipeline, journal_damage* damage = nullptr) = 0;

  /// Every pipeline's events after journal-wide position `after`, in
  /// position order, at most `limit` (fewer: the journal ends there). Each
  /// row is verified as `history` verifies it (checksum, decode with its
  /// pipeline's spec, the columns agree with the body); a position missing
  /// between `after` and the last row read is errc::journal naming it.
  virtual result<std::vector<positioned_event>> events_after(std::uint64_t after, std::size_t limit) = 0;

  /// The journal-wide position of the first event the last successful
  /// `append` wrote (0: none yet, or it wrote nothing). The durable events of
  /// one append are contiguous from there, in the order given (after a
  /// fenced append, those not fenced).
  std::uint64_t last_append_pos() const noexcept { return last_append_pos_; }

  /// `history`, then `replay`: the pipeline's state after its last event
  /// (what recovery starts from). On errc::journal `damage` is filled as for
  /// `history`, with the seq of the event that does not replay.
  result<system_state> replayed(const std::string& pipeline, journal_damage* damage = nullptr);

  /// The stretches of the journal-wide order that are missing or unreadable,
  /// in order (at most `journal_gaps_max`; the last one then runs to the end);
  /// then any damage to a pipeline that only a scan of every row can see (a
  /// backend whose histories are found by a head: rows past it or without one).
  virtual result<std::vector<journal_damage>> gaps() = 0;

  /// All damage: every gap, then every pipeline (in order of creation) whose
  /// history does not read or replay. Empty: the journal is sound.
  result<std::vector<journal_damage>> check();

  /// The pipelines in the journal, in order of creation.
  virtual result<std::vector<pipeline_summary>> pipelines() = 0;

  /// Facts about a pipeline that are not events (e.g. the folder its
  /// commands run in, so that `resume` runs them where `run` did).
  virtual std::optional<error> put_meta(const std::string& key, const std::string& value) = 0;
  virtual result<std::optional<std::string>> get_meta(const std::string& key) = 0;

  /// Successful commits so far (group-commit statistics).
  std::uint64_t commits() const noexcept { return commits_; }
  /// How messages name the journal: a file's path, or a URI without its password.
  const std::string& path() const noexcept { return path_; }
  /// The open lock file of a writable store whose runs must hold it until
  /// every process of theirs is dead (SQLite); -1 when there is none.
  virtual int owner_lock_fd() const noexcept { return -1; }

  /// Ownership where many writers share one journal (PostgreSQL,
  /// docs/cluster.md): every pipeline has one owner and an epoch, and the
  /// backend refuses, in the transaction of the append, events of a
  /// pipeline whose epoch has moved on since this store took it (fencing).
  /// A store that appends a pipeline_created owns that pipeline at epoch 1.
  /// `own` makes this store the owner with a new epoch (the caller decides
  /// when it may: a lease, docs/cluster.md#leases) and returns the epoch.
  /// Where one writer has the whole journal (SQLite, its lock file) every
  /// pipeline is this store's: `own` returns 0 and nothing is ever fenced.
  virtual result<std::uint64_t> own(const std::string& pipeline) {
    (void)pipeline;
    return std::uint64_t{0};
  }
  /// Lets go of a pipeline (a clean hand-over): its next owner need not
  /// wait for a lease to run out.
  virtual std::optional<error> disown(const std::string& pipeline) {
    (void)pipeline;
    return std::nullopt;
  }
  /// After a failed write (the store takes no more): starts over as if just
  /// opened, when the backend can tell what is durable without this
  /// process's memory (a database that was away and is back). Everything
  /// the store knew of its pipelines is forgotten, ownership included: the
  /// caller hosts them again from their histories. Unsupported: an error.
  virtual std::optional<error> reopen() { return failure("it cannot be reopened; restart the process"); }
  /// After an append that failed with errc::fenced: the pipelines whose
  /// events were refused because another store owns them now. The other
  /// pipelines' events of that append are durable, and the store takes
  /// further writes (fencing is not a fault of the store).
  virtual std::vector<std::string> take_fenced() { return {}; }

  /// Retention (`archive`, docs/cli.md#archive): deletes every event of
  /// `pipelines` in one transaction, all or none, and records their
  /// positions as archived in the same transaction, so that the journal-wide
  /// order keeps no gap there (`gaps`, `events_after` step over them) and no
  /// position is ever given again. The caller has written them elsewhere
  /// first. Answers how many events went. Unsupported: an error.
  virtual result<std::uint64_t> remove_pipelines(const std::vector<std::string>& pipelines) {
    (void)pipelines;
    return failure("archiving is not supported on this journal");
  }
  /// Whether remove_pipelines is supported (asked before any file is written).
  virtual bool archives() const noexcept { return false; }

protected:
  journal_store(std::string path, journal_options opt) : path_(std::move(path)), opt_(std::move(opt)) {}

  /// "journal P is corrupt: pipeline 'x', event seq N: reason", with `d` copied to `out`.
  error damaged(journal_damage d, journal_damage* out) const;
  /// An error of this journal: "journal P: what".
  error failure(const std::string& what) const;
  /// The fault seam (journal_options::fail_after_events): an error when an
  /// append of `events` must fail; then every later append fails too.
  std::optional<error> injected_fault(std::size_t events);
  /// Counts a successful commit of `events`.
  void committed(std::size_t events) noexcept {
    ++commits_;
    events_committed_ += events;
  }

  std::string path_;
  journal_options opt_;
  bool failed_ = false;  // a write failed: memory and disk may differ, so no more writes
  std::uint64_t last_append_pos_ = 0;  // see last_append_pos(); set by the backend's append

private:
  std::uint64_t commits_ = 0;
  std::uint64_t events_committed_ = 0;  // by this store, for the fault seam
};

/// The checks and the encoding that precede every backend's write (see the
/// top), and what they remember between appends: per pipeline, its last
/// durable seq and its spec. The spec is held weakly: whoever appends holds
/// it (a supervisor), and a pipeline nobody hosts any more must not keep its
/// spec here for ever (serve releases finished pipelines).
class append_checker {
public:
  /// What the backend knows of a pipeline the checker has not seen (or has let go).
  struct source {
    /// Its last durable seq (0: none yet), or errc::journal when it must take
    /// no more events (its history cannot be trusted).
    virtual result<std::uint64_t> durable_seq(const std::string& pipeline) = 0;
    /// The spec of its (durable) pipeline_created.
    virtual result<std::shared_ptr<const pipeline_spec>> created_spec(const std::string& pipeline) = 0;

  protected:
    ~source() = default;
  };
  /// One event of the batch as a backend stores it.
  struct row {
    const event* e = nullptr;
    const char* type = nullptr;
    std::string_view body;  // the codec's text (valid until the next prepare)
    std::uint32_t crc = 0;  // row_crc over the columns
  };

  /// Checks and encodes the batch, writing nothing; on success `rows()` holds
  /// it. Nothing is taken on until `finish(true)`.
  std::optional<error> prepare(std::span<const event> events, source& src);
  const std::vector<row>& rows() const noexcept { return rows_; }
  /// The prepared batch is durable (`durable`) or not: its seqs and specs
  /// become the pipelines' own, or are forgotten. `last_row(id, durable_seq,
  /// k)` is called for each pipeline the batch touched, with the index of
  /// its last row in `rows()`, after a durable batch.
  void finish(bool durable, const std::function<void(const std::string&, std::uint64_t, std::size_t)>& last_row = nullptr);
  /// A history read by the writer hands its spec over (the pipeline is hosted again).
  void remember_spec(const std::string& pipeline, const std::shared_ptr<const pipeline_spec>& spec);
  /// Forgets what is known of a pipeline (e.g. its ownership moved away).
  void forget(const std::string& pipeline);

private:
  struct pipeline_info {
    const std::string* id = nullptr;  // its key in pipelines_
    std::weak_ptr<const pipeline_spec> spec;
    std::uint64_t durable = 0;
    bool durable_known = false;
    std::uint64_t batch = 0;  // the prepare that `next`, `held`, `created` and `last_row` belong to
    std::uint64_t next = 0;
    std::size_t last_row = 0;
    std::shared_ptr<const pipeline_spec> held;  // the spec, alive for the batch
    std::shared_ptr<const pipeline_spec> created;
  };
  pipeline_info& info_of(std::string_view pipeline);
  void let_go();

  std::unordered_map<std::string, pipeline_info, string_hash, std::equal_to<>> pipelines_;
  std::size_t sweep_at_ = 0;  // pipelines_ is swept of pipelines nobody appends to at this size
  std::uint64_t batches_ = 0;
  std::vector<pipeline_info*> touched_;  // by the batch under way (nodes do not move)
  std::string bodies_;                   // the batch's encoded events, end to end
  std::vector<row> rows_;
};

/// The checks that follow every read of a pipeline's rows (see the top): fed
/// the rows in seq order, it verifies and decodes each.
class history_checker {
public:
  explicit history_checker(std::string pipeline) : pipeline_(std::move(pipeline)) {}
  /// One row: its seq and columns as stored. The damage (pipeline, seq and
  /// reason filled) when it is not the next good event of the history.
  std::optional<journal_damage> add(std::uint64_t seq, std::string_view type, std::int64_t at_ms, std::string_view by,
                                    std::string_view body, std::uint32_t crc);
  std::vector<event>& events() noexcept { return events_; }
  const std::shared_ptr<const pipeline_spec>& spec() const noexcept { return spec_; }

private:
  std::string pipeline_;
  std::vector<event> events_;
  std::shared_ptr<const pipeline_spec> spec_;
};

/// The checks of history_checker for rows read in journal-wide order
/// (events_after), across pipelines: the positions follow on from `after`
/// without a hole, and each row is checked and decoded with its pipeline's
/// spec, asked of `spec_of` once per pipeline (a pipeline created in the
/// rows read brings its own). Positions in `archived` (sorted, as
/// `archived_ranges` keeps them) are stepped over, not missing.
/// The stretches of the journal-wide order whose events were archived
/// (journal_store::remove_pipelines), sorted by `from`, not overlapping.
struct archived_ranges {
  struct range {
    std::uint64_t from = 0, to = 0;  // inclusive
  };
  std::vector<range> ranges;
  /// Calls `missing(a, b)` for each stretch of [from, to] that no range covers.
  void uncovered(std::uint64_t from, std::uint64_t to,
                 const std::function<void(std::uint64_t, std::uint64_t)>& missing) const;
  std::uint64_t last() const noexcept { return ranges.empty() ? 0 : ranges.back().to; }
  /// The sorted positions as ranges (runs of consecutive positions merged).
  static std::vector<range> of_positions(std::vector<std::uint64_t> positions);
};

class position_checker {
public:
  using spec_lookup = std::function<result<std::shared_ptr<const pipeline_spec>>(const std::string& pipeline)>;
  position_checker(std::uint64_t after, spec_lookup spec_of, const archived_ranges* archived = nullptr)
      : next_(after + 1), spec_of_(std::move(spec_of)), archived_(archived) {}
  /// One row as stored. The damage when it is not the next good event; a
  /// spec that cannot be looked up is an error of the journal (`failed`).
  std::optional<journal_damage> add(std::uint64_t pos, std::string_view pipeline, std::uint64_t seq,
                                    std::string_view type, std::int64_t at_ms, std::string_view by,
                                    std::string_view body, std::uint32_t crc);
  std::vector<positioned_event>& events() noexcept { return events_; }
  /// Set when a spec lookup failed other than for damage (the journal could not be read).
  const std::optional<error>& failed() const noexcept { return failed_; }

private:
  std::uint64_t next_;
  spec_lookup spec_of_;
  const archived_ranges* archived_;
  std::unordered_map<std::string, std::shared_ptr<const pipeline_spec>, string_hash, std::equal_to<>> specs_;
  std::vector<positioned_event> events_;
  std::optional<error> failed_;
};

/// CRC-32 over a row's columns in a fixed order, with separators so that
/// moving bytes from one column to the next changes it (format version 1).
std::uint32_t row_crc(std::string_view pipeline, std::uint64_t seq, std::string_view type, std::int64_t at_ms,
                      std::string_view by, std::string_view body);

/// "the event at pos 7 is missing", "the events at pos 9 to 12 are unreadable (...)" (to: 0 = to the end).
std::string describe_gap(std::uint64_t from, std::uint64_t to, const std::string& why);

/// The state after a pipeline's history, with the invariants checked: what
/// recovery, `status` and time travel use. A refused event or a violated
/// invariant is corruption (errc::journal) naming the seq.
result<system_state> replay(std::span<const event> history, std::uint64_t upto_seq = UINT64_MAX);

}  // namespace dairector
