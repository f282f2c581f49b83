// `dairector worker` (docs/cli.md#worker): a process that serves stages for a
// server. It connects to the server's gate over CAF's network layer,
// registers its stages with the shared token and a secret of its own (new at
// every registration: its endpoint takes jobs only from that gate with that
// secret), runs the jobs it is sent (the
// same handler kinds as local workers) and, when the server goes away,
// kills what it was running and reconnects with backoff.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <thread>

#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include "cli/commands.hpp"
#include "cli/journal_args.hpp"
#include "cli/net_args.hpp"
#include "dairector/actors/registry.hpp"
#include "dairector/actors/remote_worker.hpp"
#include "dairector/text_check.hpp"

namespace dairector::cli {

namespace {

struct worker_options {
  net_args net;
  std::string connect = "127.0.0.1:7878";
  std::string stages;  // a,b
  std::uint32_t capacity = 4;
  std::string name;     // default: worker:HOST:PID
  std::string workdir;  // default: the job's folder if it exists here, else the current one
  std::uint32_t backoff_max_ms = 5000;
  // CAF scheduler threads. The endpoint is one actor and commands get threads
  // of their own, so more threads only poll for work (worker_bench, 2 cores:
  // CAF's default of 4 costs ~1.8x the worker CPU per run of 1 or 2).
  std::uint32_t threads = 2;
};

// Log lines quote the server's answers: escaped, each stays one line.
void say(const std::string& line) { std::cerr << "dairector worker: " << escape_for_terminal(line) << std::endl; }

// Waits up to `ms`, or less if asked to stop.
void pause(std::uint32_t ms) {
  for (std::uint32_t waited = 0; waited < ms && !stop_requested(); waited += 20)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

std::string default_name() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string("worker:") + host + ":" + std::to_string(::getpid());
}

int work(const worker_options& opt) {
  auto server = parse_endpoint(opt.connect, opt.net.allow_remote, "--connect");
  if (!server) return report("worker", server.err());
  auto token = read_token(opt.net.token_file, /*create=*/false);
  if (!token) return report("worker", token.err());
  const auto stages = split_list(opt.stages);
  if (stages.empty()) return report("worker", make_error(errc::refused, "--stages names no stage"));
  caf::actor_system_config cfg;
  if (auto err = configure_network(cfg, opt.net, net_side::worker, server->host)) return report("worker", *err);
  if (opt.net.insecure_plain_tcp) say(plain_tcp_warning);
  cfg.set("scheduler.max-threads", opt.threads);
  std::string name = opt.name.empty() ? default_name() : opt.name;
  if (name.rfind("worker:", 0) != 0) name = "worker:" + name;
  // Commands learn who runs them.
  ::setenv("DAIRECTOR_WORKER", name.c_str(), 1);

  catch_stop_signals();
  caf::actor_system sys{cfg};
  hide_utility_actors(sys);
  caf::scoped_actor self{sys};
  auto endpoint = sys.spawn(actors::worker_endpoint, actors::endpoint_config{name, nullptr, opt.workdir, say});
  std::uint32_t backoff = 100;
  bool registered_before = false;
  int code = exit_done;
  while (!stop_requested() && code == exit_done) {
    auto gate = opt.net.insecure_plain_tcp ? sys.middleman().remote_actor(server->host, server->port)
                                           : caf::openssl::remote_actor(sys, server->host, server->port);
    if (!gate) {
      say("cannot reach the server at " + server->text() + " (" + actors::describe(gate.error()) +
          "); retrying in " + std::to_string(backoff) + " ms");
      pause(backoff);
      backoff = std::min(backoff * 2, opt.backoff_max_ms);
      continue;
    }
    // The endpoint knows the gate and the secret before the gate can send a job.
    const std::string secret = actors::random_secret();
    self->send(endpoint, actors::endpoint_server{*gate, secret});
    // Asked by an actor of its own that ends with the answer: whatever sends
    // to a peer becomes addressable by it (gate.hpp), and `self` must not
    // be, or a forged down message could make it drop its runs.
    std::optional<actors::reply> answer;
    {
      caf::scoped_actor asker{sys};
      asker->request(*gate, std::chrono::seconds(10), actors::register_atom::value, *token, stages, opt.capacity, name,
                     endpoint, secret)
          .receive(
              [&](actors::reply& r) {
                if (r.code == actors::reply::unavailable) say("registration: " + r.message);  // busy: retried
                else answer = std::move(r);
              },
              [&](caf::error& err) { say("registration got no answer: " + actors::describe(err)); });
    }
    if (!answer) {
      pause(backoff);
      backoff = std::min(backoff * 2, opt.backoff_max_ms);
      continue;
    }
    if (!answer->is_ok()) {  // a wrong token is not retried
      std::cerr << "dairector worker: the server at " << server->text() << " refused this worker: "
                << escape_for_terminal(answer->message) << "\n";
      code = exit_usage;
      break;
    }
    std::string list;
    for (const auto& s : stages) list += (list.empty() ? "" : ",") + s;
    say(std::string(registered_before ? "registered again" : "registered") + " with " + server->text() + " as '" +
        name + "': stages " + list + ", capacity " + std::to_string(opt.capacity));
    registered_before = true;
    backoff = 100;
    self->monitor(*gate);
    bool lost = false;
    while (!lost && !stop_requested())
      self->receive([&](caf::down_msg& dm) {
                      lost = true;
                      say("lost the server (" + actors::describe(dm.reason) + "); reconnecting");
                    },
                    caf::after(std::chrono::milliseconds(100)) >> [] {});
    // What it was running belongs to a server that will run it again.
    if (lost) self->send(endpoint, actors::endpoint_stop{false});
  }
  self->send(endpoint, actors::endpoint_stop{true});  // it ignores exit messages (exit_proof.hpp)
  if (code == exit_done) say("stopped");
  return code;
}

}  // namespace

void add_worker(CLI::App& app, int& exit_status) {
  auto* cmd = app.add_subcommand("worker", "Serve stages for a server (dairector serve)");
  auto opt = std::make_shared<worker_options>();
  add_net_options(cmd, opt->net, "--server-timeout-ms", "A server silent this long is down: reconnect (0: never)");
  cmd->add_option("--connect", opt->connect, "The server's worker address")->capture_default_str();
  cmd->add_option("--stages", opt->stages, "The stages this worker serves (a,b)")->required();
  cmd->add_option("--capacity", opt->capacity, "At most this many runs at once")
      ->check(CLI::Range(1u, actors::worker_capacity_max))
      ->capture_default_str();
  cmd->add_option("--name", opt->name, "Who runs the stages: the events' `by` is worker:NAME (default: worker:HOST:PID)")
      ->check(plain_text(by_bytes_max - std::string_view("worker:").size()));
  cmd->add_option("--workdir", opt->workdir,
                  "Where commands run (default: the job's folder if it exists here, else the current one)");
  cmd->add_option("--threads", opt->threads, "Scheduler threads for builtins and the network (commands get their own)")
      ->check(CLI::Range(1u, 64u))
      ->capture_default_str();
  cmd->add_option("--backoff-max-ms", opt->backoff_max_ms, "The longest wait between reconnection attempts")
      ->check(CLI::Range(100, 600'000));
  cmd->callback([&exit_status, opt] { exit_status = work(*opt); });
}

}  // namespace dairector::cli
