// An actor that no exit message ends. CAF ends any actor that gets an
// exit_msg with reason `kill`, trapped or not, and a peer of the network
// layer can send one to any actor it can address (and link to it, so that
// its own disconnection sends one). The actors a peer can address (the
// server's gate, a worker's endpoint) are linked to nobody, so every exit
// message they could get is hostile: it is dropped before CAF looks at it.
// They end on a local-only message instead.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <caf/all.hpp>

namespace dairector::actors {

template <class State>
class exit_proof_actor : public caf::stateful_actor<State> {
 public:
  using caf::stateful_actor<State>::stateful_actor;

  caf::invoke_message_result consume(caf::mailbox_element& x) override {
    if (x.content().match_elements<caf::exit_msg>()) {
      ++this->state.exits_dropped;
      return caf::invoke_message_result::dropped;
    }
    return caf::stateful_actor<State>::consume(x);
  }
};

/// Whatever such an actor does not take: counted in `state.dropped`; the
/// first `logged_max` are logged through `state.cfg.log` (may be null), so a
/// peer that floods it cannot flood the log. `prefix` starts each line.
template <class State>
void note_dropped(exit_proof_actor<State>* self, const std::string& what, std::string_view prefix,
                  std::uint64_t logged_max) {
  auto& st = self->state;
  ++st.dropped;
  if (st.dropped > logged_max || !st.cfg.log) return;
  const auto& s = self->current_sender();
  st.cfg.log(std::string(prefix) + "dropped " + what +
             (s ? " from node " + caf::to_string(s->node()) : std::string(" from nobody")) +
             (st.dropped == logged_max ? " (further ones are counted, not logged)" : ""));
}

/// Error messages, exit messages (consume above drops them first) and
/// messages it has no handler for: each goes to `note(self, what)`. Such an
/// actor links and asks nobody, so every one of them is a peer's.
template <class State, class Note>
void drop_what_it_does_not_take(exit_proof_actor<State>* self, Note note) {
  self->set_error_handler([=](caf::error&) { note(self, "an error message"); });
  self->set_exit_handler([=](caf::exit_msg&) { note(self, "an exit message"); });
  self->set_default_handler([=](caf::scheduled_actor*, caf::message_view&) -> caf::result<caf::message> {
    note(self, "a message it does not handle");
    return caf::make_error(caf::sec::unexpected_message);
  });
}

}  // namespace dairector::actors
