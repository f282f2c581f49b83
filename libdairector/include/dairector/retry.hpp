// Retry policies (docs/spec.md#retry-run-the-stage-again): how long a failed stage waits before
// its next run. Pure: the jitter comes from the pipeline's seed, recorded in
// its `pipeline_created` event, so every replay computes the same delay and
// the reducer can refuse a `retry_scheduled` whose delay is not the policy's.
#pragma once

#include <cstdint>

#include "dairector/spec.hpp"

namespace dairector {

/// The backoff after the `attempt`-th run (1 = the first) of `stage` failed:
/// base = min(backoff_max_ms, backoff_ms * 2^(attempt-1)), then "equal
/// jitter": a delay in [ceil(base/2), base] chosen by a splitmix64 hash of
/// (seed, stage, attempt). Half the backoff is always kept, so retries of
/// many pipelines spread out without any of them coming back at once.
std::uint64_t retry_delay_ms(const retry_spec& policy, std::uint64_t seed, stage_index stage, std::uint32_t attempt);

/// splitmix64's finaliser (Steele, Lea, Flood 2014): a bijection on 64 bits
/// with good avalanche, enough to spread jitter; not a secret.
constexpr std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// A seed is kept below 2^53 so that every JSON reader (a browser's too)
/// reads it back exactly.
inline constexpr std::uint64_t seed_mask = (std::uint64_t{1} << 53) - 1;

}  // namespace dairector
