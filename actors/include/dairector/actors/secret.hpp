// Secrets of the worker port (docs/design.md#who-may-connect): run
// capabilities (a supervisor makes one per run it dispatches) and worker
// secrets (a worker process makes one per registration). Randomness lives
// here, in the actor layer: the core stays pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace dairector::actors {

/// Random bytes in a capability or a worker secret (printed as twice as many hex digits).
inline constexpr std::size_t secret_bytes = 32;
/// The longest worker secret a gate keeps (what a worker presents is outside data).
inline constexpr std::size_t secret_chars_max = 256;

/// `secret_bytes` bytes from the kernel's random source (getrandom, else
/// /dev/urandom) as lowercase hex. A process with neither stops: a guessable
/// secret would protect nothing. The bytes are drawn 4 KiB at a time into a
/// buffer of the calling thread (one system call per 128 secrets, not one per
/// run: it was 8% of the CPU of in-memory runs), each handed out once and
/// wiped; a forked child draws its own.
std::string random_secret();

/// 64 random bits from the same source (a pipeline's retry jitter seed).
std::uint64_t random_u64();

/// True if `a` and `b` are equal, in time that does not depend on where they differ.
bool tokens_equal(const std::string& a, const std::string& b);

}  // namespace dairector::actors
