// The journal protocol the supervisor speaks (DESIGN.md rules 4, 5, 9):
//
//   (append_atom, event)   fire and forget: start events and system decisions
//                          (rule 4: memory first, then disk, without waiting);
//   (persist_atom, event)  -> uint64_t seq once the event is durable (rule 5:
//                          the supervisor awaits it before applying a completion);
//   (history_atom, std::string pipeline) -> std::vector<event>, the pipeline's
//                          events in seq order (rollback, time travel, audit).
//
// Appends from one supervisor arrive in its send order (CAF keeps FIFO per
// sender), so the journal sees each pipeline's events in seq order.
// `memory_journal` keeps events in memory; the durable SQLite journal speaks the
// same protocol.
#pragma once

#include <caf/all.hpp>

#include "dairector/actors/messages.hpp"

namespace dairector::actors {

using persist_atom = caf::atom_constant<caf::atom("dpersist")>;

/// An in-memory journal: acknowledges at once, keeps every event, up to
/// `events_max` in all; past that a persist fails (never acknowledged) and an
/// append is dropped, so memory stays bounded.
inline constexpr std::size_t memory_journal_events_max = 10'000'000;
caf::behavior memory_journal(caf::event_based_actor* self, std::size_t events_max);

}  // namespace dairector::actors
