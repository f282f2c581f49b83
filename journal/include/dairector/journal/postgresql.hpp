// The PostgreSQL journal backend, for many servers on one database
// (docs/cli.md#postgresql-journal), through libpq.
//
// In the database (format version 1, in the schema `dairector`, created on
// first use; `meta.format_version` says which):
//   meta(key, value)             format_version, created_by, and put_meta's facts
//   head(one, pos)               one row: the last journal-wide position handed out
//   events(pos, pipeline, seq, type, at_ms, "by", body, crc)
//     as the SQLite backend's rows (journal/include/dairector/journal/sqlite.hpp);
//     pos is gapless from 1: each append takes its range from `head` in its
//     own transaction (a sequence would leave holes on rollback), so a missing
//     row, even the last one, shows as a gap (`gaps`)
//   owners(pipeline, node, epoch) who writes each pipeline, and since when
//   nodes(name, incarnation, http, lease_until, stopping)  the servers' leases
//
// Fencing: a store writes as the node journal_options::owner names and
// remembers the epoch of each pipeline it owns (it created it: epoch 1, or
// `own` gave it a new one). Every append locks the owners rows of its
// pipelines and compares them in its transaction: the events of a pipeline
// whose owner or epoch moved on are refused (errc::fenced, `take_fenced`),
// the other pipelines' events are written. Commits are as durable as
// journal_sync says: synchronous_commit on (full) or off (normal).
#pragma once

#include <memory>
#include <string>

#include "dairector/journal_store.hpp"

namespace dairector {

/// Opens the PostgreSQL journal at `uri` (postgresql://... or postgres://...,
/// libpq's URI), creating its schema when writable and missing. Errors
/// (errc::journal): cannot connect (libpq's reason, without the password),
/// a newer format, not a dairector schema; errc::not_found when read-only
/// and nothing was ever written.
result<std::unique_ptr<journal_store>> open_postgresql_journal(const std::string& uri, journal_options opt = {});

}  // namespace dairector
