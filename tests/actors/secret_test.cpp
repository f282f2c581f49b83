// Secrets of the worker port (actors/include/dairector/actors/secret.hpp):
// every capability and worker secret is fresh, on every thread, and a child
// forked after its parent drew a block of random bytes draws its own instead
// of handing out the parent's next secret.
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <set>
#include <thread>
#include <vector>

#include "dairector/actors/secret.hpp"

using namespace dairector;

BOOST_AUTO_TEST_SUITE(secret)

BOOST_AUTO_TEST_CASE(every_secret_is_new_and_hex) {
  std::set<std::string> seen;
  // More than one block of the calling thread's pool (128 secrets a block).
  for (int k = 0; k < 1'000; ++k) {
    const std::string s = actors::random_secret();
    BOOST_REQUIRE_EQUAL(s.size(), 2 * actors::secret_bytes);
    BOOST_REQUIRE(s.find_first_not_of("0123456789abcdef") == std::string::npos);
    BOOST_REQUIRE_MESSAGE(seen.insert(s).second, "secret " << k << " was handed out before");
  }
  std::set<std::uint64_t> words;
  for (int k = 0; k < 1'000; ++k) words.insert(actors::random_u64());
  BOOST_CHECK_EQUAL(words.size(), 1'000u);
}

BOOST_AUTO_TEST_CASE(threads_draw_apart) {
  std::vector<std::vector<std::string>> drawn(4);
  std::vector<std::thread> threads;
  for (auto& d : drawn)
    threads.emplace_back([&d] {
      for (int k = 0; k < 300; ++k) d.push_back(actors::random_secret());
    });
  for (auto& t : threads) t.join();
  std::set<std::string> all;
  for (const auto& d : drawn) all.insert(d.begin(), d.end());
  BOOST_CHECK_EQUAL(all.size(), 4u * 300u);
}

BOOST_AUTO_TEST_CASE(a_forked_child_does_not_repeat_its_parent) {
  (void)actors::random_secret();  // the parent's pool now holds its next secrets
  int fds[2];
  BOOST_REQUIRE_EQUAL(::pipe(fds), 0);
  const pid_t child = ::fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) {
    const std::string s = actors::random_secret();
    const bool ok = ::write(fds[1], s.data(), s.size()) == static_cast<ssize_t>(s.size());
    ::_exit(ok ? 0 : 1);
  }
  ::close(fds[1]);
  std::string from_child(2 * actors::secret_bytes, '\0');
  std::size_t got = 0;
  while (got < from_child.size()) {
    const ssize_t n = ::read(fds[0], from_child.data() + got, from_child.size() - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  BOOST_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  BOOST_REQUIRE_EQUAL(got, from_child.size());
  BOOST_CHECK_NE(from_child, actors::random_secret());  // the parent's next one
}

BOOST_AUTO_TEST_SUITE_END()
