// Text from outside that reaches the audit trail or a terminal: names, `by`,
// notes, confirmation messages, a command's stderr, an error quoted from a
// journal. A newline in `by` would let a client forge a line of `history`,
// an escape sequence would let it rewrite the screen. So such text is
// refused where it enters, and whatever is printed is escaped (old journals
// may hold anything, and some text, like a command's stderr, is data).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace dairector {

/// The byte offset of the first byte that does not start a well-formed
/// UTF-8 sequence (overlong forms, surrogates and code points past U+10FFFF
/// are malformed), or nullopt when all of `text` is valid UTF-8.
std::optional<std::size_t> utf8_error_at(std::string_view text);

/// Why `text` may not be a name, a `by`, a note or a message, or nullopt:
/// it holds a control character (C0, DEL, or C1 U+0080 to U+009F, which
/// some terminals obey too) or is not valid UTF-8. The sentence names the
/// character and its byte offset ("holds a control character (\n) at byte 4").
std::optional<std::string> control_refusal(std::string_view text);

/// `text` made safe to print on a terminal, on one line: \n, \r, \t, other
/// C0 and DEL as \xNN, C1 as \u0080 to \u009f, a byte that is not UTF-8 as
/// \xNN. Printable text, ASCII or not, is unchanged.
std::string escape_for_terminal(std::string_view text);

}  // namespace dairector
