#include "dairector/journal/sqlite.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>

#include <sqlite3.h>

#include "dairector/codec.hpp"
#include "dairector/journal/trace.hpp"

namespace dairector {

namespace {

constexpr int application_id = 0x44414952;  // "DAIR"
// How much of the file reads may map (SQLite's default build caps it at 2 GiB).
constexpr std::int64_t mmap_bytes_max = std::int64_t{1} << 31;
// SQLite's page cache per connection, at most (it grows only as used, a
// malloc and a page fault per page, until it is full; then it recycles).
// Format 1 writes index entries in (pipeline, seq) order: 1,000 pipelines
// side by side keep writing the tails of 1,000 index runs, which stay in the
// cache between commits. Format 2 appends rows in position order and moves
// one `heads` row per pipeline: the pages it keeps writing are the table's
// last ones and the heads (about 1 MB for 10,000 pipelines). A 64 MiB cache
// there only costs memory, and the time to grow into it: in journal_bench's
// 1,000-pipeline runs, whose 2-3 s of writes never fill 64 MiB, the
// committer spent 3.8-4.5 us of CPU an event with it and 3.0-3.8 with 8 MiB
// (4 interleaved A/B pairs). A long-running server grows into it once.
constexpr int cache_kib_format_1 = 64 * 1024;
constexpr int cache_kib_format_2 = 8 * 1024;

// Checkpoints stay at SQLite's default (every 1,000 WAL pages): a longer WAL
// copies the pages that many pipelines keep changing less often, but until
// it first wraps every commit also grows the file, and a sync that must
// commit a new file size cost a lone pipeline's commits 1.4-1.7x in A/B runs.

error journal_error(std::string message) { return make_error(errc::journal, std::move(message)); }

std::string sqlite_message(sqlite3* db) { return db ? sqlite3_errmsg(db) : "cannot allocate a connection"; }

bool is_corrupt(int rc) { return (rc & 0xFF) == SQLITE_CORRUPT || (rc & 0xFF) == SQLITE_NOTADB; }

constexpr std::uint64_t pos_max = std::uint64_t{1} << 62;  // beyond any journal's rows
constexpr const char* gap_missing = "missing";            // pos_gap::why of rows that are not there

// A prepared statement that finalizes itself.
struct statement {
  sqlite3_stmt* s = nullptr;
  statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &s, nullptr); }
  ~statement() { sqlite3_finalize(s); }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  explicit operator bool() const { return s != nullptr; }
};

std::string_view column_text(sqlite3_stmt* s, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i))) : std::string_view();
}

bool exec(sqlite3* db, const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK; }

void size_cache(sqlite3* db, int format) {
  const int kib = format == 1 ? cache_kib_format_1 : cache_kib_format_2;
  exec(db, ("PRAGMA cache_size=-" + std::to_string(kib)).c_str());
}

// The owner lock: a POSIX write lock (fcntl) on PATH.lock, which holds the
// owner's description. Not flock: a flock belongs to the open file, which a
// child forked to run a command shares until its exec, so a SIGKILLed owner's
// lock could outlive it by the child's few milliseconds; a POSIX lock belongs
// to the process alone and goes with it. POSIX locks do not exclude the same
// process, and closing any descriptor of the file drops them, so this
// process's own locks are kept in a table and the file is never opened twice.
//
// The runs lock: an flock on the same open file, which is what a flock
// belongs to. The owner hands the descriptor to every run it starts (the
// runtime's shepherd of a stage command keeps it until every process of the
// run is dead; the command itself never gets it), so it outlives an owner
// killed mid-run for as long as anything that owner started runs. A new
// owner takes both: the POSIX lock says the old owner is gone, the flock
// that its commands are too. Until then it waits (as the caller allows),
// and never starts a stage beside the old owner's run of it.
struct held_lock {
  int fd;
  std::string owner;
};
std::mutex held_mutex;
std::map<std::pair<dev_t, ino_t>, held_lock> held;  // by the lock file's identity

std::string lock_path_of(const std::string& path) { return path + ".lock"; }

error owned_by(const std::string& path, std::string other) {
  while (!other.empty() && (other.back() == '\n' || other.back() == ' ')) other.pop_back();
  if (other.empty()) other = "unknown";
  return make_error(errc::owned, "journal " + path + " is owned by another process (" + other +
                                     "); only one process may write to it");
}

// Waits (as `opt` allows) until no run of a previous owner holds the runs lock.
std::optional<error> take_runs_lock(int fd, const std::string& path, const journal_options& opt) {
  for (;;) {
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return std::nullopt;
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK)
      return journal_error("cannot lock the journal's lock file " + lock_path_of(path) + ": " + std::strerror(errno));
    char buf[512] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    std::string previous = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    while (!previous.empty() && (previous.back() == '\n' || previous.back() == ' ')) previous.pop_back();
    if (previous.empty()) previous = "unknown";
    if (opt.wait_for_previous_runs && opt.wait_for_previous_runs(previous)) continue;
    return journal_error("journal " + path + ": processes that its previous owner (" + previous +
                         ", no longer running) started are still running; they end once they notice their owner "
                         "is gone: try again in a moment");
  }
}

result<int> take_owner_lock(const std::string& path, const journal_options& opt) {
  const std::string& owner = opt.owner;
  const std::string lock_path = lock_path_of(path);
  std::lock_guard<std::mutex> guard(held_mutex);
  struct stat st {};
  if (::stat(lock_path.c_str(), &st) == 0) {
    if (auto it = held.find({st.st_dev, st.st_ino}); it != held.end()) return owned_by(path, it->second.owner);
  }
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return journal_error("cannot open the journal's lock file " + lock_path + ": " + std::strerror(errno));
  struct flock lk {};
  lk.l_type = F_WRLCK;
  lk.l_whence = SEEK_SET;
  if (::fcntl(fd, F_SETLK, &lk) != 0) {
    char buf[512] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);  // holds no lock of ours: the table said so
    return owned_by(path, n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string());
  }
  if (auto err = take_runs_lock(fd, path, opt)) {
    ::close(fd);  // holds no lock of ours: the table said so
    return *err;
  }
  const std::string me = owner + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size())) {
    ::close(fd);
    return journal_error("cannot write the journal's lock file " + lock_path + ": " + std::strerror(errno));
  }
  if (::fstat(fd, &st) == 0) held[{st.st_dev, st.st_ino}] = held_lock{fd, owner};
  return fd;
}

void release_owner_lock(int fd) {
  std::lock_guard<std::mutex> guard(held_mutex);
  for (auto it = held.begin(); it != held.end(); ++it)
    if (it->second.fd == fd) {
      held.erase(it);
      break;
    }
  ::close(fd);  // releases the lock
}

// One read transaction around `read`: what it counts and the rows it reads
// are the same snapshot even while a writer commits beside us.
template <class Read>
auto in_read_transaction(sqlite3* db, const std::string& path, Read read) -> decltype(read()) {
  if (!exec(db, "BEGIN")) return journal_error("journal " + path + ": cannot read: " + sqlite_message(db));
  auto out = read();
  exec(db, "COMMIT");
  return out;
}

// A pipeline's row in heads (format 2): where its chain of events begins
// and ends, and the times `pipelines()` lists.
struct head {
  std::uint64_t first_pos = 0, last_pos = 0, last_seq = 0;
  std::int64_t created_ms = 0, last_ms = 0;
};

// The checksum of a head: row_crc's over the columns a writer and a reader
// rely on (pipeline, last_seq, first_pos, last_pos), type "head".
std::uint32_t head_crc(std::string_view pipeline, const head& h) {
  return row_crc(pipeline, h.last_seq, "head", static_cast<std::int64_t>(h.first_pos), "",
                 std::to_string(h.last_pos));
}

// Format 2's tables (sqlite.hpp).
constexpr const char* events_2_schema =
    "CREATE TABLE events(pos INTEGER PRIMARY KEY, pipeline TEXT NOT NULL, seq INTEGER NOT NULL,"
    " prev INTEGER NOT NULL, type TEXT NOT NULL, at_ms INTEGER NOT NULL, by TEXT NOT NULL, body TEXT NOT NULL,"
    " crc INTEGER NOT NULL);";
constexpr const char* heads_schema =
    "CREATE TABLE heads(first_pos INTEGER PRIMARY KEY, pipeline TEXT NOT NULL UNIQUE, last_pos INTEGER NOT NULL,"
    " last_seq INTEGER NOT NULL, created_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL, crc INTEGER NOT NULL);";

// Binds a new pipeline's head to an INSERT INTO heads(first_pos, pipeline,
// last_pos, last_seq, created_ms, last_ms, crc) VALUES(?, ..., ?).
void bind_new_head(sqlite3_stmt* st, std::string_view pipeline, const head& h) {
  sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(h.first_pos));
  sqlite3_bind_text(st, 2, pipeline.data(), static_cast<int>(pipeline.size()), SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 3, static_cast<sqlite3_int64>(h.last_pos));
  sqlite3_bind_int64(st, 4, static_cast<sqlite3_int64>(h.last_seq));
  sqlite3_bind_int64(st, 5, h.created_ms);
  sqlite3_bind_int64(st, 6, h.last_ms);
  sqlite3_bind_int64(st, 7, static_cast<sqlite3_int64>(head_crc(pipeline, h)));
}
constexpr const char* head_insert =
    "INSERT INTO heads(first_pos, pipeline, last_pos, last_seq, created_ms, last_ms, crc) VALUES(?, ?, ?, ?, ?, ?, ?)";

// Heads a writer keeps between appends, at most (then it reads them again).
constexpr std::size_t heads_cached_max = 100'000;

}  // namespace

class sqlite_journal_store final : public journal_store, private append_checker::source {
public:
  static result<std::unique_ptr<journal_store>> open(const std::string& path, journal_options opt);
  ~sqlite_journal_store() override;

  std::optional<error> append(std::span<const event> events) override;
  result<std::vector<event>> history(const std::string& pipeline, journal_damage* damage = nullptr) override;
  result<std::vector<positioned_event>> events_after(std::uint64_t after, std::size_t limit) override;
  result<std::vector<journal_damage>> gaps() override;
  result<std::vector<pipeline_summary>> pipelines() override;
  std::optional<error> put_meta(const std::string& key, const std::string& value) override;
  result<std::optional<std::string>> get_meta(const std::string& key) override;
  int owner_lock_fd() const noexcept override { return lock_fd_; }
  result<std::uint64_t> remove_pipelines(const std::vector<std::string>& pipelines) override;
  bool archives() const noexcept override { return true; }

  // upgrade_sqlite_journal's work, on a store open to write.
  result<journal_upgrade> upgrade();

private:
  // Each pipeline's rows as the table itself counts them (one scan, without
  // the index): events, last seq, where its last row is in the journal-wide
  // order, the pipelines in order of creation, and the gaps in that order.
  struct pipeline_count {
    std::uint64_t events = 0, last_seq = 0, last_pos = 0;
    std::int64_t created_ms = 0, last_ms = INT64_MIN;  // pipeline_summary's (read with the rows: no fold)
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
    archived_ranges archived;  // positions whose events were archived: not gaps
  };

  sqlite_journal_store(const std::string& path, journal_options opt) : journal_store(path, std::move(opt)) {}
  // append_checker::source
  result<std::uint64_t> durable_seq(const std::string& pipeline) override;
  result<std::shared_ptr<const pipeline_spec>> created_spec(const std::string& pipeline) override;

  result<const census*> counted();
  std::optional<error> scan_rows(census& all);
  std::optional<error> read_archived(archived_ranges& out);
  result<std::uint64_t> next_pos();
  std::uint64_t readable_from(std::uint64_t pos);
  void attribute_unreadable(census& all);
  const pos_gap* gap_after(const census& all, std::uint64_t pos) const;
  result<std::vector<event>> read_history(const std::string& pipeline, journal_damage* damage);
  bool step_done(sqlite3_stmt* s);
  bool prepare_statements();

  // Format 2: heads and chains.
  result<std::optional<head>> read_head(const std::string& pipeline, journal_damage* damage = nullptr);
  result<std::vector<event>> walk_history(const std::string& pipeline, journal_damage* damage);
  // One hop of a chain (see follow()).
  enum class hop { linked, missing, unreadable, failed, foreign, unlinked };
  hop follow(const std::string& pipeline, const head& h, std::uint64_t pos, std::uint64_t seq, std::uint64_t& prev);
  result<std::vector<std::uint64_t>> chain_positions(const std::string& pipeline, const head& h);
  void remember_head(std::string_view pipeline, const head& h);
  std::optional<std::string> write_heads();  // what went wrong
  std::optional<error> heads_beside_rows(const census& all, std::vector<journal_damage>& out);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* history_ = nullptr;
  sqlite3_stmt* head_of_ = nullptr;    // format 2: a pipeline's head
  sqlite3_stmt* row_at_ = nullptr;     // format 2: the row at a pos
  sqlite3_stmt* head_new_ = nullptr;   // format 2: a new pipeline's head
  sqlite3_stmt* head_move_ = nullptr;  // format 2: a head moved on by an append
  int format_ = 0;
  int lock_fd_ = -1;
  // Format 2, the writer's: heads as of the last commit (a cache; bounded),
  // and those of the append under way (keys: views of its events' ids).
  std::unordered_map<std::string, head, string_hash, std::equal_to<>> heads_;
  std::unordered_map<std::string_view, std::pair<head, bool>> batch_heads_;  // bool: new in this batch
  append_checker checker_;
  std::vector<std::uint64_t> row_pos_;  // the append's rows' positions
  std::uint64_t next_pos_ = 0;  // the position the next row gets (0: not read yet)
  std::optional<census> counted_;
  std::int64_t counted_version_ = -1;  // a reader's PRAGMA data_version when it counted
};

result<std::unique_ptr<journal_store>> sqlite_journal_store::open(const std::string& path, journal_options opt) {
  // SQLite counts every allocation under one process-wide mutex unless told
  // not to, before it first initializes (later, the call changes nothing).
  static const bool configured = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;
  (void)configured;
  std::unique_ptr<sqlite_journal_store> j(new sqlite_journal_store(path, opt));
  if (!opt.read_only) {
    auto fd = take_owner_lock(path, opt);
    if (!fd) return fd.err();
    j->lock_fd_ = *fd;
  }
  const int flags = opt.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (sqlite3_open_v2(path.c_str(), &j->db_, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK)
    return journal_error("cannot open journal " + path + ": " + sqlite_message(j->db_));
  sqlite3_extended_result_codes(j->db_, 1);
  // A reader waits out a writer's checkpoint rather than failing at once.
  sqlite3_busy_timeout(j->db_, 5000);
  // Reads map the file instead of copying each page into SQLite's cache
  // (pread): a history's rows lie on as many pages as it has events when
  // pipelines ran side by side, so recovery would copy every page once per
  // pipeline on it. Writes still go to the WAL through write(); SQLite caps
  // the size at its compile-time limit.
  exec(j->db_, ("PRAGMA mmap_size=" + std::to_string(mmap_bytes_max)).c_str());

  auto fail = [&](const std::string& what) {
    return journal_error("journal " + path + ": " + what + ": " + sqlite_message(j->db_));
  };
  int app_id = 0, user_version = 0;
  {
    statement s(j->db_, "PRAGMA application_id");
    if (!s || sqlite3_step(s.s) != SQLITE_ROW) {
      // A writer killed while creating the file leaves a hot rollback journal
      // that only a writer may roll back; nothing was ever written to it.
      if (opt.read_only && sqlite3_extended_errcode(j->db_) == SQLITE_READONLY_ROLLBACK)
        return make_error(errc::not_found, "journal " + path + " holds no pipeline (its creation was interrupted "
                                               "before anything was written to it)");
      return fail("cannot read it (is it an SQLite file?)");
    }
    app_id = sqlite3_column_int(s.s, 0);
  }
  {
    statement s(j->db_, "PRAGMA user_version");
    if (!s || sqlite3_step(s.s) != SQLITE_ROW) return fail("cannot read its format version");
    user_version = sqlite3_column_int(s.s, 0);
  }
  const bool fresh = app_id == 0 && user_version == 0;
  if (fresh) {
    statement s(j->db_, "SELECT count(*) FROM sqlite_master");
    if (!s || sqlite3_step(s.s) != SQLITE_ROW) return fail("cannot read its schema");
    if (sqlite3_column_int(s.s, 0) != 0)
      return journal_error("journal " + path + " is an SQLite database but not a dairector journal");
    if (opt.read_only) return make_error(errc::not_found, "journal " + path + " is empty (nothing was ever written to it)");
  } else if (app_id != application_id) {
    return journal_error("journal " + path + " is an SQLite database but not a dairector journal");
  } else if (user_version > sqlite_journal_format) {
    return journal_error("journal " + path + " has format version " + std::to_string(user_version) +
                         ", newer than this dairector reads (" + std::to_string(sqlite_journal_format) + ")");
  } else if (user_version < 1) {
    return journal_error("journal " + path + " has format version " + std::to_string(user_version) +
                         ", which no dairector wrote");
  }
  j->format_ = fresh ? (opt.create_format == 0 ? sqlite_journal_format : opt.create_format) : user_version;
  if (j->format_ < 1 || j->format_ > sqlite_journal_format)
    return journal_error("journal " + path + ": cannot create format " + std::to_string(j->format_) +
                         " (this dairector writes 1 to " + std::to_string(sqlite_journal_format) + ")");
  size_cache(j->db_, j->format_);
  if (!opt.read_only) {
    // WAL: readers beside the writer; FULL: a commit survives power loss.
    if (!exec(j->db_, "PRAGMA journal_mode=WAL")) return fail("cannot switch to WAL mode");
    const char* sync = opt.sync == journal_sync::full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
    if (!exec(j->db_, sync)) return fail("cannot set synchronous");
    if (fresh) {
      const std::string version = std::to_string(j->format_);
      const std::string tables =
          j->format_ == 1
              ? "CREATE TABLE events(pos INTEGER PRIMARY KEY, pipeline TEXT NOT NULL, seq INTEGER NOT NULL,"
                " type TEXT NOT NULL, at_ms INTEGER NOT NULL, by TEXT NOT NULL, body TEXT NOT NULL,"
                " crc INTEGER NOT NULL, UNIQUE(pipeline, seq));"
              : std::string(events_2_schema) + heads_schema;
      const std::string schema = "BEGIN IMMEDIATE;"
                                 "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);" +
                                 tables +
                                 "INSERT INTO meta VALUES('format_version', '" + version +
                                 "');"
                                 "INSERT INTO meta VALUES('created_by', 'dairector');"
                                 "PRAGMA application_id=" +
                                 std::to_string(application_id) + ";PRAGMA user_version=" + version + ";COMMIT;";
      if (!exec(j->db_, schema.c_str())) {
        exec(j->db_, "ROLLBACK");
        return fail("cannot create the schema");
      }
    }
  }
  if (!j->prepare_statements()) return fail(opt.read_only ? "cannot prepare the reads" : "cannot prepare the writes");
  return std::unique_ptr<journal_store>(std::move(j));
}

bool sqlite_journal_store::prepare_statements() {
  auto prepare = [&](const char* sql, sqlite3_stmt** out) {
    sqlite3_finalize(*out);
    *out = nullptr;
    return sqlite3_prepare_v2(db_, sql, -1, out, nullptr) == SQLITE_OK;
  };
  if (!opt_.read_only) {
    const char* insert = format_ == 1 ? "INSERT INTO events(pos, pipeline, seq, type, at_ms, by, body, crc)"
                                        " VALUES(?8, ?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                                      : "INSERT INTO events(pos, pipeline, seq, type, at_ms, by, body, crc, prev)"
                                        " VALUES(?8, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?9)";
    if (!prepare(insert, &insert_) || !prepare("BEGIN IMMEDIATE", &begin_) || !prepare("COMMIT", &commit_))
      return false;
    if (format_ >= 2 &&
        (!prepare(head_insert, &head_new_) ||
         !prepare("UPDATE heads SET last_pos = ?, last_seq = ?, last_ms = ?, crc = ? WHERE first_pos = ?",
                  &head_move_)))
      return false;
  }
  if (format_ == 1)
    return prepare("SELECT seq, type, at_ms, by, body, crc FROM events WHERE pipeline = ? ORDER BY seq", &history_);
  return prepare("SELECT first_pos, last_pos, last_seq, created_ms, last_ms, crc FROM heads WHERE pipeline = ?",
                 &head_of_) &&
         prepare("SELECT pipeline, seq, prev, type, at_ms, by, body, crc FROM events WHERE pos = ?", &row_at_);
}

sqlite_journal_store::~sqlite_journal_store() {
  for (sqlite3_stmt* st : {insert_, begin_, commit_, history_, head_of_, row_at_, head_new_, head_move_})
    sqlite3_finalize(st);
  sqlite3_close_v2(db_);
  if (lock_fd_ >= 0) release_owner_lock(lock_fd_);
}

// The last durable seq from the table's own count, not the index's (a
// damaged index could hide the end of a history, and a writer would reuse
// its seqs). A pipeline that may have lost events (a gap in the journal-wide
// order after its last row) takes no more: its history cannot be trusted.
result<std::uint64_t> sqlite_journal_store::durable_seq(const std::string& pipeline) {
  if (format_ >= 2) {
    // Its head, read in the append's transaction (format 2: no scan).
    auto h = read_head(pipeline);
    if (!h) return h.err();
    if (!*h) return std::uint64_t{0};
    // Its last row must be there: a pipeline whose end is lost takes no more.
    std::uint64_t prev = 0;
    const hop last = follow(pipeline, **h, (*h)->last_pos, (*h)->last_seq, prev);
    sqlite3_reset(row_at_);
    if (last != hop::linked && last != hop::unlinked)
      return journal_error("journal " + path_ + " is corrupt: pipeline '" + pipeline + "', event seq " +
                           std::to_string((*h)->last_seq) + ": its last event (at pos " +
                           std::to_string((*h)->last_pos) + ") is missing or unreadable; it takes no more events");
    remember_head(pipeline, **h);
    return (*h)->last_seq;
  }
  auto all = counted();
  if (!all) return all.err();
  pipeline_count count;
  if (auto it = (*all)->by_id.find(pipeline); it != (*all)->by_id.end()) count = it->second;
  if (count.events != count.last_seq || (*all)->unreadable.count(pipeline))
    return journal_error("journal " + path_ + " is corrupt: pipeline '" + pipeline + "' has " +
                         std::to_string(count.events) + " readable events but its last seq is " +
                         std::to_string(count.last_seq) + "; it takes no more events");
  if (count.events > 0)
    if (const pos_gap* gap = gap_after(**all, count.last_pos))
      return journal_error("journal " + path_ + " is corrupt: pipeline '" + pipeline + "', event seq " +
                           std::to_string(count.last_seq + 1) + ": its history may be cut short (" +
                           describe_gap(gap->from, gap->to, gap->why) + "), so it takes no more events");
  return count.last_seq;
}

result<std::shared_ptr<const pipeline_spec>> sqlite_journal_store::created_spec(const std::string& pipeline) {
  statement s(db_, format_ == 1 ? "SELECT body FROM events WHERE pipeline = ? AND seq = 1"
                                : "SELECT e.body FROM heads h JOIN events e ON e.pos = h.first_pos"
                                  " WHERE h.pipeline = ?1 AND e.pipeline = ?1 AND e.seq = 1");
  if (!s) return journal_error("journal " + path_ + ": " + sqlite_message(db_));
  sqlite3_bind_text(s.s, 1, pipeline.data(), static_cast<int>(pipeline.size()), SQLITE_STATIC);
  if (sqlite3_step(s.s) != SQLITE_ROW)
    return make_error(errc::not_found, "journal " + path_ + " has no pipeline '" + pipeline + "'");
  auto created = decode_event_text(column_text(s.s, 0), nullptr);
  if (!created || created->type != event_type::pipeline_created || !created->spec)
    return journal_error("journal " + path_ + " is corrupt: pipeline '" + pipeline +
                         "' does not begin with a readable pipeline_created");
  return created->spec;
}

bool sqlite_journal_store::step_done(sqlite3_stmt* s) {
  const int rc = sqlite3_step(s);
  sqlite3_reset(s);
  return rc == SQLITE_DONE;
}

std::optional<error> sqlite_journal_store::append(std::span<const event> events) {
  if (opt_.read_only) return failure("it is open read-only");
  if (failed_) return failure("it failed earlier; it takes no more writes until reopened");
  last_append_pos_ = 0;  // until something of this append is durable
  if (events.empty()) return std::nullopt;
  if (auto err = injected_fault(events.size())) return err;
  if (auto err = checker_.prepare(events, *this)) return err;

  // Nothing of the batch is written; the store takes no more writes.
  auto abandon = [&](error err) {
    sqlite3_reset(insert_);
    if (!sqlite3_get_autocommit(db_)) exec(db_, "ROLLBACK");
    checker_.finish(false);
    batch_heads_.clear();
    failed_ = true;  // memory may now be ahead of disk: stop here (the pipeline refuses starts)
    return err;
  };
  // `what`, and SQLite's word on it unless `whole`.
  auto fail = [&](const std::string& what, bool whole = false) {
    return abandon(failure(whole ? what : what + ": " + sqlite_message(db_)));
  };
  if (!step_done(begin_)) return fail("cannot begin a transaction");
  // Positions are given here, not by SQLite (which gives max + 1): archived
  // positions past the last row must never be given again (docs/http.md#get-events).
  auto pos = next_pos();
  if (!pos) {
    exec(db_, "ROLLBACK");
    checker_.finish(false);
    failed_ = true;
    return pos.err();
  }
  row_pos_.clear();
  batch_heads_.clear();
  for (const append_checker::row& r : checker_.rows()) {
    const event& e = *r.e;
    const std::uint64_t row_pos = *pos + row_pos_.size();
    if (format_ >= 2) {
      // The row's link to its pipeline's previous one, and the head it moves.
      auto [it, fresh] = batch_heads_.try_emplace(std::string_view(e.pipeline));
      if (fresh && e.seq > 1) {
        if (auto c = heads_.find(e.pipeline); c != heads_.end()) {
          it->second = {c->second, false};
        } else {
          auto h = read_head(e.pipeline);
          if (!h) return abandon(h.err());
          if (!*h) return fail("pipeline '" + e.pipeline + "' has no head", true);
          it->second = {**h, false};
        }
      }
      head& h = it->second.first;
      if (e.seq != h.last_seq + 1)
        return fail("pipeline '" + e.pipeline + "', event seq " + std::to_string(e.seq) +
                        ": its head says its last seq is " + std::to_string(h.last_seq),
                    true);
      sqlite3_bind_int64(insert_, 9, static_cast<sqlite3_int64>(e.seq == 1 ? 0 : h.last_pos));
      if (e.seq == 1) {
        it->second.second = true;
        h.first_pos = row_pos;
        h.created_ms = h.last_ms = e.at_ms;
      }
      h.last_pos = row_pos;
      h.last_seq = e.seq;
      h.last_ms = std::max(h.last_ms, e.at_ms);
    }
    sqlite3_bind_text(insert_, 1, e.pipeline.data(), static_cast<int>(e.pipeline.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 2, static_cast<sqlite3_int64>(e.seq));
    sqlite3_bind_text(insert_, 3, r.type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 4, e.at_ms);
    sqlite3_bind_text(insert_, 5, e.by.data(), static_cast<int>(e.by.size()), SQLITE_STATIC);
    sqlite3_bind_text(insert_, 6, r.body.data(), static_cast<int>(r.body.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 7, r.crc);
    sqlite3_bind_int64(insert_, 8, static_cast<sqlite3_int64>(row_pos));
    if (!step_done(insert_)) return fail("write failed");
    row_pos_.push_back(row_pos);
  }
  if (format_ >= 2)
    if (auto why = write_heads()) return fail(*why, true);
  trace::mark(trace::point::sync_began);
  if (!step_done(commit_)) return fail("commit failed");
  next_pos_ = *pos + row_pos_.size();
  committed(events.size());
  for (const auto& [id, h] : batch_heads_) remember_head(id, h.first);
  batch_heads_.clear();
  last_append_pos_ = row_pos_.front();
  checker_.finish(true, [&](const std::string& id, std::uint64_t durable, std::size_t last_row) {
    if (!counted_) return;
    auto [it, fresh] = counted_->by_id.try_emplace(id);
    if (fresh) counted_->order.push_back(&it->first);
    it->second.events = it->second.last_seq = durable;
    it->second.last_pos = row_pos_[last_row];
  });
  if (counted_) {
    // The times `pipelines()` lists, kept with the count (no fold): one
    // lookup per run of rows of the same pipeline.
    pipeline_count* c = nullptr;
    const std::string* of = nullptr;
    for (const event& e : events) {
      if (!of || e.pipeline != *of) {
        auto it = counted_->by_id.find(e.pipeline);
        if (it == counted_->by_id.end()) continue;
        c = &it->second;
        of = &it->first;
      }
      if (e.seq == 1) c->created_ms = e.at_ms;
      c->last_ms = std::max(c->last_ms, e.at_ms);
    }
  }
  return std::nullopt;
}

// The heads the append under way moved, in its transaction.
std::optional<std::string> sqlite_journal_store::write_heads() {
  for (const auto& [id, entry] : batch_heads_) {
    const head& h = entry.first;
    sqlite3_stmt* st = entry.second ? head_new_ : head_move_;
    if (entry.second) {
      bind_new_head(st, id, h);
    } else {
      sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(h.last_pos));
      sqlite3_bind_int64(st, 2, static_cast<sqlite3_int64>(h.last_seq));
      sqlite3_bind_int64(st, 3, h.last_ms);
      sqlite3_bind_int64(st, 4, static_cast<sqlite3_int64>(head_crc(id, h)));
      sqlite3_bind_int64(st, 5, static_cast<sqlite3_int64>(h.first_pos));
    }
    if (!step_done(st)) return "cannot write the head of pipeline '" + std::string(id) + "': " + sqlite_message(db_);
    if (sqlite3_changes(db_) != 1)
      return "pipeline '" + std::string(id) + "' has no head at pos " + std::to_string(h.first_pos);
  }
  return std::nullopt;
}

// The table's own count of every pipeline's rows, in one scan without the
// index: the CRCs protect rows, not the index that finds them, and a damaged
// index could otherwise hide the end of a history (and a writer would reuse
// its seqs). A writer keeps the count up to date with its own commits; a
// reader beside a writer counts again only when another connection has
// committed since (PRAGMA data_version), inside the caller's read
// transaction, so the count and the rows are one snapshot.
result<const sqlite_journal_store::census*> sqlite_journal_store::counted() {
  if (opt_.read_only) {
    statement v(db_, "PRAGMA data_version");
    if (!v || sqlite3_step(v.s) != SQLITE_ROW)
      return journal_error("journal " + path_ + ": cannot read: " + sqlite_message(db_));
    const std::int64_t version = sqlite3_column_int64(v.s, 0);
    if (version != counted_version_) counted_.reset();
    counted_version_ = version;
  }
  if (!counted_) {
    census all;
    if (auto err = scan_rows(all)) return *err;
    counted_ = std::move(all);
  }
  return &*counted_;
}

// Rows come in pos order (the table's own b-tree), so a pipeline's first row
// is its creation and a jump in pos is a gap. A page SQLite cannot read stops
// the scan; it goes on from the first position that can be read again, and
// the positions in between count as a gap (their rows, if any, are lost to
// us) rather than hiding everything after them.
std::optional<error> sqlite_journal_store::scan_rows(census& all) {
  statement s(db_, "SELECT pos, pipeline, seq, at_ms FROM events NOT INDEXED WHERE pos >= ?");
  if (!s) return journal_error("journal " + path_ + ": cannot read: " + sqlite_message(db_));
  auto add_gap = [&](std::uint64_t from, std::uint64_t to, std::string why) {
    if (all.gaps.size() == journal_gaps_max) {
      all.gaps.back().to = 0;  // from the last one told apart to the end
      return;
    }
    all.gaps.push_back({from, to, std::move(why)});
  };
  if (auto err = read_archived(all.archived)) return err;
  std::uint64_t next = 1;  // the pos the next row must have
  while (next > 0 && next < pos_max && (all.gaps.empty() || all.gaps.back().to != 0)) {
    sqlite3_reset(s.s);
    sqlite3_bind_int64(s.s, 1, static_cast<sqlite3_int64>(next));
    int rc = SQLITE_OK;
    while ((rc = sqlite3_step(s.s)) == SQLITE_ROW) {
      const auto pos = static_cast<std::uint64_t>(sqlite3_column_int64(s.s, 0));
      if (pos < next) {  // out of order: garbage a damaged page passed for rows
        rc = SQLITE_CORRUPT;
        break;
      }
      if (pos > next)
        all.archived.uncovered(next, pos - 1, [&](std::uint64_t a, std::uint64_t b) { add_gap(a, b, gap_missing); });
      const std::string_view id = column_text(s.s, 1);
      auto it = all.by_id.find(id);
      if (it == all.by_id.end()) {
        it = all.by_id.emplace(std::string(id), pipeline_count{}).first;
        all.order.push_back(&it->first);
      }
      ++it->second.events;
      const auto seq = static_cast<std::uint64_t>(sqlite3_column_int64(s.s, 2));
      const std::int64_t at_ms = sqlite3_column_int64(s.s, 3);
      it->second.last_seq = std::max(it->second.last_seq, seq);
      if (seq == 1) it->second.created_ms = at_ms;
      it->second.last_ms = std::max(it->second.last_ms, at_ms);
      it->second.last_pos = pos;
      next = pos + 1;
    }
    if (rc == SQLITE_DONE) break;
    if (!is_corrupt(rc)) return journal_error("journal " + path_ + ": cannot read: " + sqlite_message(db_));
    const std::string why = std::string("unreadable (") + sqlite3_errstr(rc & 0xFF) + ")";
    sqlite3_reset(s.s);
    const std::uint64_t resume = readable_from(next);
    if (resume == 0) {
      add_gap(next, 0, why);
      break;
    }
    add_gap(next, resume - 1, why);
    next = resume;
  }
  if (std::any_of(all.gaps.begin(), all.gaps.end(), [](const pos_gap& g) { return g.why != gap_missing; }))
    attribute_unreadable(all);
  return std::nullopt;
}

// The index (pipeline, seq, pos) usually survives a page of the table that
// does not, and says whose rows the unreadable positions held: those
// pipelines are damaged there (even one whose rows were all unreadable is
// named), and nobody else lost anything there, so the stretch makes no other
// pipeline suspect. If the index cannot be read through either, every
// unreadable stretch stays a gap like a missing row.
void sqlite_journal_store::attribute_unreadable(census& all) {
  statement s(db_, "SELECT pipeline, seq, pos FROM events INDEXED BY sqlite_autoindex_events_1");
  if (!s) return;  // no such index: nothing more can be said
  std::vector<std::vector<std::string>> owners(all.gaps.size());
  int rc = SQLITE_OK;
  while ((rc = sqlite3_step(s.s)) == SQLITE_ROW) {
    const auto pos = static_cast<std::uint64_t>(sqlite3_column_int64(s.s, 2));
    auto g = std::upper_bound(all.gaps.begin(), all.gaps.end(), pos,
                              [](std::uint64_t p, const pos_gap& x) { return p < x.from; });
    if (g == all.gaps.begin()) continue;
    --g;  // the last stretch starting at or before pos
    if (g->why == gap_missing || (g->to != 0 && pos > g->to)) continue;  // a row the table read
    const std::string_view id = column_text(s.s, 0);
    const auto seq = static_cast<std::uint64_t>(sqlite3_column_int64(s.s, 1));
    auto it = all.by_id.find(id);
    if (it == all.by_id.end()) {
      it = all.by_id.emplace(std::string(id), pipeline_count{}).first;
      all.order.push_back(&it->first);
    }
    it->second.last_seq = std::max(it->second.last_seq, seq);
    auto [u, fresh] = all.unreadable.try_emplace(it->first, unreadable_row{seq, pos});
    if (!fresh && seq < u->second.seq) u->second = {seq, pos};
    auto& named = owners[static_cast<std::size_t>(g - all.gaps.begin())];
    if (named.empty() || named.back() != id) named.emplace_back(id);
  }
  if (rc != SQLITE_DONE) return;  // the index is damaged too
  for (std::size_t k = 0; k < all.gaps.size(); ++k) {
    if (all.gaps[k].why == gap_missing) continue;
    auto& named = owners[k];
    std::sort(named.begin(), named.end());
    all.gaps[k].owners = static_cast<std::size_t>(std::unique(named.begin(), named.end()) - named.begin());
    all.gaps[k].attributed = true;
  }
}

// The first position after `pos` at which the table can be read again (a
// row, or the end: then 0 when nothing after `pos` reads). A seek past the
// damaged page's keys goes to the next page, so the smallest key whose seek
// succeeds is found by doubling, then halving; about 120 seeks at most.
std::uint64_t sqlite_journal_store::readable_from(std::uint64_t pos) {
  statement s(db_, "SELECT pos FROM events NOT INDEXED WHERE pos >= ? ORDER BY pos LIMIT 1");
  if (!s) return 0;
  // The first row at or after `at`: its pos, pos_max for none, 0 when the seek fails.
  auto seek = [&](std::uint64_t at) -> std::uint64_t {
    sqlite3_reset(s.s);
    sqlite3_bind_int64(s.s, 1, static_cast<sqlite3_int64>(at));
    const int rc = sqlite3_step(s.s);
    if (rc == SQLITE_DONE) return pos_max;
    if (rc != SQLITE_ROW) return 0;
    const auto found = static_cast<std::uint64_t>(sqlite3_column_int64(s.s, 0));
    return found >= at ? found : 0;
  };
  std::uint64_t bad = pos, step = 1, good = 0;
  while (bad + step < pos_max) {
    if (seek(bad + step) != 0) {
      good = bad + step;
      break;
    }
    bad += step;
    step *= 2;
  }
  if (good == 0) return 0;
  while (good - bad > 1) {  // seek(bad) fails, seek(good) succeeds
    const std::uint64_t mid = bad + (good - bad) / 2;
    (seek(mid) != 0 ? good : bad) = mid;
  }
  const std::uint64_t found = seek(good);
  return found == pos_max ? 0 : found;
}

// The first stretch after `pos` that may hold rows of a pipeline whose last
// readable row is at `pos` (not one the index attributed).
const sqlite_journal_store::pos_gap* sqlite_journal_store::gap_after(const census& all, std::uint64_t pos) const {
  auto it = std::upper_bound(all.gaps.begin(), all.gaps.end(), pos,
                             [](std::uint64_t p, const pos_gap& g) { return p < g.from; });
  while (it != all.gaps.end() && it->attributed) ++it;
  return it == all.gaps.end() ? nullptr : &*it;
}

result<std::vector<event>> sqlite_journal_store::history(const std::string& pipeline, journal_damage* damage) {
  return in_read_transaction(db_, path_, [&] {
    return format_ == 1 ? read_history(pipeline, damage) : walk_history(pipeline, damage);
  });
}

result<std::vector<event>> sqlite_journal_store::read_history(const std::string& pipeline, journal_damage* damage) {
  auto all = counted();
  if (!all) return all.err();
  pipeline_count count;
  if (auto it = (*all)->by_id.find(pipeline); it != (*all)->by_id.end()) count = it->second;
  if (auto u = (*all)->unreadable.find(pipeline); u != (*all)->unreadable.end())
    return damaged(journal_damage{pipeline, u->second.seq, u->second.pos, u->second.pos,
                                  "cannot be read: its row at pos " + std::to_string(u->second.pos) +
                                      " is on a damaged page (database disk image is malformed)"},
                   damage);
  sqlite3_stmt* s = history_;
  sqlite3_reset(s);
  sqlite3_bind_text(s, 1, pipeline.data(), static_cast<int>(pipeline.size()), SQLITE_TRANSIENT);
  history_checker rows(pipeline);
  std::vector<event>& out = rows.events();
  out.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(count.events, 1'000'000)));
  auto corrupt = [&](std::uint64_t seq, std::string why) {
    sqlite3_reset(s);
    return damaged(journal_damage{pipeline, seq, 0, 0, std::move(why)}, damage);
  };
  int rc = SQLITE_OK;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    if (auto bad = rows.add(static_cast<std::uint64_t>(sqlite3_column_int64(s, 0)), column_text(s, 1),
                            sqlite3_column_int64(s, 2), column_text(s, 3), column_text(s, 4),
                            static_cast<std::uint32_t>(sqlite3_column_int64(s, 5)))) {
      sqlite3_reset(s);
      return damaged(std::move(*bad), damage);
    }
  }
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) {
    // A page of the table or of its index that SQLite cannot read: the
    // pipeline and how far its history got are what can be said.
    const std::string why = "cannot be read (" + sqlite_message(db_) + ")";
    if (is_corrupt(rc)) return corrupt(out.size() + 1, why);
    return journal_error("journal " + path_ + ": pipeline '" + pipeline + "', event seq " +
                         std::to_string(out.size() + 1) + ": " + why);
  }
  if (out.size() != count.events || (!out.empty() && out.back().seq != count.last_seq))
    return corrupt(std::min<std::uint64_t>(out.size(), count.last_seq) + 1,
                   "it has " + std::to_string(count.events) + " events in its table (last seq " +
                       std::to_string(count.last_seq) + ") but its index finds " + std::to_string(out.size()) +
                       " (`PRAGMA integrity_check` shows the damage)");
  if (out.empty()) {
    // Not even in the table: unknown, unless the table could not all be read.
    if (std::any_of((*all)->gaps.begin(), (*all)->gaps.end(), [](const pos_gap& g) { return g.why != gap_missing; }))
      return journal_error("journal " + path_ + " has no readable pipeline '" + pipeline +
                           "', and parts of it cannot be read (`dairector journal check` lists the damage)");
    return make_error(errc::not_found, "journal " + path_ + " has no pipeline '" + pipeline + "'");
  }
  // Whole as far as its own rows go; a gap after its last row may have taken
  // its later events (see the top of the header).
  if (const pos_gap* gap = gap_after(**all, count.last_pos))
    return damaged(journal_damage{pipeline, count.last_seq + 1, gap->from, gap->to,
                                  "its history may be cut short: " + describe_gap(gap->from, gap->to, gap->why) +
                                      ", after its last readable event (seq " + std::to_string(count.last_seq) +
                                      " at pos " + std::to_string(count.last_pos) + ")"},
                   damage);
  if (!opt_.read_only) checker_.remember_spec(pipeline, rows.spec());  // hosted again: appends use the reader's spec
  return std::move(out);
}

// Rows in the table's own order (pos, its b-tree), at most `limit`, in one
// read transaction; a pipeline's spec comes from its seq 1 row once.
result<std::vector<positioned_event>> sqlite_journal_store::events_after(std::uint64_t after, std::size_t limit) {
  return in_read_transaction(db_, path_, [&]() -> result<std::vector<positioned_event>> {
    statement s(db_,
                "SELECT pos, pipeline, seq, type, at_ms, by, body, crc FROM events WHERE pos > ? ORDER BY pos LIMIT ?");
    if (!s) return journal_error("journal " + path_ + ": cannot read: " + sqlite_message(db_));
    sqlite3_bind_int64(s.s, 1, static_cast<sqlite3_int64>(std::min(after, pos_max)));
    sqlite3_bind_int64(s.s, 2, static_cast<sqlite3_int64>(std::min<std::uint64_t>(limit, pos_max)));
    auto all = counted();  // the archived positions, which are not gaps
    if (!all) return all.err();
    position_checker rows(after, [this](const std::string& id) { return created_spec(id); }, &(*all)->archived);
    int rc = SQLITE_OK;
    while ((rc = sqlite3_step(s.s)) == SQLITE_ROW) {
      if (auto bad = rows.add(static_cast<std::uint64_t>(sqlite3_column_int64(s.s, 0)), column_text(s.s, 1),
                              static_cast<std::uint64_t>(sqlite3_column_int64(s.s, 2)), column_text(s.s, 3),
                              sqlite3_column_int64(s.s, 4), column_text(s.s, 5), column_text(s.s, 6),
                              static_cast<std::uint32_t>(sqlite3_column_int64(s.s, 7)))) {
        if (rows.failed()) return *rows.failed();
        return damaged(std::move(*bad), nullptr);
      }
    }
    if (rc != SQLITE_DONE)
      return journal_error("journal " + path_ + ": cannot read the events after pos " + std::to_string(after) + " (" +
                           sqlite_message(db_) + ")");
    return std::move(rows.events());
  });
}

result<std::vector<journal_damage>> sqlite_journal_store::gaps() {
  return in_read_transaction(db_, path_, [&]() -> result<std::vector<journal_damage>> {
    auto all = counted();
    if (!all) return all.err();
    // How many pipelines each gap makes suspect (format 1: a chain says
    // exactly whose events were lost): those whose last row is before it
    // and after any earlier gap (the earlier one already names them).
    std::vector<std::size_t> suspects((*all)->gaps.size(), 0);
    if (format_ == 1)
      for (const auto& [id, count] : (*all)->by_id)
        if (const pos_gap* g = gap_after(**all, count.last_pos)) ++suspects[static_cast<std::size_t>(g - (*all)->gaps.data())];
    std::vector<journal_damage> out;
    for (const pos_gap& g : (*all)->gaps) {
      std::string reason = describe_gap(g.from, g.to, g.why);
      const std::size_t n = suspects[static_cast<std::size_t>(&g - (*all)->gaps.data())];
      if (format_ >= 2)
        reason += "; a pipeline that had events there is damaged from the first of them (its chain breaks there)";
      else if (g.attributed)
        reason += "; the index says they belong to " + std::to_string(g.owners) +
                  (g.owners == 1 ? " pipeline" : " pipelines") + " (no other lost anything there)";
      else
        reason += n == 0 ? std::string("; no pipeline's history ends just before it")
                         : "; " + std::to_string(n) + (n == 1 ? " pipeline" : " pipelines") +
                               " whose history ends just before it may have lost events there";
      out.push_back(journal_damage{"", 0, g.from, g.to, std::move(reason)});
    }
    if (format_ >= 2)
      if (auto err = heads_beside_rows(**all, out)) return *err;
    return out;
  });
}

std::optional<error> sqlite_journal_store::put_meta(const std::string& key, const std::string& value) {
  if (opt_.read_only) return journal_error("journal " + path_ + " is open read-only");
  statement s(db_, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)");
  if (!s) return journal_error("journal " + path_ + ": " + sqlite_message(db_));
  sqlite3_bind_text(s.s, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
  sqlite3_bind_text(s.s, 2, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
  if (sqlite3_step(s.s) != SQLITE_DONE) return journal_error("journal " + path_ + ": write failed: " + sqlite_message(db_));
  return std::nullopt;
}

result<std::optional<std::string>> sqlite_journal_store::get_meta(const std::string& key) {
  statement s(db_, "SELECT value FROM meta WHERE key = ?");
  if (!s) return journal_error("journal " + path_ + ": " + sqlite_message(db_));
  sqlite3_bind_text(s.s, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
  const int rc = sqlite3_step(s.s);
  if (rc == SQLITE_ROW) return std::optional<std::string>(std::string(column_text(s.s, 0)));
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  return journal_error("journal " + path_ + ": cannot read: " + sqlite_message(db_));
}

result<std::vector<pipeline_summary>> sqlite_journal_store::pipelines() {
  return in_read_transaction(db_, path_, [&]() -> result<std::vector<pipeline_summary>> {
    if (format_ >= 2) {
      statement s(db_, "SELECT pipeline, last_seq, created_ms, last_ms FROM heads ORDER BY first_pos");
      if (!s) return failure("cannot read its heads: " + sqlite_message(db_));
      std::vector<pipeline_summary> out;
      int rc = SQLITE_OK;
      while ((rc = sqlite3_step(s.s)) == SQLITE_ROW)
        out.push_back({std::string(column_text(s.s, 0)), static_cast<std::uint64_t>(sqlite3_column_int64(s.s, 1)),
                       sqlite3_column_int64(s.s, 2), sqlite3_column_int64(s.s, 3)});
      if (rc == SQLITE_DONE) return out;
      if (!is_corrupt(rc)) return failure("cannot read its heads (" + sqlite_message(db_) + ")");
      // The heads cannot all be read: the table's own count lists what it
      // can (a pipeline whose head is lost is damage `history` names).
    }
    auto all = counted();
    if (!all) return all.err();
    std::vector<pipeline_summary> out;
    out.reserve((*all)->order.size());
    for (const std::string* id : (*all)->order) {
      const pipeline_count& c = (*all)->by_id.at(*id);
      out.push_back({*id, c.last_seq, c.created_ms, c.last_ms == INT64_MIN ? c.created_ms : c.last_ms});
    }
    return out;
  });
}

// The archived stretches, if anything was ever archived (the table is made
// by the first archive: older journals have none).
std::optional<error> sqlite_journal_store::read_archived(archived_ranges& out) {
  out.ranges.clear();
  statement exists(db_, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'archived'");
  if (!exists) return journal_error("journal " + path_ + ": cannot read: " + sqlite_message(db_));
  if (sqlite3_step(exists.s) != SQLITE_ROW) return std::nullopt;
  statement s(db_, "SELECT pos_from, pos_to FROM archived ORDER BY pos_from");
  if (!s) return journal_error("journal " + path_ + ": cannot read: " + sqlite_message(db_));
  int rc = SQLITE_OK;
  while ((rc = sqlite3_step(s.s)) == SQLITE_ROW)
    out.ranges.push_back({static_cast<std::uint64_t>(sqlite3_column_int64(s.s, 0)),
                          static_cast<std::uint64_t>(sqlite3_column_int64(s.s, 1))});
  if (rc != SQLITE_DONE) return journal_error("journal " + path_ + ": cannot read: " + sqlite_message(db_));
  return std::nullopt;
}

// Past the last row and past every archived position (inside the writer's transaction).
result<std::uint64_t> sqlite_journal_store::next_pos() {
  if (next_pos_ > 0) return next_pos_;
  statement s(db_, "SELECT coalesce(max(pos), 0) FROM events");
  if (!s || sqlite3_step(s.s) != SQLITE_ROW)
    return journal_error("journal " + path_ + ": cannot read: " + sqlite_message(db_));
  archived_ranges archived;
  if (auto err = read_archived(archived)) return *err;
  return next_pos_ = std::max(static_cast<std::uint64_t>(sqlite3_column_int64(s.s, 0)), archived.last()) + 1;
}

// One transaction: the rows go, their positions are recorded as archived.
result<std::uint64_t> sqlite_journal_store::remove_pipelines(const std::vector<std::string>& pipelines) {
  if (opt_.read_only) return failure("it is open read-only");
  if (failed_) return failure("it failed earlier; it takes no more writes until reopened");
  auto fail = [&](const std::string& what) -> error {
    const std::string message = what + ": " + sqlite_message(db_);
    if (!sqlite3_get_autocommit(db_)) exec(db_, "ROLLBACK");
    return failure(message);
  };
  if (!exec(db_, "BEGIN IMMEDIATE")) return fail("cannot begin a transaction");
  auto pos = next_pos();  // before any row goes: the last row may be one of them
  if (!pos) {
    exec(db_, "ROLLBACK");
    return pos.err();
  }
  if (!exec(db_, "CREATE TABLE IF NOT EXISTS archived(pos_from INTEGER PRIMARY KEY, pos_to INTEGER NOT NULL)"))
    return fail("cannot record the archived positions");
  statement keep(db_, "INSERT INTO archived(pos_from, pos_to) VALUES(?, ?)");
  if (!keep) return fail("cannot prepare the archive");
  std::vector<std::uint64_t> positions;
  if (format_ >= 2) {
    // Each pipeline's rows by its chain, then its head.
    statement drop(db_, "DELETE FROM events WHERE pos = ?");
    statement drop_head(db_, "DELETE FROM heads WHERE first_pos = ?");
    if (!drop || !drop_head) return fail("cannot prepare the archive");
    for (const std::string& id : pipelines) {
      auto h = read_head(id);
      if (!h || !*h) {
        exec(db_, "ROLLBACK");
        return h ? failure("it has no pipeline '" + id + "'") : h.err();
      }
      auto rows = chain_positions(id, **h);
      if (!rows) {
        exec(db_, "ROLLBACK");
        return rows.err();
      }
      for (std::uint64_t row : *rows) {
        sqlite3_reset(drop.s);
        sqlite3_bind_int64(drop.s, 1, static_cast<sqlite3_int64>(row));
        if (sqlite3_step(drop.s) != SQLITE_DONE) return fail("cannot delete pipeline '" + id + "'");
      }
      sqlite3_reset(drop_head.s);
      sqlite3_bind_int64(drop_head.s, 1, static_cast<sqlite3_int64>((*h)->first_pos));
      if (sqlite3_step(drop_head.s) != SQLITE_DONE) return fail("cannot delete the head of pipeline '" + id + "'");
      positions.insert(positions.end(), rows->begin(), rows->end());
      heads_.erase(id);
    }
  } else {
    statement find(db_, "SELECT pos FROM events WHERE pipeline = ?");
    statement drop(db_, "DELETE FROM events WHERE pipeline = ?");
    if (!find || !drop) return fail("cannot prepare the archive");
    for (const std::string& id : pipelines) {
      for (sqlite3_stmt* st : {find.s, drop.s}) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
      }
      int rc = SQLITE_OK;
      while ((rc = sqlite3_step(find.s)) == SQLITE_ROW)
        positions.push_back(static_cast<std::uint64_t>(sqlite3_column_int64(find.s, 0)));
      if (rc != SQLITE_DONE || sqlite3_step(drop.s) != SQLITE_DONE) return fail("cannot delete pipeline '" + id + "'");
    }
  }
  for (const archived_ranges::range& r : archived_ranges::of_positions(positions)) {
    sqlite3_reset(keep.s);
    sqlite3_bind_int64(keep.s, 1, static_cast<sqlite3_int64>(r.from));
    sqlite3_bind_int64(keep.s, 2, static_cast<sqlite3_int64>(r.to));
    if (sqlite3_step(keep.s) != SQLITE_DONE) return fail("cannot record the archived positions");
  }
  if (!exec(db_, "COMMIT")) return fail("commit failed");
  counted_.reset();  // counted again, with the archived positions, when next needed
  for (const std::string& id : pipelines) checker_.forget(id);
  return static_cast<std::uint64_t>(positions.size());
}

// ------------------------------------------------------------- format 2

// A pipeline's head (none: no such pipeline), its checksum verified.
result<std::optional<head>> sqlite_journal_store::read_head(const std::string& pipeline, journal_damage* damage) {
  sqlite3_stmt* s = head_of_;
  sqlite3_reset(s);
  sqlite3_bind_text(s, 1, pipeline.data(), static_cast<int>(pipeline.size()), SQLITE_TRANSIENT);
  const int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) {
    sqlite3_reset(s);
    return std::optional<head>();
  }
  if (rc != SQLITE_ROW) {
    const std::string why = sqlite_message(db_);
    sqlite3_reset(s);
    if (is_corrupt(rc)) return damaged(journal_damage{pipeline, 0, 0, 0, "its head cannot be read (" + why + ")"}, damage);
    return failure("cannot read the head of pipeline '" + pipeline + "': " + why);
  }
  head h;
  h.first_pos = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
  h.last_pos = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
  h.last_seq = static_cast<std::uint64_t>(sqlite3_column_int64(s, 2));
  h.created_ms = sqlite3_column_int64(s, 3);
  h.last_ms = sqlite3_column_int64(s, 4);
  const auto crc = static_cast<std::uint32_t>(sqlite3_column_int64(s, 5));
  sqlite3_reset(s);
  if (crc != head_crc(pipeline, h))
    return damaged(journal_damage{pipeline, 0, 0, 0, "its head (its row in heads) does not match its checksum"}, damage);
  return std::optional<head>(h);
}

// A head the writer knows as of its last commit (a bounded cache).
void sqlite_journal_store::remember_head(std::string_view pipeline, const head& h) {
  if (auto c = heads_.find(pipeline); c != heads_.end()) {
    c->second = h;
    return;
  }
  if (heads_.size() >= heads_cached_max) heads_.clear();
  heads_.emplace(std::string(pipeline), h);
}

// The chain from the head back to seq 1, every hop checked (the same
// pipeline, the seq before, a smaller pos; seq 1 at the head's first_pos),
// then every row as history_checker checks it, in seq order.
result<std::vector<event>> sqlite_journal_store::walk_history(const std::string& pipeline, journal_damage* damage) {
  auto h = read_head(pipeline, damage);
  if (!h) return h.err();
  if (!*h) return make_error(errc::not_found, "journal " + path_ + " has no pipeline '" + pipeline + "'");
  struct stored {
    std::uint64_t seq;
    std::int64_t at_ms;
    std::uint32_t crc;
    std::string type, by, body;
  };
  std::vector<stored> back;  // the last event first
  back.reserve(static_cast<std::size_t>(std::min<std::uint64_t>((*h)->last_seq, 1'000'000)));
  sqlite3_stmt* s = row_at_;
  auto corrupt = [&](std::uint64_t seq, std::uint64_t pos, std::string why) {
    sqlite3_reset(s);
    return damaged(journal_damage{pipeline, seq, pos, pos, std::move(why)}, damage);
  };
  std::uint64_t pos = (*h)->last_pos, seq = (*h)->last_seq, prev = 0;
  while (seq > 0) {
    switch (follow(pipeline, **h, pos, seq, prev)) {
      case hop::linked: break;
      case hop::missing: return corrupt(seq, pos, describe_gap(pos, pos, gap_missing));
      case hop::unreadable:
        return corrupt(seq, pos, "cannot be read: its row at pos " + std::to_string(pos) + " is on a damaged page (" +
                                     sqlite_message(db_) + ")");
      case hop::failed: {
        const std::string why = sqlite_message(db_);
        sqlite3_reset(s);
        return failure("pipeline '" + pipeline + "', event seq " + std::to_string(seq) + ": cannot be read (" + why + ")");
      }
      // (prev is not in the row's checksum: a wrong link shows here, and the
      // pos it names may not be where the lost event was, so none is given.)
      case hop::foreign:
        return corrupt(seq, 0, "its chain of events is broken: it leads to pos " + std::to_string(pos) +
                                   ", which is not its event seq " + std::to_string(seq));
      case hop::unlinked:
        return corrupt(seq, pos, "its chain of events is broken at pos " + std::to_string(pos) +
                                     (seq == 1 ? " (its head says it begins at pos " + std::to_string((*h)->first_pos) + ")"
                                               : " (it links to pos " + std::to_string(prev) + ")"));
    }
    back.push_back(stored{seq, sqlite3_column_int64(s, 4), static_cast<std::uint32_t>(sqlite3_column_int64(s, 7)),
                          std::string(column_text(s, 3)), std::string(column_text(s, 5)), std::string(column_text(s, 6))});
    pos = prev;
    --seq;
  }
  sqlite3_reset(s);
  history_checker rows(pipeline);
  rows.events().reserve(back.size());
  for (auto it = back.rbegin(); it != back.rend(); ++it)
    if (auto bad = rows.add(it->seq, it->type, it->at_ms, it->by, it->body, it->crc)) return damaged(std::move(*bad), damage);
  if (!opt_.read_only) checker_.remember_spec(pipeline, rows.spec());  // hosted again: appends use the reader's spec
  return std::move(rows.events());
}

// Steps row_at_ to `pos` and checks that it holds `pipeline`'s event `seq`
// (else missing, unreadable, failed or foreign), then that it links on: to
// a smaller pos, or, for seq 1, to none, at the head's first_pos (else
// unlinked, with `prev` as read). row_at_ stays on a row that was read, for
// its other columns; the caller resets it.
sqlite_journal_store::hop sqlite_journal_store::follow(const std::string& pipeline, const head& h, std::uint64_t pos,
                                                       std::uint64_t seq, std::uint64_t& prev) {
  sqlite3_stmt* s = row_at_;
  sqlite3_reset(s);
  sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(std::min(pos, pos_max)));
  const int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) return hop::missing;
  if (rc != SQLITE_ROW) return is_corrupt(rc) ? hop::unreadable : hop::failed;
  if (column_text(s, 0) != pipeline || static_cast<std::uint64_t>(sqlite3_column_int64(s, 1)) != seq)
    return hop::foreign;
  prev = static_cast<std::uint64_t>(sqlite3_column_int64(s, 2));
  const bool linked = seq == 1 ? prev == 0 && pos == h.first_pos : prev > 0 && prev < pos;
  return linked ? hop::linked : hop::unlinked;
}

// The positions of a pipeline's rows, by its chain (an error if it breaks).
result<std::vector<std::uint64_t>> sqlite_journal_store::chain_positions(const std::string& pipeline, const head& h) {
  std::vector<std::uint64_t> out;
  std::uint64_t pos = h.last_pos, seq = h.last_seq, prev = 0;
  while (seq > 0) {
    const hop next = follow(pipeline, h, pos, seq, prev);
    sqlite3_reset(row_at_);
    if (next != hop::linked)
      return failure("pipeline '" + pipeline + "': its chain of events breaks at seq " + std::to_string(seq) + " (pos " +
                     std::to_string(pos) + "); `dairector journal check` tells more");
    out.push_back(pos);
    pos = prev;
    --seq;
  }
  return out;
}

// What only a scan of the whole table can tell in format 2: rows of a
// pipeline that has no head, or past its head (a history read from its head
// could not see them), one damage per pipeline.
std::optional<error> sqlite_journal_store::heads_beside_rows(const census& all, std::vector<journal_damage>& out) {
  statement s(db_, "SELECT pipeline, last_seq FROM heads");
  if (!s) return failure("cannot read its heads: " + sqlite_message(db_));
  std::unordered_map<std::string, std::uint64_t, string_hash, std::equal_to<>> last;
  int rc = SQLITE_OK;
  while ((rc = sqlite3_step(s.s)) == SQLITE_ROW)
    last.emplace(std::string(column_text(s.s, 0)), static_cast<std::uint64_t>(sqlite3_column_int64(s.s, 1)));
  // Heads that cannot all be read: those not read are damage each
  // pipeline's history names ("its head cannot be read"), not told here.
  const bool whole = rc == SQLITE_DONE;
  if (!whole && !is_corrupt(rc)) return failure("cannot read its heads (" + sqlite_message(db_) + ")");
  for (const std::string* id : all.order) {
    const pipeline_count& c = all.by_id.at(*id);
    auto it = last.find(*id);
    if (it == last.end() && !whole) continue;
    if (it == last.end())
      out.push_back(journal_damage{*id, 1, 0, 0,
                                   "its table holds " + std::to_string(c.events) +
                                       " of its events (to seq " + std::to_string(c.last_seq) +
                                       ") but it has no head, so none can be read"});
    else if (c.last_seq > it->second)
      out.push_back(journal_damage{*id, it->second + 1, c.last_pos, c.last_pos,
                                   "its table holds its events to seq " + std::to_string(c.last_seq) + " (pos " +
                                       std::to_string(c.last_pos) + ") but its head ends at seq " +
                                       std::to_string(it->second)});
  }
  return std::nullopt;
}

result<journal_upgrade> sqlite_journal_store::upgrade() {
  journal_upgrade out{format_, sqlite_journal_format, 0, 0};
  auto listed = pipelines();
  if (!listed) return listed.err();
  out.pipelines = listed->size();
  if (format_ == sqlite_journal_format) {  // nothing to do (and nothing read but the counts)
    statement n(db_, "SELECT count(*) FROM events");
    if (!n || sqlite3_step(n.s) != SQLITE_ROW) return failure("cannot count its events: " + sqlite_message(db_));
    out.events = static_cast<std::uint64_t>(sqlite3_column_int64(n.s, 0));
    return out;
  }
  auto damage = check();
  if (!damage) return damage.err();
  if (!damage->empty())
    return journal_error("journal " + path_ + " is damaged (" + std::to_string(damage->size()) +
                         (damage->size() == 1 ? " finding" : " findings") +
                         "; `dairector journal check` lists them); it is upgraded only whole: nothing was changed");
  // Statements on the old table go first (a table is not dropped under them).
  for (sqlite3_stmt** st : {&insert_, &history_, &head_of_, &row_at_, &head_new_, &head_move_}) {
    sqlite3_finalize(*st);
    *st = nullptr;
  }
  counted_.reset();
  auto fail = [&](const std::string& what) {
    const std::string message = what + ": " + sqlite_message(db_);
    if (!sqlite3_get_autocommit(db_)) exec(db_, "ROLLBACK");
    failed_ = true;
    return failure(message + "; nothing was changed");
  };
  std::string events_new = events_2_schema;
  events_new.replace(events_new.find("events("), 7, "events_2(");
  if (!exec(db_, "BEGIN IMMEDIATE")) return fail("cannot begin a transaction");
  if (!exec(db_, events_new.c_str())) return fail("cannot create the new table");
  // Every row as it is, in pos order, linked to its pipeline's previous.
  if (!exec(db_,
            "INSERT INTO events_2(pos, pipeline, seq, prev, type, at_ms, by, body, crc)"
            " SELECT pos, pipeline, seq, coalesce(lag(pos) OVER (PARTITION BY pipeline ORDER BY seq), 0),"
            " type, at_ms, by, body, crc FROM events ORDER BY pos"))
    return fail("cannot copy the events");
  out.events = static_cast<std::uint64_t>(sqlite3_changes64(db_));
  if (!exec(db_, heads_schema)) return fail("cannot create the heads");
  {
    statement g(db_,
                "SELECT g.pipeline, g.f, g.l, g.s, e.at_ms, g.m FROM (SELECT pipeline, min(pos) AS f, max(pos) AS l,"
                " max(seq) AS s, max(at_ms) AS m FROM events GROUP BY pipeline) AS g JOIN events AS e ON e.pos = g.f");
    statement put(db_, head_insert);
    if (!g || !put) return fail("cannot prepare the heads");
    int rc = SQLITE_OK;
    while ((rc = sqlite3_step(g.s)) == SQLITE_ROW) {
      const std::string_view id = column_text(g.s, 0);
      head h{static_cast<std::uint64_t>(sqlite3_column_int64(g.s, 1)),
             static_cast<std::uint64_t>(sqlite3_column_int64(g.s, 2)),
             static_cast<std::uint64_t>(sqlite3_column_int64(g.s, 3)), sqlite3_column_int64(g.s, 4),
             sqlite3_column_int64(g.s, 5)};
      sqlite3_reset(put.s);
      bind_new_head(put.s, id, h);
      if (sqlite3_step(put.s) != SQLITE_DONE) return fail("cannot write the head of pipeline '" + std::string(id) + "'");
    }
    if (rc != SQLITE_DONE) return fail("cannot read the pipelines");
  }
  const std::string version = std::to_string(sqlite_journal_format);
  if (!exec(db_, "DROP TABLE events") || !exec(db_, "ALTER TABLE events_2 RENAME TO events") ||
      !exec(db_, ("UPDATE meta SET value = '" + version + "' WHERE key = 'format_version'").c_str()) ||
      !exec(db_, ("PRAGMA user_version=" + version).c_str()))
    return fail("cannot replace the old table");
  if (!exec(db_, "COMMIT")) return fail("commit failed");
  format_ = sqlite_journal_format;
  size_cache(db_, format_);
  heads_.clear();
  if (!prepare_statements()) {
    failed_ = true;
    return failure("upgraded, but cannot prepare the new statements: " + sqlite_message(db_) + "; reopen it");
  }
  return out;
}

result<std::unique_ptr<journal_store>> open_sqlite_journal(const std::string& path, journal_options opt) {
  return sqlite_journal_store::open(path, std::move(opt));
}

result<journal_upgrade> upgrade_sqlite_journal(const std::string& path, journal_options opt) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return journal_error("cannot open journal " + path + ": " + std::strerror(errno));
  opt.read_only = false;
  auto store = sqlite_journal_store::open(path, std::move(opt));
  if (!store) return store.err();
  return static_cast<sqlite_journal_store&>(**store).upgrade();
}

}  // namespace dairector
