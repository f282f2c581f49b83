// libFuzzer target: any bytes as a pipeline spec (docs/spec.md).
//
// parse_spec_text must answer every input with a spec or an error value, never
// a crash, an exception or undefined behaviour. A spec it accepts must have a
// canonical form (`to_json`) that parses back to an equal spec, which is what
// `pipeline_created` stores in the journal.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "dairector/spec.hpp"

namespace {

[[noreturn]] void broken(const char* what, const dairector::json& canonical) {
  std::fprintf(stderr, "fuzz_spec: %s\ncanonical form: %s\n", what, canonical.dump().c_str());
  std::abort();
}

bool same_stage(const dairector::stage_spec& a, const dairector::stage_spec& b) {
  return a.name == b.name && a.after == b.after && a.before == b.before && a.upstream == b.upstream &&
         a.downstream == b.downstream && a.run == b.run && a.confirm == b.confirm && a.on_failure == b.on_failure;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace dairector;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto spec = parse_spec_text(text, "fuzz");
  if (!spec) {
    if (spec.err().code != errc::spec_invalid || spec.err().message.empty()) std::abort();
    return 0;
  }
  const pipeline_spec& a = **spec;
  const json canonical = a.to_json();
  auto again = parse_spec_text(canonical.dump(), "canonical");
  if (!again) broken(("the canonical form is refused: " + again.err().message).c_str(), canonical);
  const pipeline_spec& b = **again;
  if (b.to_json() != canonical) broken("the canonical form does not parse back to itself", canonical);
  if (a.name() != b.name() || a.size() != b.size()) broken("the name or the stage count changed", canonical);
  for (stage_index i = 0; i < a.size(); ++i) {
    if (!same_stage(a[i], b[i])) broken("a stage changed in the round trip", canonical);
    if (a.find(a[i].name) != i) broken("find() does not give a stage's own index", canonical);
    for (stage_index up : a[i].upstream)
      if (up >= i || !a.is_upstream(up, i)) broken("the stages are not in topological order", canonical);
  }
  return 0;
}
