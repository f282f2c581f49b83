#define BOOST_TEST_MODULE dairector_core
#include <boost/test/unit_test.hpp>
