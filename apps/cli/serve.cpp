// `dairector serve` (docs/cli.md#serve): one process hosts the director, the
// durable journal and every pipeline the journal holds (resumed, rule 8),
// publishes the worker gate over CAF's network layer, and serves the
// HTTP control API. Loopback only unless --allow-remote; mutual TLS on the
// worker port through CAF's OpenSSL module unless --insecure-plain-tcp.
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>

#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include "cli/clean_stop.hpp"
#include "cli/cluster_keeper.hpp"
#include "cli/cluster_reads.hpp"
#include "cli/commands.hpp"
#include "cli/frame_bound.hpp"
#include "cli/http_api.hpp"
#include "cli/http_guard.hpp"
#include "cli/journal_args.hpp"
#include "cli/log_files.hpp"
#include "cli/net_args.hpp"
#include "dairector/actors/director.hpp"
#include "dairector/actors/gate.hpp"
#include "dairector/actors/journal.hpp"
#include "dairector/actors/process.hpp"
#include "dairector/actors/registry.hpp"
#include "dairector/codec.hpp"
#include "dairector/plan.hpp"
#include "dairector/text_check.hpp"

namespace dairector::cli {

namespace {

struct serve_options {
  journal_args journal;
  log_args logs;
  net_args net;
  std::string listen = "127.0.0.1:7878";
  std::string http = "127.0.0.1:7879";
  std::vector<std::string> http_hosts;  // names clients use for the HTTP API besides its address
  std::string remote_stages;  // a,b or all: these wait for a worker process
  std::string workdir;        // commands of pipelines created over HTTP; default: here
  std::string archive_dir = "dairector-archive";  // POST /archive's files (docs/http.md#archive)
  std::size_t command_limit = 8;
  std::int64_t evict_after_ms = actors::evict_after_ms_default;
  // Many servers on one PostgreSQL journal (docs/cluster.md).
  std::string node;  // default: the host's name
  std::int64_t lease_ms = 5000;
  std::size_t max_pipelines = 0;
  bool list_routes = false;  // print the HTTP API's routes and exit (tests/apps/openapi_test.sh)
};

std::string default_node() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host[0] ? host : "dairector";
}

// Log lines quote outside data (worker names, journal errors): escaped, each
// stays one line.
void say(const std::string& line) {
  std::cerr << "dairector serve: " << escape_for_terminal(line) << std::endl;
}

// A worker connection refused by the frame checks (frame_bound.hpp).
void say_refused(const std::string& why) { say("a worker connection " + why + ": it is disconnected"); }

// What the journal holds at start: pipelines to carry on (replayed, rule 8),
// finished ones (they rest until asked for: nothing of them is kept but a
// summary), damaged ones (listed and reported, never run: a history that
// cannot be trusted must not be acted on) and gaps in the journal-wide order.
struct journal_contents {
  std::vector<recovered_pipeline> active;
  struct finished_pipeline {
    std::string id, name;
    std::uint64_t seq = 0;
    std::string workdir;
    std::uint8_t outcome = 0;  // pipeline_outcome
  };
  std::vector<finished_pipeline> finished;
  std::vector<std::pair<journal_damage, std::uint64_t>> damaged;  // and the pipeline's last seq
  std::vector<journal_damage> gaps;
};

result<journal_contents> read_journal(journal_store& store, const std::string& fallback_workdir) {
  journal_contents out;
  auto gaps = store.gaps();
  if (!gaps) return gaps.err();
  out.gaps = std::move(*gaps);
  auto all = store.pipelines();
  if (!all) return all.err();
  for (const auto& p : *all) {
    journal_damage damage;
    auto state = store.replayed(p.id, &damage);
    if (!state) {
      if (state.err().code != errc::journal) return state.err();
      if (damage.pipeline.empty()) damage = journal_damage{p.id, 0, 0, 0, state.err().message};
      out.damaged.emplace_back(std::move(damage), p.seq);
      continue;
    }
    auto workdir = store.get_meta(workdir_key(p.id));
    if (!workdir) return workdir.err();
    std::string folder = workdir->value_or(fallback_workdir);
    if (actors::may_rest(*state))
      out.finished.push_back({p.id, state->spec().name(), state->seq(), std::move(folder),
                              static_cast<std::uint8_t>(outcome(*state))});
    else
      out.active.push_back(recovered_pipeline{std::move(*state), std::move(folder)});
  }
  return out;
}

// CAF reports a port it cannot open without the reason; a bind of our own
// (SO_REUSEADDR, like CAF's) finds it: usually "Address already in use".
std::string why_not_bound(const endpoint& ep, const std::string& caf_says) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const bool bracketed = ep.host.size() > 2 && ep.host.front() == '[' && ep.host.back() == ']';
  const std::string host = bracketed ? ep.host.substr(1, ep.host.size() - 2) : ep.host;
  if (::getaddrinfo(host.c_str(), std::to_string(ep.port).c_str(), &hints, &found) != 0) return caf_says;
  std::string why = caf_says;
  const int fd = ::socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
  const int yes = 1;
  if (fd >= 0 && ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes) == 0 &&
      ::bind(fd, found->ai_addr, found->ai_addrlen) != 0)
    why = std::strerror(errno);
  if (fd >= 0) ::close(fd);
  ::freeaddrinfo(found);
  return why;
}

int serve(const serve_options& opt) {
  if (opt.list_routes) {
    for (const auto& [method, pattern] : http_api::routes()) std::cout << method << " " << pattern << "\n";
    return exit_done;
  }
  auto listen = parse_endpoint(opt.listen, opt.net.allow_remote, "--listen");
  if (!listen) return report("serve", listen.err());
  auto http = parse_endpoint(opt.http, opt.net.allow_remote, "--http");
  if (!http) return report("serve", http.err());
  if (auto names = http::parse_names(opt.http_hosts); !names) return report("serve", names.err());
  auto token = read_token(opt.net.token_file, /*create=*/true);
  if (!token) return report("serve", token.err());
  caf::actor_system_config cfg;
  if (auto err = configure_network(cfg, opt.net, net_side::server, listen->host)) return report("serve", *err);
  if (opt.net.insecure_plain_tcp) say(plain_tcp_warning);
  set_refusal_hook(say_refused);
  const std::string workdir =
      opt.workdir.empty() ? std::filesystem::current_path().string() : std::filesystem::absolute(opt.workdir).string();

  // The journal first: a second owner, or a journal that cannot be read at
  // all, stops us before anything listens; a damaged pipeline does not.
  // On PostgreSQL this server is one of many (docs/cluster.md): it hosts
  // what it owns or takes over once it has joined, not the whole journal.
  const std::string where = opt.journal.journal_path();
  const bool clustered = is_postgresql_uri(where);
  const std::string node = opt.node.empty() ? default_node() : opt.node;
  // A database that hangs fails the journal's writes (and so its clients'
  // requests, 503) after two leases, by which time the others own its
  // pipelines anyway: nothing waits for it for ever (docs/cluster.md#faults).
  auto options = [&](bool read_only, const std::string& owner) {
    journal_options o = opt.journal.options(read_only, owner);
    o.answer_timeout_ms = 2 * opt.lease_ms;
    return o;
  };
  auto store = open_journal(where, options(false, clustered ? node : std::string()));
  if (!store) return report("serve", store.err());
  actors::hold_in_runs((*store)->owner_lock_fd());  // the next owner waits for our commands
  std::unique_ptr<journal_store> reader;
  std::shared_ptr<cluster_reads> others;
  result<journal_contents> contents = journal_contents{};
  if (clustered) {
    // Readers of their own: the keeper's (takeovers) and the HTTP API's
    // (pipelines the others own), beside the journal's writer.
    auto r = open_journal(where, options(/*read_only=*/true, {}));
    if (!r) return report("serve", r.err());
    reader = std::move(*r);
    auto r2 = open_journal(where, options(/*read_only=*/true, {}));
    if (!r2) return report("serve", r2.err());
    auto lookup = cluster_membership::open(where, node, {}, opt.lease_ms);
    if (!lookup) return report("serve", lookup.err());
    others = std::make_shared<cluster_reads>(std::move(*r2), std::move(*lookup));
  } else {
    contents = read_journal(**store, workdir);
    if (!contents) return report("serve", contents.err());
  }

  catch_stop_signals();
  caf::actor_system sys{cfg};
  hide_utility_actors(sys);
  caf::scoped_actor self{sys};
  // Stage logs: a writer of their own, never the journal's (stage_logs.hpp).
  auto logs = start_log_writer(sys, opt.logs, where, say);
  if (!logs) return report("serve", logs.err());
  const std::string store_path = (*store)->path();
  auto journal = actors::spawn_durable_journal(sys, std::shared_ptr<journal_store>(std::move(*store)));
  actors::registry_config rc;
  for (const auto& stage : split_list(opt.remote_stages)) rc.remote_only.insert(stage == "all" ? "*" : stage);
  rc.log = say;
  auto registry = sys.spawn(actors::registry, rc);
  // The only actor on the worker port (gate.hpp): it checks the token.
  auto gate = sys.spawn(actors::worker_gate, actors::gate_config{*token, registry, say, *logs});
  actors::director_config dc;
  dc.journal = journal;
  dc.registry = registry;
  dc.worker_gate = gate;
  dc.log = say;
  dc.command_limit = opt.command_limit;
  dc.evict_after_ms = opt.evict_after_ms;
  dc.workers = std::make_shared<actors::local_workers>(nullptr, "worker:local", actors::stage_log_sink{*logs, false});
  auto director = sys.spawn(actors::director, dc);
  int code = exit_done;
  // One request to the director per pipeline; `what` says what it was for the log.
  auto host = [&](const std::string& id, const std::string& what, auto&&... request) {
    self->request(director, caf::infinite, std::forward<decltype(request)>(request)...)
        .receive(
            [&](actors::reply& r) {
              if (r.is_ok()) say(what);
              else say("cannot host pipeline '" + id + "': " + r.message), code = exit_journal;
            },
            [&](caf::error& err) { say("cannot host pipeline '" + id + "': " + actors::describe(err)), code = exit_journal; });
  };
  for (const journal_damage& gap : contents->gaps) say("journal " + store_path + ": " + gap.reason);
  for (auto& [damage, last_seq] : contents->damaged)
    host(damage.pipeline,
         "pipeline '" + damage.pipeline + "' is damaged" +
             (damage.seq > 0 ? " at seq " + std::to_string(damage.seq) : std::string()) + ": " + damage.reason +
             "; it is not run (the other pipelines are served)",
         actors::damaged_atom::value, damage.pipeline, std::string(), last_seq, damage.seq, damage.reason);
  for (auto& p : contents->finished)
    host(p.id, "pipeline '" + p.id + "' finished at seq " + std::to_string(p.seq) + " (rests until asked for)",
         actors::recover_atom::value, p.id, p.name, p.seq, p.workdir, p.outcome);
  for (auto& p : contents->active) {
    const std::string id = p.state.pipeline();
    const std::uint64_t seq = p.state.seq();
    host(id, "resumed pipeline '" + id + "' at seq " + std::to_string(seq), actors::recover_atom::value,
         std::move(p.state), p.workdir);
  }
  contents->active.clear();

  // Workers: the gate over CAF's network layer (reuse_addr: a restart
  // must not wait for TIME_WAIT, docs/contributing.md#the-network-layer).
  auto published = opt.net.insecure_plain_tcp
                       ? sys.middleman().publish(gate, listen->port, listen->host.c_str(), true)
                       : caf::openssl::publish(gate, listen->port, listen->host.c_str(), true);
  std::unique_ptr<http_api> api;
  std::unique_ptr<cluster_keeper> keeper;
  if (!published) {
    std::cerr << "dairector serve: cannot listen for workers on " << listen->text() << ": "
              << why_not_bound(*listen, actors::describe(published.error())) << "\n";
    code = exit_usage;
  } else {
    listen->port = *published;
    say("workers on " + listen->text() + " (" + opt.net.transport() + ")");
    http_api_config hc{&sys, director, journal, registry, *token, workdir, opt.http_hosts, nullptr, nullptr,
                       log_root(opt.logs, where)};
    if (clustered) hc.cluster = [&keeper] { return keeper->view(); };
    hc.others = others;
    hc.archive_dir = opt.archive_dir;
    api = std::make_unique<http_api>(std::move(hc));
    auto bound = api->bind(http->host, http->port);
    if (!bound) {
      std::cerr << "dairector serve: cannot listen for HTTP on " << http->text() << ": " << bound.err().message
                << "\n";
      code = exit_usage;
    } else {
      http->port = static_cast<std::uint16_t>(*bound);
      if (clustered) {
        // Joined once the HTTP address is known (the others forward to it),
        // and before requests are answered.
        auto membership = cluster_membership::open(where, node, http->text(), opt.lease_ms);
        if (membership)
          keeper = std::make_unique<cluster_keeper>(
              sys, std::move(*membership), std::move(reader),
              keeper_config{director, journal, workdir, opt.lease_ms, opt.max_pipelines, say});
        std::optional<error> err = membership ? keeper->start([] { return stop_requested(); })
                                              : std::optional<error>(membership.err());
        if (err) {
          std::cerr << "dairector serve: cannot join the cluster: " << escape_for_terminal(err->message) << "\n";
          code = err->code == errc::journal ? exit_journal : exit_usage;
          keeper.reset();
        }
      }
      if (code == exit_done) {
        api->start();
        say("http on " + http->text());
        const bool v6 = http->host.find(':') != std::string::npos;
        say("web view: http://" + (v6 ? "[" + http->host + "]" : http->host) + ":" + std::to_string(http->port) +
            "/ (sign in with the token)");
        say("ready");
      }
    }
  }
  auto next_round = std::chrono::steady_clock::now();
  while (code == exit_done && !stop_requested()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(keeper ? std::min<std::int64_t>(50, keeper->tick_ms()) : 50));
    if (keeper && std::chrono::steady_clock::now() >= next_round) {
      keeper->tick();
      next_round = std::chrono::steady_clock::now() + std::chrono::milliseconds(keeper->tick_ms());
    }
  }

  // No new requests, then the clean stop (clean_stop.hpp).
  if (api) api->stop();
  if (published) sys.middleman().unpublish(gate, *published);
  code = stop_then_sync(self, director, journal, code, "serve");
  if (keeper) keeper->leave();  // after the last commit: the others take over at once
  self->send(gate, actors::gate_close{});  // it ignores exit messages (exit_proof.hpp)
  self->send_exit(registry, caf::exit_reason::user_shutdown);
  self->send_exit(*logs, caf::exit_reason::user_shutdown);  // after every run's last chunk
  if (code == exit_done) say("stopped");
  return code;
}

}  // namespace

void add_serve(CLI::App& app, int& exit_status) {
  auto* cmd = app.add_subcommand("serve", "Host pipelines for remote workers and HTTP clients");
  auto opt = std::make_shared<serve_options>();
  add_journal_options(cmd, opt->journal, /*writes=*/true);
  add_log_options(cmd, opt->logs, /*writes=*/true);
  add_net_options(cmd, opt->net, "--worker-timeout-ms",
                  "A worker silent this long (hung, SIGSTOP) is down: its runs go elsewhere (0: never)");
  cmd->add_option("--listen", opt->listen, "Where workers connect (CAF network layer)")->capture_default_str();
  cmd->add_option("--http", opt->http, "The HTTP control API")->capture_default_str();
  cmd->add_option("--http-host", opt->http_hosts,
                  "A name clients use to reach the HTTP API (NAME, any port, or NAME:PORT), besides its address: "
                  "requests whose Host names neither are refused (DNS rebinding). Repeatable");
  cmd->add_option("--remote-stages", opt->remote_stages,
                  "Stages that wait for a worker process instead of running here when none is registered "
                  "(a,b or all)");
  cmd->add_option("--workdir", opt->workdir, "Where commands of pipelines created over HTTP run (default: here)");
  cmd->add_option("--archive-dir", opt->archive_dir,
                  "Where POST /archive writes its files (default: dairector-archive, here)");
  cmd->add_option("--command-limit", opt->command_limit, "At most this many stage commands at once in this process")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--evict-after-ms", opt->evict_after_ms,
                  "A finished pipeline (nothing running or pending) releases its memory after this long without a "
                  "request, and is rebuilt from the journal when asked for again (0: at once)")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{86'400'000}));
  cmd->add_option("--node", opt->node,
                  "With a PostgreSQL journal: this server's name in the cluster (default: the host's name); "
                  "unique among live servers")
      ->check(plain_text(pipeline_id_bytes_max));
  cmd->add_option("--lease-ms", opt->lease_ms,
                  "With a PostgreSQL journal: a server silent this long loses its pipelines to the others")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{200}, std::int64_t{600'000}));
  cmd->add_option("--max-pipelines", opt->max_pipelines,
                  "With a PostgreSQL journal: take over no more pipelines than this (0: no bound)")
      ->capture_default_str();
  // Hidden: what the test of docs/openapi.json compares the document with.
  cmd->add_flag("--list-routes", opt->list_routes, "Print the HTTP API's routes (METHOD PATTERN) and exit")->group("");
  cmd->callback([&exit_status, opt] { exit_status = serve(*opt); });
}

}  // namespace dairector::cli
