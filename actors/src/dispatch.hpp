// Internal to the supervisor (dispatch.cpp): how a started run reaches a worker.
#pragma once

#include "supervisor_state.hpp"

namespace dairector::actors {

/// Sends stage `i`'s live run (just started) to a worker: first offered to
/// the registry's worker processes when there is a registry, else (or when
/// none is free) to this process's workers, a command after a slot of the
/// gate. Records the run in `self->state.runs`.
void dispatch(supervisor_actor* self, stage_index i);

/// A fenced run that may still wait for a worker (its assign queued in the
/// registry): the wait ends, so that no stale wait is shown or logged.
void withdraw(supervisor_actor* self, std::uint64_t run, const live_run& r);

/// Gives back the run's slot of the command limit, if it holds one.
void release_slot(supervisor_actor* self, live_run& r);

}  // namespace dairector::actors
