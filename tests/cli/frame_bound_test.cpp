// The worker port's message size bound (apps/cli/frame_bound.hpp): BASP
// headers are found wherever the reads split the stream, payload bytes are
// never taken for a header, and a header over the bound is refused for good.
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <vector>

#include "cli/frame_bound.hpp"

using dairector::cli::basp_frames;

namespace {

// A header announcing `len` payload bytes (network byte order, as CAF writes it).
std::vector<unsigned char> header(std::uint32_t len) {
  std::vector<unsigned char> out(basp_frames::header_bytes, 0);
  out[0] = 2;  // an operation; the tracker does not look at it
  out[4] = static_cast<unsigned char>(len >> 24);
  out[5] = static_cast<unsigned char>(len >> 16);
  out[6] = static_cast<unsigned char>(len >> 8);
  out[7] = static_cast<unsigned char>(len);
  return out;
}

// The header, then the payload (all 0xff: had the tracker read it as a
// header, it would announce 4 GiB - 1).
std::vector<unsigned char> frame(std::uint32_t len) {
  auto out = header(len);
  out.insert(out.end(), len, 0xff);
  return out;
}

std::vector<unsigned char> operator+(std::vector<unsigned char> a, const std::vector<unsigned char>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Feeds `bytes` in reads of `step` bytes; the result of the last one.
bool feed_in_steps(basp_frames& f, const std::vector<unsigned char>& bytes, std::size_t step) {
  bool ok = true;
  for (std::size_t i = 0; i < bytes.size(); i += step) ok = f.feed(bytes.data() + i, std::min(step, bytes.size() - i));
  return ok;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(frame_bound)

BOOST_AUTO_TEST_CASE(frames_up_to_the_bound_pass_however_the_reads_split_them) {
  const auto stream = frame(0) + frame(100) + frame(7) + frame(100) + frame(0);
  for (std::size_t step : {std::size_t{1}, std::size_t{3}, std::size_t{31}, std::size_t{32}, std::size_t{33},
                           std::size_t{133}, stream.size()}) {
    basp_frames f(100);
    BOOST_TEST(feed_in_steps(f, stream, step), "reads of " << step << " bytes");
    BOOST_TEST(f.refused_bytes() == 0u);
  }
}

BOOST_AUTO_TEST_CASE(a_header_over_the_bound_is_refused_for_good_however_the_reads_split_it) {
  for (std::size_t step : {std::size_t{1}, std::size_t{5}, std::size_t{32}, std::size_t{64}}) {
    basp_frames f(100);
    const auto stream = frame(100) + header(101);
    BOOST_TEST(!feed_in_steps(f, stream, step), "reads of " << step << " bytes");
    BOOST_TEST(f.refused_bytes() == 101u);
    // A refused connection stays refused, whatever follows.
    const auto more = frame(0);
    BOOST_TEST(!f.feed(more.data(), more.size()));
  }
}

BOOST_AUTO_TEST_CASE(a_partial_header_decides_nothing_until_it_is_whole) {
  basp_frames f(100);
  const auto big = header(1u << 30);
  BOOST_TEST(f.feed(big.data(), basp_frames::header_bytes - 1));  // payload_len read, header not whole
  BOOST_TEST(!f.feed(big.data() + basp_frames::header_bytes - 1, 1));
  BOOST_TEST(f.refused_bytes() == (1u << 30));
}

BOOST_AUTO_TEST_CASE(the_bound_admits_the_largest_result) {
  // An output at the JSON value bound must still cross.
  BOOST_TEST(dairector::cli::worker_message_bytes_max > dairector::json_value_bytes_max);
}

BOOST_AUTO_TEST_SUITE_END()
