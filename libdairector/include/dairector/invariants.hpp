// The invariants of DESIGN.md as code (STYLE.md habit 3). Tests call
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
