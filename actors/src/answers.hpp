// Internal to the supervisor (answers.cpp): a client's answer is given only
// once the event it acknowledges is durable (supervisor.hpp, "An answer means
// durable"). The answers waiting for the journal are kept in the supervisor's
// state (`owed`), in the order their commands came.
#pragma once

#include "supervisor_state.hpp"

namespace dairector::actors {

/// The journal acknowledged every event up to `seq`: remembers it and
/// delivers the answers owed for those events.
void mark_durable(supervisor_actor* self, std::uint64_t seq);

/// Every answer still owed gets `why` (unavailable) instead: its event may
/// never be durable.
void fail_owed(supervisor_actor* self, const std::string& why);

/// Delivers `answer` through `promise` once event `seq` is durable: at once
/// when it already is (or there is no journal), the journal's error at once
/// if it failed, else when `mark_durable` reaches it or `fail_owed` runs.
void answer_when_durable(supervisor_actor* self, std::uint64_t seq, reply answer,
                         caf::typed_response_promise<reply> promise);

/// The same from within the request's handler: the answer itself when
/// nothing is to wait for, else a promise kept until then.
caf::result<reply> when_durable(supervisor_actor* self, std::uint64_t seq, reply answer);

}  // namespace dairector::actors
