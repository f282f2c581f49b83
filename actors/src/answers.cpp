#include "answers.hpp"

#include <algorithm>

namespace dairector::actors {

void mark_durable(supervisor_actor* self, std::uint64_t seq) {
  auto& st = self->state;
  st.durable_seq = std::max(st.durable_seq, seq);
  // Those still waiting first, the due ones after, each in their order.
  auto due = std::stable_partition(st.owed.begin(), st.owed.end(),
                                   [&](const owed_answer& o) { return o.seq > st.durable_seq; });
  for (auto it = due; it != st.owed.end(); ++it) it->promise.deliver(std::move(it->answer));
  st.owed.erase(due, st.owed.end());
}

void fail_owed(supervisor_actor* self, const std::string& why) {
  auto& st = self->state;
  for (auto& o : st.owed) o.promise.deliver(reply{reply::unavailable, why, st.state.seq()});
  st.owed.clear();
}

// The supervisor carries on meanwhile: only the answer waits, so this costs
// the client latency, not the pipeline throughput.
void answer_when_durable(supervisor_actor* self, std::uint64_t seq, reply answer,
                         caf::typed_response_promise<reply> promise) {
  auto& st = self->state;
  if (!st.cfg.journal || st.durable_seq >= seq) {
    promise.deliver(std::move(answer));
    return;
  }
  if (!st.journal_error.empty()) {
    promise.deliver(reply{reply::unavailable, st.journal_error, st.state.seq()});
    return;
  }
  st.owed.push_back(owed_answer{seq, std::move(answer), std::move(promise)});
}

caf::result<reply> when_durable(supervisor_actor* self, std::uint64_t seq, reply answer) {
  const auto& st = self->state;
  if (!st.cfg.journal || st.durable_seq >= seq) return answer;
  auto promise = self->make_response_promise<reply>();
  answer_when_durable(self, seq, std::move(answer), promise);
  return promise;
}

}  // namespace dairector::actors
