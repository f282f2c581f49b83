// `dairector worker` (docs/cli.md#worker): a process that serves stages for
// one server or several (`--connect A,B`: the servers of a cluster). For each
// server it keeps a link of its own: an endpoint actor, a thread that
// connects to that server's gate over CAF's network layer, registers its
// stages with the shared token, a secret of its own (new at every
// registration: that endpoint takes jobs only from that gate with that
// secret) and that server's share of --capacity, and, when that server goes
// away, kills what that endpoint was running and reconnects with backoff.
// The other links carry on meanwhile. Jobs run with the same handler kinds
// as local workers.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <sstream>
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
  std::string connect = "127.0.0.1:7878";  // A[,B...]
  std::string stages;  // a,b
  std::uint32_t capacity = 4;  // in all: each server gets a share (capacity_shares)
  std::string name;     // default: worker:HOST:PID
  std::string workdir;  // default: the job's folder if it exists here, else the current one
  std::uint32_t backoff_max_ms = 5000;
  // CAF scheduler threads. The endpoints are one actor each and commands get
  // threads of their own, so more threads only poll for work (worker_bench,
  // 2 cores: CAF's default of 4 costs ~1.8x the worker CPU per run of 1 or 2).
  std::uint32_t threads = 2;
};

// Log lines quote the server's answers: escaped, each stays one line. The
// links and the endpoints log from threads of their own: one line at a time.
void say(const std::string& line) {
  static std::mutex one_at_a_time;
  const std::string text = "dairector worker: " + escape_for_terminal(line) + "\n";
  std::lock_guard<std::mutex> lock(one_at_a_time);
  std::cerr << text << std::flush;
}

std::string default_name() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string("worker:") + host + ":" + std::to_string(::getpid());
}

// "A,B": each address as parse_endpoint takes it, in order. An address named
// twice, or an empty one, is refused: it is a mistake in the list, and one
// server registered twice would get two shares.
result<std::vector<endpoint>> parse_servers(const std::string& list, bool allow_remote) {
  const auto empty = make_error(errc::refused, "--connect '" + list + "' has an empty address (HOST:PORT[,HOST:PORT...])");
  if (list.empty() || list.back() == ',') return empty;  // getline sees no empty last item
  std::vector<endpoint> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    if (item.empty()) return empty;
    auto server = parse_endpoint(item, allow_remote, "--connect");
    if (!server) return server.err();
    if (std::any_of(out.begin(), out.end(), [&](const endpoint& e) { return e.text() == server->text(); }))
      return make_error(errc::refused, "--connect names " + server->text() + " twice");
    out.push_back(*server);
  }
  return out;
}

// --capacity is the worker's in all, shared out: with N over k servers each
// registers N / k, the first N % k one more, so all of them together never
// run more than N at once. Every server needs a slot: N < k is refused.
result<std::vector<std::uint32_t>> capacity_shares(std::uint32_t capacity, std::size_t servers) {
  if (capacity < servers)
    return make_error(errc::refused, "--capacity " + std::to_string(capacity) + " is less than the " +
                                         std::to_string(servers) + " servers of --connect: it is shared out, at " +
                                         "least 1 run each; give --capacity " + std::to_string(servers) + " or more");
  const auto k = static_cast<std::uint32_t>(servers);
  std::vector<std::uint32_t> out(servers, capacity / k);
  for (std::uint32_t i = 0; i < capacity % k; ++i) ++out[i];
  return out;
}

// What the links share: set before they start, read-only but `refused`.
struct links {
  caf::actor_system& sys;
  const worker_options& opt;
  std::string token;
  std::vector<std::string> stages;
  std::string name;
  std::uint32_t capacity = 0;  // in all
  std::size_t servers = 0;
  std::atomic<bool> refused{false};  // a server refused this worker: every link ends
  bool ending() const { return stop_requested() || refused; }
};

// Waits up to `ms`, or less if the links end.
void pause(const links& all, std::uint32_t ms) {
  for (std::uint32_t waited = 0; waited < ms && !all.ending(); waited += 20)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

// One server's link, until the worker stops or a server refuses it (then
// `refused` is set).
void link(links& all, const endpoint& server, std::uint32_t capacity) {
  const auto& opt = all.opt;
  const std::string where = server.text();
  auto& sys = all.sys;
  caf::scoped_actor self{sys};
  // This server's endpoint; its dropped messages say which server's it is.
  auto log = [where](const std::string& line) { say("endpoint for " + where + ": " + line); };
  auto own = sys.spawn(actors::worker_endpoint, actors::endpoint_config{all.name, nullptr, opt.workdir, log});
  std::string list;
  for (const auto& s : all.stages) list += (list.empty() ? "" : ",") + s;
  const std::string share = all.servers > 1 ? " (its share of " + std::to_string(all.capacity) + ")" : "";
  std::uint32_t backoff = 100;
  bool registered_before = false;
  caf::weak_actor_ptr lost_gate;  // the proxy of the gate last lost
  while (!all.ending()) {
    auto gate = opt.net.insecure_plain_tcp ? sys.middleman().remote_actor(server.host, server.port)
                                           : caf::openssl::remote_actor(sys, server.host, server.port);
    // Right after a loss CAF's middleman may hand out the lost gate's dead
    // proxy again (until it has seen that proxy go down itself): a
    // registration sent there would wait for its whole timeout.
    const bool stale = gate && lost_gate && caf::actor_cast<caf::actor_control_block*>(*gate) == lost_gate.get();
    if (!gate || stale) {
      say("cannot reach the server at " + where + " (" +
          (stale ? std::string("its lost connection is still closing") : actors::describe(gate.error())) +
          "); retrying in " + std::to_string(backoff) + " ms");
      pause(all, backoff);
      backoff = std::min(backoff * 2, opt.backoff_max_ms);
      continue;
    }
    // The endpoint knows the gate and the secret before the gate can send a job.
    const std::string secret = actors::random_secret();
    self->send(own, actors::endpoint_server{*gate, secret});
    // Asked by an actor of its own that ends with the answer: whatever sends
    // to a peer becomes addressable by it (gate.hpp), and `self` must not
    // be, or a forged down message could make it drop its runs.
    std::optional<actors::reply> answer;
    {
      caf::scoped_actor asker{sys};
      asker->request(*gate, std::chrono::seconds(10), actors::register_atom::value, all.token, all.stages, capacity,
                     all.name, own, secret)
          .receive(
              [&](actors::reply& r) {
                if (r.code == actors::reply::unavailable) say("registration with " + where + ": " + r.message);
                else answer = std::move(r);  // busy: retried
              },
              [&](caf::error& err) { say("registration with " + where + " got no answer: " + actors::describe(err)); });
    }
    if (!answer) {
      pause(all, backoff);
      backoff = std::min(backoff * 2, opt.backoff_max_ms);
      continue;
    }
    if (!answer->is_ok()) {  // a wrong token is not retried, and the servers of a cluster share it
      say("the server at " + where + " refused this worker: " + answer->message);
      all.refused = true;
      break;
    }
    say(std::string(registered_before ? "registered again" : "registered") + " with " + where + " as '" + all.name +
        "': stages " + list + ", capacity " + std::to_string(capacity) + share);
    registered_before = true;
    backoff = 100;
    self->monitor(*gate);
    bool lost = false;
    while (!lost && !all.ending())
      self->receive([&](caf::down_msg& dm) {
                      lost = true;
                      lost_gate = caf::actor_cast<caf::weak_actor_ptr>(*gate);
                      say("lost the server " + where + " (" + actors::describe(dm.reason) + "); reconnecting");
                    },
                    caf::after(std::chrono::milliseconds(100)) >> [] {});
    // What it was running belongs to a server that will run it again; the
    // other servers' runs are on their own endpoints.
    if (lost) self->send(own, actors::endpoint_stop{false});
  }
  self->send(own, actors::endpoint_stop{true});  // it ignores exit messages (exit_proof.hpp)
}

int work(const worker_options& opt) {
  auto servers = parse_servers(opt.connect, opt.net.allow_remote);
  if (!servers) return report("worker", servers.err());
  auto shares = capacity_shares(opt.capacity, servers->size());
  if (!shares) return report("worker", shares.err());
  auto token = read_token(opt.net.token_file, /*create=*/false);
  if (!token) return report("worker", token.err());
  const auto stages = split_list(opt.stages);
  if (stages.empty()) return report("worker", make_error(errc::refused, "--stages names no stage"));
  // Plain TCP is for loopback only: the check is shown a server beyond it, if any.
  auto beyond = std::find_if(servers->begin(), servers->end(), [](const endpoint& e) { return !is_loopback(e.host); });
  const std::string& host = (beyond != servers->end() ? *beyond : servers->front()).host;
  caf::actor_system_config cfg;
  if (auto err = configure_network(cfg, opt.net, net_side::worker, host)) return report("worker", *err);
  if (opt.net.insecure_plain_tcp) say(plain_tcp_warning);
  cfg.set("scheduler.max-threads", opt.threads);
  std::string name = opt.name.empty() ? default_name() : opt.name;
  if (name.rfind("worker:", 0) != 0) name = "worker:" + name;
  // Commands learn who runs them.
  ::setenv("DAIRECTOR_WORKER", name.c_str(), 1);

  catch_stop_signals();
  caf::actor_system sys{cfg};
  hide_utility_actors(sys);
  links all{sys, opt, *token, stages, name, opt.capacity, servers->size()};
  {
    std::vector<std::jthread> threads;  // joined at the end of the block
    for (std::size_t i = 0; i < servers->size(); ++i)
      threads.emplace_back([&, i] { link(all, (*servers)[i], (*shares)[i]); });
  }
  if (all.refused) return exit_usage;
  say("stopped");
  return exit_done;
}

}  // namespace

void add_worker(CLI::App& app, int& exit_status) {
  auto* cmd = app.add_subcommand("worker", "Serve stages for a server (dairector serve)");
  auto opt = std::make_shared<worker_options>();
  add_net_options(cmd, opt->net, "--server-timeout-ms", "A server silent this long is down: reconnect (0: never)");
  cmd->add_option("--connect", opt->connect,
                  "The servers' worker addresses (HOST:PORT[,HOST:PORT...]): registers with each of them")
      ->capture_default_str();
  cmd->add_option("--stages", opt->stages, "The stages this worker serves (a,b)")->required();
  cmd->add_option("--capacity", opt->capacity,
                  "At most this many runs at once, shared out over the servers (at least 1 each)")
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
