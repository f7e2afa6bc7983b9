#include "core/secrets.hpp"

#include <algorithm>

namespace ferry {

void Secrets::add(const std::string& value) {
  // Each line of a multi-line secret on its own too: output often shows only one of its lines
  // (a command's last line, a message's first).
  if (value.find('\n') != std::string::npos) {
    size_t pos = 0;
    while (pos <= value.size()) {
      size_t nl = value.find('\n', pos);
      std::string line = value.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      add_one(line);
      if (nl == std::string::npos) break;
      pos = nl + 1;
    }
  }
  add_one(value);
}

void Secrets::add_one(const std::string& value) {
  // Very short values (a port, "1") would shred ordinary output if redacted everywhere.
  if (value.size() < 4) return;
  if (std::find(m_values.begin(), m_values.end(), value) != m_values.end()) return;
  m_values.push_back(value);
  // Longest first, so a secret that contains another is replaced whole.
  std::sort(m_values.begin(), m_values.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string Secrets::redact(std::string text) const {
  for (const auto& v : m_values) {
    size_t pos = 0;
    while ((pos = text.find(v, pos)) != std::string::npos) {
      text.replace(pos, v.size(), "***");
      pos += 3;
    }
  }
  return text;
}

}  // namespace ferry
