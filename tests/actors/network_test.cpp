// Who is addressable over CAF's network layer (gate.hpp): a remote message
// reaches only an actor in `sys.registry()` (caf/io/basp/
// remote_message_handler.hpp: `dst = sys.registry().get(id)`), and an actor
// lands there when it is published or its handle crosses to a peer (as an
// argument, or as the sender of a message). So after a full round trip, a
// server whose supervisors, registry and director talk to workers only
// through the gate has only the gate there. Real middlemen on loopback, two
// actor systems in this process; waits are bounded by a timeout, never slept.
#include <caf/io/all.hpp>

#include "harness.hpp"

#include "dairector/actors/director.hpp"
#include "dairector/actors/gate.hpp"
#include "dairector/actors/registry.hpp"
#include "dairector/actors/remote_worker.hpp"
#include "dairector/actors/secret.hpp"

using namespace dairector;

namespace {

// An actor system with a middleman (it keeps a reference to its config).
struct node {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  node() {
    cfg.load<caf::io::middleman>();
    cfg.set("logger.console", caf::atom("none"));
    actors::register_message_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
  }
  caf::actor_system* operator->() { return sys.get(); }
  caf::actor_system& operator*() { return *sys; }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(network)

BOOST_AUTO_TEST_CASE(after_a_remote_round_trip_only_the_gate_is_addressable) {
  const std::string token(40, 't');
  node server;
  node worker;
  auto journal = server->spawn(actors::memory_journal, actors::memory_journal_events_max);
  actors::registry_config rc;
  rc.remote_only.insert("*");  // the run must go to the worker process
  auto reg = server->spawn(actors::registry, rc);
  auto gate = server->spawn(actors::worker_gate, actors::gate_config{token, reg, nullptr, {}});
  actors::director_config dc;
  dc.journal = journal;
  dc.registry = reg;
  dc.worker_gate = gate;
  auto director = server->spawn(actors::director, dc);
  auto port = server->middleman().publish(gate, 0, "127.0.0.1", true);
  BOOST_REQUIRE_MESSAGE(port, (port ? "" : caf::to_string(port.error())));

  // The worker process's side, as `dairector worker` does it.
  auto ep = worker->spawn(actors::worker_endpoint, actors::endpoint_config{"worker:net", nullptr, "", nullptr});
  caf::actor remote_gate;
  {
    auto found = worker->middleman().remote_actor("127.0.0.1", *port);
    BOOST_REQUIRE_MESSAGE(found, (found ? "" : caf::to_string(found.error())));
    remote_gate = *found;
  }
  caf::scoped_actor wself{*worker};
  const std::string secret = actors::random_secret();
  wself->send(ep, actors::endpoint_server{remote_gate, secret});
  bool registered = false;
  wself->request(remote_gate, std::chrono::seconds(30), actors::register_atom::value, token,
                 std::vector<std::string>{"a"}, std::uint32_t{1}, std::string("worker:net"), ep, secret)
      .receive([&](actors::reply& r) { registered = r.is_ok(); },
               [&](caf::error& e) { BOOST_ERROR("no answer to the registration: " << caf::to_string(e)); });
  BOOST_REQUIRE(registered);

  // A pipeline whose one stage runs on the worker process, to the end.
  caf::scoped_actor sself{*server};
  auto spec = parse_spec_text(R"({"name": "t", "stages": [{"name": "a", "run": {"builtin": "echo"}}]})");
  BOOST_REQUIRE(spec.ok());
  caf::actor sup;
  sself->request(director, std::chrono::seconds(30), actors::create_atom::value, std::string("p-net"), *spec,
                 std::string("."))
      .receive([&](actors::reply& r) { BOOST_REQUIRE_MESSAGE(r.is_ok(), r.message); },
               [&](caf::error& e) { BOOST_FAIL(caf::to_string(e)); });
  sself->request(director, std::chrono::seconds(30), actors::lookup_atom::value, std::string("p-net"))
      .receive([&](caf::actor& a) { sup = a; }, [&](caf::error& e) { BOOST_FAIL(caf::to_string(e)); });
  BOOST_REQUIRE(sup);
  bool done = false;
  std::string by;
  sself->request(sup, std::chrono::seconds(30), actors::watch_atom::value, caf::actor{sself})
      .receive([&](system_state& s) { done = s.status(0) == stage_status::completed; },
               [&](caf::error& e) { BOOST_FAIL(caf::to_string(e)); });
  bool timed_out = false;
  while (!done && !timed_out)
    sself->receive(
        [&](actors::state_update& u) {
          done = u.state.status(0) == stage_status::completed;
          if (done) by = u.applied.by;
        },
        caf::after(std::chrono::seconds(30)) >> [&] { timed_out = true; });
  BOOST_REQUIRE_MESSAGE(done, "the remote run did not complete in 30 s");
  if (!by.empty()) BOOST_CHECK_EQUAL(by, "worker:net");

  // Addressable on the server: the gate, and none of the actors behind it.
  auto& known = server->registry();
  BOOST_CHECK(known.get(gate.id()) != nullptr);
  BOOST_CHECK(known.get(reg.id()) == nullptr);
  BOOST_CHECK(known.get(director.id()) == nullptr);
  BOOST_CHECK(known.get(sup.id()) == nullptr);
  BOOST_CHECK(known.get(journal.id()) == nullptr);
  // The rule itself, seen on the worker's side: the endpoint (sent as an
  // argument) and the actor that sent the registration are addressable there.
  BOOST_CHECK(worker->registry().get(ep.id()) != nullptr);
  BOOST_CHECK(worker->registry().get(wself->id()) != nullptr);

  // Stop: the worker first (its connection goes), then the server.
  wself->send(ep, actors::endpoint_stop{true});
  sself->send(sup, actors::stop_atom::value);
  sself->send(director, actors::stop_atom::value);
  server->middleman().unpublish(gate, *port);
  sself->send(gate, actors::gate_close{});
  sself->send_exit(reg, caf::exit_reason::user_shutdown);
  sself->send_exit(journal, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
