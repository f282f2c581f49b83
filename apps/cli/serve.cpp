// `dairector serve` (CONTRACT.md §6): one process hosts the director, the
// durable journal and every pipeline the journal holds (resumed, rule 8),
// publishes the worker registry over CAF's network layer, and serves the
// HTTP control API. Loopback only unless --allow-remote; TLS with
// certificates through CAF's OpenSSL module.
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
#include "cli/commands.hpp"
#include "cli/http_api.hpp"
#include "cli/http_guard.hpp"
#include "cli/journal_args.hpp"
#include "cli/net_args.hpp"
#include "dairector/actors/director.hpp"
#include "dairector/actors/journal.hpp"
#include "dairector/actors/registry.hpp"
#include "dairector/codec.hpp"

namespace dairector::cli {

namespace {

struct serve_options {
  journal_args journal;
  net_args net;
  std::string listen = "127.0.0.1:7878";
  std::string http = "127.0.0.1:7879";
  std::vector<std::string> http_hosts;  // names clients use for the HTTP API besides its address
  std::string remote_stages;  // a,b or all: these wait for a worker process
  std::string workdir;        // commands of pipelines created over HTTP; default: here
  std::size_t command_limit = 8;
};

void say(const std::string& line) {
  std::cerr << "dairector serve: " << line << std::endl;
}

// Every pipeline of the journal, replayed. One whose history does not replay
// stops the server: it must not serve a state it cannot vouch for.
result<std::vector<recovered_pipeline>> recover_all(journal_store& store, const std::string& fallback_workdir) {
  auto all = store.pipelines();
  if (!all) return all.err();
  std::vector<recovered_pipeline> out;
  for (const auto& p : *all) {
    auto one = recover_pipeline(store, p.id, fallback_workdir);
    if (!one) return make_error(one.err().code, "pipeline '" + p.id + "': " + one.err().message);
    out.push_back(std::move(*one));
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
  auto listen = parse_endpoint(opt.listen, opt.net.allow_remote, "--listen");
  if (!listen) return report("serve", listen.err());
  auto http = parse_endpoint(opt.http, opt.net.allow_remote, "--http");
  if (!http) return report("serve", http.err());
  if (auto names = http::parse_names(opt.http_hosts); !names) return report("serve", names.err());
  auto token = read_token(opt.net.token_file, /*create=*/true);
  if (!token) return report("serve", token.err());
  caf::actor_system_config cfg;
  if (auto err = configure_network(cfg, opt.net)) return report("serve", *err);
  const std::string workdir =
      opt.workdir.empty() ? std::filesystem::current_path().string() : std::filesystem::absolute(opt.workdir).string();

  // The journal first: a second owner, or damage, stops us before anything listens.
  auto store = journal_store::open(opt.journal.journal_path(), opt.journal.options(false));
  if (!store) return report("serve", store.err());
  auto pipelines = recover_all(**store, workdir);
  if (!pipelines) return report("serve", pipelines.err());

  catch_stop_signals();
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto journal = sys.spawn<caf::detached>(actors::sqlite_journal, std::shared_ptr<journal_store>(std::move(*store)));
  actors::registry_config rc;
  rc.token = *token;
  for (const auto& stage : split_list(opt.remote_stages)) rc.remote_only.insert(stage == "all" ? "*" : stage);
  rc.log = say;
  auto registry = sys.spawn(actors::registry, rc);
  actors::director_config dc;
  dc.journal = journal;
  dc.registry = registry;
  dc.command_limit = opt.command_limit;
  auto director = sys.spawn(actors::director, dc);
  int code = exit_done;
  for (auto& p : *pipelines) {
    const std::string id = p.state.pipeline();
    const std::uint64_t seq = p.state.seq();
    self->request(director, caf::infinite, actors::recover_atom::value, std::move(p.state), p.workdir)
        .receive(
            [&](actors::reply& r) {
              if (r.is_ok()) say("resumed pipeline '" + id + "' at seq " + std::to_string(seq));
              else say("cannot resume pipeline '" + id + "': " + r.message), code = exit_journal;
            },
            [&](caf::error& err) { say("cannot resume pipeline '" + id + "': " + actors::describe(err)), code = exit_journal; });
  }

  // Workers: the registry over CAF's network layer (reuse_addr: a restart
  // must not wait for TIME_WAIT, CAF-0.17.md §4).
  auto published = opt.net.tls() ? caf::openssl::publish(registry, listen->port, listen->host.c_str(), true)
                                 : sys.middleman().publish(registry, listen->port, listen->host.c_str(), true);
  std::unique_ptr<http_api> api;
  if (!published) {
    std::cerr << "dairector serve: cannot listen for workers on " << listen->text() << ": "
              << why_not_bound(*listen, actors::describe(published.error())) << "\n";
    code = exit_usage;
  } else {
    listen->port = *published;
    say(std::string("workers on ") + listen->text() + (opt.net.tls() ? " (TLS)" : ""));
    api = std::make_unique<http_api>(http_api_config{&sys, director, journal, *token, workdir, opt.http_hosts});
    auto bound = api->bind(http->host, http->port);
    if (!bound) {
      std::cerr << "dairector serve: cannot listen for HTTP on " << http->text() << ": " << bound.err().message
                << "\n";
      code = exit_usage;
    } else {
      http->port = static_cast<std::uint16_t>(*bound);
      api->start();
      say("http on " + http->text());
      say("ready");
    }
  }
  while (code == exit_done && !stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(50));

  // No new requests, then the clean stop (clean_stop.hpp).
  if (api) api->stop();
  if (published) sys.middleman().unpublish(registry, *published);
  code = stop_then_sync(self, director, journal, code, "serve");
  self->send_exit(registry, caf::exit_reason::user_shutdown);
  if (code == exit_done) say("stopped");
  return code;
}

}  // namespace

void add_serve(CLI::App& app, int& exit_status) {
  auto* cmd = app.add_subcommand("serve", "Host pipelines for remote workers and HTTP clients");
  auto opt = std::make_shared<serve_options>();
  add_journal_options(cmd, opt->journal, /*writes=*/true);
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
  cmd->add_option("--command-limit", opt->command_limit, "At most this many stage commands at once in this process")
      ->check(CLI::Range(1, 1024));
  cmd->callback([&exit_status, opt] { exit_status = serve(*opt); });
}

}  // namespace dairector::cli
