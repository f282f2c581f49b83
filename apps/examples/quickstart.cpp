// The engine in a few lines (docs/embedding.md#the-engine): a durable
// pipeline with a C++ stage, a confirmation answered, the final state as JSON.
//   ./quickstart JOURNAL      exit 0 when the pipeline is done
#include <iostream>

#include <dairector/dairector.hpp>

using namespace dairector;

int main(int argc, char** argv) {
  caf::actor_system_config cfg;
  actors::configure_system(cfg);
  caf::actor_system sys{cfg};
  engine_options opt;
  opt.journal = argc > 1 ? argv[1] : "quickstart.db";  // SQLite; "" keeps it in memory
  auto eng = engine::open(sys, opt);
  if (!eng) return std::cerr << eng.err().message << "\n", 5;
  (*eng)->handlers().add("shout", [](const json& in) -> result<json> {
    std::string s = in["context"].value("text", "hello");
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return json{{"text", s}};
  });
  auto p = (*eng)->start("greeting", R"({"name": "greeting", "stages": [
      {"name": "draft", "run": {"handler": "shout"}, "confirm": "Send it?"},
      {"name": "send", "after": ["draft"], "run": {"builtin": "echo"}}]})");
  if (!p) return std::cerr << p.err().message << "\n", 2;
  auto s = p->wait();                              // stops at the confirmation
  if (s && s->pending()) s = p->confirm("looks good", "user:quickstart");
  if (s) s = p->wait();                            // done
  if (!s) return std::cerr << s.err().message << "\n", 1;
  std::cout << to_json(*s).dump(2) << "\n";
  return outcome(*s) == pipeline_outcome::done ? 0 : 1;
}
