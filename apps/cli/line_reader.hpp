// Reading a file of JSON Lines (`journal import`) in bounded memory: one
// line at a time, each at most line_bytes_max, whatever the file's size.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "dairector/event.hpp"

namespace dairector::cli {

/// A line holds one event (at most event_bytes_max as the journal stores it)
/// with room for other spacing; a longer line is refused unread.
inline constexpr std::size_t line_bytes_max = event_bytes_max + 1024;
inline constexpr std::size_t read_chunk_bytes = 1u << 20;

// FNV-1a over lines, each with its newline: how import's second pass
// recognises the bytes its first pass validated (not a defence against an
// adversary, who could as well write a valid file).
struct fnv_hash {
  std::uint64_t value = 14695981039346656037ull;
  void add(std::string_view bytes) {
    for (char c : bytes) value = (value ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    value = (value ^ '\n') * 1099511628211ull;
  }
};

// Lines of a file, one at a time: never more than a chunk and one line
// (at most line_bytes_max) in memory, whatever the file's size.
class line_reader {
public:
  enum class status { line, end, too_long, unterminated, failed };

  explicit line_reader(std::FILE* in) : in_(in) {}
  status next(std::string& line) {
    line.clear();
    ++number_;
    for (;;) {
      if (at_ == end_) {
        at_ = 0;
        end_ = std::fread(chunk_.data(), 1, chunk_.size(), in_);
        if (end_ == 0) {
          if (std::ferror(in_)) return status::failed;
          if (!line.empty()) return status::unterminated;
          --number_;
          return status::end;
        }
      }
      const char* from = chunk_.data() + at_;
      const auto* newline = static_cast<const char*>(std::memchr(from, '\n', end_ - at_));
      const std::size_t take = newline ? static_cast<std::size_t>(newline - from) : end_ - at_;
      if (line.size() + take > line_bytes_max) return status::too_long;
      line.append(from, take);
      at_ += take;
      if (newline) {
        ++at_;
        return status::line;
      }
    }
  }
  std::uint64_t number() const noexcept { return number_; }

private:
  std::FILE* in_;
  std::vector<char> chunk_ = std::vector<char>(read_chunk_bytes);
  std::size_t at_ = 0, end_ = 0;
  std::uint64_t number_ = 0;
};

}  // namespace dairector::cli
