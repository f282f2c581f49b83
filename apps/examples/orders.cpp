// Many durable pipelines in one engine (docs/embedding.md#the-engine), across
// two runs of this program on the same journal:
//
//   ./orders JOURNAL      first run: starts 12 order pipelines; each stops at
//                         its confirmation; the even ones are approved now,
//                         the odd ones are left waiting in the journal
//   ./orders JOURNAL      a later run: resumes the waiting ones, approves
//                         them, and prints the last order's state as JSON
//
// Each pipeline: a C++ stage prices the order (its input, given at the
// start); `ship` waits for a human's yes. Exit 0 when every order
// is done, 4 while some still wait.
#include <iostream>

#include <dairector/dairector.hpp>

using namespace dairector;

namespace {

constexpr int orders = 12;

const char* spec = R"({"name": "order", "stages": [
  {"name": "price", "run": {"handler": "price"}},
  {"name": "ship",  "after": ["price"], "run": {"builtin": "echo"}, "confirm": "Ship this order?"}]})";

std::string order_id(int n) { return "order-" + std::to_string(n); }

int fail(const std::string& what, const error& e) {
  std::cerr << what << ": " << e.message << "\n";
  return e.code == errc::journal || e.code == errc::owned || e.code == errc::unavailable ? 5 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  caf::actor_system_config cfg;
  actors::configure_system(cfg);
  cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{cfg};
  engine_options opt;
  opt.journal = argc > 1 ? argv[1] : "orders.db";
  auto eng = engine::open(sys, opt);
  if (!eng) return fail("open", eng.err());
  (*eng)->handlers().add("price", [](const json& in) -> result<json> {
    const int qty = in["input"].value("qty", 0);  // the pipeline's input, given when it was started
    if (qty <= 0) return make_error(errc::refused, "an order needs a quantity");
    return json{{"total_cents", qty * 1250}};
  }, /*blocking=*/false);

  auto known = (*eng)->pipelines();
  if (!known) return fail("list", known.err());
  const bool first = known->empty();
  std::vector<pipeline_handle> handles;
  for (int n = 1; n <= orders; ++n) {
    auto p = first ? (*eng)->start(order_id(n), std::string_view(spec), json{{"qty", n}}) : (*eng)->resume(order_id(n));
    if (!p) return fail(order_id(n), p.err());
    handles.push_back(*p);
  }
  int done = 0, waiting = 0;
  for (int n = 1; n <= orders; ++n) {
    const pipeline_handle& p = handles[static_cast<std::size_t>(n - 1)];
    auto s = p.wait();
    if (s && s->pending() && (!first || n % 2 == 0)) s = p.confirm("approved by the orders example", "user:orders");
    if (s && !s->pending()) s = p.wait();
    if (!s) return fail(p.id(), s.err());
    const pipeline_outcome o = outcome(*s);
    done += o == pipeline_outcome::done;
    waiting += o == pipeline_outcome::waiting;
    if (n == orders && o == pipeline_outcome::done) std::cout << to_json(*s).dump() << "\n";
  }
  std::cout << "done: " << done << ", waiting: " << waiting << "\n";
  if (auto stopped = (*eng)->stop(); !stopped) return fail("stop", stopped.err());
  return done == orders ? 0 : 4;
}
