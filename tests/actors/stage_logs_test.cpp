// Stage logs' pure parts (stage_logs.hpp): the per-run bound keeps the head
// as written, then a marker saying how much was dropped, then the tail; a
// pipeline id or stage name becomes one path segment that can never name a
// folder outside the log folder. (The files, the writer and the readers are
// tested end to end by apps.logs.)
#include <boost/test/unit_test.hpp>

#include <string>

#include "dairector/actors/stage_logs.hpp"

namespace actors = dairector::actors;

BOOST_AUTO_TEST_SUITE(stage_logs)

BOOST_AUTO_TEST_CASE(a_small_log_is_kept_whole_with_no_marker) {
  actors::stderr_bound b;
  BOOST_CHECK_EQUAL(b.take("one\n"), "one\n");
  BOOST_CHECK_EQUAL(b.take(std::string("\xff\x00two\n", 6)), std::string("\xff\x00two\n", 6));  // bytes as they are
  BOOST_CHECK_EQUAL(b.finish(), "");
  BOOST_CHECK_EQUAL(b.dropped(), 0u);
}

// Fed in pieces that straddle the head bound: exactly the head is kept, the
// marker counts what is neither head nor tail, the tail is the last bytes.
BOOST_AUTO_TEST_CASE(past_the_head_a_marker_then_the_tail) {
  actors::stderr_bound b;
  const std::size_t total = actors::stage_log_head_bytes_max + 3 * actors::stage_log_tail_bytes_max + 10;
  std::string all(total, 'x');
  for (std::size_t k = 0; k < total; ++k) all[k] = static_cast<char>('a' + (k * 7) % 26);
  std::string kept;
  for (std::size_t at = 0; at < total; at += 40'000) kept += b.take(std::string_view(all).substr(at, 40'000));
  BOOST_CHECK_EQUAL(kept, all.substr(0, actors::stage_log_head_bytes_max));
  const std::string end = b.finish();
  const std::size_t dropped = total - actors::stage_log_head_bytes_max - actors::stage_log_tail_bytes_max;
  const std::string marker = "\n[dairector: " + std::to_string(dropped) + " bytes of standard error past the first " +
                             std::to_string(actors::stage_log_head_bytes_max) + " were dropped; the last " +
                             std::to_string(actors::stage_log_tail_bytes_max) + " of them follow]\n";
  BOOST_CHECK_EQUAL(end.substr(0, marker.size()), marker);
  BOOST_CHECK(end.substr(marker.size()) == all.substr(total - actors::stage_log_tail_bytes_max));
  BOOST_CHECK_LE(kept.size() + end.size(), actors::stage_log_file_bytes_max);
}

BOOST_AUTO_TEST_CASE(names_become_one_segment_inside_the_folder) {
  BOOST_CHECK_EQUAL(actors::log_segment("build-1_a"), "build-1_a");
  BOOST_CHECK_EQUAL(actors::log_segment(".."), "%2E%2E");
  BOOST_CHECK_EQUAL(actors::log_segment("."), "%2E");
  BOOST_CHECK_EQUAL(actors::log_segment("../../etc/passwd"), "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd");
  BOOST_CHECK_EQUAL(actors::log_segment("%2F"), "%252F");  // encoded text stays distinct
  BOOST_CHECK_EQUAL(actors::log_segment(std::string("a\0b", 3)), "a%00b");
  BOOST_CHECK_EQUAL(actors::log_segment(""), "");
  BOOST_CHECK_EQUAL(actors::log_segment(std::string(200, '.')), "");  // too long for a file name: refused
  BOOST_CHECK_EQUAL(actors::stage_log_folder("/r", "..", "s"), "/r/%2E%2E/s");
  BOOST_CHECK_EQUAL(actors::stage_log_folder("/r", "", "s"), "");
  BOOST_CHECK_EQUAL(actors::stage_log_folder("", "p", "s"), "");
}

BOOST_AUTO_TEST_SUITE_END()
