// The SQLite journal backend, the embedded default (docs/design.md#the-journal):
// one file in WAL mode holding every event of every pipeline it serves, one
// row each, never updated or deleted.
//
// On disk (`PRAGMA application_id` marks the file, `PRAGMA user_version` and
// meta.format_version give the format). Format 2, what a new journal gets:
//   meta(key, value)        format_version, created_by
//   events(pos, pipeline, seq, prev, type, at_ms, by, body, crc)
//     pos   journal-wide order, gapless from 1 (INTEGER PRIMARY KEY)
//     seq   gapless per pipeline from 1
//     prev  the pos of the pipeline's previous event (0 for seq 1): each
//           pipeline's events are a chain, read back from its head
//     body  the event as one line of JSON (docs/events.md#the-format, the codec)
//     crc   row_crc over pipeline, seq, type, at_ms, by and body, verified on
//           every read: a row that does not match is corruption, never applied
//   heads(first_pos, pipeline, last_pos, last_seq, created_ms, last_ms, crc)
//     one row per pipeline, changed in the transaction of every append:
//     where its chain begins (INTEGER PRIMARY KEY: pipelines in order of
//     creation, and the heads that an append changes are those of recent
//     pipelines, next to each other) and ends; UNIQUE(pipeline); crc
//     (head_crc) over pipeline, first_pos, last_pos and last_seq.
// No index on (pipeline, seq): an append writes its rows at the end of the
// table and a few pages of heads, whatever the spread of its pipelines,
// instead of one index page per pipeline (docs/design.md#the-journal).
// A history is the chain, followed back from its head: every hop must be
// the same pipeline's previous seq at a smaller pos, and the chain must end
// at seq 1 at first_pos, so a missing, unreadable or foreign row is damage
// named by the pipeline's seq and pos, and a pipeline is never suspect for
// another's loss. A writer takes a pipeline's last seq from its head (no
// scan at open); `journal check` reads the whole table and reports rows past
// their pipeline's head or without one.
//
// Format 1 (still read and written; `upgrade_sqlite_journal` moves it on):
// no prev, no heads, UNIQUE(pipeline, seq). A pipeline's last seq is counted
// by one scan of the table (a damaged index could hide the end of a history).
// A missing row leaves a gap whose owner the format cannot name, so every
// pipeline whose last row comes before a gap may have lost its later events
// there: its history is refused (errc::journal naming the gap), never replayed
// as if it were whole. A page of the table that SQLite cannot read is read
// past, and the index (pipeline, seq, pos) says whose rows it held. A deleted
// *last* row of the whole journal looks exactly like a transaction that never
// committed (a torn tail) and cannot be told apart.
//
// One owner: a store opened for writing holds an exclusive lock on
// `PATH.lock` (a POSIX lock: released when the process dies, even by SIGKILL)
// that names its owner (pid and host, given by the caller); a second writer
// gets an error naming them. On the same open file it also holds an flock,
// which the owner hands to the stage commands it runs (owner_lock_fd): a new
// owner then also waits until no command of a dead one is still running.
// Read-only stores take no lock and work beside a running owner (WAL).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "dairector/journal_store.hpp"

namespace dairector {

/// Opens (creating when writable and missing) the SQLite journal at `path`.
/// Errors (errc::journal): not a dairector journal, a newer format, owned
/// by another process ("... is owned by pid N on host H"), I/O.
result<std::unique_ptr<journal_store>> open_sqlite_journal(const std::string& path, journal_options opt = {});

/// The newest format, what a new journal gets (journal_options::create_format: 1 or 2).
inline constexpr int sqlite_journal_format = 2;

struct journal_upgrade {
  int from = 0, to = 0;  // equal: it was already the newest
  std::uint64_t events = 0, pipelines = 0;
};

/// `dairector journal upgrade`: takes the journal as its owner (`opt` as
/// for opening it to write), refuses one with any damage (`check`; errc::journal,
/// nothing written), and rewrites it in the newest format in one
/// transaction: every row kept as it is (pos, CRC), each linked to its
/// pipeline's previous, and a head per pipeline. A crash midway leaves it
/// as it was. The space the old index took is reused by later appends.
result<journal_upgrade> upgrade_sqlite_journal(const std::string& path, journal_options opt);

}  // namespace dairector
