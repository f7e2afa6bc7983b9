// Reading `backup.drill:` {host, port, user, password | password_file, name_prefix}.
#include "config/drill_reader.hpp"

#include <cstdlib>
#include <filesystem>
#include <regex>

#include "config/database_reader.hpp"
#include "core/error.hpp"
#include "core/text.hpp"

namespace fs = std::filesystem;

namespace ferry::config {

std::optional<DrillSpec> read_drill(const Reader& r, const YAML::Node& n, const std::string& root, Secrets& secrets,
                                    bool resolve) {
  if (!n || n.IsNull()) return std::nullopt;
  r.expect_map(n, "backup.drill", {"host", "port", "user", "password", "password_file", "name_prefix"});
  r.require(n, "backup.drill", "host");
  DrillSpec d;
  d.mark = r.mark(n);
  d.host = r.nonempty(n, "host", "");
  d.port = r.int_or(n, "port", 5432, 1, 65535);
  d.user = r.str_or(n, "user", "");
  d.name_prefix = r.nonempty(n, "name_prefix", d.name_prefix);
  // The scratch name is PREFIX_ENV_XXXXXXXX, quoted as an identifier, within 63 bytes.
  static const std::regex k_prefix("[a-z_][a-z0-9_]{0,19}");
  if (!std::regex_match(d.name_prefix, k_prefix))
    r.fail(n["name_prefix"], "'name_prefix' must be 1 to 20 of a-z, 0-9 and '_' (not starting with a digit)");
  if (n["password"] && n["password_file"])
    r.fail(n["password_file"], "give either 'password' or 'password_file', not both");
  if (auto pw = n["password"]) {
    d.password = r.str(pw, "password");
    secrets.add(*d.password);
  }
  if (auto pf = n["password_file"]) {
    std::string file = r.str(pf, "password_file");
    d.password_file = password_file_path(file, root);
    if (resolve) {
      std::string content;
      try {
        content = read_file(d.password_file);
      } catch (const Error&) {
        r.fail(pf, "cannot read password_file '" + file + "'");
      }
      while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) content.pop_back();
      d.password = content;
      secrets.add(content);
    }
  }
  return d;
}

}  // namespace ferry::config
