#include "test_util.hpp"
TEST_CASE("placeholder") { CHECK(weft_test::scaled(100) >= 1); }
