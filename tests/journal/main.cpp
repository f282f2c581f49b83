#define BOOST_TEST_MODULE dairector_journal
#include <boost/test/unit_test.hpp>
