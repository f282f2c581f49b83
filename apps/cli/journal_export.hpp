// What `journal export` writes, for whoever writes the same lines elsewhere
// (`archive`, docs/cli.md#archive): histories as JSON Lines that `journal
// import` reads back (docs/events.md#the-format).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "dairector/journal_store.hpp"

namespace dairector::cli {

/// The pipeline's history, refused as the journal refuses it (a row that
/// fails its checks, a gap, a history that does not replay: errc::journal
/// naming the seq).
result<std::vector<event>> sound_history(journal_store& store, const std::string& id);

/// Writes `history` to `out`, one line per event (encode_event_text); false
/// when a write fails.
bool write_history(const std::vector<event>& history, std::FILE* out);

}  // namespace dairector::cli
