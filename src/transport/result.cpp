// What a failed command said: the lines that carry its error, and its whole output, bounded.
#include <regex>
#include <sstream>
#include <vector>

#include "core/output.hpp"
#include "core/text.hpp"
#include "transport/transport.hpp"

namespace ferry::transport {

std::string CommandResult::last_line() const {
  for (const std::string* s : {&err, &out}) {
    std::string t = trim(*s);
    if (t.empty()) continue;
    auto nl = t.rfind('\n');
    return nl == std::string::npos ? t : t.substr(nl + 1);
  }
  return "";
}

namespace {

constexpr size_t k_keep_lines = 100;  // at each end of a long output
constexpr size_t k_max_error_lines = 5;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  while (!out.empty() && trim(out.back()).empty()) out.pop_back();
  return out;
}

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "\n") + l;
  return out;
}

// stderr, or stdout when stderr is empty.
const std::string& main_output(const CommandResult& r) { return trim(r.err).empty() ? r.out : r.err; }

// The exception line of the last Python traceback: the first unindented line after its frames.
std::string traceback_exception(const std::vector<std::string>& lines) {
  size_t tb = lines.size();
  for (size_t i = 0; i < lines.size(); ++i)
    if (lines[i].rfind("Traceback (most recent call last):", 0) == 0) tb = i;
  for (size_t i = tb + 1; i < lines.size(); ++i)
    if (!lines[i].empty() && lines[i][0] != ' ' && lines[i][0] != '\t') return lines[i];
  return "";
}

}  // namespace

std::string CommandResult::error_lines() const {
  auto lines = lines_of(main_output(*this));
  if (std::string ex = traceback_exception(lines); !ex.empty()) return trim(ex);
  static const std::regex k_error(R"((^|[^A-Za-z])(error|Error|ERROR|FATAL|fatal:|PANIC))");
  std::vector<std::string> hits;
  for (const auto& l : lines)
    if (std::regex_search(l, k_error)) hits.push_back(trim(l));
  if (hits.size() > k_max_error_lines) hits.erase(hits.begin(), hits.end() - k_max_error_lines);
  if (!hits.empty()) return join(hits);
  std::vector<std::string> tail;
  for (auto it = lines.rbegin(); it != lines.rend() && tail.size() < 3; ++it)
    if (!trim(*it).empty()) tail.insert(tail.begin(), trim(*it));
  return join(tail);
}

std::string CommandResult::bounded_output() const {
  auto lines = lines_of(main_output(*this));
  if (lines.size() <= 2 * k_keep_lines) return join(lines);
  std::vector<std::string> kept(lines.begin(), lines.begin() + k_keep_lines);
  kept.push_back("... " + std::to_string(lines.size() - 2 * k_keep_lines) + " lines omitted ...");
  kept.insert(kept.end(), lines.end() - k_keep_lines, lines.end());
  return join(kept);
}

std::string CommandResult::failure_text() const {
  std::string key = error_lines();
  std::string all = bounded_output();
  if (trim(all) == trim(key)) return key;
  return key + std::string(k_full_output_marker) + all;
}

}  // namespace ferry::transport
