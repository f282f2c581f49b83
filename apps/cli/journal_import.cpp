// `dairector journal import FILE [--journal J] [--resume]`: appends the
// histories of a file that `journal export` wrote (JSON Lines of
// docs/events.md#the-format) to a journal, through journal_store::append, so
// every check of a normal append applies (docs/cli.md#journal-export-and-import).
//
// Two passes over the file, each holding at most one line and one pipeline:
//   1. validate: every line is parsed by the bounded parser and decoded by the
//      codec; each pipeline's events are together, from its pipeline_created
//      (seq 1) on, gapless, within the event size bound, and its history
//      replays (the reducer and the invariants); no pipeline is in the journal
//      already (with --resume: only a prefix of the file's, byte for byte).
//      Any refusal names its line, and nothing has been written.
//   2. write: the same lines again, in file order, in batches of at most
//      batch_events_max events (one transaction each). A pipeline's lines are
//      checked against pass 1's hash of them before any of its events is
//      written, so what is written is what was validated.
// A failure or crash in pass 2 leaves the journal holding a prefix of the
// file (whole pipelines, then at most one cut short), which `--resume`
// completes. Input that cannot be read twice (`-`, a pipe) is copied to an
// unlinked temporary file as pass 1 reads it.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <unordered_map>
#include <unordered_set>

#include "cli/commands.hpp"
#include "cli/journal_args.hpp"
#include "cli/line_reader.hpp"
#include "dairector/codec.hpp"
#include "dairector/reducer.hpp"
#include "dairector/text_check.hpp"

namespace dairector::cli {

namespace {

/// One transaction of the import, as one of the group commit (docs/events.md#durability).
constexpr std::size_t batch_events_max = 10'000;
constexpr std::size_t batch_bytes_max = 64u << 20;

struct import_options {
  std::string file;
  journal_args journal;
  bool resume = false;
};

error file_error(std::string message) { return make_error(errc::decode_failed, std::move(message)); }

// One pipeline of the file: where its lines are and what pass 1 found.
struct pipeline_block {
  std::string id;
  std::uint64_t first_line = 0;
  std::uint64_t events = 0;
  std::uint64_t hash = 0;
  std::uint64_t in_journal = 0;  // --resume: its first events, already in the journal
};

const json* member(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

bool is_created(const json& j) {
  const json* type = member(j, "type");
  return type && type->is_string() && type->get_ref<const std::string&>() == "pipeline_created";
}

std::string pipeline_of(const json& j) {
  const json* id = member(j, "pipeline");
  return id && id->is_string() ? id->get<std::string>() : std::string();
}

// The seq of the first event that does not replay (as journal_store::replayed finds it).
std::uint64_t first_bad_seq(const std::vector<event>& events) {
  std::uint64_t good = 0, bad = events.size();
  if (!fold(events)) {
    while (bad - good > 1) {
      const std::uint64_t mid = good + (bad - good) / 2;
      (state_at(events, mid) ? good : bad) = mid;
    }
  }
  return bad;
}

class importer {
public:
  importer(const import_options& opt, std::string name, std::FILE* in, std::FILE* spool, journal_store& store)
      : opt_(opt), name_(std::move(name)), in_(in), spool_(spool), store_(store) {}

  std::optional<error> validate();
  std::optional<error> write();
  std::string summary() const;

private:
  std::string at_line(std::uint64_t line) const { return name_ + " line " + std::to_string(line); }
  std::optional<error> read_error(line_reader::status st, std::uint64_t line) const;
  std::optional<error> take(std::string& line, std::uint64_t number);
  std::optional<error> close_block();
  std::optional<error> compare_with_journal();
  std::optional<error> flush();
  std::string what_is_written() const;  // after a failure in pass 2
  error changed(std::uint64_t line) const;

  const import_options& opt_;
  std::string name_;
  std::FILE* in_;
  std::FILE* spool_;  // the copy pass 2 reads, when the input cannot be read twice
  journal_store& store_;

  std::unordered_set<std::string> in_journal_;                 // the journal's pipelines, before the import
  std::unordered_map<std::string, std::uint64_t> seen_;        // pipeline id -> line of its pipeline_created
  std::vector<pipeline_block> plan_;
  // The pipeline being read: its events, its spec, what is known of it.
  pipeline_block block_;
  std::vector<event> events_;
  std::shared_ptr<const pipeline_spec> spec_;
  bool open_ = false;

  std::vector<event> pending_;  // pass 2: the next transaction
  std::size_t pending_bytes_ = 0;
  std::uint64_t pending_last_line_ = 0, durable_line_ = 0, written_ = 0, pipelines_written_ = 0;
};

std::optional<error> importer::read_error(line_reader::status st, std::uint64_t line) const {
  switch (st) {
    case line_reader::status::too_long:
      return file_error(at_line(line) + " is longer than " + std::to_string(line_bytes_max) +
                        " bytes, more than one event may take (" + bytes_text(event_bytes_max) + ")");
    case line_reader::status::unterminated:
      return file_error(at_line(line) + " does not end with a newline: the file looks cut short");
    case line_reader::status::failed:
      return file_error("cannot read " + name_ + " at line " + std::to_string(line) + ": " + std::strerror(errno));
    default: return std::nullopt;
  }
}

std::optional<error> importer::validate() {
  auto listed = store_.pipelines();
  if (!listed) return listed.err();
  for (pipeline_summary& p : *listed) in_journal_.insert(std::move(p.id));
  line_reader reader(in_);
  std::string line;
  for (;;) {
    const auto st = reader.next(line);
    if (st == line_reader::status::end) break;
    if (st != line_reader::status::line) return read_error(st, reader.number());
    if (spool_ && (std::fwrite(line.data(), 1, line.size(), spool_) != line.size() || std::fputc('\n', spool_) == EOF))
      return make_error(errc::journal, "cannot copy " + name_ + " to a temporary file: " + std::strerror(errno));
    if (auto err = take(line, reader.number())) return err;
  }
  if (open_) return close_block();
  return std::nullopt;
}

// Pass 1 on one line.
std::optional<error> importer::take(std::string& line, std::uint64_t number) {
  const std::string where = at_line(number);
  auto j = parse_json(line, where, {json_depth_max, line_bytes_max});
  if (!j) return file_error(j.err().message);
  const bool created = is_created(*j);
  if (created && open_) {
    if (auto err = close_block()) return err;
  }
  const pipeline_spec* spec = nullptr;
  if (!created) {
    const std::string id = pipeline_of(*j);
    if (open_ && id == block_.id) {
      spec = spec_.get();
    } else if (!id.empty()) {
      auto first = seen_.find(id);
      if (first == seen_.end())
        return file_error(where + ": an event of pipeline '" + id + "' before its pipeline_created");
      return file_error(where + ": an event of pipeline '" + id + "' (begun at line " + std::to_string(first->second) +
                        ") after pipeline '" + block_.id + "' began at line " + std::to_string(block_.first_line) +
                        ": each pipeline's events must be together");
    }
  }
  auto e = decode_event(*j, spec);
  if (!e) return file_error(where + " is not an event: " + e.err().message);
  if (created) {
    if (e->seq != 1)
      return file_error(where + ": pipeline_created of pipeline '" + e->pipeline + "' has seq " +
                        std::to_string(e->seq) + ": it must be the pipeline's first event, seq 1");
    if (auto first = seen_.find(e->pipeline); first != seen_.end())
      return file_error(where + ": pipeline '" + e->pipeline + "' begins a second time (first at line " +
                        std::to_string(first->second) + ")");
    if (in_journal_.count(e->pipeline) && !opt_.resume)
      return file_error(where + ": journal " + store_.path() + " already has pipeline '" + e->pipeline +
                        "'; nothing was imported (--resume carries on an import that stopped)");
    seen_.emplace(e->pipeline, number);
    block_ = pipeline_block{e->pipeline, number, 0, fnv_hash{}.value, 0};
    spec_ = e->spec;
    events_.clear();
    open_ = true;
  } else if (e->seq != events_.size() + 1) {
    return file_error(where + ": seq " + std::to_string(e->seq) + " of pipeline '" + e->pipeline +
                      "' does not follow seq " + std::to_string(events_.size()) + " (line " +
                      std::to_string(number - 1) + ")");
  }
  if (const std::size_t bytes = encode_event_text(*e, spec_.get()).size(); bytes > event_bytes_max)
    return file_error(where + ": the event is " + std::to_string(bytes) + " bytes as the journal stores it, over " +
                      "the limit of " + std::to_string(event_bytes_max));
  fnv_hash h{block_.hash};
  h.add(line);
  block_.hash = h.value;
  ++block_.events;
  events_.push_back(std::move(*e));
  return std::nullopt;
}

// The end of a pipeline's lines: it must replay as the journal replays it.
std::optional<error> importer::close_block() {
  open_ = false;
  if (auto state = replay(events_); !state) {
    const std::uint64_t seq = first_bad_seq(events_);
    return file_error(at_line(block_.first_line + seq - 1) + ": pipeline '" + block_.id + "': " +
                      state.err().message);
  }
  if (in_journal_.count(block_.id))
    if (auto err = compare_with_journal()) return err;
  plan_.push_back(std::move(block_));
  events_.clear();
  return std::nullopt;
}

// --resume: the journal's pipeline must be the file's, cut short at most.
std::optional<error> importer::compare_with_journal() {
  auto have = store_.history(block_.id);
  if (!have) return have.err();
  const std::string theirs = "journal " + store_.path() + "'s pipeline '" + block_.id + "'";
  if (have->size() > events_.size())
    return file_error(at_line(block_.first_line) + ": " + theirs + " has " + std::to_string(have->size()) +
                      " events, the file's " + std::to_string(events_.size()) + ": it is not the file's pipeline");
  const pipeline_spec* ours = events_.front().spec.get();
  const pipeline_spec* its = have->front().spec.get();
  for (std::size_t k = 0; k < have->size(); ++k)
    if (encode_event_text((*have)[k], its) != encode_event_text(events_[k], ours))
      return file_error(at_line(block_.first_line + k) + ": " + theirs + " differs from the file at seq " +
                        std::to_string(k + 1) + ": it is not the file's pipeline");
  block_.in_journal = have->size();
  return std::nullopt;
}

std::string importer::what_is_written() const {
  if (durable_line_ == 0) return "nothing of " + name_ + " was written";
  return "every event of " + name_ + " up to line " + std::to_string(durable_line_) +
         " is in the journal (--resume carries on from there)";
}

error importer::changed(std::uint64_t line) const {
  return file_error(name_ + " changed while it was imported (at line " + std::to_string(line) + "); " +
                    what_is_written());
}

std::optional<error> importer::flush() {
  if (pending_.empty()) return std::nullopt;
  if (auto err = store_.append(pending_)) {
    err->message += "; " + what_is_written();
    return err;
  }
  written_ += pending_.size();
  durable_line_ = pending_last_line_;
  pending_.clear();
  pending_bytes_ = 0;
  return std::nullopt;
}

std::optional<error> importer::write() {
  std::FILE* from = spool_ ? spool_ : in_;
  if (std::fflush(from) != 0 || std::fseek(from, 0, SEEK_SET) != 0)
    return file_error("cannot read " + name_ + " again: " + std::strerror(errno));
  line_reader reader(from);
  std::string line;
  std::vector<event> events;
  std::vector<std::size_t> sizes;
  for (const pipeline_block& b : plan_) {
    events.clear();
    sizes.clear();
    fnv_hash h;
    std::shared_ptr<const pipeline_spec> spec;  // held while its events are appended
    const bool whole = b.in_journal == b.events;  // --resume: only its bytes are checked
    for (std::uint64_t k = 0; k < b.events; ++k) {
      if (reader.next(line) != line_reader::status::line) return changed(reader.number());
      h.add(line);
      if (whole) continue;
      auto j = parse_json(line, at_line(reader.number()), {json_depth_max, line_bytes_max});
      if (!j) return changed(reader.number());
      auto e = decode_event(*j, spec.get());
      if (!e) return changed(reader.number());
      if (k == 0) spec = e->spec;
      events.push_back(std::move(*e));
      sizes.push_back(line.size());
    }
    if (h.value != b.hash) return changed(reader.number());
    if (whole) continue;
    if (b.in_journal > 0)
      if (auto owned = store_.own(b.id); !owned) return owned.err();
    for (std::uint64_t k = b.in_journal; k < b.events; ++k) {
      pending_.push_back(std::move(events[k]));
      pending_bytes_ += sizes[k];
      pending_last_line_ = b.first_line + k;
      if (pending_.size() >= batch_events_max || pending_bytes_ >= batch_bytes_max)
        if (auto err = flush()) return err;
    }
    ++pipelines_written_;
  }
  if (auto err = flush()) return err;
  // A clean hand-over: where servers share the journal, they need not wait
  // for this process's lease to run out before they take the pipelines.
  for (const pipeline_block& b : plan_)
    if (b.in_journal < b.events)
      if (auto err = store_.disown(b.id))
        std::cerr << "dairector journal import: " << err->message << " (its next owner waits for the lease)\n";
  return std::nullopt;
}

std::string importer::summary() const {
  std::string out = "imported " + std::to_string(pipelines_written_) +
                    (pipelines_written_ == 1 ? " pipeline (" : " pipelines (") + std::to_string(written_) +
                    " events) from " + name_ + " into journal " + store_.path();
  if (const std::size_t there = plan_.size() - pipelines_written_; there > 0)
    out += "; " + std::to_string(there) + " already there whole";
  return out;
}

// An unlinked temporary file in $TMPDIR (else /tmp): gone when closed or when the process dies.
std::FILE* make_spool() {
  const char* dir = std::getenv("TMPDIR");
  std::string path = std::string(dir && *dir ? dir : "/tmp") + "/dairector-import-XXXXXX";
  const int fd = ::mkstemp(path.data());
  if (fd < 0) return nullptr;
  ::unlink(path.c_str());
  std::FILE* f = ::fdopen(fd, "w+b");
  if (!f) ::close(fd);
  return f;
}

struct file_closer {
  bool owned = true;  // standard input is not ours to close
  void operator()(std::FILE* f) const {
    if (owned) std::fclose(f);
  }
};
using file_ptr = std::unique_ptr<std::FILE, file_closer>;

int import_file(const import_options& opt) {
  const bool from_stdin = opt.file == "-";
  const std::string name = from_stdin ? "standard input" : opt.file;
  file_ptr in(from_stdin ? stdin : std::fopen(opt.file.c_str(), "rb"), file_closer{!from_stdin});
  if (!in) return report("journal import", file_error("cannot open " + name + ": " + std::strerror(errno)));
  struct stat st {};
  file_ptr spool;
  if (::fstat(::fileno(in.get()), &st) != 0 || !S_ISREG(st.st_mode)) {
    spool.reset(make_spool());
    if (!spool)
      return report("journal import", make_error(errc::journal, "cannot make a temporary copy of " + name + ": " +
                                                                    std::strerror(errno)));
  }
  auto store = open_journal(opt.journal.journal_path(), opt.journal.options(/*read_only=*/false));
  if (!store) return report("journal import", store.err());
  importer job(opt, name, in.get(), spool.get(), **store);
  if (auto err = job.validate()) return report("journal import", *err);
  if (auto err = job.write()) return report("journal import", *err);
  std::cout << escape_for_terminal(job.summary()) << "\n";
  return exit_done;
}

}  // namespace

void add_journal_import(CLI::App& journal, int& exit_status) {
  auto* cmd = journal.add_subcommand(
      "import", "Append the histories of a file `journal export` wrote (every line checked before any is written)");
  auto opt = std::make_shared<import_options>();
  cmd->add_option("FILE", opt->file, "The JSON Lines file, - for standard input")->required();
  cmd->add_option("--journal", opt->journal.path,
                  "The journal to append to (default: $DAIRECTOR_JOURNAL, else dairector.db); created if missing");
  cmd->add_option("--sync", opt->journal.sync, "full (default) or normal, as for run (docs/events.md#durability)")
      ->check(CLI::IsMember({"full", "normal"}));
  cmd->add_flag("--resume", opt->resume,
                "Carry on an import that stopped: skip the pipelines already in the journal whole, complete one it "
                "holds the beginning of (refused if it differs from the file)");
  cmd->callback([&exit_status, opt] { exit_status = import_file(*opt); });
}

}  // namespace dairector::cli
