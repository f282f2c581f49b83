#include "dairector/retry.hpp"

#include <algorithm>

namespace dairector {

std::uint64_t retry_delay_ms(const retry_spec& policy, std::uint64_t seed, stage_index stage, std::uint32_t attempt) {
  // base = min(M, B * 2^(k-1)) without overflow: doubling stops at M.
  std::uint64_t base = policy.backoff_ms;
  for (std::uint32_t k = 1; k < attempt && base < policy.backoff_max_ms; ++k) base *= 2;
  base = std::min(base, policy.backoff_max_ms);
  const std::uint64_t half = base / 2;  // at most this much is taken off
  const std::uint64_t h = mix64(seed ^ mix64((std::uint64_t{stage} << 32) | attempt));
  return base - h % (half + 1);
}

}  // namespace dairector
