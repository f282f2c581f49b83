// How `run`, `resume` and `serve` end without losing anything (rule 5 on the
// way out): the owner of the pipelines (a supervisor, the director) stops
// first and is awaited, so every event it appended is queued at the journal;
// then the journal commits what it holds and ends.
#pragma once

#include <iostream>

#include <caf/all.hpp>

#include "cli/commands.hpp"
#include "dairector/actors/journal.hpp"

namespace dairector::cli {

/// Returns `code`, or exit_journal (saying why on stderr, as `command`) when
/// the last commit fails; said once: not again if `code` is already exit_journal.
inline int stop_then_sync(caf::scoped_actor& self, const caf::actor& owner, const caf::actor& journal, int code,
                          const char* command) {
  self->monitor(owner);
  self->send(owner, actors::stop_atom::value);
  self->receive([](caf::down_msg&) {});
  self->request(journal, caf::infinite, actors::journal_sync_atom::value)
      .receive([](std::uint64_t) {},
               [&](caf::error& err) {
                 if (code == exit_journal) return;
                 std::cerr << "dairector " << command << ": " << actors::describe(err) << "\n";
                 code = exit_journal;
               });
  self->send_exit(journal, caf::exit_reason::user_shutdown);
  return code;
}

}  // namespace dairector::cli
