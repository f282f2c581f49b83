// The SQLite journal backend, the embedded default (docs/design.md#the-journal):
// one file in WAL mode holding every event of every pipeline it serves, one
// row each, never updated or deleted.
//
// On disk (format version 1, frozen; `PRAGMA application_id` marks the file):
//   meta(key, value)        format_version, created_by
//   events(pos, pipeline, seq, type, at_ms, by, body, crc)
//     pos   journal-wide order, gapless from 1 (INTEGER PRIMARY KEY)
//     seq   gapless per pipeline from 1; UNIQUE(pipeline, seq)
//     body  the event as one line of JSON (docs/events.md#the-format, the codec)
//     crc   row_crc over pipeline, seq, type, at_ms, by and body, verified on
//           every read: a row that does not match is corruption, never applied
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
#pragma once

#include <memory>
#include <string>

#include "dairector/journal_store.hpp"

namespace dairector {

/// Opens (creating when writable and missing) the SQLite journal at `path`.
/// Errors (errc::journal): not a dairector journal, a newer format, owned
/// by another process ("... is owned by pid N on host H"), I/O.
result<std::unique_ptr<journal_store>> open_sqlite_journal(const std::string& path, journal_options opt = {});

}  // namespace dairector
