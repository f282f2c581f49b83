// An actor that no exit message ends. CAF ends any actor that gets an
// exit_msg with reason `kill`, trapped or not, and a peer of the network
// layer can send one to any actor it can address (and link to it, so that
// its own disconnection sends one). The actors a peer can address (the
// server's gate, a worker's endpoint) are linked to nobody, so every exit
// message they could get is hostile: it is dropped before CAF looks at it.
// They end on a local-only message instead.
#pragma once

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

}  // namespace dairector::actors
