#include <cstdio>
#include <cstdlib>

#include "dairector/result.hpp"

namespace dairector {

namespace {

// One row per code, in the enum's order: the array's size is checked against
// the enum's last value, and the switch in to_string (state.cpp) has no
// default, so a new code without a row does not compile.
struct errc_row {
  errc code;
  int http;  // docs/http.md#answers
  int exit;  // docs/cli.md#exit-codes
};
constexpr errc_row errc_table[] = {
    {errc::spec_invalid, 400, 2}, {errc::refused, 409, 2}, {errc::blocked, 409, 2},
    {errc::decode_failed, 400, 2}, {errc::not_found, 404, 2}, {errc::journal, 503, 5},
    {errc::fenced, 503, 5},        {errc::unavailable, 503, 5}, {errc::owned, 503, 5},
    {errc::behind, 503, 5},
};
static_assert(std::size(errc_table) == errc_count, "one row per errc");
constexpr bool rows_in_order() {
  for (int i = 0; i < errc_count; ++i)
    if (static_cast<int>(errc_table[i].code) != i) return false;
  return true;
}
static_assert(rows_in_order(), "errc_table's rows follow the enum");

const errc_row& row(errc code) {
  const auto i = static_cast<std::size_t>(code);
  DAIRECTOR_ASSERT(i < std::size(errc_table), "an errc outside the enum");
  return errc_table[i];
}

}  // namespace

int http_status(errc code) { return row(code).http; }
int exit_code_for(errc code) { return row(code).exit; }

void assertion_failed(const char* cond, const char* what, const char* file, int line) noexcept {
  std::fprintf(stderr, "dairector: internal error at %s:%d: %s (%s)\n", file, line, what, cond);
  std::fflush(stderr);
  std::abort();
}

}  // namespace dairector
