#include "dairector/journal_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>

#include <sqlite3.h>

#include "dairector/codec.hpp"
#include "dairector/invariants.hpp"
#include "dairector/reducer.hpp"

namespace dairector {

namespace {

constexpr int application_id = 0x44414952;  // "DAIR"
// How much of the file reads may map (SQLite's default build caps it at 2 GiB).
constexpr std::int64_t mmap_bytes_max = std::int64_t{1} << 31;
// SQLite's page cache per connection, at most (it grows only as used).
constexpr int cache_kib = 64 * 1024;
// Checkpoints stay at SQLite's default (every 1,000 WAL pages): a longer WAL
// copies the pages that many pipelines keep changing less often, but until
// it first wraps every commit also grows the file, and a sync that must
// commit a new file size cost a lone pipeline's commits 1.4-1.7x in A/B runs.

error journal_error(std::string message) { return make_error(errc::journal, std::move(message)); }

std::string sqlite_message(sqlite3* db) { return db ? sqlite3_errmsg(db) : "cannot allocate a connection"; }

bool is_corrupt(int rc) { return (rc & 0xFF) == SQLITE_CORRUPT || (rc & 0xFF) == SQLITE_NOTADB; }

constexpr std::uint64_t pos_max = std::uint64_t{1} << 62;  // beyond any journal's rows
constexpr std::size_t pipelines_swept_min = 1'024;          // append state kept before the first sweep
constexpr const char* gap_missing = "missing";            // pos_gap::why of rows that are not there

// "the event at pos 7 is missing", "the events at pos 9 to 12 are unreadable (...)".
std::string describe_gap(std::uint64_t from, std::uint64_t to, const std::string& why) {
  if (to == from) return "the event at pos " + std::to_string(from) + " is " + why;
  return "the events at pos " + std::to_string(from) + (to == 0 ? " and after" : " to " + std::to_string(to)) +
         " are " + why;
}

// CRC-32 over the columns in a fixed order, with separators so that moving
// bytes from one column to the next changes it.
std::uint32_t row_crc(std::string_view pipeline, std::uint64_t seq, std::string_view type, std::int64_t at_ms,
                      std::string_view by, std::string_view body) {
  // The short columns are joined in a buffer first: three calls to crc32
  // instead of twelve (the checksum of the same bytes).
  char head[320];
  std::size_t n = 0;
  auto crc = static_cast<uLong>(crc32(0L, Z_NULL, 0));
  auto flush = [&] {
    crc = crc32(crc, reinterpret_cast<const Bytef*>(head), static_cast<uInt>(n));
    n = 0;
  };
  auto add = [&](std::string_view part) {
    if (part.size() + 1 > sizeof head - n) {
      flush();
      crc = crc32(crc, reinterpret_cast<const Bytef*>(part.data()), static_cast<uInt>(part.size()));
    } else {
      std::memcpy(head + n, part.data(), part.size());
      n += part.size();
    }
    head[n++] = '\n';
  };
  auto add_number = [&](auto v) {
    char buf[24];
    add(std::string_view(buf, static_cast<std::size_t>(std::to_chars(buf, buf + sizeof buf, v).ptr - buf)));
  };
  add(pipeline);
  add_number(seq);
  add(type);
  add_number(at_ms);
  add(by);
  add(body);
  flush();
  return static_cast<std::uint32_t>(crc);
}

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
  return journal_error("journal " + path + " is owned by another process (" + other +
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

}  // namespace

result<std::unique_ptr<journal_store>> journal_store::open(const std::string& path, journal_options opt) {
  std::unique_ptr<journal_store> j(new journal_store());
  j->path_ = path;
  j->opt_ = opt;
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
  // The pages that 1,000 pipelines side by side keep writing (the tails of
  // their index entries) stay in the cache between commits.
  exec(j->db_, ("PRAGMA cache_size=-" + std::to_string(cache_kib)).c_str());

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
  } else if (user_version > journal_format_version) {
    return journal_error("journal " + path + " has format version " + std::to_string(user_version) +
                         ", newer than this dairector reads (" + std::to_string(journal_format_version) + ")");
  }
  if (!opt.read_only) {
    // WAL: readers beside the writer; FULL: a commit survives power loss.
    if (!exec(j->db_, "PRAGMA journal_mode=WAL")) return fail("cannot switch to WAL mode");
    const char* sync = opt.sync == journal_sync::full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
    if (!exec(j->db_, sync)) return fail("cannot set synchronous");
    if (fresh) {
      const std::string schema =
          "BEGIN IMMEDIATE;"
          "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
          "CREATE TABLE events(pos INTEGER PRIMARY KEY, pipeline TEXT NOT NULL, seq INTEGER NOT NULL,"
          " type TEXT NOT NULL, at_ms INTEGER NOT NULL, by TEXT NOT NULL, body TEXT NOT NULL,"
          " crc INTEGER NOT NULL, UNIQUE(pipeline, seq));"
          "INSERT INTO meta VALUES('format_version', '" + std::to_string(journal_format_version) + "');"
          "INSERT INTO meta VALUES('created_by', 'dairector');"
          "PRAGMA application_id=" + std::to_string(application_id) + ";"
          "PRAGMA user_version=" + std::to_string(journal_format_version) + ";"
          "COMMIT;";
      if (!exec(j->db_, schema.c_str())) {
        exec(j->db_, "ROLLBACK");
        return fail("cannot create the schema");
      }
    }
    if (sqlite3_prepare_v2(j->db_,
                           "INSERT INTO events(pos, pipeline, seq, type, at_ms, by, body, crc)"
                           " VALUES(NULL, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &j->insert_, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(j->db_, "BEGIN IMMEDIATE", -1, &j->begin_, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(j->db_, "COMMIT", -1, &j->commit_, nullptr) != SQLITE_OK)
      return fail("cannot prepare the writes");
  }
  if (sqlite3_prepare_v2(j->db_, "SELECT seq, type, at_ms, by, body, crc FROM events WHERE pipeline = ? ORDER BY seq",
                         -1, &j->history_, nullptr) != SQLITE_OK)
    return fail("cannot prepare the reads");
  return j;
}

journal_store::~journal_store() {
  for (sqlite3_stmt* st : {insert_, begin_, commit_, history_}) sqlite3_finalize(st);
  sqlite3_close_v2(db_);
  if (lock_fd_ >= 0) release_owner_lock(lock_fd_);
}

journal_store::pipeline_info& journal_store::info_of(std::string_view pipeline) {
  auto it = pipelines_.find(pipeline);
  if (it == pipelines_.end()) {
    it = pipelines_.emplace(std::string(pipeline), pipeline_info{}).first;
    it->second.id = &it->first;
  }
  return it->second;
}

// The last durable seq from the table's own count, not the index's (a
// damaged index could hide the end of a history, and a writer would reuse
// its seqs). A pipeline that may have lost events (a gap in the journal-wide
// order after its last row) takes no more: its history cannot be trusted.
std::optional<error> journal_store::load_durable(const std::string& pipeline, pipeline_info& info) {
  if (info.durable_known) return std::nullopt;
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
  info.durable = count.last_seq;
  info.durable_known = true;
  return std::nullopt;
}

result<std::shared_ptr<const pipeline_spec>> journal_store::spec_of(const std::string& pipeline) {
  statement s(db_, "SELECT body FROM events WHERE pipeline = ? AND seq = 1");
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

bool journal_store::step_done(sqlite3_stmt* s) {
  const int rc = sqlite3_step(s);
  sqlite3_reset(s);
  return rc == SQLITE_DONE;
}

std::optional<error> journal_store::append(std::span<const event> events) {
  if (opt_.read_only) return journal_error("journal " + path_ + " is open read-only");
  if (failed_) return journal_error("journal " + path_ + " failed earlier; it takes no more writes until reopened");
  if (events.empty()) return std::nullopt;
  // The seam counts events, not commits: how group commit happens to batch
  // must not decide whether (or where) a test's fault happens.
  if (opt_.fail_after_events > 0 && events_committed_ + events.size() > opt_.fail_after_events) {
    failed_ = true;
    return journal_error("journal " + path_ + ": write failed: injected I/O fault (after " +
                         std::to_string(events_committed_) + " events)");
  }
  // Validate and encode the whole batch before writing any of it. What the
  // batch would change (each pipeline's next seq, a spec it creates) is kept
  // aside under this append's number, and taken on only after the commit.
  const std::uint64_t batch = ++appends_;
  touched_.clear();
  // Whatever happens to the batch, the specs it holds go with it (weak
  // spec, above): a pipeline never appended to again keeps none.
  struct let_go {
    std::vector<pipeline_info*>& touched;
    ~let_go() {
      for (pipeline_info* p : touched) p->held = p->created = nullptr;
    }
  } let_go_after{touched_};
  bodies_.clear();
  body_ends_.clear();
  pipeline_info* info = nullptr;  // the previous event's pipeline, often the next one's too
  for (const event& e : events) {
    if (!info || e.pipeline != *info->id) {
      if (e.pipeline.empty()) return journal_error("an event without a pipeline id cannot be journaled");
      info = &info_of(e.pipeline);
      if (info->batch != batch) {
        if (auto err = load_durable(e.pipeline, *info)) return err;
        info->batch = batch;
        info->next = info->durable + 1;
        info->held = info->spec.lock();
        info->created = nullptr;
        touched_.push_back(info);
      }
    }
    if (e.seq != info->next)
      return journal_error("event seq " + std::to_string(e.seq) + " of pipeline '" + e.pipeline +
                           "' does not follow its durable seq " + std::to_string(info->next - 1));
    ++info->next;
    const pipeline_spec* spec = info->held ? info->held.get() : info->created.get();
    if (e.type == event_type::pipeline_created) {
      if (!e.spec) return journal_error("pipeline_created without a spec cannot be journaled");
      if (e.seq != 1)
        return journal_error("pipeline_created of pipeline '" + e.pipeline + "' must be its seq 1, not seq " +
                             std::to_string(e.seq));
      info->created = e.spec;
    } else if (!spec) {
      auto sp = spec_of(e.pipeline);  // in the table, not yet read
      if (!sp) return sp.err();
      info->held = *sp;
      info->spec = info->held;  // durable already: keep it whatever becomes of this batch
      spec = info->held.get();
    }
    const std::size_t from = bodies_.size();
    bodies_ += encode_event_text(e, spec);
    if (bodies_.size() - from > event_bytes_max)
      return journal_error("event seq " + std::to_string(e.seq) + " of pipeline '" + e.pipeline + "' is " +
                           std::to_string(bodies_.size() - from) + " bytes, over the limit of " +
                           std::to_string(event_bytes_max));
    body_ends_.push_back(bodies_.size());
  }

  auto fail = [&](const char* what) {
    std::string message = "journal " + path_ + ": " + what + ": " + sqlite_message(db_);
    sqlite3_reset(insert_);
    if (!sqlite3_get_autocommit(db_)) exec(db_, "ROLLBACK");
    failed_ = true;  // memory may now be ahead of disk: stop here (the pipeline refuses starts)
    return journal_error(std::move(message));
  };
  if (!step_done(begin_)) return fail("cannot begin a transaction");
  std::size_t from = 0;
  for (std::size_t k = 0; k < events.size(); ++k) {
    const event& e = events[k];
    const char* type = to_string(e.type);
    const std::string_view body(bodies_.data() + from, body_ends_[k] - from);
    from = body_ends_[k];
    sqlite3_bind_text(insert_, 1, e.pipeline.data(), static_cast<int>(e.pipeline.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 2, static_cast<sqlite3_int64>(e.seq));
    sqlite3_bind_text(insert_, 3, type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 4, e.at_ms);
    sqlite3_bind_text(insert_, 5, e.by.data(), static_cast<int>(e.by.size()), SQLITE_STATIC);
    sqlite3_bind_text(insert_, 6, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert_, 7, row_crc(e.pipeline, e.seq, type, e.at_ms, e.by, body));
    if (!step_done(insert_)) return fail("write failed");
    // Consecutive events of a pipeline share its info: the last one's row wins.
    if (k + 1 == events.size() || events[k + 1].pipeline != e.pipeline)
      info_of(e.pipeline).last_pos = static_cast<std::uint64_t>(sqlite3_last_insert_rowid(db_));
  }
  if (!step_done(commit_)) return fail("commit failed");
  ++commits_;
  events_committed_ += events.size();
  for (pipeline_info* p : touched_) {
    p->durable = p->next - 1;
    if (p->created) p->spec = p->created;
    if (counted_) {
      auto [it, fresh] = counted_->by_id.try_emplace(*p->id);
      if (fresh) counted_->order.push_back(&it->first);
      it->second = {p->durable, p->durable, p->last_pos};
    }
  }
  // A pipeline whose spec nobody holds any more (its host let it go) keeps no
  // append state: the census still counts its rows, and the next append to it
  // reads what it needs again. Swept when the table doubles: amortised O(1).
  if (pipelines_.size() >= sweep_at_) {
    for (auto it = pipelines_.begin(); it != pipelines_.end();)
      it = it->second.batch != batch && it->second.spec.expired() ? pipelines_.erase(it) : std::next(it);
    sweep_at_ = std::max(pipelines_swept_min, 2 * pipelines_.size());
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
result<const journal_store::census*> journal_store::counted() {
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
std::optional<error> journal_store::scan_rows(census& all) {
  statement s(db_, "SELECT pos, pipeline, seq FROM events NOT INDEXED WHERE pos >= ?");
  if (!s) return journal_error("journal " + path_ + ": cannot read: " + sqlite_message(db_));
  auto add_gap = [&](std::uint64_t from, std::uint64_t to, std::string why) {
    if (all.gaps.size() == journal_gaps_max) {
      all.gaps.back().to = 0;  // from the last one told apart to the end
      return;
    }
    all.gaps.push_back({from, to, std::move(why)});
  };
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
      if (pos > next) add_gap(next, pos - 1, gap_missing);
      const std::string_view id = column_text(s.s, 1);
      auto it = all.by_id.find(id);
      if (it == all.by_id.end()) {
        it = all.by_id.emplace(std::string(id), pipeline_count{}).first;
        all.order.push_back(&it->first);
      }
      ++it->second.events;
      it->second.last_seq = std::max(it->second.last_seq, static_cast<std::uint64_t>(sqlite3_column_int64(s.s, 2)));
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
void journal_store::attribute_unreadable(census& all) {
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
std::uint64_t journal_store::readable_from(std::uint64_t pos) {
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
const journal_store::pos_gap* journal_store::gap_after(const census& all, std::uint64_t pos) const {
  auto it = std::upper_bound(all.gaps.begin(), all.gaps.end(), pos,
                             [](std::uint64_t p, const pos_gap& g) { return p < g.from; });
  while (it != all.gaps.end() && it->attributed) ++it;
  return it == all.gaps.end() ? nullptr : &*it;
}

error journal_store::damaged(journal_damage d, journal_damage* out) const {
  std::string message = "journal " + path_ + " is corrupt: pipeline '" + d.pipeline + "'";
  if (d.seq > 0) message += ", event seq " + std::to_string(d.seq);
  message += ": " + d.reason;
  if (out) *out = std::move(d);
  return journal_error(std::move(message));
}

result<std::vector<event>> journal_store::history(const std::string& pipeline, journal_damage* damage) {
  return in_read_transaction(db_, path_, [&] { return read_history(pipeline, damage); });
}

result<std::vector<event>> journal_store::read_history(const std::string& pipeline, journal_damage* damage) {
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
  std::vector<event> out;
  out.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(count.events, 1'000'000)));
  std::shared_ptr<const pipeline_spec> spec;
  auto corrupt = [&](std::uint64_t seq, std::string why) {
    sqlite3_reset(s);
    return damaged(journal_damage{pipeline, seq, 0, 0, std::move(why)}, damage);
  };
  int rc = SQLITE_OK;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const auto seq = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
    const std::string_view type = column_text(s, 1), by = column_text(s, 3), body = column_text(s, 4);
    const std::int64_t at_ms = sqlite3_column_int64(s, 2);
    const auto crc = static_cast<std::uint32_t>(sqlite3_column_int64(s, 5));
    if (seq != out.size() + 1)
      return corrupt(seq, "expected seq " + std::to_string(out.size() + 1) + " (the pipeline's events have a gap)");
    if (crc != row_crc(pipeline, seq, type, at_ms, by, body)) return corrupt(seq, "checksum mismatch");
    auto e = decode_event_text(body, spec.get());
    if (!e) return corrupt(seq, e.err().message);
    if (e->seq != seq || e->pipeline != pipeline || type != to_string(e->type) || e->by != by || e->at_ms != at_ms)
      return corrupt(seq, "the row's columns disagree with its body");
    if (seq == 1) {
      if (e->type != event_type::pipeline_created) return corrupt(seq, "a pipeline must begin with pipeline_created");
      spec = e->spec;
    }
    out.push_back(std::move(*e));
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
  if (!opt_.read_only) info_of(pipeline).spec = spec;  // hosted again: appends use the reader's spec
  return out;
}

result<system_state> journal_store::replayed(const std::string& pipeline, journal_damage* damage) {
  auto h = history(pipeline, damage);
  if (!h) return h.err();
  auto state = replay(*h);
  if (state || state.err().code != errc::journal) return state;
  // The first event that does not fold (the prefixes before it do); an
  // invariant broken only at the end is the last event's.
  std::uint64_t good = 0, bad = h->size();
  if (!fold(*h)) {
    while (bad - good > 1) {
      const std::uint64_t mid = good + (bad - good) / 2;
      (state_at(*h, mid) ? good : bad) = mid;
    }
  }
  return damaged(journal_damage{pipeline, bad, 0, 0, state.err().message}, damage);
}

result<std::vector<journal_damage>> journal_store::gaps() {
  return in_read_transaction(db_, path_, [&]() -> result<std::vector<journal_damage>> {
    auto all = counted();
    if (!all) return all.err();
    // How many pipelines each gap makes suspect: those whose last row is
    // before it and after any earlier gap (the earlier one already names them).
    std::vector<std::size_t> suspects((*all)->gaps.size(), 0);
    for (const auto& [id, count] : (*all)->by_id)
      if (const pos_gap* g = gap_after(**all, count.last_pos)) ++suspects[static_cast<std::size_t>(g - (*all)->gaps.data())];
    std::vector<journal_damage> out;
    for (const pos_gap& g : (*all)->gaps) {
      std::string reason = describe_gap(g.from, g.to, g.why);
      const std::size_t n = suspects[static_cast<std::size_t>(&g - (*all)->gaps.data())];
      if (g.attributed)
        reason += "; the index says they belong to " + std::to_string(g.owners) +
                  (g.owners == 1 ? " pipeline" : " pipelines") + " (no other lost anything there)";
      else
        reason += n == 0 ? std::string("; no pipeline's history ends just before it")
                         : "; " + std::to_string(n) + (n == 1 ? " pipeline" : " pipelines") +
                               " whose history ends just before it may have lost events there";
      out.push_back(journal_damage{"", 0, g.from, g.to, std::move(reason)});
    }
    return out;
  });
}

result<std::vector<journal_damage>> journal_store::check() {
  auto out = gaps();
  if (!out) return out;
  auto all = pipelines();
  if (!all) return all.err();
  for (const pipeline_summary& p : *all) {
    journal_damage d;
    auto state = replayed(p.id, &d);
    if (state) continue;
    if (d.pipeline.empty()) d = journal_damage{p.id, 0, 0, 0, state.err().message};
    out->push_back(std::move(d));
  }
  return out;
}

std::optional<error> journal_store::put_meta(const std::string& key, const std::string& value) {
  if (opt_.read_only) return journal_error("journal " + path_ + " is open read-only");
  statement s(db_, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)");
  if (!s) return journal_error("journal " + path_ + ": " + sqlite_message(db_));
  sqlite3_bind_text(s.s, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
  sqlite3_bind_text(s.s, 2, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
  if (sqlite3_step(s.s) != SQLITE_DONE) return journal_error("journal " + path_ + ": write failed: " + sqlite_message(db_));
  return std::nullopt;
}

result<std::optional<std::string>> journal_store::get_meta(const std::string& key) {
  statement s(db_, "SELECT value FROM meta WHERE key = ?");
  if (!s) return journal_error("journal " + path_ + ": " + sqlite_message(db_));
  sqlite3_bind_text(s.s, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
  const int rc = sqlite3_step(s.s);
  if (rc == SQLITE_ROW) return std::optional<std::string>(std::string(column_text(s.s, 0)));
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  return journal_error("journal " + path_ + ": cannot read: " + sqlite_message(db_));
}

result<std::vector<pipeline_summary>> journal_store::pipelines() {
  return in_read_transaction(db_, path_, [&]() -> result<std::vector<pipeline_summary>> {
    auto all = counted();
    if (!all) return all.err();
    std::vector<pipeline_summary> out;
    out.reserve((*all)->order.size());
    for (const std::string* id : (*all)->order) out.push_back({*id, (*all)->by_id.at(*id).last_seq});
    return out;
  });
}

result<system_state> replay(std::span<const event> history, std::uint64_t upto_seq) {
  if (upto_seq != UINT64_MAX && upto_seq > history.size())
    return make_error(errc::not_found, "no event with seq " + std::to_string(upto_seq) + " (the history ends at " +
                                           std::to_string(history.size()) + ")");
  auto state = upto_seq >= history.size() ? fold(history) : state_at(history, upto_seq);
  if (!state) return journal_error("journal history does not replay: " + state.err().message);
  if (auto broken = check_invariants(*state); !broken.empty())
    return journal_error("journal history replays to a state that breaks an invariant at seq " +
                         std::to_string(state->seq()) + ": " + broken.front());
  return state;
}

}  // namespace dairector
