// The worker port's frame checks (apps/cli/frame_bound.hpp): BASP headers are
// found wherever the reads split the stream, payload bytes are never taken
// for a header, and a header over the size bound or with an operation no
// worker sends is refused for good.
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <vector>

#include "cli/frame_bound.hpp"

using dairector::cli::basp_frames;
using bytes = std::vector<unsigned char>;

namespace {

// caf::io::basp::message_type
constexpr unsigned char server_handshake = 0, client_handshake = 1, direct = 2, routed = 3, monitor = 4, down = 5,
                        heartbeat = 6;

// A header of operation `op` announcing `len` payload bytes (network byte
// order, as CAF writes it).
bytes header(std::uint32_t len, unsigned char op = direct) {
  bytes out(basp_frames::header_bytes, 0);
  out[0] = op;
  out[4] = static_cast<unsigned char>(len >> 24);
  out[5] = static_cast<unsigned char>(len >> 16);
  out[6] = static_cast<unsigned char>(len >> 8);
  out[7] = static_cast<unsigned char>(len);
  return out;
}

// The header, then the payload (all 0xff: had the tracker read it as a
// header, it would announce 4 GiB - 1 with an unknown operation).
bytes frame(std::uint32_t len, unsigned char op = direct) {
  auto out = header(len, op);
  out.insert(out.end(), len, 0xff);
  return out;
}

bytes operator+(bytes a, const bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// What a worker sends first.
const bytes handshake = frame(20, client_handshake);

// Feeds `stream` in reads of `step` bytes; the result of the last one.
bool feed_in_steps(basp_frames& f, const bytes& stream, std::size_t step) {
  bool ok = true;
  for (std::size_t i = 0; i < stream.size(); i += step) ok = f.feed(stream.data() + i, std::min(step, stream.size() - i));
  return ok;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(frame_bound)

BOOST_AUTO_TEST_CASE(a_workers_stream_passes_however_the_reads_split_it) {
  const auto stream = handshake + handshake + frame(0, heartbeat) + frame(100) + frame(7, monitor) + frame(100, down) + frame(0);
  for (std::size_t step : {std::size_t{1}, std::size_t{3}, std::size_t{31}, std::size_t{32}, std::size_t{33},
                           std::size_t{133}, stream.size()}) {
    basp_frames f(100);
    BOOST_TEST(feed_in_steps(f, stream, step), "reads of " << step << " bytes: " << f.why());
    BOOST_TEST(f.why().empty());
  }
}

BOOST_AUTO_TEST_CASE(a_header_over_the_bound_is_refused_for_good_however_the_reads_split_it) {
  for (std::size_t step : {std::size_t{1}, std::size_t{5}, std::size_t{32}, std::size_t{64}}) {
    basp_frames f(100);
    const auto stream = handshake + frame(100) + header(101);
    BOOST_TEST(!feed_in_steps(f, stream, step), "reads of " << step << " bytes");
    BOOST_TEST((f.refused() == basp_frames::refusal::oversize));
    BOOST_TEST(f.why() == "announced a message of 101 bytes, over the bound of 100");
    // A refused connection stays refused, whatever follows.
    const auto more = frame(0, heartbeat);
    BOOST_TEST(!f.feed(more.data(), more.size()));
  }
}

BOOST_AUTO_TEST_CASE(a_partial_header_decides_nothing_until_it_is_whole) {
  basp_frames f(100);
  BOOST_TEST(f.feed(handshake.data(), handshake.size()));
  const auto big = header(1u << 30);
  BOOST_TEST(f.feed(big.data(), basp_frames::header_bytes - 1));  // payload_len read, header not whole
  BOOST_TEST(!f.feed(big.data() + basp_frames::header_bytes - 1, 1));
  BOOST_TEST((f.refused() == basp_frames::refusal::oversize));
}

BOOST_AUTO_TEST_CASE(operations_no_worker_sends_are_refused) {
  // Whatever comes after the handshake: a routed message (its source is
  // written by the peer), the server's handshake, an operation CAF does not
  // have. (A second client handshake is CAF's own habit: it passes.)
  for (unsigned char op : {routed, server_handshake, static_cast<unsigned char>(7),
                           static_cast<unsigned char>(255)}) {
    basp_frames f(100);
    const auto stream = handshake + frame(10) + frame(10, op);
    BOOST_TEST(!f.feed(stream.data(), stream.size()), "operation " << int{op});
    BOOST_TEST((f.refused() == basp_frames::refusal::operation));
    BOOST_TEST(f.why().find("operation " + std::to_string(op)) != std::string::npos, f.why());
  }
  // A first message that is not the worker's handshake.
  for (unsigned char op : {direct, routed, server_handshake, heartbeat}) {
    basp_frames f(100);
    const auto stream = frame(10, op);
    BOOST_TEST(!f.feed(stream.data(), stream.size()), "first operation " << int{op});
    BOOST_TEST(f.why().find("as its first message") != std::string::npos, f.why());
  }
}

BOOST_AUTO_TEST_CASE(the_bound_admits_the_largest_result) {
  // An output at the JSON value bound must still cross.
  BOOST_TEST(dairector::cli::worker_message_bytes_max > dairector::json_value_bytes_max);
}

BOOST_AUTO_TEST_SUITE_END()
