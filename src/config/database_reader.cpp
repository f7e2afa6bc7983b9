#include "config/database_reader.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "config/database_url.hpp"
#include "config/fleet.hpp"
#include "core/text.hpp"

namespace fs = std::filesystem;

namespace ferry::config {

void check_connection_ref(const Reader& r, const Environment& env, const YAML::Node& node, const std::string& key,
                          const std::string& value) {
  if (env.connections.count(value)) return;
  std::vector<std::string> names;
  for (const auto& [n, _] : env.connections) names.push_back(n);
  std::string hint = closest(value, names);
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  r.fail(node, "'" + key + "' names no connection '" + value + "'" +
                   (hint.empty() ? "" : " (did you mean '" + hint + "'?)") + "; known: " + known);
}

namespace {

std::string read_password_file(const Reader& r, const YAML::Node& pf, const fs::path& p, const std::string& file) {
  std::string content;
  try {
    content = read_file(p.string());
  } catch (const Error&) {
    r.fail(pf, "cannot read password_file '" + file + "'");
  }
  while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) content.pop_back();
  return content;
}

void read_password(const Reader& r, Environment& env, const YAML::Node& db, const std::string& root, Secrets& secrets,
                   bool resolve) {
  if (db["password"] && db["password_file"])
    r.fail(db["password_file"], "give either 'password' or 'password_file', not both");
  if (auto pw = db["password"]) {
    env.database.password = r.str(pw, "password");
    secrets.add(*env.database.password);
  }
  if (auto pf = db["password_file"]) {
    std::string file = r.str(pf, "password_file");
    env.database.password_file = password_file_path(file, root);
    fs::path p = env.database.password_file;
    // Under systemd, LoadCredential=ENV.password (ferry schedule) hands the file over instead.
    const char* creds = std::getenv("CREDENTIALS_DIRECTORY");
    std::error_code ec;
    if (creds && fs::is_regular_file(fs::path(creds) / (env.name + ".password"), ec))
      p = fs::path(creds) / (env.name + ".password");
    if (resolve) {
      env.database.password = read_password_file(r, pf, p, file);
      secrets.add(*env.database.password);
    }
  }
}

// `url:` in place of name/host/port/user/password: the URI read into the same fields. Its
// password (and the URL itself, which holds it) are secrets.
void read_url(const Reader& r, Environment& env, const YAML::Node& db, Secrets& secrets) {
  for (const char* key : {"name", "host", "port", "user", "password", "password_file"})
    if (db[key])
      r.fail(db[key], std::string("give either 'url' or '") + key + "' (and the other separate fields), not both");
  std::string url = r.str(db["url"], "url");
  UrlParts parts;
  try {
    parts = parse_database_url(url);
  } catch (const Error& e) {
    if (r.unresolved && !r.unresolved->empty()) return;  // not acted on: its ${VAR} was left unset
    r.fail(db["url"], e.what());
  }
  secrets.add(url);
  env.database.name = parts.name;
  env.database.user = parts.user;
  if (!parts.host.empty()) env.database.host = parts.host;
  if (parts.port) env.database.port = *parts.port;
  if (parts.password) {
    env.database.password = parts.password;
    secrets.add(*parts.password);
  }
  if (parts.sslmode) {
    if (db["sslmode"]) r.fail(db["sslmode"], "'sslmode' is given in 'url' already");
    env.database.sslmode = *parts.sslmode;
  }
  if (parts.connect_timeout_s) {
    if (db["connect_timeout"]) r.fail(db["connect_timeout"], "'connect_timeout' is given in 'url' already");
    env.database.connect_timeout_s = *parts.connect_timeout_s;
  }
}

// The member list of a fleet: `names`, `names_file` (read when resolved, relative to the
// environment file's directory) or `discover`; at most one of them, and `name` only beside
// `discover` (where discovery connects).
void read_members(const Reader& r, Environment& env, const YAML::Node& db, const std::string& root, bool resolve) {
  int lists = 0;
  for (const char* key : {"names", "names_file", "discover"}) lists += db[key] ? 1 : 0;
  if (lists > 1) r.fail(db, "database: give one of 'names', 'names_file' or 'discover', not several");
  for (const char* key : {"names", "names_file"})
    if (db[key] && db["name"])
      r.fail(db["name"], std::string("give either 'name' or '") + key +
                             "': with a list of databases, 'name' is only where 'discover' connects");
  if (auto n = db["names"]) {
    env.database.names = r.str_list(n, "names");
    if (env.database.names.empty()) r.fail(n, "'names' must list at least one database");
    std::set<std::string> seen;
    for (size_t i = 0; i < env.database.names.size(); ++i) {
      const auto& name = env.database.names[i];
      if (auto problem = member_name_problem(name); !problem.empty()) r.fail(n[i], problem);
      if (!seen.insert(name).second) r.fail(n[i], "database '" + name + "' is listed twice");
    }
  }
  if (auto f = db["names_file"]) {
    std::string written = r.str(f, "names_file");
    fs::path p = fs::path(written).is_absolute() ? fs::path(written)
                                                 : fs::path(root) / fs::path(env.file).parent_path() / written;
    env.database.names_file = fs::absolute(p).lexically_normal().string();
    if (resolve) {
      std::string content;
      try {
        content = read_file(env.database.names_file);
      } catch (const Error&) {
        r.fail(f, "cannot read names_file '" + written + "'");
      }
      try {
        env.database.names = parse_names_file(content, written);
      } catch (const Error& e) {
        r.fail(f, e.what());
      }
    }
  }
  if (db["discover"]) env.database.discover = r.nonempty(db, "discover", "");
}

}  // namespace

std::string password_file_path(const std::string& written, const std::string& root) {
  std::string file = written;
  if (!file.empty() && file[0] == '~') {
    const char* home = std::getenv("HOME");
    file = std::string(home ? home : "") + file.substr(1);
  }
  fs::path p = fs::path(file).is_absolute() ? fs::path(file) : fs::path(root) / file;
  return fs::absolute(p).lexically_normal().string();
}

void read_database(const Reader& r, Environment& env, const YAML::Node& db, const std::string& root, Secrets& secrets,
                   bool resolve) {
  r.expect_map(db, "database",
               {"url", "name", "user", "password", "password_file", "host", "port", "tunnel", "sslmode", "tools",
                "connect_timeout", "names", "names_file", "discover"});
  read_members(r, env, db, root, resolve);
  if (db["url"]) {
    read_url(r, env, db, secrets);
  } else {
    if (!env.database.fleet()) r.require(db, "database", "name");
    env.database.name = r.nonempty(db, "name", "");
    env.database.user = r.str_or(db, "user", "");
    read_password(r, env, db, root, secrets, resolve);
    env.database.host = r.nonempty(db, "host", env.database.host);
    env.database.port = r.int_or(db, "port", 5432, 1, 65535);
  }
  env.database.tunnel = r.str_or(db, "tunnel", "");
  if (!env.database.tunnel.empty()) {
    check_connection_ref(r, env, db["tunnel"], "tunnel", env.database.tunnel);
    auto tt = env.connections.at(env.database.tunnel).type;
    if (tt != ConnectionType::Ssh && tt != ConnectionType::Kubectl)
      r.fail(db["tunnel"], "'tunnel' must name an ssh or kubectl connection, '" + env.database.tunnel + "' is neither");
  }
  const std::vector<std::string> modes = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"};
  env.database.sslmode = r.one_of(db, "sslmode", env.database.sslmode, modes);
  if (std::find(modes.begin(), modes.end(), env.database.sslmode) == modes.end())
    r.fail(db["url"], "sslmode in 'url' must be one of disable, allow, prefer, require, verify-ca, verify-full");
  env.database.tools = r.str_or(db, "tools", "local");
  if (db["connect_timeout"]) {
    auto t = r.duration(db["connect_timeout"], "connect_timeout");
    if (t < Millis(1000)) r.fail(db["connect_timeout"], "'connect_timeout' must be at least 1s");
    env.database.connect_timeout_s = static_cast<int>((t.count() + 999) / 1000);
  }
  if (db["tools"]) check_connection_ref(r, env, db["tools"], "tools", env.database.tools);
}

}  // namespace ferry::config
