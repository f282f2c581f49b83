#include "cli/http_metrics.hpp"

#include <charconv>
#include <chrono>
#include <optional>

#include "dairector/actors/director.hpp"
#include "dairector/actors/journal.hpp"
#include "dairector/plan.hpp"

namespace dairector::cli::http {

namespace da = dairector::actors;

namespace {

// Bounds (docs/contributing.md#habit-8-bound-everything). A scrape waits at
// most this long for all its answers together (Prometheus gives up after
// 10 s by default); what has not answered by then is left out.
constexpr auto scrape_time_max = std::chrono::seconds(5);
constexpr std::size_t request_series_max = 10'000;  // routes x methods x codes: far fewer in practice

using clock = std::chrono::steady_clock;

// One answer of type T from `dest` before `deadline`, or nothing.
template <class T, class... Ts>
std::optional<T> ask_by(caf::scoped_actor& self, const caf::actor& dest, clock::time_point deadline, Ts&&... xs) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
  if (!dest || left.count() <= 0) return std::nullopt;
  std::optional<T> out;
  self->request(dest, left, std::forward<Ts>(xs)...)
      .receive([&](T& value) { out.emplace(std::move(value)); }, [&](caf::error&) {});
  return out;
}

std::string number(double x, std::chars_format style = std::chars_format::general) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x, style);
  return ec == std::errc() ? std::string(buf, end) : std::string("NaN");
}

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void sample(std::string& out, const std::string& name_and_labels, double value) {
  out += name_and_labels + " " + number(value) + "\n";
}

// Pipelines hosted here by outcome, and the runs in flight among them.
struct pipeline_counts {
  std::map<std::string, std::uint64_t> by_outcome;
  std::uint64_t running = 0;
  bool complete = true;  // every pipeline was counted
};

std::optional<pipeline_counts> count_pipelines(caf::scoped_actor& self, const http_api_config& cfg,
                                               clock::time_point deadline) {
  auto all = ask_by<std::vector<da::hosted_pipeline>>(self, cfg.director, deadline, da::summary_atom::value);
  if (!all) return std::nullopt;
  pipeline_counts out;
  for (auto o : {pipeline_outcome::active, pipeline_outcome::waiting, pipeline_outcome::done, pipeline_outcome::failed,
                 pipeline_outcome::cancelled})
    out.by_outcome[to_string(o)] = 0;
  out.by_outcome["damaged"] = 0;
  for (const da::hosted_pipeline& p : *all) {
    if (!p.damage.empty()) {
      ++out.by_outcome["damaged"];
      continue;
    }
    // A live supervisor is asked itself, not through the director: a scrape
    // must not count as a request that keeps a finished pipeline awake.
    std::optional<system_state> s;
    if (p.supervisor) s = ask_by<system_state>(self, p.supervisor, deadline, da::state_atom::value);
    if (s && !s->empty()) {
      ++out.by_outcome[to_string(outcome(*s))];
      for (stage_index i = 0; i < s->size(); ++i) out.running += s->status(i) == stage_status::running;
    } else if (!p.outcome.empty()) {
      ++out.by_outcome[p.outcome];  // resting (or gone to rest meanwhile): finished, nothing runs
    } else {
      out.complete = false;
    }
  }
  return out;
}

}  // namespace

std::string label_value(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void request_counts::add(std::string_view route, std::string_view method, int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto key = std::make_tuple(std::string(route), std::string(method), status);
  auto it = counts_.find(key);
  if (it != counts_.end()) ++it->second;
  else if (counts_.size() < request_series_max) counts_.emplace(std::move(key), 1);
}

std::string request_counts::exposition() const {
  std::string out;
  family(out, "dairector_http_requests_total", "counter",
         "HTTP requests answered, by route template (other: no route), method and status code.");
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [key, n] : counts_) {
    const auto& [route, method, code] = key;
    sample(out,
           "dairector_http_requests_total{route=\"" + label_value(route) + "\",method=\"" + label_value(method) +
               "\",code=\"" + std::to_string(code) + "\"}",
           static_cast<double>(n));
  }
  return out;
}

std::string metrics_text(caf::scoped_actor& self, const http_api_config& cfg, const request_counts& requests) {
  const auto deadline = clock::now() + scrape_time_max;
  std::string out;
  std::map<std::string, bool> up;

  auto journal = ask_by<da::journal_metrics>(self, cfg.journal, deadline, da::journal_metrics_atom::value);
  up["journal"] = journal.has_value();
  if (journal) {
    family(out, "dairector_transitions_total", "counter", "Events committed to the journal by this server, by type.");
    for (int t = 0; t < event_type_count; ++t)
      sample(out, std::string("dairector_transitions_total{type=\"") + to_string(static_cast<event_type>(t)) + "\"}",
             static_cast<double>(journal->committed[static_cast<std::size_t>(t)]));
    family(out, "dairector_journal_commit_seconds", "histogram",
           "How long each journal commit (one transaction, with its fsync) took.");
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < journal->commit.counts.size(); ++b) {
      cumulative += journal->commit.counts[b];
      const auto& bounds = da::journal_commit_bounds_s;
      const std::string le = b < bounds.size() ? number(bounds[b], std::chars_format::fixed) : "+Inf";
      sample(out, "dairector_journal_commit_seconds_bucket{le=\"" + le + "\"}", static_cast<double>(cumulative));
    }
    sample(out, "dairector_journal_commit_seconds_sum", journal->commit.seconds_sum);
    sample(out, "dairector_journal_commit_seconds_count", static_cast<double>(journal->commit.commits));
    family(out, "dairector_journal_backlog_events", "gauge",
           "Events the journal accepted and has not committed yet (queued and being written).");
    sample(out, "dairector_journal_backlog_events", static_cast<double>(journal->backlog_events));
  }

  auto pipelines = count_pipelines(self, cfg, deadline);
  up["pipelines"] = pipelines && pipelines->complete;
  if (pipelines) {
    family(out, "dairector_pipelines", "gauge", "Pipelines hosted by this server, by outcome.");
    for (const auto& [outcome, n] : pipelines->by_outcome)
      sample(out, "dairector_pipelines{outcome=\"" + label_value(outcome) + "\"}", static_cast<double>(n));
    family(out, "dairector_runs_in_flight", "gauge", "Stage runs in progress in the pipelines hosted here.");
    sample(out, "dairector_runs_in_flight", static_cast<double>(pipelines->running));
  }

  auto workers = ask_by<std::uint64_t>(self, cfg.registry, deadline, da::workers_count_request{});
  up["registry"] = workers.has_value();
  if (workers) {
    family(out, "dairector_workers_connected", "gauge", "Worker processes registered with this server now.");
    sample(out, "dairector_workers_connected", static_cast<double>(*workers));
  }

  out += requests.exposition();
  family(out, "dairector_metrics_source_up", "gauge",
         "Whether a source of these metrics answered this scrape in time (0: its families are left out or partial).");
  for (const auto& [source, yes] : up)
    sample(out, "dairector_metrics_source_up{source=\"" + source + "\"}", yes ? 1 : 0);
  return out;
}

}  // namespace dairector::cli::http
