// Boost.Test drives the actor tests; CAF's test DSL needs a bridge so its
// CAF_* checks report to Boost (docs/contributing.md#deterministic-actor-tests). This is the one TU that
// includes unit_test_impl.hpp.
#define BOOST_TEST_MODULE dairector_actors
#include <boost/test/unit_test.hpp>

#include <caf/test/unit_test.hpp>
#undef CAF_MESSAGE
#undef CAF_FAIL
#undef CAF_REQUIRE
#undef CAF_REQUIRE_EQUAL
#undef CAF_CHECK_EQUAL
#define CAF_MESSAGE(msg) BOOST_TEST_MESSAGE(msg)
#define CAF_FAIL(msg) \
  do {                \
    BOOST_ERROR(msg); \
    std::abort();     \
  } while (false)
#define CAF_REQUIRE(...) \
  do {                   \
    if (!(__VA_ARGS__)) CAF_FAIL("CAF_REQUIRE(" #__VA_ARGS__ ")"); \
  } while (false)
#define CAF_REQUIRE_EQUAL(x, y) CAF_REQUIRE((x) == (y))
#define CAF_CHECK_EQUAL(x, y) BOOST_CHECK((x) == (y))
#define CAF_TEST_NO_MAIN
#include <caf/test/unit_test_impl.hpp>
