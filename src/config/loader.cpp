#include "config/loader.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "core/error.hpp"
#include "core/text.hpp"

namespace fs = std::filesystem;

namespace ferry::config {

const char* step_kind_name(StepKind k) {
  switch (k) {
    case StepKind::Backup:
      return "backup";
    case StepKind::Migrate:
      return "migrate";
    case StepKind::Verify:
      return "verify";
    case StepKind::Restart:
      return "restart";
    case StepKind::Health:
      return "health";
    case StepKind::Run:
      return "run";
    case StepKind::Sql:
      return "sql";
  }
  return "?";
}

std::string StepSpec::label() const {
  std::string name = step_kind_name(kind);
  switch (kind) {
    case StepKind::Restart:
    case StepKind::Health:
      return name + " " + service;
    case StepKind::Run:
      return name + " " + first_line(command);
    case StepKind::Sql:
      return name + " " + first_line(sql);
    default:
      return name;
  }
}

const Environment& Project::environment(const std::string& name) const {
  auto it = environments.find(name);
  if (it == environments.end()) {
    std::vector<std::string> names;
    for (const auto& [n, _] : environments) names.push_back(n);
    std::string hint = closest(name, names);
    throw Error(ErrorKind::Config,
                "unknown environment '" + name + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)"),
                "environments are the files under environments/: " + (names.empty() ? std::string("none found") : [&] {
                  std::string s;
                  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
                  return s;
                }()));
  }
  return it->second;
}

namespace {

// Reading context for one file: its display name and the secrets found in it.
struct Reader {
  std::string file;
  Secrets* secrets;

  Mark mark(const YAML::Node& n) const {
    auto m = n.Mark();
    return Mark{file, m.line + 1, m.column + 1};
  }
  [[noreturn]] void fail(const YAML::Node& n, const std::string& msg) const {
    throw Error(ErrorKind::Config, mark(n).str() + ": " + msg);
  }
  [[noreturn]] void fail_at(const Mark& m, const std::string& msg) const {
    throw Error(ErrorKind::Config, m.str() + ": " + msg);
  }

  static std::string describe(const YAML::Node& n) {
    if (n.IsMap()) return "a mapping";
    if (n.IsSequence()) return "a list";
    if (n.IsNull()) return "nothing";
    return "'" + n.Scalar() + "'";
  }

  // Checks that `node` is a mapping whose keys are all in `allowed`.
  void expect_map(const YAML::Node& node, const std::string& what, const std::vector<std::string>& allowed) const {
    if (!node.IsMap()) fail(node, what + " must be a mapping, found " + describe(node));
    for (auto it = node.begin(); it != node.end(); ++it) {
      std::string key = it->first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      std::string hint = closest(key, allowed);
      fail(it->first, "unknown key '" + key + "' in " + what + (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
    }
  }

  void require(const YAML::Node& node, const std::string& what, const std::string& key) const {
    if (!node[key]) fail(node, what + ": missing required key '" + key + "'");
  }

  // ${VAR} interpolation; values read from the environment become secrets.
  std::string interpolate(const YAML::Node& n, const std::string& raw) const {
    std::string out;
    size_t i = 0;
    while (i < raw.size()) {
      if (raw[i] == '$' && i + 1 < raw.size() && raw[i + 1] == '{') {
        size_t end = raw.find('}', i + 2);
        if (end == std::string::npos) fail(n, "unterminated '${' in '" + raw + "'");
        std::string var = raw.substr(i + 2, end - i - 2);
        const char* v = std::getenv(var.c_str());
        if (!v) fail(n, "environment variable '" + var + "' is not set (used as ${" + var + "})");
        if (secrets) secrets->add(v);
        out += v;
        i = end + 1;
      } else {
        out.push_back(raw[i++]);
      }
    }
    return out;
  }

  std::string str(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar()) fail(n, "'" + key + "' must be a string, found " + describe(n));
    return interpolate(n, n.Scalar());
  }
  std::string str_or(const YAML::Node& map, const std::string& key, std::string def) const {
    auto n = map[key];
    if (!n || n.IsNull()) return def;
    return str(n, key);
  }
  bool boolean(const YAML::Node& n, const std::string& key) const {
    if (n.IsScalar()) {
      const auto& s = n.Scalar();
      if (s == "true" || s == "True" || s == "yes") return true;
      if (s == "false" || s == "False" || s == "no") return false;
    }
    fail(n, "'" + key + "' must be true or false, found " + describe(n));
  }
  bool bool_or(const YAML::Node& map, const std::string& key, bool def) const {
    auto n = map[key];
    return (!n || n.IsNull()) ? def : boolean(n, key);
  }
  int integer(const YAML::Node& n, const std::string& key, int lo, int hi) const {
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
  int int_or(const YAML::Node& map, const std::string& key, int def, int lo, int hi) const {
    auto n = map[key];
    return (!n || n.IsNull()) ? def : integer(n, key, lo, hi);
  }
  Millis duration(const YAML::Node& n, const std::string& key) const {
    if (n.IsScalar()) {
      if (auto d = parse_duration(n.Scalar())) return *d;
    }
    fail(n, "'" + key + "' must be a duration like 500ms, 30s, 5m or 1h, found " + describe(n));
  }
  Millis duration_or(const YAML::Node& map, const std::string& key, Millis def) const {
    auto n = map[key];
    return (!n || n.IsNull()) ? def : duration(n, key);
  }
  std::string one_of(const YAML::Node& map, const std::string& key, std::string def,
                     const std::vector<std::string>& allowed) const {
    auto n = map[key];
    if (!n || n.IsNull()) return def;
    std::string v = str(n, key);
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : " or ") + ("'" + a + "'");
      fail(n, "'" + key + "' must be " + list + ", found '" + v + "'");
    }
    return v;
  }
  std::vector<std::string> str_list(const YAML::Node& n, const std::string& key) const {
    std::vector<std::string> out;
    if (!n || n.IsNull()) return out;
    if (!n.IsSequence()) fail(n, "'" + key + "' must be a list, found " + describe(n));
    for (const auto& item : n) out.push_back(str(item, key));
    return out;
  }
};

YAML::Node load_yaml(const std::string& path, const std::string& display) {
  try {
    return YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw Error(ErrorKind::Config, "cannot read '" + display + "'");
  } catch (const YAML::Exception& e) {
    throw Error(ErrorKind::Config, display + ":" + std::to_string(e.mark.line + 1) + ":" +
                                       std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

std::string display_path(const std::string& root, const fs::path& p) {
  std::error_code ec;
  auto rel = fs::relative(p, root, ec);
  if (!ec && !rel.empty() && rel.native().rfind("..", 0) != 0) return rel.string();
  return p.string();
}

Connection read_connection(const Reader& r, const std::string& name, const YAML::Node& n) {
  Connection c;
  c.name = name;
  c.mark = r.mark(n);
  std::string what = "connection '" + name + "'";
  if (!n.IsMap()) r.fail(n, what + " must be a mapping, found " + Reader::describe(n));
  r.require(n, what, "type");
  std::string type = r.one_of(n, "type", "", {"local", "ssh", "docker"});
  if (type == "local") {
    r.expect_map(n, what, {"type"});
    c.type = ConnectionType::Local;
  } else if (type == "ssh") {
    r.expect_map(n, what, {"type", "host", "port", "user", "identity", "agent", "known_hosts", "host_key"});
    r.require(n, what, "host");
    c.type = ConnectionType::Ssh;
    c.ssh.host = r.str(n["host"], "host");
    c.ssh.port = r.int_or(n, "port", 22, 1, 65535);
    c.ssh.user = r.str_or(n, "user", "");
    c.ssh.identity = r.str_or(n, "identity", "");
    c.ssh.agent = r.bool_or(n, "agent", false);
    c.ssh.known_hosts = r.str_or(n, "known_hosts", c.ssh.known_hosts);
    c.ssh.host_key = r.one_of(n, "host_key", "strict", {"strict", "accept-new"});
    if (c.ssh.identity.empty() && !c.ssh.agent)
      r.fail(n, what + ": needs 'identity' (a private key file) or 'agent: true'");
  } else {
    r.expect_map(n, what, {"type", "container", "via", "engine", "user", "workdir"});
    r.require(n, what, "container");
    c.type = ConnectionType::Docker;
    c.docker.container = r.str(n["container"], "container");
    c.docker.via = r.str_or(n, "via", "local");
    c.docker.engine = r.str_or(n, "engine", "docker");
    c.docker.user = r.str_or(n, "user", "");
    c.docker.workdir = r.str_or(n, "workdir", "");
  }
  return c;
}

// A value that must name a connection of the environment.
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

Environment read_environment(const std::string& root, const fs::path& path, Secrets& secrets) {
  Reader r{display_path(root, path), &secrets};
  YAML::Node doc = load_yaml(path.string(), r.file);
  Environment env;
  env.name = path.stem().string();
  env.file = r.file;
  if (!doc.IsMap()) r.fail(doc, "an environment file must be a mapping, found " + Reader::describe(doc));
  r.expect_map(doc, "the environment",
               {"description", "protected", "requires", "connections", "database", "backup", "services"});
  env.description = r.str_or(doc, "description", "");
  env.is_protected = r.bool_or(doc, "protected", false);
  env.requires_envs = r.str_list(doc["requires"], "requires");

  Connection local;
  local.name = "local";
  env.connections["local"] = local;
  if (auto conns = doc["connections"]) {
    if (!conns.IsMap()) r.fail(conns, "'connections' must be a mapping, found " + Reader::describe(conns));
    for (auto it = conns.begin(); it != conns.end(); ++it) {
      std::string name = it->first.Scalar();
      if (name == "local") r.fail(it->first, "'local' is built in and cannot be redefined");
      env.connections[name] = read_connection(r, name, it->second);
    }
    // via references, checked once every connection is known
    for (auto it = conns.begin(); it != conns.end(); ++it) {
      const auto& c = env.connections[it->first.Scalar()];
      if (c.type == ConnectionType::Docker) {
        auto via = it->second["via"];
        if (via) check_connection_ref(r, env, via, "via", c.docker.via);
        if (c.docker.via == c.name) r.fail(via, "'via' cannot name the connection itself");
      }
    }
  }

  r.require(doc, "the environment", "database");
  auto db = doc["database"];
  r.expect_map(db, "database",
               {"name", "user", "password", "password_file", "host", "port", "tunnel", "sslmode", "tools"});
  r.require(db, "database", "name");
  env.database.name = r.str(db["name"], "name");
  env.database.user = r.str_or(db, "user", "");
  if (db["password"] && db["password_file"])
    r.fail(db["password_file"], "give either 'password' or 'password_file', not both");
  if (auto pw = db["password"]) {
    env.database.password = r.str(pw, "password");
    secrets.add(*env.database.password);
  }
  if (auto pf = db["password_file"]) {
    std::string file = r.str(pf, "password_file");
    if (!file.empty() && file[0] == '~') {
      const char* home = std::getenv("HOME");
      file = std::string(home ? home : "") + file.substr(1);
    }
    fs::path p = fs::path(file).is_absolute() ? fs::path(file) : fs::path(root) / file;
    std::string content;
    try {
      content = read_file(p.string());
    } catch (const Error&) {
      r.fail(pf, "cannot read password_file '" + file + "'");
    }
    while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) content.pop_back();
    env.database.password = content;
    secrets.add(content);
  }
  env.database.host = r.str_or(db, "host", env.database.host);
  env.database.port = r.int_or(db, "port", 5432, 1, 65535);
  env.database.tunnel = r.str_or(db, "tunnel", "");
  if (!env.database.tunnel.empty()) {
    check_connection_ref(r, env, db["tunnel"], "tunnel", env.database.tunnel);
    if (env.connections[env.database.tunnel].type != ConnectionType::Ssh)
      r.fail(db["tunnel"], "'tunnel' must name an ssh connection, '" + env.database.tunnel + "' is not one");
  }
  env.database.sslmode =
      r.one_of(db, "sslmode", "prefer", {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"});
  env.database.tools = r.str_or(db, "tools", "local");
  if (db["tools"]) check_connection_ref(r, env, db["tools"], "tools", env.database.tools);

  if (auto b = doc["backup"]) {
    r.expect_map(b, "backup", {"on", "dir", "format", "jobs", "keep"});
    r.require(b, "backup", "dir");
    BackupSpec spec;
    spec.on = r.str_or(b, "on", "local");
    if (b["on"]) check_connection_ref(r, env, b["on"], "on", spec.on);
    spec.dir = r.str(b["dir"], "dir");
    // A relative local directory is relative to the project root, not to ferry's cwd.
    if (env.connections.at(spec.on).type == ConnectionType::Local && !spec.dir.empty() && spec.dir[0] != '/')
      spec.dir = (fs::absolute(fs::path(root)) / spec.dir).lexically_normal().string();
    spec.format = r.one_of(b, "format", "custom", {"custom", "directory"});
    spec.jobs = r.int_or(b, "jobs", 1, 1, 64);
    spec.keep = r.int_or(b, "keep", 0, 0, 100000);
    env.backup = spec;
  }

  if (auto services = doc["services"]) {
    if (!services.IsMap()) r.fail(services, "'services' must be a mapping, found " + Reader::describe(services));
    for (auto it = services.begin(); it != services.end(); ++it) {
      Service s;
      s.name = it->first.Scalar();
      const auto& n = it->second;
      std::string what = "service '" + s.name + "'";
      r.expect_map(n, what, {"on", "restart", "restart_timeout", "health"});
      s.on = r.str_or(n, "on", "local");
      if (n["on"]) check_connection_ref(r, env, n["on"], "on", s.on);
      s.restart = r.str_or(n, "restart", "");
      s.restart_timeout = r.duration_or(n, "restart_timeout", s.restart_timeout);
      if (auto h = n["health"]) {
        r.expect_map(h, what + " health", {"url", "via", "expect_status", "expect_body", "timeout", "interval"});
        r.require(h, what + " health", "url");
        HealthSpec hs;
        hs.url = r.str(h["url"], "url");
        hs.via = r.str_or(h, "via", "");
        if (h["via"]) check_connection_ref(r, env, h["via"], "via", hs.via);
        hs.expect_status = r.int_or(h, "expect_status", 200, 100, 599);
        hs.expect_body = r.str_or(h, "expect_body", "");
        hs.timeout = r.duration_or(h, "timeout", hs.timeout);
        hs.interval = r.duration_or(h, "interval", hs.interval);
        s.health = hs;
      }
      env.services[s.name] = s;
    }
  }
  return env;
}

ColumnCheck parse_column_ref(const Reader& r, const YAML::Node& n, const std::string& ref) {
  auto dot = ref.rfind('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == ref.size())
    r.fail(n, "column '" + ref + "' must be written TABLE.COLUMN");
  return ColumnCheck{ref.substr(0, dot), ref.substr(dot + 1), ""};
}

const std::vector<std::string> k_step_kinds = {"backup", "migrate", "verify", "restart", "health", "run", "sql"};

StepSpec read_step(const Reader& r, const YAML::Node& item) {
  StepSpec s;
  s.mark = r.mark(item);
  std::string kind;
  YAML::Node body;
  YAML::Node kind_node = item;
  if (item.IsScalar()) {
    kind = item.Scalar();
  } else if (item.IsMap()) {
    for (auto it = item.begin(); it != item.end(); ++it) {
      std::string key = it->first.Scalar();
      if (key == "timeout") {
        s.timeout = r.duration(it->second, "timeout");
        continue;
      }
      bool known = std::find(k_step_kinds.begin(), k_step_kinds.end(), key) != k_step_kinds.end();
      if (known && !kind.empty()) r.fail(it->first, "a step has one kind, found both '" + kind + "' and '" + key + "'");
      kind = key;
      kind_node.reset(it->first);
      body.reset(it->second);
      if (!known) break;  // reported below, with a suggestion
    }
    if (kind.empty()) r.fail(item, "a step needs a kind: one of backup, migrate, verify, restart, health, run, sql");
  } else {
    r.fail(item, "a step must be a name or a mapping, found " + Reader::describe(item));
  }
  if (std::find(k_step_kinds.begin(), k_step_kinds.end(), kind) == k_step_kinds.end()) {
    std::string hint = closest(kind, k_step_kinds);
    r.fail(kind_node, "unknown step '" + kind + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
  }
  bool has_body = body && !body.IsNull();
  if (kind == "backup") {
    s.kind = StepKind::Backup;
    if (has_body) r.expect_map(body, "backup step", {"timeout"});
  } else if (kind == "migrate") {
    s.kind = StepKind::Migrate;
    if (has_body) {
      r.expect_map(body, "migrate step", {"transaction", "lock_timeout", "timeout"});
      s.transaction_each = r.one_of(body, "transaction", "all", {"all", "each"}) == "each";
      s.lock_timeout = r.duration_or(body, "lock_timeout", s.lock_timeout);
    }
  } else if (kind == "verify") {
    s.kind = StepKind::Verify;
    if (!has_body) r.fail(kind_node, "a verify step needs columns, absent_columns, row_counts or sql");
    r.expect_map(body, "verify step", {"columns", "absent_columns", "row_counts", "sql", "timeout"});
    if (auto cols = body["columns"]) {
      if (!cols.IsSequence()) r.fail(cols, "'columns' must be a list, found " + Reader::describe(cols));
      for (const auto& c : cols) {
        if (c.IsScalar()) {
          s.columns.push_back(parse_column_ref(r, c, c.Scalar()));
        } else if (c.IsMap() && c.size() == 1) {
          auto it = c.begin();
          auto check = parse_column_ref(r, it->first, it->first.Scalar());
          check.type = r.str(it->second, "type");
          s.columns.push_back(check);
        } else {
          r.fail(c, "a column is written TABLE.COLUMN or {TABLE.COLUMN: TYPE}, found " + Reader::describe(c));
        }
      }
    }
    if (auto cols = body["absent_columns"]) {
      for (const auto& ref : r.str_list(cols, "absent_columns"))
        s.absent_columns.push_back(parse_column_ref(r, cols, ref));
    }
    if (auto rc = body["row_counts"]) {
      if (rc.IsScalar()) {
        if (rc.Scalar() != "all")
          r.fail(rc, "'row_counts' must be 'all' or a list of tables, found '" + rc.Scalar() + "'");
        s.row_counts_all = true;
      } else {
        s.row_count_tables = r.str_list(rc, "row_counts");
      }
    }
    if (auto sql = body["sql"]) {
      if (sql.IsScalar())
        s.assertions.push_back(r.str(sql, "sql"));
      else
        s.assertions = r.str_list(sql, "sql");
    }
  } else if (kind == "restart" || kind == "health") {
    s.kind = kind == "restart" ? StepKind::Restart : StepKind::Health;
    if (!has_body) r.fail(kind_node, "'" + kind + "' needs a service name");
    if (body.IsMap()) {
      r.expect_map(body, kind + " step", {"service", "timeout"});
      r.require(body, kind + " step", "service");
      s.service = r.str(body["service"], "service");
      if (body["timeout"]) s.timeout = r.duration(body["timeout"], "timeout");
    } else {
      s.service = r.str(body, kind);
    }
  } else if (kind == "run") {
    s.kind = StepKind::Run;
    if (!has_body) r.fail(kind_node, "'run' needs a command");
    if (body.IsMap()) {
      r.expect_map(body, "run step", {"on", "command", "timeout"});
      r.require(body, "run step", "command");
      s.on = r.str_or(body, "on", "local");
      s.command = r.str(body["command"], "command");
      if (body["timeout"]) s.timeout = r.duration(body["timeout"], "timeout");
    } else {
      s.command = r.str(body, "run");
    }
  } else {
    s.kind = StepKind::Sql;
    if (!has_body) r.fail(kind_node, "'sql' needs a statement");
    s.sql = r.str(body, "sql");
  }
  if (has_body && body.IsMap() && body["timeout"] && !s.timeout) s.timeout = r.duration(body["timeout"], "timeout");
  return s;
}

}  // namespace

Project load_project(const std::string& root) {
  Project p;
  p.root = root;
  fs::path dir = fs::path(root) / "environments";
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error(ErrorKind::Config, "no environments/ directory under '" + root + "'",
                "run ferry in a project directory, or pass -C DIR");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    auto ext = e.path().extension();
    if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto env = read_environment(root, f, p.secrets);
    p.environments[env.name] = std::move(env);
  }
  // requires: must name known environments
  for (const auto& [name, env] : p.environments) {
    for (const auto& req : env.requires_envs) {
      if (!p.environments.count(req)) {
        Reader r{env.file, nullptr};
        YAML::Node doc = load_yaml((fs::path(root) / env.file).string(), env.file);
        r.fail(doc["requires"], "'requires' names no environment '" + req + "'");
      }
      if (req == name) {
        Reader r{env.file, nullptr};
        YAML::Node doc = load_yaml((fs::path(root) / env.file).string(), env.file);
        r.fail(doc["requires"], "an environment cannot require itself");
      }
    }
  }
  return p;
}

std::vector<std::string> list_playbooks(const std::string& root) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::path dir = fs::path(root) / "playbooks";
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    auto ext = e.path().extension();
    if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) out.push_back(e.path().stem().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

Playbook load_playbook(const Project& project, const std::string& name_or_path) {
  const std::string& root = project.root;
  fs::path path;
  std::vector<fs::path> candidates = {fs::path(name_or_path), fs::path(root) / name_or_path,
                                      fs::path(root) / "playbooks" / (name_or_path + ".yaml"),
                                      fs::path(root) / "playbooks" / (name_or_path + ".yml")};
  for (const auto& c : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(c, ec)) {
      path = c;
      break;
    }
  }
  if (path.empty()) {
    auto names = list_playbooks(root);
    std::string hint = closest(name_or_path, names);
    throw Error(ErrorKind::Config,
                "no playbook '" + name_or_path + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)"),
                "playbooks are files under playbooks/, named without .yaml, or a path");
  }
  // Playbooks hold no secrets of their own, but ${VAR} values in them are redacted too.
  Reader r{display_path(root, fs::absolute(path)), &project.secrets};
  YAML::Node doc = load_yaml(path.string(), r.file);
  Playbook pb;
  pb.name = path.stem().string();
  pb.file = r.file;
  if (!doc.IsMap()) r.fail(doc, "a playbook must be a mapping, found " + Reader::describe(doc));
  r.expect_map(doc, "the playbook", {"description", "migrations", "stages", "steps", "on_failure", "rollback"});
  pb.description = r.str_or(doc, "description", "");
  if (auto m = doc["migrations"]) {
    if (m.IsScalar()) {
      pb.migrations.dir = r.str(m, "migrations");
    } else {
      r.expect_map(m, "migrations", {"driver", "dir", "on", "command"});
      std::string driver = r.one_of(m, "driver", "native", {"native", "alembic"});
      pb.migrations.driver = driver == "alembic" ? Driver::Alembic : Driver::Native;
      pb.migrations.dir = r.str_or(m, "dir", pb.migrations.dir);
      pb.migrations.on = r.str_or(m, "on", "local");
      pb.migrations.command = r.str_or(m, "command", "alembic");
    }
  }
  r.require(doc, "the playbook", "stages");
  pb.stages = r.str_list(doc["stages"], "stages");
  if (pb.stages.empty()) r.fail(doc["stages"], "'stages' must name at least one environment");
  std::set<std::string> seen;
  for (size_t i = 0; i < pb.stages.size(); ++i) {
    const auto& st = pb.stages[i];
    if (!project.environments.count(st)) {
      std::vector<std::string> names;
      for (const auto& [n, _] : project.environments) names.push_back(n);
      std::string hint = closest(st, names);
      r.fail(doc["stages"][i],
             "stage '" + st + "' names no environment" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
    }
    if (!seen.insert(st).second) r.fail(doc["stages"][i], "stage '" + st + "' is listed twice");
  }
  r.require(doc, "the playbook", "steps");
  auto steps = doc["steps"];
  if (!steps.IsSequence() || steps.size() == 0)
    r.fail(steps, "'steps' must be a non-empty list, found " + Reader::describe(steps));
  for (const auto& item : steps) pb.steps.push_back(read_step(r, item));
  pb.on_failure =
      r.one_of(doc, "on_failure", "rollback", {"rollback", "stop"}) == "stop" ? OnFailure::Stop : OnFailure::Rollback;
  std::string rb = r.one_of(doc, "rollback", "auto", {"auto", "down", "restore"});
  pb.rollback = rb == "down" ? RollbackMethod::Down : rb == "restore" ? RollbackMethod::Restore : RollbackMethod::Auto;

  // Cross-checks against every stage's environment.
  size_t idx = 0;
  bool seen_migrate = false;
  for (const auto& step : pb.steps) {
    auto node = steps[idx++];
    if (step.kind == StepKind::Migrate) {
      if (seen_migrate) r.fail(node, "a playbook has at most one migrate step");
      seen_migrate = true;
      // Alembic runs its own transactions: these would be accepted and then do nothing.
      const YAML::Node body = node.IsMap() ? YAML::Node(node["migrate"]) : YAML::Node();
      if (pb.migrations.driver == Driver::Alembic && body.IsMap())
        for (const char* key : {"transaction", "lock_timeout"})
          if (body[key])
            r.fail(body[key], std::string("'") + key +
                                  "' does not apply to the Alembic driver (alembic runs its own transactions); "
                                  "remove it");
    }
    for (const auto& st : pb.stages) {
      const auto& env = project.environments.at(st);
      if (step.kind == StepKind::Restart || step.kind == StepKind::Health) {
        auto it = env.services.find(step.service);
        if (it == env.services.end()) r.fail(node, "service '" + step.service + "' is not defined in " + env.file);
        if (step.kind == StepKind::Restart && it->second.restart.empty())
          r.fail(node, "service '" + step.service + "' has no 'restart' command in " + env.file);
        if (step.kind == StepKind::Health && !it->second.health)
          r.fail(node, "service '" + step.service + "' has no 'health' probe in " + env.file);
      }
      if (step.kind == StepKind::Run && !env.connections.count(step.on))
        r.fail(node, "'on' names no connection '" + step.on + "' in " + env.file);
      if (step.kind == StepKind::Backup && !env.backup)
        r.fail(node, "a backup step needs a 'backup:' section in " + env.file);
      if (pb.migrations.driver == Driver::Alembic && !env.connections.count(pb.migrations.on))
        r.fail(doc["migrations"], "'on' names no connection '" + pb.migrations.on + "' in " + env.file);
    }
  }
  return pb;
}

}  // namespace ferry::config
