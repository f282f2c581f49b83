// Per-pipeline reads on a large journal (issue 16): one pipeline's history
// must stay fast however many events the journal holds. A journal of
// --events events (default 10,000,000; 200,000 with --quick), pipelines of
// 104 events written side by side (as journal_bench's recovery journal), is
// built in each SQLite format; then, for --samples pipelines spread evenly
// over it (the first, the last and between), each read is timed:
//
//   in process   open_journal(read_only) + history(id): what `history` does
//                before it prints; and + replay to seq 50 (`status --at 50`)
//   the program  `dairector history --journal F --id ID` and
//                `dairector status --journal F --id ID --at 50`, as processes
//                (wall time: start, open, read, print)
//   HTTP         `dairector serve` on the journal (its start-up time is
//                reported too), then GET /pipelines/ID/history and
//                GET /pipelines/ID?at=50 through one keep-alive connection
//
// Medians and p90s in milliseconds, per format, and format 1 / format 2.
// One JSON object on stdout, a table on stderr. The journals go to a fresh
// folder under --dir (default: the current directory), removed at the end.
//
//   history_bench [--quick] [--events N] [--samples K] [--dir PATH] [--dairector PATH] [--formats 1,2]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "bench_support.hpp"
#include "journal_workload.hpp"
#include "supervisor_workload.hpp"

using namespace dairector;
using namespace dairector::bench;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t at_seq = 50;  // the `--at` of the time-travel reads

struct options {
  bool quick = false;
  std::uint64_t events = 10'000'000;
  int samples = 20;
  std::string dir = ".";
  std::string dairector = DAIRECTOR_BIN;
  std::vector<int> formats = {1, 2};
};

// Runs the program to its end with its output into `log`; its wall time in
// ms. Dies unless it exits `want`.
double run_program(const std::vector<std::string>& argv, const std::string& log, int want = 0) {
  std::string why;
  const auto start = clock_type::now();
  const pid_t pid = spawn_logged(argv, log, why);
  if (pid < 0) die(why);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const double ms = seconds_since(start) * 1e3;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != want)
    die(argv[1] + " exited " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ": " +
        read_text(log).substr(0, 400));
  return ms;
}

json stats_ms(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const double p90 = v.empty() ? 0 : v[std::min(v.size() - 1, v.size() * 9 / 10)];
  return {{"median_ms", summarize(v).median}, {"p90_ms", p90}, {"max_ms", v.empty() ? 0 : v.back()}, {"runs", v}};
}

struct server {
  pid_t pid = -1;
  int port = 0;
  double ready_s = 0;
};

server start_server(const options& opt, const std::string& journal, const std::string& scratch) {
  server s;
  const std::string log = scratch + "/serve.log";
  std::string why;
  const auto start = clock_type::now();
  s.pid = spawn_logged({opt.dairector, "serve", "--journal", journal, "--listen", "127.0.0.1:0", "--http",
                        "127.0.0.1:0", "--token-file", scratch + "/token", "--workdir", scratch},
                       log, why);
  if (s.pid < 0) die(why);
  static const std::regex http(R"(http on 127\.0\.0\.1:([0-9]+))");
  for (;;) {
    const std::string text = read_text(log);
    std::smatch m;
    if (text.find("dairector serve: ready") != std::string::npos && std::regex_search(text, m, http)) {
      s.port = std::stoi(m[1].str());
      break;
    }
    int status = 0;
    if (::waitpid(s.pid, &status, WNOHANG) == s.pid) die("serve exited before it was ready: " + text.substr(0, 600));
    if (seconds_since(start) > 600) die("serve was not ready after 600 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a child's log, not a test
  }
  s.ready_s = seconds_since(start);
  return s;
}

void stop_server(server& s) {
  ::kill(s.pid, SIGTERM);
  while (::waitpid(s.pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  bool events_given = false;
  for (int k = 1; k < argc; ++k) {
    const std::string a = argv[k];
    if (a == "--quick") opt.quick = true;
    else if (a == "--events" && k + 1 < argc) opt.events = std::strtoull(argv[++k], nullptr, 10), events_given = true;
    else if (a == "--samples" && k + 1 < argc) opt.samples = std::max(1, std::atoi(argv[++k]));
    else if (a == "--dir" && k + 1 < argc) opt.dir = argv[++k];
    else if (a == "--dairector" && k + 1 < argc) opt.dairector = argv[++k];
    else if (a == "--formats" && k + 1 < argc) {
      opt.formats.clear();
      for (char c : std::string(argv[++k]))
        if (c == '1' || c == '2') opt.formats.push_back(c - '0');
    } else {
      std::cerr << "usage: history_bench [--quick] [--events N] [--samples K] [--dir PATH] [--dairector PATH] "
                   "[--formats 1,2]\n";
      return 2;
    }
  }
  if (opt.quick && !events_given) opt.events = 200'000;
  if (opt.quick) opt.samples = std::min(opt.samples, 5);

  const std::string scratch = fs::absolute(opt.dir).string() + "/history_bench." + std::to_string(::getpid());
  fs::create_directories(scratch);
  const std::string token = "history-bench-token-" + std::to_string(::getpid()) + "-0123456789abcdef";
  std::ofstream(scratch + "/token") << token << "\n";
  fs::permissions(scratch + "/token", fs::perms::owner_read | fs::perms::owner_write);

  caf::actor_system_config cfg;
  configure_bench_system(cfg, 2);
  caf::actor_system sys{cfg};
  auto recorded = record_history(sys, 7, noop_workers());  // 104 events: a 6-stage pipeline that looped 7 times
  if (!recorded) die(recorded.err().message);
  const std::vector<event>& tmpl = *recorded;
  const std::uint64_t pipelines = std::max<std::uint64_t>(1, opt.events / tmpl.size());
  std::vector<std::string> ids;  // spread over the journal, first and last included
  for (int k = 0; k < opt.samples; ++k) {
    const std::uint64_t p = opt.samples == 1 ? 0 : (pipelines - 1) * static_cast<std::uint64_t>(k) /
                                                      static_cast<std::uint64_t>(opt.samples - 1);
    ids.push_back("r" + std::to_string(p));
  }
  std::fprintf(stderr, "history_bench: %llu events of %llu pipelines (%zu each), %d pipelines read; %s\n",
               static_cast<unsigned long long>(pipelines * tmpl.size()), static_cast<unsigned long long>(pipelines),
               tmpl.size(), opt.samples, opt.dairector.c_str());

  json formats = json::array();
  std::map<int, json> by_format;
  for (int format : opt.formats) {
    const std::string path = scratch + "/f" + std::to_string(format) + ".db";
    journal_options jopt;
    jopt.create_format = format;
    const auto built = build_recovery_journal(path, tmpl, pipelines, jopt);
    std::fprintf(stderr, "format %d: built in %.1f s (%.0f MB)\n", format, built.seconds, built.file_bytes / 1e6);

    // In process: what `history` and `status --at` do before they print.
    std::vector<double> open_read, open_replay;
    for (const std::string& id : ids) {
      auto t = clock_type::now();
      auto j = open_journal(path, journal_options{.read_only = true});
      if (!j) die(j.err().message);
      auto h = (*j)->history(id);
      if (!h || h->size() != tmpl.size()) die("history of " + id + ": " + (h ? "short" : h.err().message));
      open_read.push_back(seconds_since(t) * 1e3);
      t = clock_type::now();
      auto j2 = open_journal(path, journal_options{.read_only = true});
      auto h2 = (*j2)->history(id);
      auto st = replay(*h2, at_seq);
      if (!st) die(st.err().message);
      open_replay.push_back(seconds_since(t) * 1e3);
    }
    // The program.
    std::vector<double> cli_history, cli_at;
    const std::string log = scratch + "/cli.log";
    for (const std::string& id : ids) {
      cli_history.push_back(run_program({opt.dairector, "history", "--journal", path, "--id", id}, log));
      cli_at.push_back(run_program(
          {opt.dairector, "status", "--journal", path, "--id", id, "--at", std::to_string(at_seq)}, log));
    }
    // HTTP, on a server hosting the journal.
    server s = start_server(opt, path, scratch);
    std::vector<double> http_history, http_at;
    {
      httplib::Client http("127.0.0.1", s.port);
      http.set_keep_alive(true);
      http.set_read_timeout(60, 0);
      const httplib::Headers auth = {{"Authorization", "Bearer " + token}};
      for (const std::string& id : ids) {
        auto t = clock_type::now();
        auto res = http.Get("/pipelines/" + id + "/history", auth);
        http_history.push_back(seconds_since(t) * 1e3);
        if (!res || res->status != 200) die("GET history of " + id + ": " + (res ? res->body.substr(0, 300) : "no answer"));
        t = clock_type::now();
        res = http.Get("/pipelines/" + id + "?at=" + std::to_string(at_seq), auth);
        http_at.push_back(seconds_since(t) * 1e3);
        if (!res || res->status != 200) die("GET ?at of " + id + ": " + (res ? res->body.substr(0, 300) : "no answer"));
      }
    }
    stop_server(s);
    remove_journal_files(path);

    json f = {{"format", format},
              {"file_bytes", built.file_bytes},
              {"build_seconds", built.seconds},
              {"in_process_open_and_history", stats_ms(open_read)},
              {"in_process_open_history_and_replay_to_at", stats_ms(open_replay)},
              {"program_history", stats_ms(cli_history)},
              {"program_status_at", stats_ms(cli_at)},
              {"serve_ready_seconds", s.ready_s},
              {"http_history", stats_ms(http_history)},
              {"http_state_at", stats_ms(http_at)}};
    std::fprintf(stderr,
                 "format %d (ms, median / p90): in process %.2f / %.2f (+ replay %.2f / %.2f); `history` %.1f / %.1f, "
                 "`status --at` %.1f / %.1f; HTTP history %.2f / %.2f, ?at %.2f / %.2f (serve ready in %.1f s)\n",
                 format, f["in_process_open_and_history"]["median_ms"].get<double>(),
                 f["in_process_open_and_history"]["p90_ms"].get<double>(),
                 f["in_process_open_history_and_replay_to_at"]["median_ms"].get<double>(),
                 f["in_process_open_history_and_replay_to_at"]["p90_ms"].get<double>(),
                 f["program_history"]["median_ms"].get<double>(), f["program_history"]["p90_ms"].get<double>(),
                 f["program_status_at"]["median_ms"].get<double>(), f["program_status_at"]["p90_ms"].get<double>(),
                 f["http_history"]["median_ms"].get<double>(), f["http_history"]["p90_ms"].get<double>(),
                 f["http_state_at"]["median_ms"].get<double>(), f["http_state_at"]["p90_ms"].get<double>(), s.ready_s);
    by_format[format] = f;
    formats.push_back(std::move(f));
  }
  json ratios = json::object();
  if (by_format.count(1) && by_format.count(2))
    for (const char* k : {"in_process_open_and_history", "program_history", "program_status_at", "http_history"})
      ratios[k] = by_format[1][k]["median_ms"].get<double>() / std::max(1e-9, by_format[2][k]["median_ms"].get<double>());
  std::error_code ec;
  fs::remove_all(scratch, ec);
  json out = {{"benchmark", "history"},
              {"machine", machine_json()},
              {"config", {{"quick", opt.quick},
                          {"events", pipelines * tmpl.size()},
                          {"pipelines", pipelines},
                          {"events_per_pipeline", tmpl.size()},
                          {"samples", opt.samples},
                          {"at_seq", at_seq},
                          {"layout", "pipelines written side by side (build_recovery_journal), closed and checkpointed"}}},
              {"formats", formats},
              {"format_1_over_format_2_medians", ratios}};
  std::cout << out.dump(2) << "\n";
  return 0;
}
