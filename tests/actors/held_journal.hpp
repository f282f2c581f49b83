// A journal stand-in for the test coordinator that commits only when the test
// says so, so "the journal is slow" or "the commit has not happened yet" is a
// step a test takes, never a sleep (actors.backpressure, actors.ack).
//
// Appends, persists and syncs wait in `held`, in arrival order, until
// (commit_atom, n) commits the next n events (answering each persist, and
// each sync once everything before it is committed), or (fail_atom, why)
// fails everything held as a failed write would: each persist and sync gets
// the error, each appender is told (journal_failed_atom), and every later
// write is refused the same way, like the durable journal after a failure.
#pragma once

#include <deque>
#include <optional>

#include "harness.hpp"

namespace dairector::testing {

using commit_atom = caf::atom_constant<caf::atom("tcommit")>;
using fail_atom = caf::atom_constant<caf::atom("tfail")>;

struct held_journal_state {
  static inline const char* name = "test.held_journal";
  struct entry {
    std::optional<event> e;  // none: a sync
    std::optional<caf::typed_response_promise<std::uint64_t>> answer;  // persist or sync
    caf::actor sender;  // told when a failure loses an append
  };
  std::deque<entry> held;
  std::size_t held_events = 0;
  std::size_t held_events_peak = 0;
  std::vector<event> committed;  // every pipeline's, in commit order
  std::size_t commits = 0;       // (commit_atom) messages that committed at least one event
  std::string failed;            // set by (fail_atom): every write is refused from then on
};
using held_journal_actor = caf::stateful_actor<held_journal_state>;

inline caf::error held_journal_failure(const std::string& why) {
  return caf::make_error(caf::sec::runtime_error, why);
}

inline caf::behavior held_journal(held_journal_actor* self, int /*unused: CAF 0.17 needs an argument*/) {
  // Holds a write, or refuses it after a failure. Returns the promise to answer with.
  auto hold = [self](std::optional<event> e, bool answered) -> caf::result<std::uint64_t> {
    auto& st = self->state;
    auto sender = caf::actor_cast<caf::actor>(self->current_sender());
    if (!st.failed.empty()) {
      if (answered) return held_journal_failure(st.failed);
      if (sender) self->send(sender, actors::journal_failed_atom::value, st.failed);
      return std::uint64_t{0};
    }
    if (e) st.held_events_peak = std::max(st.held_events_peak, ++st.held_events);
    std::optional<caf::typed_response_promise<std::uint64_t>> answer;
    if (answered) answer = self->make_response_promise<std::uint64_t>();
    st.held.push_back({std::move(e), answer, sender});
    if (answer) return *answer;
    return std::uint64_t{0};
  };
  return {
      [=](actors::append_atom, const event& e) { (void)hold(e, false); },
      [=](actors::persist_atom, const event& e) -> caf::result<std::uint64_t> { return hold(e, true); },
      [=](actors::journal_sync_atom) -> caf::result<std::uint64_t> { return hold(std::nullopt, true); },
      [=](commit_atom, std::size_t n) {
        auto& st = self->state;
        if (n > 0 && st.held_events > 0) ++st.commits;
        while (!st.held.empty() && (n > 0 || !st.held.front().e)) {
          auto& x = st.held.front();
          if (x.e) {
            --n;
            --st.held_events;
            st.committed.push_back(*x.e);
          }
          if (x.answer) x.answer->deliver(x.e ? x.e->seq : std::uint64_t(st.committed.size()));
          st.held.pop_front();
        }
      },
      [=](fail_atom, const std::string& why) {
        auto& st = self->state;
        st.failed = why;
        std::vector<caf::actor> told;
        for (auto& x : st.held) {
          if (x.answer) {
            x.answer->deliver(held_journal_failure(why));
          } else if (x.sender && std::find(told.begin(), told.end(), x.sender) == told.end()) {
            told.push_back(x.sender);
            self->send(x.sender, actors::journal_failed_atom::value, why);
          }
        }
        st.held.clear();
        st.held_events = 0;
      },
      [=](actors::history_atom, const std::string& pipeline) {
        std::vector<event> out;
        for (const auto& e : self->state.committed)
          if (e.pipeline == pipeline) out.push_back(e);
        return out;
      },
  };
}

inline held_journal_state& held_of(const caf::actor& a) {
  return dynamic_cast<held_journal_actor&>(*caf::actor_cast<caf::abstract_actor*>(a)).state;
}

}  // namespace dairector::testing
