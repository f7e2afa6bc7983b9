#include "config/fleet.hpp"

#include <set>
#include <sstream>

#include "core/error.hpp"
#include "core/text.hpp"

namespace ferry::config {

std::string member_name_problem(const std::string& name) {
  if (name.empty()) return "a database name is empty";
  if (name.size() > 63) return "database name '" + name.substr(0, 63) + "...' is longer than 63 bytes";
  if (name.find('\0') != std::string::npos) return "a database name holds a NUL byte";
  if (name.find('/') != std::string::npos)
    return "database name '" + name + "' holds a '/' (its backups go to backup.dir/NAME)";
  if (name == "." || name == "..") return "database name '" + name + "' cannot name a backup directory";
  return "";
}

Environment member_environment(const Environment& fleet, const std::string& name) {
  Environment env = fleet;
  env.database.name = name;
  env.database.names.clear();
  env.database.names_file.clear();
  env.database.discover.clear();
  if (env.backup) env.backup->dir += "/" + name;
  return env;
}

std::vector<std::string> parse_names_file(const std::string& content, const std::string& display) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  std::istringstream in(content);
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string name = trim(line);
    if (name.empty() || name[0] == '#') continue;
    std::string where = display + ":" + std::to_string(line_no) + ": ";
    if (auto problem = member_name_problem(name); !problem.empty()) throw Error(ErrorKind::Config, where + problem);
    if (!seen.insert(name).second) throw Error(ErrorKind::Config, where + "database '" + name + "' is listed twice");
    names.push_back(name);
  }
  if (names.empty()) throw Error(ErrorKind::Config, display + ": names_file lists no database");
  return names;
}

int share_of(const Share& s, int total, bool round_up) {
  if (!s.percent) return std::min(s.count, total);
  long long scaled = static_cast<long long>(s.count) * total;
  return static_cast<int>(round_up ? (scaled + 99) / 100 : scaled / 100);
}

}  // namespace ferry::config
