// Text that reaches the audit trail or a terminal (text_check.hpp): every
// control character (C0, DEL, C1) and every byte that is not UTF-8 is refused
// where text enters, naming it and its offset; and escaped wherever text is
// printed, so that no line can be forged and no escape sequence obeyed.
#include <string>
#include <vector>

#include "core/fixtures.hpp"
#include "dairector/text_check.hpp"

using namespace dairector;
using namespace dairector::test;

namespace {

using namespace std::string_literals;

}  // namespace

BOOST_AUTO_TEST_SUITE(text_check)

BOOST_AUTO_TEST_CASE(every_control_character_is_refused_naming_it_and_where) {
  // Every C0 character, DEL, and every C1 character in its UTF-8 form.
  for (int c = 0; c < 0x20; ++c) {
    const std::string text = "user:a"s + static_cast<char>(c) + "b";
    auto why = control_refusal(text);
    BOOST_REQUIRE_MESSAGE(why, "C0 " << c << " must be refused");
    DAIRECTOR_CHECK_CONTAINS(*why, "holds a control character (");
    DAIRECTOR_CHECK_CONTAINS(*why, ") at byte 6");
  }
  BOOST_CHECK(control_refusal("a\x7f"));
  for (int c = 0x80; c <= 0x9F; ++c) {
    const std::string text = "x\xc2"s + static_cast<char>(c);
    BOOST_CHECK_MESSAGE(control_refusal(text), "C1 " << c << " must be refused");
  }
  BOOST_CHECK_EQUAL(*control_refusal("user:ana\n   42  forged"), "holds a control character (\\n) at byte 8");
  BOOST_CHECK_EQUAL(*control_refusal("\x1b[2J"), "holds a control character (\\x1b) at byte 0");
  BOOST_CHECK_EQUAL(*control_refusal("nul\0here"s), "holds a control character (\\x00) at byte 3");
  BOOST_CHECK_EQUAL(*control_refusal("csi \xc2\x9b"), "holds a control character (\\u009b) at byte 4");
}

BOOST_AUTO_TEST_CASE(text_that_is_not_utf8_is_refused) {
  for (const std::string& bad : {"\xff"s, "a\x80"s, "\xc0\xaf"s /* overlong */, "\xed\xa0\x80"s /* surrogate */,
                                "\xf4\x90\x80\x80"s /* past U+10FFFF */, "\xe2\x82"s /* cut short */}) {
    auto why = control_refusal(bad);
    BOOST_REQUIRE(why);
    DAIRECTOR_CHECK_CONTAINS(*why, "is not valid UTF-8");
    BOOST_CHECK(utf8_error_at(bad));
  }
  BOOST_CHECK_EQUAL(*utf8_error_at("ok\xff"), 2u);
}

BOOST_AUTO_TEST_CASE(printable_text_in_any_script_is_accepted_unchanged) {
  for (const std::string& good : {"user:ana"s, "worker:host-1:4242"s, "Zoë approved ✓"s, "日本語のメモ"s,
                                 "🎉 shipped"s, "\xc2\xa0nbsp and \xc2\xa9"s, ""s}) {
    BOOST_CHECK_MESSAGE(!control_refusal(good), good << " must be accepted");
    BOOST_CHECK_EQUAL(escape_for_terminal(good), good);
  }
}

BOOST_AUTO_TEST_CASE(escaping_keeps_everything_on_one_printable_line) {
  BOOST_CHECK_EQUAL(escape_for_terminal("user:x\n    9  2027-01-01T00:00:00.000Z  user:admin"),
                    "user:x\\n    9  2027-01-01T00:00:00.000Z  user:admin");
  BOOST_CHECK_EQUAL(escape_for_terminal("\x1b]0;title\x07\r\t"), "\\x1b]0;title\\x07\\r\\t");
  BOOST_CHECK_EQUAL(escape_for_terminal("a\0b\x7f"s), "a\\x00b\\x7f");
  BOOST_CHECK_EQUAL(escape_for_terminal("csi \xc2\x9b" "31m"), "csi \\u009b31m");
  BOOST_CHECK_EQUAL(escape_for_terminal("bad \xff\xfe byte"), "bad \\xff\\xfe byte");
  BOOST_CHECK_EQUAL(escape_for_terminal("Zoë \xe2\x82"), "Zoë \\xe2\\x82");
  // Whatever the input, the output is accepted text (nothing escapes twice
  // into a control character).
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  BOOST_CHECK(!control_refusal(escape_for_terminal(all)));
}

BOOST_AUTO_TEST_SUITE_END()
