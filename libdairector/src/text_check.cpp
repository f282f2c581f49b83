#include "dairector/text_check.hpp"

namespace dairector {

namespace {

// The length of the well-formed UTF-8 sequence at `at` (RFC 3629, Table 3-7
// of the Unicode standard), or 0 when the byte there does not start one.
std::size_t utf8_length(std::string_view t, std::size_t at) {
  const auto b = [&](std::size_t k) { return at + k < t.size() ? static_cast<unsigned char>(t[at + k]) : 0u; };
  const unsigned c = b(0);
  auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) { return b(k) >= lo && b(k) <= hi; };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;  // not the surrogates
  if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

bool is_c0_or_del(unsigned char c) { return c < 0x20 || c == 0x7F; }

// U+0080 to U+009F: C2 80 to C2 9F in UTF-8.
bool is_c1_at(std::string_view t, std::size_t at) {
  return static_cast<unsigned char>(t[at]) == 0xC2 && at + 1 < t.size() &&
         static_cast<unsigned char>(t[at + 1]) >= 0x80 && static_cast<unsigned char>(t[at + 1]) <= 0x9F;
}

const char* hex = "0123456789abcdef";

void put_hex_byte(std::string& out, const char* prefix, unsigned char c) {
  out += prefix;
  out += hex[c >> 4];
  out += hex[c & 15];
}

bool plain_ascii(std::string_view text) {
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7F) return false;
  }
  return true;
}

}  // namespace

std::optional<std::size_t> utf8_error_at(std::string_view text) {
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t n = utf8_length(text, at);
    if (n == 0) return at;
    at += n;
  }
  return std::nullopt;
}

std::optional<std::string> control_refusal(std::string_view text) {
  if (plain_ascii(text)) return std::nullopt;  // the common case, one pass
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t n = utf8_length(text, at);
    if (n == 0) return "is not valid UTF-8 (byte " + std::to_string(at) + ")";
    if ((n == 1 && is_c0_or_del(static_cast<unsigned char>(text[at]))) || is_c1_at(text, at))
      return "holds a control character (" + escape_for_terminal(text.substr(at, n)) + ") at byte " +
             std::to_string(at);
    at += n;
  }
  return std::nullopt;
}

std::string escape_for_terminal(std::string_view text) {
  if (plain_ascii(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 8);
  for (std::size_t at = 0; at < text.size();) {
    const auto c = static_cast<unsigned char>(text[at]);
    const std::size_t n = utf8_length(text, at);
    if (n == 0) {
      put_hex_byte(out, "\\x", c);
      ++at;
    } else if (n == 1 && is_c0_or_del(c)) {
      switch (c) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default: put_hex_byte(out, "\\x", c); break;
      }
      ++at;
    } else if (is_c1_at(text, at)) {
      put_hex_byte(out, "\\u00", static_cast<unsigned char>(text[at + 1]));
      at += 2;
    } else {
      out.append(text.substr(at, n));
      at += n;
    }
  }
  return out;
}

}  // namespace dairector
