// Reading one playbook step: its kind, its body, and its timeout.
#include <algorithm>

#include "config/reader.hpp"
#include "config/step_reader.hpp"
#include "core/text.hpp"

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

namespace {

ColumnCheck parse_column_ref(const Reader& r, const YAML::Node& n, const std::string& ref) {
  auto dot = ref.rfind('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == ref.size())
    r.fail(n, "column '" + ref + "' must be written TABLE.COLUMN");
  return ColumnCheck{ref.substr(0, dot), ref.substr(dot + 1), ""};
}

const std::vector<std::string> k_step_kinds = {"backup", "migrate", "verify", "restart", "health", "run", "sql"};

// The step as written: a bare kind (`backup`), or a mapping of one kind to its body, with an
// optional `timeout` beside it. Sets `body` and `kind_node` (where a message about the kind
// points) and returns the kind, refused with a suggestion when it is unknown.
std::string read_step_kind(const Reader& r, const YAML::Node& item, StepSpec& s, YAML::Node& body,
                           YAML::Node& kind_node) {
  std::string kind;
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
  return kind;
}

void read_migrate_body(const Reader& r, const YAML::Node& body, StepSpec& s) {
  r.expect_map(body, "migrate step",
               {"transaction", "lock_timeout", "lock_retries", "lock_retry_max", "timeout", "preflight_max_age",
                "preflight_max_lag", "lock_trace"});
  s.transaction_each = r.one_of(body, "transaction", "all", {"all", "each"}) == "each";
  s.lock_timeout = r.duration_or(body, "lock_timeout", s.lock_timeout);
  s.lock_retries = r.int_or(body, "lock_retries", s.lock_retries, 0, 100);
  s.lock_retry_max = r.duration_or(body, "lock_retry_max", s.lock_retry_max);
  auto trace = r.one_of(body, "lock_trace", "auto", {"auto", "always", "never"});
  s.lock_trace = trace == "always"  ? LockTraceMode::Always
                 : trace == "never" ? LockTraceMode::Never
                                    : LockTraceMode::Auto;
  s.preflight_max_age = r.duration_or(body, "preflight_max_age", s.preflight_max_age);  // lint2
  s.preflight_max_lag = r.duration_or(body, "preflight_max_lag", s.preflight_max_lag);  // lint2
  if (s.lock_retry_max < Millis(1'000))
    r.fail(body["lock_retry_max"],
           "'lock_retry_max' must be at least 1s (the first wait), found " + Reader::describe(body["lock_retry_max"]));
}

// `columns:` of a verify step: TABLE.COLUMN, or {TABLE.COLUMN: TYPE} to check the type too.
void read_verify_columns(const Reader& r, const YAML::Node& cols, StepSpec& s) {
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

void read_verify_body(const Reader& r, const YAML::Node& body, StepSpec& s) {
  r.expect_map(body, "verify step", {"columns", "absent_columns", "row_counts", "sql", "timeout"});
  if (auto cols = body["columns"]) read_verify_columns(r, cols, s);
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
}

// restart/health: a service name, or {service, timeout}.
void read_service_body(const Reader& r, const std::string& kind, const YAML::Node& body, StepSpec& s) {
  if (body.IsMap()) {
    r.expect_map(body, kind + " step", {"service", "timeout"});
    r.require(body, kind + " step", "service");
    s.service = r.str(body["service"], "service");
    if (body["timeout"]) s.timeout = r.duration(body["timeout"], "timeout");
  } else {
    s.service = r.str(body, kind);
  }
}

// run: a command, or {on, command, timeout}; ${VAR}s become the command's environment.
void read_run_body(const Reader& r, const YAML::Node& body, StepSpec& s) {
  if (body.IsMap()) {
    r.expect_map(body, "run step", {"on", "command", "timeout"});
    r.require(body, "run step", "command");
    s.on = r.str_or(body, "on", "local");
    auto command = r.shell(body["command"], "command");
    s.command = command.text;
    s.env = command.env;
    if (body["timeout"]) s.timeout = r.duration(body["timeout"], "timeout");
  } else {
    auto command = r.shell(body, "run");
    s.command = command.text;
    s.env = command.env;
  }
}

}  // namespace

StepSpec read_step(const Reader& r, const YAML::Node& item) {
  StepSpec s;
  YAML::Node body;
  YAML::Node kind_node = item;
  std::string kind = read_step_kind(r, item, s, body, kind_node);
  bool has_body = body && !body.IsNull();
  if (kind == "backup") {
    s.kind = StepKind::Backup;
    if (has_body) r.expect_map(body, "backup step", {"timeout"});
  } else if (kind == "migrate") {
    s.kind = StepKind::Migrate;
    if (has_body) read_migrate_body(r, body, s);
  } else if (kind == "verify") {
    s.kind = StepKind::Verify;
    if (!has_body) r.fail(kind_node, "a verify step needs columns, absent_columns, row_counts or sql");
    read_verify_body(r, body, s);
  } else if (kind == "restart" || kind == "health") {
    s.kind = kind == "restart" ? StepKind::Restart : StepKind::Health;
    if (!has_body) r.fail(kind_node, "'" + kind + "' needs a service name");
    read_service_body(r, kind, body, s);
  } else if (kind == "run") {
    s.kind = StepKind::Run;
    if (!has_body) r.fail(kind_node, "'run' needs a command");
    read_run_body(r, body, s);
  } else {
    s.kind = StepKind::Sql;
    if (!has_body) r.fail(kind_node, "'sql' needs a statement");
    s.sql = r.str(body, "sql");
  }
  if (has_body && body.IsMap() && body["timeout"] && !s.timeout) s.timeout = r.duration(body["timeout"], "timeout");
  return s;
}

namespace {

std::vector<StepSpec> read_hook_list(const Reader& r, const YAML::Node& list, const std::string& key,
                                     const Project& project, const Playbook& pb) {
  if (!list.IsSequence()) r.fail(list, "'" + key + "' must be a list of run steps, found " + Reader::describe(list));
  std::vector<StepSpec> hooks;
  for (const auto& item : list) {
    StepSpec s = read_step(r, item);
    if (s.kind != StepKind::Run)
      r.fail(item, std::string("a hook in '") + key + "' must be a run step, found '" + step_kind_name(s.kind) + "'");
    for (const auto& st : pb.stages) {
      const auto& env = project.environments.at(st);
      if (!env.connections.count(s.on)) r.fail(item, "'on' names no connection '" + s.on + "' in " + env.file);
    }
    hooks.push_back(std::move(s));
  }
  return hooks;
}

}  // namespace

void read_hooks(const Reader& r, const YAML::Node& doc, const Project& project, Playbook& pb) {
  auto of = doc["on_failure"];
  if (of && of.IsSequence()) {
    pb.on_failure = OnFailure::Rollback;
    pb.on_failure_hooks = read_hook_list(r, of, "on_failure", project, pb);
  } else {
    pb.on_failure =
        r.one_of(doc, "on_failure", "rollback", {"rollback", "stop"}) == "stop" ? OnFailure::Stop : OnFailure::Rollback;
  }
  if (auto fin = doc["finally"]; fin && !fin.IsNull())
    pb.finally_hooks = read_hook_list(r, fin, "finally", project, pb);
}

}  // namespace ferry::config
