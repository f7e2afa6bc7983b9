// Small text helpers: sha256, shell quoting, edit distance, trimming.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace ferry {

// Lowercase hex sha256 of the bytes.
std::string sha256_hex(std::string_view bytes);

// Incremental sha256 for streams (backups).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t len);
  std::string hex_digest();

 private:
  void* m_ctx;
};

// Quotes one word for a POSIX shell: 'it'\''s' style. Safe for any byte string.
std::string shell_quote(std::string_view word);
std::string shell_join(const std::vector<std::string>& argv);

// Levenshtein distance, for did-you-mean suggestions.
size_t edit_distance(std::string_view a, std::string_view b);
// The closest candidate within distance 2 (or a third of the word), or "".
std::string closest(std::string_view word, const std::vector<std::string>& candidates);

std::string trim(std::string_view s);
std::string read_file(const std::string& path);  // throws Error(Config) when unreadable
std::string first_line(std::string_view s);

}  // namespace ferry
