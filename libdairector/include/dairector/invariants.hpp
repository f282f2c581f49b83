// The invariants of docs/design.md#the-model as code (docs/contributing.md#habit-3-invariants-are-code). Tests call
// `check_invariants` after every event; the journal reader calls it on replay.
#pragma once

#include <string>
#include <vector>

#include "dairector/state.hpp"

namespace dairector {

/// Every violated invariant, as a sentence naming the stage. Empty when the
/// state is sound.
std::vector<std::string> check_invariants(const system_state& s);

}  // namespace dairector
