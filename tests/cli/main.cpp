#define BOOST_TEST_MODULE dairector_cli
#include <boost/test/unit_test.hpp>
