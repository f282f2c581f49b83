// One pipeline as `dairector list` and GET /pipelines show it (docs/cli.md#list,
// docs/http.md): the same object on both, so that `list --json` on a journal
// and on a server print the same thing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dairector/plan.hpp"
#include "dairector/result.hpp"

namespace dairector::cli {

struct listed_pipeline {
  std::string id;
  std::string name;
  std::optional<pipeline_outcome> outcome;  // none: damaged (its history cannot be trusted)
  std::uint64_t seq = 0;
  std::int64_t created_ms = 0, last_ms = 0;  // 0: not known
  std::uint64_t damaged_seq = 0;
  std::string damage;  // why it is damaged; empty: it is not
};

/// {"pipeline", "name", "outcome", "seq", "created", "last_change"} (times
/// ISO 8601 UTC, null when not known; outcome null when damaged, which adds
/// "damage": {"seq", "reason"}).
json listing_json(const listed_pipeline& p);

/// Newest first: by creation time, then by id (the order is total).
void sort_newest_first(std::vector<listed_pipeline>& all);

/// `--outcome X` and `?outcome=X`: one of the names of pipeline_outcome, or
/// an error (errc::decode_failed) that lists them.
result<pipeline_outcome> outcome_named(std::string_view name, std::string_view what);

}  // namespace dairector::cli
