// Retention (docs/cli.md#archive): finished histories moved out of the live
// journal into a file of JSON Lines that `journal import` restores, for the
// command line (`dairector archive`) and the server (POST /archive).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dairector/journal_store.hpp"

namespace dairector::cli {

struct archive_selection {
  std::vector<std::string> ids;                 // these, each of which must be finished
  std::optional<std::int64_t> finished_before;  // or every finished one whose last event is before (ms, UTC)
};

struct archive_report {
  std::string file;
  std::vector<std::string> pipelines;
  std::uint64_t events = 0;
};

/// "2026-11-01" or "2026-11-01T12:00:00[.000][Z]" (UTC) as ms since the
/// epoch; an error naming `what` otherwise.
result<std::int64_t> parse_archive_date(const std::string& text, const std::string& what);

/// archive-YYYYMMDDTHHMMSSZ.jsonl for the time `now_ms`.
std::string archive_file_name(std::int64_t now_ms);

/// Writes the selected histories to `file` (created, never overwritten),
/// makes it and its folder durable (fsync), and only then deletes them from
/// the journal in one transaction: a crash in between leaves them in both
/// places, never in neither. A pipeline named that is unknown
/// (errc::not_found) or not finished (errc::refused) stops everything
/// before the file is made.
result<archive_report> archive_pipelines(journal_store& store, const archive_selection& which, const std::string& file);

}  // namespace dairector::cli
