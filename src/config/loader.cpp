#include "config/fleet_reader.hpp"
#include "config/loader.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "config/database_reader.hpp"
#include "config/drill_reader.hpp"
#include "config/notify_reader.hpp"
#include "config/reader.hpp"
#include "config/step_reader.hpp"
#include "core/error.hpp"
#include "core/text.hpp"

namespace fs = std::filesystem;

namespace ferry::config {

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
  if (!it->second.resolved)  // a command acts only on environments it resolved (load_project)
    throw Error(ErrorKind::Config, it->second.unresolved.empty()
                                       ? "environment '" + name + "' was read without its variables and secrets"
                                       : it->second.unresolved);
  return it->second;
}

namespace {

std::string display_path(const std::string& root, const fs::path& p) {
  std::error_code ec;
  auto rel = fs::relative(p, root, ec);
  if (!ec && !rel.empty() && rel.native().rfind("..", 0) != 0) return rel.string();
  return p.string();
}

bool is_http_url(const std::string& url) {
  std::string lower;
  for (char c : url.substr(0, 8)) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return lower.rfind("http://", 0) == 0 || lower.rfind("https://", 0) == 0;
}

void read_kubectl(const Reader& r, const YAML::Node& n, const std::string& what, Connection& c) {
  r.expect_map(
      n, what,
      {"type", "target", "namespace", "container", "context", "kubeconfig", "kubectl", "workdir", "keepalive"});
  r.require(n, what, "target");
  c.type = ConnectionType::Kubectl;
  auto& k = c.kubectl;
  k.target = r.nonempty(n, "target", "");
  auto slash = k.target.find('/');
  if (slash == 0 || slash == std::string::npos || slash + 1 == k.target.size() || k.target[0] == '-' ||
      k.target.find('/', slash + 1) != std::string::npos)
    r.fail(n["target"], what + ": 'target' must be TYPE/NAME (deployment/backend, pod/NAME), found '" + k.target + "'");
  k.namespace_ = r.str_or(n, "namespace", "");
  k.container = r.str_or(n, "container", "");
  k.context = r.str_or(n, "context", "");
  k.kubeconfig = r.str_or(n, "kubeconfig", "");
  k.kubectl = r.nonempty(n, "kubectl", "kubectl");
  k.workdir = r.str_or(n, "workdir", "");
  k.keepalive = r.duration_or(n, "keepalive", k.keepalive);
}

Connection read_connection(const Reader& r, const std::string& name, const YAML::Node& n) {
  Connection c;
  c.name = name;
  std::string what = "connection '" + name + "'";
  if (!n.IsMap()) r.fail(n, what + " must be a mapping, found " + Reader::describe(n));
  r.require(n, what, "type");
  std::string type = r.one_of(n, "type", "", {"local", "ssh", "docker", "kubectl"});
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
  } else if (type == "kubectl") {
    read_kubectl(r, n, what, c);
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

Service read_service(const Reader& r, const Environment& env, const std::string& name, const YAML::Node& n) {
  Service s;
  s.name = name;
  std::string what = "service '" + s.name + "'";
  r.expect_map(n, what, {"on", "restart", "restart_timeout", "version", "rollback", "health"});
  s.on = r.str_or(n, "on", "local");
  if (n["on"]) check_connection_ref(r, env, n["on"], "on", s.on);
  if (n["restart"] && !n["restart"].IsNull()) {
    auto restart = r.shell(n["restart"], "restart");
    s.restart = restart.text;
    s.restart_env = restart.env;
  }
  auto command = [&](const char* key, std::string& text, std::map<std::string, std::string>& env) {
    if (!n[key] || n[key].IsNull()) return;
    auto cmd = r.shell(n[key], key);
    text = cmd.text;
    env = cmd.env;
  };
  command("version", s.version, s.version_env);
  command("rollback", s.rollback, s.rollback_env);
  s.restart_timeout = r.duration_or(n, "restart_timeout", s.restart_timeout);
  if (auto h = n["health"]) {
    r.expect_map(h, what + " health", {"url", "via", "expect_status", "expect_body", "timeout", "interval", "headers"});
    r.require(h, what + " health", "url");
    HealthSpec hs;
    hs.url = r.str(h["url"], "url");
    if (!is_http_url(hs.url))
      r.fail(h["url"], "'url' must be an http:// or https:// address, found " + Reader::describe(h["url"]));
    hs.via = r.str_or(h, "via", "");
    if (h["via"]) check_connection_ref(r, env, h["via"], "via", hs.via);
    hs.expect_status = r.int_or(h, "expect_status", 200, 100, 599);
    hs.expect_body = r.str_or(h, "expect_body", "");
    hs.timeout = r.duration_or(h, "timeout", hs.timeout);
    hs.interval = r.duration_or(h, "interval", hs.interval);
    hs.headers = read_headers(r, h["headers"]);
    s.health = hs;
  }
  return s;
}

BackupSpec read_backup(const Reader& r, const Environment& env, const YAML::Node& b, const std::string& root,
                       Secrets& secrets, bool resolve) {
  r.expect_map(b, "backup", {"on", "dir", "format", "jobs", "keep", "keep_days", "restore", "restore_jobs",
                           "restore_lock_timeout", "drill"});
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
  spec.keep_days = r.int_or(b, "keep_days", 0, 0, 100000);
  spec.restore = r.one_of(b, "restore", "transaction", {"transaction", "swap"});
  spec.restore_jobs = r.int_or(b, "restore_jobs", 0, 1, 64);       // 0 (unset): its host's CPUs
  spec.restore_lock_timeout = r.duration_or(b, "restore_lock_timeout", spec.restore_lock_timeout);
  if (spec.restore_lock_timeout < Millis(1000))
    r.fail(b["restore_lock_timeout"], "'restore_lock_timeout' must be at least 1s");
  spec.drill = read_drill(r, b["drill"], root, secrets, resolve);  // config/drill_reader.*
  return spec;
}

void read_connections(const Reader& r, Environment& env, const YAML::Node& conns) {
  if (!conns.IsMap()) r.fail(conns, "'connections' must be a mapping, found " + Reader::describe(conns));
  for (auto it = conns.begin(); it != conns.end(); ++it) {
    std::string name = it->first.Scalar();
    if (name == "local") r.fail(it->first, "'local' is built in and cannot be redefined");
    // A connection that fails to read is still known by name: no second error for each use.
    env.connections[name].name = name;
    r.section([&] { env.connections[name] = read_connection(r, name, it->second); });
  }
  // via references, checked once every connection is known
  for (auto it = conns.begin(); it != conns.end(); ++it) {
    const auto& c = env.connections[it->first.Scalar()];
    if (c.type == ConnectionType::Docker) {
      auto via = it->second["via"];
      if (via) r.section([&] { check_connection_ref(r, env, via, "via", c.docker.via); });
      if (c.docker.via == c.name) r.section([&] { r.fail(via, "'via' cannot name the connection itself"); });
    }
  }
}

// Reads and validates one environment file; with `resolve` false its ${VAR} and password_file
// are left unresolved (env.unresolved says what was left). With r.errors set, every error of
// the file is recorded there and the environment is returned as far as it could be read.
Environment read_environment(Reader& r, const std::string& root, const fs::path& path, Secrets& secrets, bool resolve) {
  Environment env;
  if (!resolve) r.unresolved = &env.unresolved;
  env.name = path.stem().string();
  env.file = r.file;
  Connection local;
  local.name = "local";
  env.connections["local"] = local;
  YAML::Node doc = load_yaml(path.string(), r.file);
  if (!doc.IsMap()) r.fail(doc, "an environment file must be a mapping, found " + Reader::describe(doc));
  r.expect_map(doc, "the environment",
               {"description", "protected", "requires", "connections", "database", "backup", "services", "notify"});
  r.section([&] { env.description = r.str_or(doc, "description", ""); });
  r.section([&] { env.is_protected = r.bool_or(doc, "protected", false); });
  r.section([&] { env.requires_envs = r.str_list(doc["requires"], "requires"); });
  if (auto conns = doc["connections"]) r.section([&] { read_connections(r, env, conns); });
  r.section([&] {
    r.require(doc, "the environment", "database");
    read_database(r, env, doc["database"], root, secrets, resolve);
  });
  if (auto b = doc["backup"]) r.section([&] { env.backup = read_backup(r, env, b, root, secrets, resolve); });
  if (auto services = doc["services"]) {
    r.section([&] {
      if (!services.IsMap()) r.fail(services, "'services' must be a mapping, found " + Reader::describe(services));
    });
    if (services.IsMap())
      for (auto it = services.begin(); it != services.end(); ++it) {
        std::string name = it->first.Scalar();
        env.services[name].name = name;
        r.section([&] { env.services[name] = read_service(r, env, name, it->second); });
      }
  }
  r.section([&] { env.notify = read_notify(r, doc["notify"]); });
  return env;
}

// The *.yaml and *.yml files of root/sub, sorted. One that cannot be read (a symlink loop, no
// permission) is a configuration error naming it, not a file silently skipped.
std::vector<fs::path> yaml_files(const std::string& root, const std::string& sub) {
  std::vector<fs::path> files;
  std::error_code ec;
  fs::directory_iterator it(fs::path(root) / sub, ec);
  if (ec) throw Error(ErrorKind::Config, "cannot read '" + sub + "/': " + ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) throw Error(ErrorKind::Config, "cannot read '" + sub + "/': " + ec.message());
    auto ext = it->path().extension();
    if (ext != ".yaml" && ext != ".yml") continue;
    bool regular = it->is_regular_file(ec);
    if (ec)
      throw Error(ErrorKind::Config,
                  "cannot read '" + sub + "/" + it->path().filename().string() + "': " + ec.message());
    if (regular) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// A playbook given as a path must lie inside the project: ferry reads nothing else.
void check_inside_project(const std::string& root, const fs::path& path, const std::string& name_or_path) {
  std::error_code ec;
  auto file = fs::weakly_canonical(fs::absolute(path), ec);
  auto base = fs::weakly_canonical(fs::absolute(root), ec);
  auto rel = file.lexically_relative(base);
  if (ec || rel.empty() || rel.native().rfind("..", 0) == 0)
    throw Error(ErrorKind::Config, "playbook '" + name_or_path + "' is outside the project directory; refused",
                "playbooks are files under playbooks/ of the project (-C DIR)");
}

// `requires:` must name other known environments.
void check_requirements(const Project& p, std::vector<std::string>& errors) {
  for (const auto& [name, env] : p.environments) {
    for (const auto& req : env.requires_envs) {
      if (p.environments.count(req) && req != name) continue;
      Reader r{env.file, nullptr};
      r.errors = &errors;
      r.section([&] {
        YAML::Node doc = load_yaml((fs::path(p.root) / env.file).string(), env.file);
        r.fail(doc["requires"],
               req == name ? "an environment cannot require itself" : "'requires' names no environment '" + req + "'");
      });
    }
  }
}

}  // namespace

void throw_errors(const std::vector<std::string>& errors) {
  if (errors.empty()) return;
  std::string all;
  for (const auto& e : errors) all += (all.empty() ? "" : "\n") + e;
  throw Error(ErrorKind::Config, all);
}

Project load_project(const std::string& root, const std::optional<std::set<std::string>>& resolve_only,
                     std::vector<std::string>* errors) {
  Project p;
  p.root = root;
  fs::path dir = fs::path(root) / "environments";
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error(ErrorKind::Config, "no environments/ directory under '" + root + "'",
                "run ferry in a project directory, or pass -C DIR");
  std::vector<std::string> own;
  std::vector<std::string>& found = errors ? *errors : own;
  for (const auto& f : yaml_files(root, "environments")) {
    bool resolve = !resolve_only || resolve_only->count(f.stem().string()) > 0;
    Reader r{display_path(root, f), &p.secrets};
    r.errors = &found;
    Environment env;
    env.name = f.stem().string();
    env.file = r.file;
    r.section([&] { env = read_environment(r, root, f, p.secrets, resolve); });
    env.resolved = resolve;
    p.environments[env.name] = std::move(env);
  }
  check_requirements(p, found);
  if (!errors) throw_errors(own);
  return p;
}

std::set<std::string> with_requirements(const Project& project, std::set<std::string> envs) {
  std::vector<std::string> todo(envs.begin(), envs.end());
  while (!todo.empty()) {
    auto it = project.environments.find(todo.back());
    todo.pop_back();
    if (it == project.environments.end()) continue;
    for (const auto& req : it->second.requires_envs)
      if (envs.insert(req).second) todo.push_back(req);
  }
  return envs;
}

std::vector<std::string> list_playbooks(const std::string& root) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(fs::path(root) / "playbooks", ec)) return out;
  for (const auto& f : yaml_files(root, "playbooks")) out.push_back(f.stem().string());
  return out;
}

namespace {

fs::path find_playbook(const std::string& root, const std::string& name_or_path) {
  std::vector<fs::path> candidates = {fs::path(name_or_path), fs::path(root) / name_or_path,
                                      fs::path(root) / "playbooks" / (name_or_path + ".yaml"),
                                      fs::path(root) / "playbooks" / (name_or_path + ".yml")};
  for (const auto& c : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(c, ec)) return c;
  }
  auto names = list_playbooks(root);
  std::string hint = closest(name_or_path, names);
  throw Error(ErrorKind::Config,
              "no playbook '" + name_or_path + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)"),
              "playbooks are files under playbooks/, named without .yaml, or a path");
}

MigrationsSource read_migrations_source(const Reader& r, const YAML::Node& m) {
  MigrationsSource src;
  if (m.IsScalar()) {
    src.dir = r.str(m, "migrations");
    return src;
  }
  r.expect_map(m, "migrations", {"driver", "dir", "on", "command"});
  std::string driver = r.one_of(m, "driver", "native", {"native", "alembic"});
  src.driver = driver == "alembic" ? Driver::Alembic : Driver::Native;
  src.dir = r.str_or(m, "dir", src.dir);
  src.on = r.str_or(m, "on", "local");
  if (m["command"] && !m["command"].IsNull()) {
    auto command = r.shell(m["command"], "command");
    src.command = command.text;
    src.env = command.env;
  }
  return src;
}

void read_stages(const Reader& r, const Project& project, const YAML::Node& doc, Playbook& pb) {
  r.require(doc, "the playbook", "stages");
  pb.stages = r.str_list(doc["stages"], "stages");
  if (pb.stages.empty()) r.fail(doc["stages"], "'stages' must name at least one environment");
  std::set<std::string> seen;
  for (size_t i = 0; i < pb.stages.size(); ++i) {
    const auto& st = pb.stages[i];
    r.section([&] {
      if (!project.environments.count(st)) {
        std::vector<std::string> names;
        for (const auto& [n, _] : project.environments) names.push_back(n);
        std::string hint = closest(st, names);
        r.fail(doc["stages"][i],
               "stage '" + st + "' names no environment" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
      }
      if (!seen.insert(st).second) r.fail(doc["stages"][i], "stage '" + st + "' is listed twice");
    });
  }
}

// Alembic runs its own transactions: these migrate options would be accepted and then do nothing.
void check_alembic_migrate_step(const Reader& r, const YAML::Node& node) {
  const YAML::Node body = node.IsMap() ? YAML::Node(node["migrate"]) : YAML::Node();
  if (!body.IsMap()) return;
  for (const char* key : {"transaction", "lock_timeout", "lock_retries", "lock_retry_max", "lock_trace"})
    if (body[key])
      r.fail(body[key], std::string("'") + key +
                            "' does not apply to the Alembic driver (alembic runs its own transactions); remove it");
}

// A step against one stage's environment.
void check_step(const Reader& r, const Playbook& pb, const StepSpec& step, const YAML::Node& node,
                const Environment& env, const YAML::Node& doc) {
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

void read_steps(const Reader& r, const Project& project, const YAML::Node& doc, Playbook& pb) {
  r.require(doc, "the playbook", "steps");
  auto steps = doc["steps"];
  if (!steps.IsSequence() || steps.size() == 0)
    r.fail(steps, "'steps' must be a non-empty list, found " + Reader::describe(steps));
  bool seen_migrate = false;
  for (const auto& node : steps) {
    StepSpec step;
    if (!r.section([&] { step = read_step(r, node); })) continue;
    pb.steps.push_back(step);
    r.section([&] {
      if (step.kind != StepKind::Migrate) return;
      if (seen_migrate) r.fail(node, "a playbook has at most one migrate step");
      seen_migrate = true;
      if (pb.migrations.driver == Driver::Alembic) check_alembic_migrate_step(r, node);
    });
    for (const auto& st : pb.stages)
      if (auto it = project.environments.find(st); it != project.environments.end())
        r.section([&] { check_step(r, pb, step, node, it->second, doc); });
  }
}

}  // namespace

Playbook load_playbook(const Project& project, const std::string& name_or_path, std::vector<std::string>* errors) {
  const std::string& root = project.root;
  fs::path path = find_playbook(root, name_or_path);
  check_inside_project(root, path, name_or_path);
  // ${secret:VAR} values in a playbook are redacted like the environments' secrets.
  Reader r{display_path(root, fs::absolute(path)), &project.secrets};
  std::vector<std::string> own;
  r.errors = errors ? errors : &own;
  Playbook pb;
  pb.name = path.stem().string();
  pb.file = r.file;
  r.section([&] {
    YAML::Node doc = load_yaml(path.string(), r.file);
    if (!doc.IsMap()) r.fail(doc, "a playbook must be a mapping, found " + Reader::describe(doc));
    r.expect_map(
        doc, "the playbook",
        {"description", "migrations", "stages", "steps", "on_failure", "finally", "rollback", "notify", "fleet"});
    r.section([&] { pb.description = r.str_or(doc, "description", ""); });
    if (auto m = doc["migrations"]) r.section([&] { pb.migrations = read_migrations_source(r, m); });
    r.section([&] { read_stages(r, project, doc, pb); });
    r.section([&] { read_steps(r, project, doc, pb); });
    r.section([&] { read_hooks(r, doc, project, pb); });  // on_failure: (rollback|stop, or a hook list), finally:
    r.section([&] {
      std::string rb = r.one_of(doc, "rollback", "auto", {"auto", "down", "restore"});
      pb.rollback = rb == "down"      ? RollbackMethod::Down
                    : rb == "restore" ? RollbackMethod::Restore
                                      : RollbackMethod::Auto;
    });
    r.section([&] { pb.notify = read_notify(r, doc["notify"]); });
    if (auto f = doc["fleet"]) r.section([&] { pb.fleet = read_fleet(r, f); });
  });
  if (!errors) throw_errors(own);
  return pb;
}

}  // namespace ferry::config
