#include "dairector/state.hpp"

#include <algorithm>
#include <cstring>

#include "dairector/codec.hpp"

namespace dairector {

const char* to_string(stage_status s) {
  switch (s) {
    case stage_status::pending: return "pending";
    case stage_status::ready: return "ready";
    case stage_status::running: return "running";
    case stage_status::completed: return "completed";
    case stage_status::failed: return "failed";
    case stage_status::cancelled: return "cancelled";
    case stage_status::outdated: return "outdated";
  }
  return "?";
}

const char* to_string(errc code) {
  switch (code) {
    case errc::spec_invalid: return "spec_invalid";
    case errc::refused: return "refused";
    case errc::blocked: return "blocked";
    case errc::decode_failed: return "decode_failed";
    case errc::not_found: return "not_found";
    case errc::journal: return "journal";
    case errc::fenced: return "fenced";
    case errc::unavailable: return "unavailable";
    case errc::owned: return "owned";
    case errc::behind: return "behind";
  }
  return "?";
}

bool system_state::upstream_done(stage_index i) const {
  const pipeline_spec& sp = spec();
  for (stage_index up : sp[i].after) {
    const stage_state& u = stages_[up];
    if (u.stored != run_status::completed) return false;
    if (sp[up].confirm && !u.confirmed) return false;
  }
  return true;
}

stage_status system_state::status(stage_index i) const {
  switch (stages_[i].stored) {
    case run_status::idle: return upstream_done(i) ? stage_status::ready : stage_status::pending;
    case run_status::running: return stage_status::running;
    case run_status::completed: return stage_status::completed;
    case run_status::failed: return stage_status::failed;
    case run_status::cancelled: return stage_status::cancelled;
    case run_status::outdated: return stage_status::outdated;
  }
  return stage_status::pending;
}

system_state system_state::created(std::shared_ptr<const pipeline_spec> spec, std::string pipeline,
                                   std::uint64_t seq, std::uint64_t seed, std::shared_ptr<const json> input) {
  system_state s;
  const std::size_t n = spec->size();
  s.info_ = std::make_shared<const info>(info{std::move(spec), std::move(pipeline), n, seed, std::move(input)});
  s.stages_ = std::make_shared<stage_state[]>(n);
  s.payloads_ = std::make_shared<std::vector<stage_payload>>(n);
  s.seq_ = seq;
  return s;
}

bool same_json(const std::shared_ptr<const json>& a, const std::shared_ptr<const json>& b) {
  if (a == b) return true;
  if (!a || !b) return false;
  return *a == *b;
}

bool same_facts(const system_state& a, const system_state& b) {
  if (a.empty() || b.empty()) return a.empty() == b.empty() && a.seq_ == b.seq_;
  if (a.seq_ != b.seq_ || a.pipeline() != b.pipeline() || a.size() != b.size() || a.seed() != b.seed()) return false;
  if (a.spec_ptr() != b.spec_ptr() && a.spec().to_json() != b.spec().to_json()) return false;
  if (!same_json(a.input(), b.input())) return false;
  for (stage_index i = 0; i < a.size(); ++i) {
    if (!(a.stages_[i] == b.stages_[i])) return false;
    const stage_payload& pa = a.payload(i);
    const stage_payload& pb = b.payload(i);
    if (!same_json(pa.output, pb.output) || !same_json(pa.context, pb.context)) return false;
    if ((pa.error == nullptr) != (pb.error == nullptr)) return false;
    if (pa.error && *pa.error != *pb.error) return false;
    if (a.retry_at(i) != b.retry_at(i)) return false;
  }
  const confirmation* ca = a.pending();
  const confirmation* cb = b.pending();
  if ((ca == nullptr) != (cb == nullptr)) return false;
  return !ca || (ca->stage == cb->stage && ca->requested_seq == cb->requested_seq && ca->message == cb->message);
}

// Copy-on-write: a part shared with another state is copied before the first
// write. stage_state is trivially copyable, so the copy is one memcpy into
// uninitialised storage.
void state_editor::copy_stages() {
  // Raw cells: make_shared_for_overwrite leaves them uninitialised (stage_state
  // itself has default member initialisers, which would run for every
  // element); memcpy then creates the stage_state objects (C++20 implicit
  // object creation for trivially copyable types). One allocation.
  struct cell {
    alignas(stage_state) unsigned char bytes[sizeof(stage_state)];
  };
  const std::size_t n = s_.size();
  auto raw = std::make_shared_for_overwrite<cell[]>(n);
  std::memcpy(static_cast<void*>(raw.get()), s_.stages_.get(), n * sizeof(stage_state));
  s_.stages_ = std::shared_ptr<stage_state[]>(raw, reinterpret_cast<stage_state*>(raw.get()));
}

void state_editor::copy_payloads() {
  s_.payloads_ = std::make_shared<std::vector<stage_payload>>(*s_.payloads_);
}

void state_editor::assign_stages_from(const system_state& other) {
  s_.stages_ = other.stages_;
  s_.payloads_ = other.payloads_;
  stages_owned_ = false;
  payloads_owned_ = false;
}

json state_to_json(const system_state& s) {
  json out = json::object();
  if (s.empty()) {
    out["pipeline"] = nullptr;
    out["seq"] = s.seq();
    out["stages"] = json::array();
    out["pending_confirmation"] = nullptr;
    return out;
  }
  out["pipeline"] = s.pipeline();
  out["name"] = s.spec().name();
  out["seq"] = s.seq();
  if (s.input()) out["input"] = *s.input();  // given at creation (docs/protocol.md#the-input)
  json stages = json::array();
  for (stage_index i = 0; i < s.size(); ++i) {
    const stage_state& st = s.stage(i);
    const stage_payload& p = s.payload(i);
    json j = {{"name", s.spec()[i].name},
              {"status", to_string(s.status(i))},
              {"run", st.run == 0 ? json(nullptr) : json(st.run)},
              {"attempt", st.attempt},
              {"output", p.output ? *p.output : json(nullptr)}};
    if (p.context) j["context"] = *p.context;
    if (p.error) j["error"] = *p.error;
    if (st.stored == run_status::outdated && st.cause != no_stage)
      j["outdated_by"] = s.spec()[st.cause].name;
    if (s.spec()[i].on_failure) j["reruns"] = st.reruns;
    if (s.spec()[i].retry) j["tries"] = st.tries;
    if (const std::int64_t at = s.retry_at(i)) j["retry_at"] = format_time(at);
    stages.push_back(std::move(j));
  }
  out["stages"] = std::move(stages);
  if (const confirmation* c = s.pending())
    out["pending_confirmation"] = {{"stage", s.spec()[c->stage].name}, {"message", c->message},
                                   {"requested_seq", c->requested_seq}};
  else
    out["pending_confirmation"] = nullptr;
  return out;
}

}  // namespace dairector
