// GET /metrics (docs/http.md#metrics): the Prometheus text format, version
// 0.0.4. Each scrape asks the actors that own the facts, with a bounded
// wait: the director (pipelines by outcome, and each live supervisor for its
// state), the journal (events committed by type, the backlog, the commit
// durations its committer measured) and the registry (workers connected).
// Only the HTTP request counts live here, behind a mutex: pool threads add
// to them after each answer.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

#include <caf/all.hpp>

#include "cli/http_api.hpp"

namespace dairector::cli::http {

inline constexpr const char* metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

/// HTTP requests answered, by route template (never the raw path: ids would
/// make the label set unbounded), method and status.
class request_counts {
 public:
  /// `route` is a route's pattern ("/pipelines/{id}") or "other".
  void add(std::string_view route, std::string_view method, int status);
  /// The family dairector_http_requests_total.
  std::string exposition() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t> counts_;
};

/// The body of GET /metrics. A source that does not answer within the bound
/// leaves its families out and shows as dairector_metrics_source_up 0.
std::string metrics_text(caf::scoped_actor& self, const http_api_config& cfg, const request_counts& requests);

/// A label value as the text format wants it: \ " and newline escaped.
std::string label_value(std::string_view text);

}  // namespace dairector::cli::http
