// One point of each growth_bench series (growth_bench.cpp says what each
// series is). A point runs in a fresh process of its own and returns
// {"ours": {...}, "baseline": {"name": ..., ...}, "evidence"?: {...},
// "config": {...}, "x"?: the parameter as measured}; every figure in it is
// measured. On a failure a point calls die (journal_workload.hpp).
#pragma once

#include <cstdint>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

namespace dairector::bench {

/// Looping pipelines of `stages` stages (no journal) beside the mutex-guarded
/// map replaying a chain of as many; evidence: the reducer alone and the
/// driver's questions (plan.hpp) per transition.
nlohmann::json stages_point(caf::actor_system& sys, std::uint64_t stages, bool quick);

/// `pipelines` concurrent 6-stage pipelines (no journal), their resident
/// memory and the process's peak, beside CAF ping-pong with as many pairs.
nlohmann::json pipelines_point(caf::actor_system& sys, std::uint64_t pipelines, bool quick);

/// Outputs of `bytes` made by a non-blocking handler, no journal, beside the
/// zero-copy floor; evidence: where outputs are copied and where not.
nlohmann::json payload_memory_point(caf::actor_system& sys, std::uint64_t bytes, bool quick);

/// The same on the SQLite journal in a scratch directory under the current
/// one, beside raw SQLite inserting the same encoded events.
nlohmann::json payload_durable_point(caf::actor_system& sys, std::uint64_t bytes, bool quick);

/// Recovery of a journal of about `events` events, beside a raw SELECT.
nlohmann::json recovery_point(caf::actor_system& sys, std::uint64_t events, int repetitions);

}  // namespace dairector::bench
