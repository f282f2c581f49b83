#include "dairector/journal/solo_lease.hpp"

#include <unistd.h>

#include <chrono>
#include <iostream>

#include "dairector/journal/open.hpp"
#include "dairector/text_check.hpp"

namespace dairector {

std::string solo_lease::node_name() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string("process:") + host + ":" + std::to_string(::getpid());
}

result<std::unique_ptr<solo_lease>> solo_lease::take(const std::string& where, std::int64_t lease_ms) {
  if (!is_postgresql_uri(where)) return std::unique_ptr<solo_lease>();
  std::string node = node_name();
  auto m = cluster_membership::open(where, node, "", lease_ms);
  if (!m) return m.err();
  auto joined = (*m)->join();
  if (!joined) return joined.err();
  if (!*joined) return make_error(errc::journal, "node name '" + node + "' is held by a live process");
  return std::unique_ptr<solo_lease>(new solo_lease(std::move(*m), std::move(node), lease_ms));
}

solo_lease::solo_lease(std::unique_ptr<cluster_membership> m, std::string node, std::int64_t lease_ms)
    : membership_(std::move(m)), node_(std::move(node)), lease_ms_(lease_ms), renewer_([this] { keep(); }) {}

solo_lease::~solo_lease() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ending_ = true;
  }
  wake_.notify_all();
  renewer_.join();
  if (auto err = membership_->leave())
    std::cerr << "dairector: cannot end the lease: " << escape_for_terminal(err->message) << "\n";
}

// Renews a few times a lease; a renewal refused means that the lease ran out
// (this process was paused or cut off): the pipeline may be someone else's
// now, and fencing refuses what this process appends to it from then on.
void solo_lease::keep() {
  std::unique_lock<std::mutex> lock(mutex_);
  bool said = false;
  while (!wake_.wait_for(lock, std::chrono::milliseconds(lease_ms_ / 4), [this] { return ending_; })) {
    auto renewed = membership_->renew();
    if (renewed && *renewed) continue;
    if (!said)
      std::cerr << "dairector: "
                << escape_for_terminal(renewed ? "the lease ran out: another process may carry the pipeline on now"
                                               : renewed.err().message)
                << "\n";
    said = true;
  }
}

}  // namespace dairector
