// libFuzzer target: any bytes as a journal file (docs/design.md#the-journal),
// read as `status` or recovery would: open it read-only, list its pipelines,
// read each one's history and replay it.
//
// Every input must be answered with values or error values (errc::journal,
// or errc::not_found for a journal that holds nothing or not that pipeline),
// never a crash, an exception or undefined behaviour. What reads must be what
// the store promises: a history is its pipeline's, gapless from seq 1, and
// begins with pipeline_created; a replay that succeeds is a sound state at
// the history's last seq.
//
// Each input is read twice: as it is, then with every row's crc recomputed
// over its (mutated) columns. A mutated row almost never keeps its checksum,
// so without the second reading the decoder, the column checks and replay
// would hardly ever see a mutation; the checksum's own test is the first.
//
// Seeds (corpus/journal): the golden journal (tests/journal/golden), and the
// same journal VACUUMed into 512-byte pages without WAL, smaller so that more
// mutations land in rows; and both again upgraded to format 2 (`dairector
// journal upgrade`: chains and heads, whose crc the second reading
// recomputes too, so that a mutated head or link meets the chain's checks);
// found-*: inputs the fuzzer found, kept so that every run replays them.
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "dairector/invariants.hpp"
#include "dairector/journal/open.hpp"
#include "dairector/journal_store.hpp"

namespace {

using namespace dairector;

[[noreturn]] void broken(const std::string& what) {
  std::fprintf(stderr, "fuzz_journal: %s\n", what.c_str());
  std::abort();
}

std::string path_in(const std::string& dir) { return dir + "/j.db"; }

constexpr const char* journal_suffixes[] = {"", "-wal", "-shm", "-journal"};

/// The journal file every input is written to, in a directory of its own
/// (removed at exit; left behind after a crash, with the input in it).
const std::string& journal_path() {
  static std::string dir = "/tmp/dairector-fuzz-journal-XXXXXX";
  static const std::string path = [] {
    if (::mkdtemp(dir.data()) == nullptr) broken("mkdtemp failed");
    std::atexit([] {
      for (const char* suffix : journal_suffixes) ::unlink((path_in(dir) + suffix).c_str());
      ::rmdir(dir.c_str());
    });
    return path_in(dir);
  }();
  return path;
}

void write_input(const std::string& path, const std::uint8_t* data, std::size_t size) {
  // A WAL or wal-index left by the previous input would be read with this one.
  for (const char* suffix : journal_suffixes) ::unlink((path + suffix).c_str());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) broken("cannot create " + path);
  for (std::size_t done = 0; done < size;) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) broken("cannot write " + path);
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

/// crc_v1(pipeline, seq, type, at_ms, by, body): the crc column of format 1
/// (journal_store.hpp), from the values as the store reads them.
void crc_v1(sqlite3_context* ctx, int, sqlite3_value** v) {
  uLong crc = crc32(0L, Z_NULL, 0);
  auto add = [&](const std::string& part) {
    crc = crc32(crc, reinterpret_cast<const Bytef*>(part.data()), static_cast<uInt>(part.size()));
    crc = crc32(crc, reinterpret_cast<const Bytef*>("\n"), 1);
  };
  auto text = [&](int i) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_value_text(v[i]));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_value_bytes(v[i]))) : std::string();
  };
  add(text(0));
  add(std::to_string(static_cast<std::uint64_t>(sqlite3_value_int64(v[1]))));
  add(text(2));
  add(std::to_string(sqlite3_value_int64(v[3])));
  add(text(4));
  add(text(5));
  sqlite3_result_int64(ctx, static_cast<sqlite3_int64>(crc));
}

/// Recomputes every row's crc (and every head's); false when the file does not let us.
bool reseal(const std::string& path) {
  sqlite3* db = nullptr;
  bool ok = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK &&
            sqlite3_create_function(db, "crc_v1", 6, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr, crc_v1, nullptr,
                                    nullptr) == SQLITE_OK &&
            // No fsync: the file is scratch, and speed is coverage.
            sqlite3_exec(db,
                         "PRAGMA synchronous=OFF;"
                         "UPDATE events SET crc = crc_v1(pipeline, seq, type, at_ms, by, body)",
                         nullptr, nullptr, nullptr) == SQLITE_OK;
  // Format 2's heads too (head_crc: type "head", first_pos as at_ms, last_pos as body).
  if (ok)
    sqlite3_exec(db,
                 "UPDATE heads SET crc = crc_v1(pipeline, last_seq, 'head', first_pos, '', CAST(last_pos AS TEXT))",
                 nullptr, nullptr, nullptr);
  sqlite3_close_v2(db);
  return ok;
}

void check_refusal(const error& err, const char* what) {
  if (err.message.empty()) broken(std::string(what) + ": an error without a message");
  if (err.code != errc::journal && err.code != errc::not_found)
    broken(std::string(what) + ": an error with code " + to_string(err.code) + ": " + err.message);
}

void read_journal(const std::string& path) {
  journal_options opt;
  opt.read_only = true;
  auto j = open_journal(path, opt);
  if (!j) {
    check_refusal(j.err(), "open");
    return;
  }
  auto listed = (*j)->pipelines();
  if (!listed) {
    check_refusal(listed.err(), "pipelines");
    return;
  }
  for (const pipeline_summary& p : *listed) {
    auto history = (*j)->history(p.id);
    if (!history) {
      check_refusal(history.err(), "history");
      continue;
    }
    const auto& events = *history;
    if (events.empty()) broken("an empty history of '" + p.id + "' was returned as a value");
    if (events.front().type != event_type::pipeline_created || !events.front().spec)
      broken("the history of '" + p.id + "' does not begin with pipeline_created");
    for (std::size_t k = 0; k < events.size(); ++k) {
      if (events[k].seq != k + 1) broken("the history of '" + p.id + "' is not gapless from seq 1");
      if (events[k].pipeline != p.id) broken("the history of '" + p.id + "' holds another pipeline's event");
    }
    auto state = replay(events);
    if (!state) {
      check_refusal(state.err(), "replay");
      continue;
    }
    if (state->seq() != events.size()) broken("replay of '" + p.id + "' stops short of its last seq");
    if (auto v = check_invariants(*state); !v.empty()) broken("replay returned a state that breaks: " + v.front());
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  journal_path();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = journal_path();
  write_input(path, data, size);
  read_journal(path);
  if (reseal(path)) read_journal(path);
  return 0;
}
