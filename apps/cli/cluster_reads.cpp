#include "cli/cluster_reads.hpp"

namespace dairector::cli {

result<std::vector<event>> cluster_reads::history(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  return reader_->history(id);
}

result<std::vector<positioned_event>> cluster_reads::events_after(std::uint64_t after, std::size_t limit) {
  std::lock_guard<std::mutex> lock(mutex_);
  return reader_->events_after(after, limit);
}

result<std::vector<pipeline_summary>> cluster_reads::pipelines() {
  std::lock_guard<std::mutex> lock(mutex_);
  return reader_->pipelines();
}

result<std::string> cluster_reads::owner_http(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto owner = lookup_->owner_of(id);
  if (!owner) return owner.err();
  if (!*owner || !(*owner)->live || (*owner)->http.empty())
    return make_error(errc::journal, "pipeline '" + id + "' has no live owner right now (a server is taking it over): retry");
  return (*owner)->http;
}

}  // namespace dairector::cli
