// The reducer: the only function that changes a pipeline's state.
//
// `apply(state, event)` returns the next state, or a refusal saying why the
// event is not legal in that state. It is pure: no clock, no randomness, no
// I/O; everything it needs is in its arguments. Pass the state by value:
// moving in a state nobody else holds lets it be updated in place.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "dairector/event.hpp"
#include "dairector/state.hpp"

namespace dairector {

/// A stage may be started at most this many times (bounds retry loops,
/// interrupted re-runs and approvals under `--yes`).
inline constexpr std::uint32_t stage_attempts_max = 1000;

result<system_state> apply(system_state state, const event& e);

/// The same transition on `state` itself: on success it holds the next state;
/// on a refusal it is exactly as it was. The supervisor's path: no copy when
/// nothing else shares the state's parts.
std::optional<error> apply_in_place(system_state& state, const event& e);

/// Whether `apply(state, e)` would succeed, and why not; `state` is not
/// changed. The end of a run is checked without copying the state.
std::optional<error> check(const system_state& state, const event& e);

/// The state after every event, from the empty state. Events must be the
/// pipeline's whole history from seq 1; `rolled_back` targets are resolved
/// from the history itself.
result<system_state> fold(std::span<const event> events);

/// The state right after event `seq` (time travel); seq 0 is the empty state.
result<system_state> state_at(std::span<const event> events, std::uint64_t seq);

}  // namespace dairector
