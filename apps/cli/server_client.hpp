// The command line's side of the HTTP control API (docs/http.md): with
// `--server URL`, status, history and the control commands act on a running
// `dairector serve` instead of a journal file.
//
// Errors keep the CLI's exit codes (exit_for): a server that cannot be reached
// or answers 5xx is errc::journal (exit 5, "cannot reach server URL: ..."); a
// 4xx answer is the server's own sentence, errc::not_found for 404 and
// errc::refused otherwise (exit 2).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dairector/event.hpp"

namespace httplib {
class Client;
class Result;
}

namespace dairector::cli {

class server_client {
 public:
  /// `url` is http://HOST:PORT (or https://). `token_file` holds the token
  /// sent as `Authorization: Bearer` with every request; empty: the default
  /// token file of `serve` (net_args.hpp), and no token when that file does
  /// not exist (the server's 401 then says so, with a hint).
  static result<server_client> open(const std::string& url, const std::string& token_file);

  /// GET or POST `path` (already encoded); the answer's JSON on 2xx. An
  /// answer too large or too deep is errc::journal, like one without JSON.
  result<json> get(const std::string& path) const;
  result<json> post(const std::string& path, const json& body) const;

  /// The pipeline to act on: `id`, or the server's only pipeline.
  result<std::string> pick_pipeline(const std::string& id) const;

  /// The pipeline's history, decoded and validated like the journal's events.
  result<std::vector<event>> history(const std::string& id) const;

  /// Follows the pipeline's event stream (GET /pipelines/ID/events) from the
  /// start: each durable event once, in seq order, decoded. `on_event` returns
  /// false to stop; `on_idle` is called at each keepalive (about once a
  /// second) and may return false to stop too. Ends with an error if the
  /// stream breaks or sends what does not decode.
  std::optional<error> follow(const std::string& id, const std::function<bool(const event&)>& on_event,
                              const std::function<bool()>& on_idle) const;

  /// GET `path` and hand its body to `on_bytes` as it comes (which returns
  /// false to stop): for answers that are not JSON (a stage's log). An answer
  /// other than 2xx is an error as for `get`.
  std::optional<error> get_stream(const std::string& path,
                                  const std::function<bool(std::string_view)>& on_bytes) const;

  const std::string& url() const noexcept { return url_; }

 private:
  server_client() = default;
  // One request whose answer is read up to answer_bytes_max and parsed
  // within json_depth_max (a server is outside data too).
  result<json> exchange(const char* method, const std::string& path, const json* body) const;
  result<json> answer(const httplib::Result& r, const std::string& body) const;

  std::string url_;
  std::string no_token_;  // why no token is sent, for a 401 (empty: one is)
  std::shared_ptr<httplib::Client> http_;
};

/// `/pipelines/ID` with ID percent-encoded.
std::string pipeline_path(const std::string& id);

/// A path segment, percent-encoded (letters, digits and -._~ stay).
std::string path_segment(const std::string& text);

}  // namespace dairector::cli
