#include "config/reader.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <set>

#include "core/text.hpp"

namespace ferry::config {

namespace {

constexpr off_t k_max_file_bytes = 4 << 20;
constexpr size_t k_max_values = 100'000;
constexpr size_t k_max_text_bytes = 16 << 20;
constexpr int k_max_depth = 64;

// Walks the loaded tree once, counting values as aliases expand them, and checks keys.
class Guard {
 public:
  explicit Guard(const std::string& display) : m_display(display) {}
  // `parent` is where a refusal points: an alias has no place of its own (it is the node it
  // names), but the collection holding it does.
  void walk(const YAML::Node& n, const YAML::Node& parent, int depth) {
    const YAML::Node& at = depth == 0 ? n : parent;
    if (depth > k_max_depth) fail(at, "nested deeper than " + std::to_string(k_max_depth) + " levels; refused");
    if (++m_values > k_max_values)
      fail(at, "more than " + std::to_string(k_max_values) + " values once YAML aliases are expanded; refused");
    if (n.IsScalar()) m_bytes += n.Scalar().size();
    if (m_bytes > k_max_text_bytes)
      fail(at, "more than " + std::to_string(k_max_text_bytes >> 20) +
                   " MB of text once YAML aliases are expanded; refused");
    if (n.IsSequence())
      for (const auto& item : n) walk(item, n, depth + 1);
    if (n.IsMap()) walk_map(n, depth);
  }

 private:
  void walk_map(const YAML::Node& n, int depth) {
    std::map<std::string, YAML::Mark> seen;
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (it->first.IsScalar()) {
        auto [at, fresh] = seen.emplace(it->first.Scalar(), it->first.Mark());
        if (!fresh)
          fail(it->first, "duplicate key '" + it->first.Scalar() + "' (first at line " +
                              std::to_string(at->second.line + 1) + ")");
      }
      walk(it->first, n, depth + 1);
      walk(it->second, it->first, depth + 1);
    }
  }
  [[noreturn]] void fail(const YAML::Node& n, const std::string& msg) const {
    auto m = n.Mark();
    throw Error(ErrorKind::Config, m_display + ":" + std::to_string(std::max(m.line, 0) + 1) + ":" +
                                       std::to_string(std::max(m.column, 0) + 1) + ": " + msg);
  }
  std::string m_display;
  size_t m_values = 0;
  size_t m_bytes = 0;
};

// Line and column (1-based) of the second document's start, for the message.
std::pair<int, int> second_document_at(const std::string& text, const YAML::Node& second) {
  // An empty second document has no place of its own (or one past its '---'): find the '---'.
  if (!second.IsNull() && second.Mark().line >= 0) return {second.Mark().line + 1, second.Mark().column + 1};
  int line = 0;
  bool content = false;
  for (size_t pos = 0; pos <= text.size();) {
    size_t nl = text.find('\n', pos);
    std::string l = trim(text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    ++line;
    if (l.rfind("---", 0) == 0 && content) return {line, 1};
    if (!l.empty() && l[0] != '#' && l.rfind("---", 0) != 0) content = true;
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return {line, 1};
}

std::string read_limited(const std::string& path, const std::string& display) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw Error(ErrorKind::Config, "cannot read '" + display + "': " + std::strerror(errno));
  if (st.st_size > k_max_file_bytes)
    throw Error(ErrorKind::Config, display + ":1:1: larger than " + std::to_string(k_max_file_bytes >> 20) +
                                       " MB; a configuration file is never that big; refused");
  try {
    return read_file(path);
  } catch (const Error&) {
    throw Error(ErrorKind::Config, "cannot read '" + display + "'");
  }
}

// Calls on_text for literal text and on_ref(name, secret, written) for each ${...} reference.
void scan_refs(const std::string& raw, const std::function<void(const std::string&)>& on_text,
               const std::function<void(const std::string&, bool, const std::string&)>& on_ref,
               const std::function<void()>& unterminated) {
  size_t i = 0;
  while (i < raw.size()) {
    size_t start = raw.find("${", i);
    if (start == std::string::npos) start = raw.size();
    if (start > i) on_text(raw.substr(i, start - i));
    if (start == raw.size()) return;
    size_t end = raw.find('}', start + 2);
    if (end == std::string::npos) return unterminated();
    std::string name = raw.substr(start + 2, end - start - 2);
    bool secret = name.rfind("secret:", 0) == 0;
    if (secret) name = name.substr(7);
    on_ref(name, secret, raw.substr(start, end - start + 1));
    i = end + 1;
  }
}

bool is_shell_name(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

}  // namespace

YAML::Node load_yaml(const std::string& path, const std::string& display) {
  std::string text = read_limited(path, display);
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    throw Error(ErrorKind::Config, display + ":" + std::to_string(std::max(e.mark.line, 0) + 1) + ":" +
                                       std::to_string(std::max(e.mark.column, 0) + 1) + ": " + e.msg);
  }
  if (docs.size() > 1) {
    auto [line, col] = second_document_at(text, docs[1]);
    throw Error(ErrorKind::Config, display + ":" + std::to_string(line) + ":" + std::to_string(col) +
                                       ": a second YAML document; a configuration file holds exactly one");
  }
  if (docs.empty()) return YAML::Node();
  Guard(display).walk(docs[0], docs[0], 0);
  return docs[0];
}

std::string Reader::unexpand(std::string msg) const {
  if (!secrets) return msg;
  for (const auto& [value, written] : sources) {
    if (value.size() < 4 || secrets->redact(value) == value) continue;  // only secrets are hidden
    for (size_t pos = 0; (pos = msg.find(value, pos)) != std::string::npos; pos += written.size())
      msg.replace(pos, value.size(), written);
  }
  return secrets->redact(msg);
}

std::string Reader::describe(const YAML::Node& n) {
  if (n.IsMap()) return "a mapping";
  if (n.IsSequence()) return "a list";
  if (n.IsNull()) return "nothing";
  std::string s = first_line(n.Scalar());
  bool cut = s.size() > 60 || s.size() < n.Scalar().size();
  if (s.size() > 60) s = s.substr(0, 60);
  return "'" + s + (cut ? "...'" : "'");
}

void Reader::expect_map(const YAML::Node& node, const std::string& what,
                        const std::vector<std::string>& allowed) const {
  if (!node.IsMap()) fail(node, what + " must be a mapping, found " + describe(node));
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) fail(it->first, "a key in " + what + " must be a name, found " + describe(it->first));
    std::string key = it->first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string hint = closest(key, allowed);
    section([&] {
      fail(it->first, "unknown key '" + key + "' in " + what + (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
    });
  }
}

const char* Reader::unset_or_value(const YAML::Node& n, const std::string& var, const std::string& written) const {
  const char* v = std::getenv(var.c_str());
  if (v) return v;
  std::string msg = "environment variable '" + var + "' is not set (used as " + written + ")";
  if (!unresolved) fail(n, msg);
  if (unresolved->empty()) *unresolved = mark(n).str() + ": " + msg;
  return nullptr;
}

std::string Reader::interpolate(const YAML::Node& n, const std::string& raw) const {
  std::string out;
  scan_refs(
      raw, [&](const std::string& t) { out += t; },
      [&](const std::string& var, bool secret, const std::string& written) {
        const char* v = unset_or_value(n, var, written);
        if (!v) return;
        if (secret && secrets) secrets->add(v);
        sources[v] = written;
        out += v;
      },
      [&] { fail(n, "unterminated '${' in " + describe(n)); });
  return out;
}

ShellText Reader::shell(const YAML::Node& n, const std::string& key) const {
  if (!n.IsScalar()) fail(n, "'" + key + "' must be a string, found " + describe(n));
  ShellText out;
  scan_refs(
      n.Scalar(), [&](const std::string& t) { out.text += t; },
      [&](const std::string& var, bool secret, const std::string& written) {
        if (!is_shell_name(var))
          fail(n, "'" + written + "' in a command must name a variable of letters, digits and '_'");
        const char* v = unset_or_value(n, var, written);
        out.text += "${" + var + "}";
        if (!v) return;
        if (secret && secrets) secrets->add(v);
        out.env[var] = v;
      },
      [&] { fail(n, "unterminated '${' in " + describe(n)); });
  return out;
}

std::string Reader::str(const YAML::Node& n, const std::string& key) const {
  if (!n.IsScalar()) fail(n, "'" + key + "' must be a string, found " + describe(n));
  return interpolate(n, n.Scalar());
}
std::string Reader::str_or(const YAML::Node& map, const std::string& key, std::string def) const {
  auto n = map[key];
  if (!n || n.IsNull()) return def;
  return str(n, key);
}
std::string Reader::nonempty(const YAML::Node& map, const std::string& key, std::string def) const {
  std::string v = str_or(map, key, std::move(def));
  if (trim(v).empty()) fail(map[key] ? map[key] : map, "'" + key + "' must not be empty");
  return v;
}
bool Reader::boolean(const YAML::Node& n, const std::string& key) const {
  if (n.IsScalar()) {
    const auto& s = n.Scalar();
    if (s == "true" || s == "True" || s == "yes") return true;
    if (s == "false" || s == "False" || s == "no") return false;
  }
  fail(n, "'" + key + "' must be true or false, found " + describe(n));
}
bool Reader::bool_or(const YAML::Node& map, const std::string& key, bool def) const {
  auto n = map[key];
  return (!n || n.IsNull()) ? def : boolean(n, key);
}
int Reader::integer(const YAML::Node& n, const std::string& key, int lo, int hi) const {
  if (n.IsScalar()) {
    const auto& s = n.Scalar();
    if (!s.empty() && s.size() < 10 && std::all_of(s.begin(), s.end(), ::isdigit)) {
      int v = std::stoi(s);
      if (v >= lo && v <= hi) return v;
    }
  }
  fail(n, "'" + key + "' must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi) + ", found " +
              describe(n));
}
int Reader::int_or(const YAML::Node& map, const std::string& key, int def, int lo, int hi) const {
  auto n = map[key];
  return (!n || n.IsNull()) ? def : integer(n, key, lo, hi);
}
Millis Reader::duration(const YAML::Node& n, const std::string& key) const {
  if (n.IsScalar()) {
    if (auto d = parse_duration(n.Scalar())) return *d;
  }
  fail(n, "'" + key + "' must be a duration like 500ms, 30s, 5m or 1h, found " + describe(n));
}
Millis Reader::duration_or(const YAML::Node& map, const std::string& key, Millis def) const {
  auto n = map[key];
  return (!n || n.IsNull()) ? def : duration(n, key);
}
std::string Reader::one_of(const YAML::Node& map, const std::string& key, std::string def,
                           const std::vector<std::string>& allowed) const {
  auto n = map[key];
  if (!n || n.IsNull()) return def;
  std::string v = str(n, key);
  if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : " or ") + ("'" + a + "'");
    // The value as written: an expanded ${VAR} may be a secret.
    fail(n, "'" + key + "' must be " + list + ", found " + describe(n));
  }
  return v;
}
std::vector<std::string> Reader::str_list(const YAML::Node& n, const std::string& key) const {
  std::vector<std::string> out;
  if (!n || n.IsNull()) return out;
  if (!n.IsSequence()) fail(n, "'" + key + "' must be a list, found " + describe(n));
  for (const auto& item : n) out.push_back(str(item, key));
  return out;
}

}  // namespace ferry::config
