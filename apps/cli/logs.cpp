// `dairector logs STAGE` (docs/cli.md#logs): a stage's standard error, as
// kept by the process that ran it (stage_logs.hpp), from the files beside
// the journal or from a server (GET /pipelines/ID/stages/STAGE/logs). The
// latest run by default; --follow prints the log as it grows and ends when
// that run ends. The bytes are the command's own, printed as they are.
#include <unistd.h>

#include <iostream>
#include <thread>

#include "cli/commands.hpp"
#include "cli/journal_args.hpp"
#include "cli/log_files.hpp"
#include "cli/server_client.hpp"
#include "dairector/actors/stage_logs.hpp"

namespace dairector::cli {

namespace {

constexpr auto follow_poll = std::chrono::milliseconds(100);  // a live file is looked at this often
constexpr std::size_t read_bytes_max = 64u << 10;
constexpr std::size_t sse_line_bytes_max = 1u << 20;  // a frame holds one chunk, as JSON text

struct logs_options {
  journal_args journal;
  log_args logs;
  std::string stage;
  std::uint64_t run = 0;  // 0: the latest
  bool follow = false;
};

void print(std::string_view bytes) {
  std::cout.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  std::cout.flush();
}

int from_files(const logs_options& opt) {
  const std::string where = opt.journal.journal_path();
  auto store = open_journal(where, opt.journal.options(/*read_only=*/true));
  if (!store) return report("logs", store.err());
  auto id = pick_pipeline(**store, opt.journal.id);
  if (!id) return report("logs", id.err());
  auto history = (*store)->history(*id);
  if (!history) return report("logs", history.err());
  if (history->empty() || !history->front().spec)
    return report("logs", make_error(errc::journal, "pipeline '" + *id + "' has no spec in the journal"));
  if (history->front().spec->find(opt.stage) == no_stage)
    return report("logs", make_error(errc::not_found, "pipeline '" + *id + "' has no stage '" + opt.stage + "'"));
  const std::string folder = actors::stage_log_folder(log_root(opt.logs, where), *id, opt.stage);
  std::uint64_t run = opt.run;
  if (run == 0) {
    const auto runs = actors::stage_log_runs(folder);
    if (runs.empty())
      return report("logs", make_error(errc::not_found, "stage '" + opt.stage + "' of pipeline '" + *id +
                                                            "' has no log in " + log_root(opt.logs, where)));
    run = runs.back();
  }
  log_follower log;
  if (!log.open(folder, run))
    return report("logs", make_error(errc::not_found, "run " + std::to_string(run) + " of stage '" + opt.stage +
                                                          "' has no log (only the latest runs of a stage are kept)"));
  catch_stop_signals();
  for (std::string bytes;; bytes.clear()) {
    const auto step = log.read(bytes, read_bytes_max);
    print(bytes);
    if (step == log_follower::step::ended || (step == log_follower::step::waiting && !opt.follow)) break;
    if (step == log_follower::step::waiting) {
      if (stop_requested()) break;
      std::this_thread::sleep_for(follow_poll);
    }
  }
  return exit_done;
}

// --follow from a server: an event stream whose frames carry the text
// (docs/http.md#stage-logs); `event: end` when the run ends.
int from_server(const logs_options& opt, const std::string& url) {
  auto server = server_client::open(url, opt.journal.token_file);
  if (!server) return report("logs", server.err());
  auto id = server->pick_pipeline(opt.journal.id);
  if (!id) return report("logs", id.err());
  std::string path = pipeline_path(*id) + "/stages/" + path_segment(opt.stage) + "/logs";
  std::string query;
  if (opt.run) query += "run=" + std::to_string(opt.run);
  if (opt.follow) query += std::string(query.empty() ? "" : "&") + "follow=1";
  if (!query.empty()) path += "?" + query;
  std::optional<error> failed;
  std::string line, event_name;
  bool ended = false;
  auto frames = [&](std::string_view bytes) {
    for (char c : bytes) {
      if (c != '\n') {
        line += c;
        if (line.size() <= sse_line_bytes_max) continue;
        failed = make_error(errc::journal, "server " + url + " streamed a line longer than " +
                                               std::to_string(sse_line_bytes_max) + " bytes");
        return false;
      }
      if (line.rfind("event: ", 0) == 0) event_name = line.substr(7);
      if (line.rfind("data: ", 0) == 0 && event_name.empty()) {
        auto text = parse_json(line.substr(6), "a frame of the log stream");
        if (!text || !text->is_object() || !text->contains("text") || !(*text)["text"].is_string()) {
          failed = make_error(errc::journal, "server " + url + " streamed a frame that is not a log chunk");
          return false;
        }
        print((*text)["text"].get_ref<const std::string&>());
      }
      if (line.empty()) {
        if (event_name == "end") ended = true;
        event_name.clear();
      }
      line.clear();
      if (ended) return false;
    }
    return !stop_requested();
  };
  catch_stop_signals();
  auto err = server->get_stream(path, opt.follow ? std::function<bool(std::string_view)>(frames)
                                                 : [](std::string_view bytes) { return print(bytes), true; });
  if (failed) return report("logs", *failed);
  if (err) return report("logs", *err);
  if (opt.follow && !ended && !stop_requested())
    return report("logs", make_error(errc::journal, "the log stream of server " + url + " broke"));
  return exit_done;
}

}  // namespace

void add_logs(CLI::App& app, int& exit_status) {
  auto* cmd = app.add_subcommand("logs", "A stage's standard error (its log), of its latest run or of --run N");
  auto opt = std::make_shared<logs_options>();
  cmd->add_option("stage", opt->stage, "The stage")->required();
  add_journal_options(cmd, opt->journal, /*writes=*/false);
  add_server_options(cmd, opt->journal);
  add_log_options(cmd, opt->logs, /*writes=*/false);
  cmd->add_option("--run", opt->run, "The run (the `run` of its stage_started event; default: the latest)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--follow,-f", opt->follow, "Print the log as it grows, until the run ends");
  cmd->callback([&exit_status, opt] {
    const std::string url = opt->journal.server_url();
    exit_status = url.empty() ? from_files(*opt) : from_server(*opt, url);
  });
}

}  // namespace dairector::cli
