#include "cli/http_session.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "cli/http_connection.hpp"
#include "dairector/actors/secret.hpp"

namespace dairector::cli::http {

std::string session_table::open(clock::time_point now) {
  std::string id = actors::random_secret();
  std::lock_guard<std::mutex> lock(mutex_);
  std::erase_if(entries_, [&](const entry& e) { return e.expires <= now; });
  if (entries_.size() >= sessions_max) entries_.erase(entries_.begin());
  entries_.push_back(entry{id, now + lifetime_});
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

std::chrono::seconds session_lifetime_from_env() {
  const char* text = std::getenv("DAIRECTOR_TEST_SESSION_SECONDS");
  if (!text || !*text || std::string_view(text).find_first_not_of("0123456789") != std::string_view::npos ||
      std::string_view(text).size() > 6)
    return session_table::lifetime_max;
  const long s = std::stol(text);
  return s < 1 ? session_table::lifetime_max : std::min(std::chrono::seconds(s), session_table::lifetime_max);
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
