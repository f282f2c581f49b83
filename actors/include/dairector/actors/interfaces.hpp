// The actors' interfaces as types (caf::typed_actor): a request through one of
// these handles is checked by the compiler, so a message of the wrong shape
// (an argument missing, a `const char*` where a bool goes, a handler for the
// wrong answer) does not compile, where a dynamic `caf::actor` would answer
// `unexpected_message` at run time.
//
//   actors::supervisor_api sup = actors::typed_supervisor(actors::spawn_supervisor(sys, cfg));
//   self->request(sup, caf::infinite, actors::resolve_atom::value, true, note, by)
//       .receive([](actors::reply& r) { ... }, [](caf::error& e) { ... });
//
// Each interface lists what clients may send (the actor also takes messages
// from its own kind: workers' results, the journal's answers). The actors
// stay dynamically typed inside; `actors.interfaces` sends every message of
// every interface to the real actor and checks that it is understood and
// answered with the declared type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "dairector/actors/journal.hpp"
#include "dairector/actors/messages.hpp"
#include "dairector/actors/supervisor.hpp"

namespace dairector::actors {

/// A pipeline's supervisor (supervisor.hpp): the requests of clients.
using supervisor_api = caf::typed_actor<
    caf::replies_to<start_atom, std::string, std::string>::with<reply>,                 // stage, by
    caf::replies_to<cancel_atom, std::string, std::string>::with<reply>,                // stage ("": all), by
    caf::replies_to<context_atom, std::string, std::string, std::string>::with<reply>,  // stage, JSON, by
    caf::replies_to<resolve_atom, bool, std::string, std::string>::with<reply>,         // approved, note, by
    caf::replies_to<rollback_atom, std::uint64_t, std::string>::with<reply>,            // to seq, by
    caf::replies_to<retry_atom, std::string, std::string>::with<reply>,                 // stage, by
    caf::replies_to<durable_atom, std::uint64_t>::with<reply>,                          // ok once seq is durable
    caf::replies_to<state_atom>::with<system_state>,
    caf::replies_to<watch_atom, caf::actor>::with<system_state>,  // then a state_update per event
    caf::reacts_to<stop_atom>>;

/// Any journal (journal.hpp): what the memory journal and the durable one both take.
using journal_api = caf::typed_actor<
    caf::reacts_to<append_atom, event>,
    caf::replies_to<persist_atom, event>::with<std::uint64_t>,
    caf::replies_to<history_atom, std::string>::with<std::vector<event>>,
    caf::replies_to<journal_sync_atom>::with<std::uint64_t>,
    caf::reacts_to<subscribe_atom, caf::actor>>;

/// The durable journal: also positions, ownership, reopening and statistics.
using durable_journal_api = journal_api::extend<
    caf::replies_to<events_after_atom, std::uint64_t, std::uint64_t>::with<std::vector<positioned_event>>,
    caf::replies_to<own_atom, std::string>::with<std::uint64_t>,
    caf::replies_to<disown_atom, std::string>::with<bool>,
    caf::replies_to<reopen_atom>::with<std::uint32_t>,
    caf::replies_to<journal_stats_atom>::with<std::vector<std::uint64_t>>,
    caf::replies_to<journal_metrics_atom>::with<journal_metrics>,
    caf::replies_to<summary_atom>::with<std::vector<pipeline_summary>>,
    caf::replies_to<store_task_atom, std::shared_ptr<store_task>>::with<bool>>;

/// The remote-worker registry (registry.hpp), as a supervisor and the HTTP API use it.
using registry_api = caf::typed_actor<
    caf::replies_to<assign_request>::with<caf::actor>,
    caf::reacts_to<withdraw_request>,
    caf::reacts_to<unassign_request>,
    caf::reacts_to<lost_report>,
    caf::replies_to<waits_request>::with<std::vector<stage_wait>>,
    caf::replies_to<workers_count_request>::with<std::uint64_t>>;

/// The typed handle of an actor spawned by `supervisor`, `memory_journal`,
/// `spawn_durable_journal` or `registry`. Unchecked: give it an actor of that kind.
template <class Api>
Api typed_as(const caf::actor& a) {
  return caf::actor_cast<Api>(a);
}
inline supervisor_api typed_supervisor(const caf::actor& a) { return typed_as<supervisor_api>(a); }
inline journal_api typed_journal(const caf::actor& a) { return typed_as<journal_api>(a); }
inline durable_journal_api typed_durable_journal(const caf::actor& a) { return typed_as<durable_journal_api>(a); }
inline registry_api typed_registry(const caf::actor& a) { return typed_as<registry_api>(a); }

}  // namespace dairector::actors
