#include "cli/http_session.hpp"

#include <algorithm>

#include "cli/http_connection.hpp"
#include "dairector/actors/secret.hpp"

namespace dairector::cli::http {

std::string session_table::open(clock::time_point now) {
  std::string id = actors::random_secret();
  std::lock_guard<std::mutex> lock(mutex_);
  std::erase_if(entries_, [&](const entry& e) { return e.expires <= now; });
  if (entries_.size() >= sessions_max) entries_.erase(entries_.begin());
  entries_.push_back(entry{id, now + lifetime});
  return id;
}

bool session_table::valid(std::string_view id, clock::time_point now) const {
  if (id.empty()) return false;
  const std::string given(id);
  std::lock_guard<std::mutex> lock(mutex_);
  // Every entry is compared, each in constant time: how long this takes says
  // nothing about how close a guess came.
  bool found = false;
  for (const entry& e : entries_) found = (actors::tokens_equal(given, e.id) && e.expires > now) || found;
  return found;
}

void session_table::end(std::string_view id) {
  const std::string given(id);
  std::lock_guard<std::mutex> lock(mutex_);
  std::erase_if(entries_, [&](const entry& e) { return actors::tokens_equal(given, e.id); });
}

std::size_t session_table::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

std::optional<std::string> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const std::size_t semi = std::min(header.find(';'), header.size());
    const std::string_view pair = trim(header.substr(0, semi));
    header.remove_prefix(std::min(semi + 1, header.size()));
    const std::size_t eq = pair.find('=');
    if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == name) {
      std::string_view value = trim(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      return std::string(value);
    }
  }
  return std::nullopt;
}

}  // namespace dairector::cli::http
