#include "cli/http_logs.hpp"

#include <atomic>

#include "cli/http_listener.hpp"
#include "cli/http_pump.hpp"
#include "cli/http_support.hpp"
#include "cli/log_files.hpp"
#include "dairector/actors/stage_logs.hpp"

namespace dairector::cli::http {

namespace {

// Bounds (docs/contributing.md#habit-8-bound-everything).
constexpr std::size_t log_streams_max = 64;          // followed logs at once; more: 503
constexpr std::size_t frame_bytes_max = 16u << 10;   // of the log per frame

std::atomic<std::size_t> log_streams{0};

// How many bytes at the end of `s` start a UTF-8 sequence that is not whole
// yet: held back until the rest is read (or the run ends).
std::size_t unfinished_utf8(const std::string& s) {
  for (std::size_t back = 1; back <= 3 && back <= s.size(); ++back) {
    const auto c = static_cast<unsigned char>(s[s.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    const std::size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

std::string frame(const std::string& text) {
  // Event streams are UTF-8: bytes that are not become U+FFFD here (the
  // plain answer keeps them as they are).
  return "data: " + json{{"text", text}}.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

// One followed log, fed to the pump: asked at every turn of its loop (at
// least once a second, its keepalive), it sends what the file gained.
class log_feed final : public stream_feed {
 public:
  explicit log_feed(std::unique_ptr<log_follower> log) : log_(std::move(log)) {}
  ~log_feed() override { --log_streams; }

  bool take(std::string& out) override {
    for (;;) {
      const auto step = log_->read(pending_, frame_bytes_max);
      const std::size_t hold = step == log_follower::step::ended ? 0 : unfinished_utf8(pending_);
      if (pending_.size() > hold) {
        out += frame(pending_.substr(0, pending_.size() - hold));
        pending_.erase(0, pending_.size() - hold);
      }
      if (step == log_follower::step::ended) {
        out += "event: end\ndata: {}\n\n";
        return false;
      }
      if (step == log_follower::step::waiting || out.size() >= 4 * frame_bytes_max) return true;
    }
  }

 private:
  std::unique_ptr<log_follower> log_;
  std::string pending_;
};

}  // namespace

void serve_stage_logs(caf::scoped_actor& self, const http_api_config& cfg, const httplib::Request& req,
                      httplib::Response& res, const std::string& id, const std::string& stage) {
  auto state = ask_pipeline<system_state>(self, cfg, id, da::state_atom::value);
  if (!state) return send_error(res, state.err());
  if (state->spec().find(stage) == no_stage)
    return send_error(res, 404, "pipeline '" + id + "' has no stage '" + stage + "'");
  std::uint64_t run = 0;
  if (req.has_param("run")) {
    auto n = parse_seq(req.get_param_value("run"), "run", /*zero_ok=*/false);
    if (!n) return send_error(res, n.err());
    run = *n;
  }
  const std::string follow = req.has_param("follow") ? req.get_param_value("follow") : "0";
  if (follow != "0" && follow != "1") return send_error(res, 400, "follow must be 0 or 1");
  const std::string folder = actors::stage_log_folder(cfg.log_dir, id, stage);
  if (run == 0) {
    const auto runs = actors::stage_log_runs(folder);
    if (runs.empty()) return send_error(res, 404, "stage '" + stage + "' of pipeline '" + id + "' has no log");
    run = runs.back();
  }
  auto log = std::make_unique<log_follower>();
  if (folder.empty() || !log->open(folder, run))
    return send_error(res, 404, "run " + std::to_string(run) + " of stage '" + stage +
                                    "' has no log (only the latest runs of a stage are kept)");
  res.set_header("X-Dairector-Run", std::to_string(run));
  if (follow == "0") {
    std::string bytes;
    while (log->read(bytes, actors::stage_log_file_bytes_max) == log_follower::step::more &&
           bytes.size() < actors::stage_log_file_bytes_max) {
    }
    res.status = 200;
    return res.set_content(std::move(bytes), "text/plain");
  }
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  if (req.method == "HEAD") return res.set_content("", "text/event-stream");
  if (log_streams.fetch_add(1) >= log_streams_max) {
    --log_streams;
    return send_error(res, 503, "this server already follows " + std::to_string(log_streams_max) +
                                    " logs; try again later");
  }
  auto feed = std::make_shared<log_feed>(std::move(log));
  // The body goes to the pump once httplib has written the head.
  res.set_chunked_content_provider("text/event-stream", [feed](std::size_t, httplib::DataSink&) {
    hand_to_pump(feed);
    return false;
  });
}

}  // namespace dairector::cli::http
