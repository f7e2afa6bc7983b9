#include "cli/schema_command.hpp"

#include <CLI/CLI.hpp>
#include <iostream>

#include "core/error.hpp"

using nlohmann::json;

namespace ferry::cli {

namespace {

json str(const std::string& doc) { return {{"type", "string"}, {"description", doc}}; }
json nonempty(const std::string& doc) { return {{"type", "string"}, {"minLength", 1}, {"description", doc}}; }
json boolean(const std::string& doc) { return {{"type", "boolean"}, {"description", doc}}; }
json integer(int lo, int hi, const std::string& doc) {
  return {{"type", "integer"}, {"minimum", lo}, {"maximum", hi}, {"description", doc}};
}
json duration(const std::string& doc) {
  return {{"type", "string"}, {"pattern", "^[0-9]{1,9}(ms|s|m|h)$"}, {"description", doc}};
}
json one_of(std::vector<std::string> values, const std::string& doc) {
  return {{"enum", values}, {"description", doc}};
}
json str_list(const std::string& doc) {
  return {{"type", "array"}, {"items", {{"type", "string"}}}, {"description", doc}};
}
json http_url(const std::string& doc) {
  return {{"type", "string"}, {"pattern", "^[hH][tT][tT][pP][sS]?://"}, {"description", doc}};
}
// A mapping with exactly these keys (the loader refuses any other).
json object(json properties, std::vector<std::string> required = {}) {
  json o = {{"type", "object"}, {"properties", std::move(properties)}, {"additionalProperties", false}};
  if (!required.empty()) o["required"] = required;
  return o;
}
json map_of(json value) { return {{"type", "object"}, {"additionalProperties", std::move(value)}}; }

json webhooks() {
  return {{"type", "array"},
          {"items",
           object({{"url", http_url("http:// or https:// only")},
                   {"on",
                    {{"type", "array"},
                     {"items",
                      {{"enum",
                        {"success", "failure", "succeeded", "failed", "refused", "rolled_back", "needs_attention"}}}}}},
                   {"timeout", duration("the whole budget, retries included (10s)")},
                   {"retries", integer(0, 10, "default 2")},
                   {"headers", map_of({{"type", "string"}})}},
                  {"url"})}};
}

json connection() {
  json c = object({{"type", one_of({"local", "ssh", "docker", "kubectl"}, "the kind of connection")},
                   {"host", str("ssh")},
                   {"port", integer(1, 65535, "ssh (22)")},
                   {"user", str("ssh or docker")},
                   {"identity", str("ssh: private key file")},
                   {"agent", boolean("ssh: use ssh-agent")},
                   {"known_hosts", str("ssh (~/.ssh/known_hosts)")},
                   {"host_key", one_of({"strict", "accept-new"}, "ssh (strict)")},
                   {"container", str("docker; kubectl: -c CONTAINER")},
                   {"target", str("kubectl: TYPE/NAME (deployment/backend, pod/NAME)")},
                   {"namespace", str("kubectl: -n NAMESPACE")},
                   {"context", str("kubectl: --context")},
                   {"kubeconfig", str("kubectl: --kubeconfig")},
                   {"kubectl", str("kubectl: the kubectl program (kubectl)")},
                   {"via", str("docker: the connection the engine runs on (local)")},
                   {"engine", str("docker: docker, podman or a path")},
                   {"workdir", str("docker: exec -w; kubectl: cd inside the pod")},
                   {"keepalive", duration("kubectl: keepalive interval (30s); 0s: none")}},
                  {"type"});
  return c;
}

json database() {
  return object({{"url", str("a libpq URI postgresql://USER:PASSWORD@HOST:PORT/NAME, instead of the separate keys")},
                 {"name", nonempty("the database")},
                 {"user", str("the role")},
                 {"password", str("a secret; prefer ${secret:VAR} or password_file")},
                 {"password_file", str("a file holding the password")},
                 {"host", nonempty("127.0.0.1")},
                 {"port", integer(1, 65535, "5432")},
                 {"tunnel", str("an ssh or kubectl (port-forward) connection to tunnel through")},
                 {"sslmode", one_of({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}, "prefer")},
                 {"tools", str("the connection pg_dump, pg_restore and psql run on (local)")},
                 {"connect_timeout", duration("one connection attempt (10s), at least 1s")},
                 {"names",
                  {{"type", "array"},
                   {"minItems", 1},
                   {"items", {{"type", "string"}, {"minLength", 1}, {"maxLength", 63}}},
                   {"description", "a fleet: these databases, each with every other key"}}},
                 {"names_file", str("a fleet: a file with one database per line (# comments), relative to this file")},
                 {"discover", str("a fleet: SQL returning one text column of database names, run on the server (on "
                                  "'name', else postgres)")}});
}

json service() {
  json health = object({{"url", http_url("the probe")},
                        {"via", str("an ssh connection to probe through")},
                        {"expect_status", integer(100, 599, "200")},
                        {"expect_body", str("a substring of the body")},
                        {"timeout", duration("60s")},
                        {"interval", duration("2s")},
                        {"headers", map_of({{"type", "string"}})}},
                       {"url"});
  return object({{"on", str("the connection restart runs on (local)")},
                 {"restart", {{"type", {"string", "null"}}, {"description", "shell command"}}},
                 {"restart_timeout", duration("2m")},
                 {"version", str("shell command printing the deployed code version, run before the first step")},
                 {"rollback", str("shell command undoing a restart; FERRY_PREVIOUS_VERSION holds the version")},
                 {"health", health}});
}

}  // namespace

json environment_schema() {
  json backup = object({{"on", str("the connection the files are kept on (local)")},
                        {"dir", str("the directory")},
                        {"format", one_of({"custom", "directory"}, "custom")},
                        {"jobs", integer(1, 64, "pg_dump -j for directory (1)")},
                        {"keep", integer(0, 100000, "keep the newest N (0: all)")},
                        {"keep_days", integer(0, 100000, "remove backups older than D days (0: no age rule)")},
                        {"restore", one_of({"transaction", "swap"}, "how ferry rollback restores (transaction)")},
                        {"restore_jobs", integer(1, 64, "pg_restore -j for restore: swap (its host's CPUs)")},
                        {"restore_lock_timeout",
                         duration("restore: transaction gives up on a lock held this long (60s), at least 1s")},
                        {"drill", object({{"host", nonempty("the server restore drills run on")},
                                          {"port", integer(1, 65535, "5432")},
                                          {"user", str("the drill's role")},
                                          {"password", str("a secret; prefer ${secret:VAR} or password_file")},
                                          {"password_file", str("a file holding the drill role's password")},
                                          {"name_prefix", str("scratch database prefix (ferry_drill)")}},
                                         {"host"})}},
                       {"dir"});
  json s = object({{"description", str("shown by plan and status")},
                   {"protected", boolean("run and rollback need --yes")},
                   {"requires", str_list("environments a stage's migrations must have reached first")},
                   {"connections", map_of(connection())},
                   {"database", database()},
                   {"backup", backup},
                   {"services", map_of(service())},
                   {"notify", webhooks()}},
                  {"database"});
  s["$schema"] = "https://json-schema.org/draft/2020-12/schema";
  s["title"] = "ferry environment (environments/NAME.yaml)";
  return s;
}

namespace {

json step() {
  json timeout = duration("how long the step may take");
  json migrate =
      object({{"transaction", one_of({"all", "each"}, "all")},
              {"lock_timeout", duration("5s")},
              {"lock_retries", integer(0, 100, "0")},
              {"lock_retry_max", duration("30s, at least 1s")},
              {"lock_trace", one_of({"auto", "always", "never"}, "auto: trace on environments that are not protected")},
              {"preflight_max_age", duration("5m: older transactions on the migrated tables fail the preflight")},
              {"preflight_max_lag", duration("1m: replicas further behind fail the preflight")},
              {"timeout", timeout}});
  json verify = object(
      {{"columns", {{"type", "array"}, {"items", {{"anyOf", {{{"type", "string"}}, map_of({{"type", "string"}})}}}}}},
       {"absent_columns", str_list("TABLE.COLUMN")},
       {"row_counts", {{"anyOf", {{{"const", "all"}}, str_list("tables")}}}},
       {"sql", {{"anyOf", {{{"type", "string"}}, str_list("statements returning true")}}}},
       {"timeout", timeout}});
  json service_ref = {
      {"anyOf", {{{"type", "string"}}, object({{"service", str("")}, {"timeout", timeout}}, {"service"})}}};
  json run = {{"anyOf",
               {{{"type", "string"}},
                object({{"on", str("connection (local)")}, {"command", str("")}, {"timeout", timeout}}, {"command"})}}};
  auto kind = [&](const std::string& name, json body) {
    return object({{name, std::move(body)}, {"timeout", timeout}}, {name});
  };
  return {{"anyOf",
           {{{"enum", {"backup", "migrate"}}},
            kind("backup", {{"anyOf", {{{"type", "null"}}, object({{"timeout", timeout}})}}}),
            kind("migrate", {{"anyOf", {{{"type", "null"}}, migrate}}}),
            kind("verify", verify),
            kind("restart", service_ref),
            kind("health", service_ref),
            kind("run", run),
            kind("sql", {{"type", "string"}})}}};
}

}  // namespace

json playbook_schema() {
  json migrations = {
      {"anyOf",
       {{{"type", "string"}},
        object({{"driver", one_of({"native", "alembic"}, "native")},
                {"dir", str("native: the directory (migrations)")},
                {"on", str("alembic: the connection it runs on (local)")},
                {"command", {{"type", {"string", "null"}}, {"description", "alembic: shell words"}}}})}}};
  json share = {{"anyOf", {{{"type", "integer"}, {"minimum", 0}}, {{"type", "string"}, {"pattern", "^[0-9]{1,3}%$"}}}}};
  json fleet = object({{"parallel", integer(1, 256, "databases at once (1)")},
                       {"canary", share},
                       {"batch", share},
                       {"max_failures", share},
                       {"on_budget_spent", one_of({"stop", "revert"}, "stop")}});
  // on_failure: and finally: hook lists (run steps; the loader refuses other kinds)
  json hooks = {{"type", "array"}, {"items", step()}};
  json s = object({{"description", str("")},
                   {"migrations", migrations},
                   {"stages", {{"type", "array"}, {"minItems", 1}, {"items", {{"type", "string"}}}}},
                   {"steps", {{"type", "array"}, {"minItems", 1}, {"items", step()}}},
                   {"on_failure", {{"anyOf", {one_of({"rollback", "stop"}, "rollback"), hooks}}}},
                   {"finally", hooks},
                   {"rollback", one_of({"auto", "down", "restore"}, "auto")},
                   {"notify", webhooks()},
                   {"fleet", fleet}},
                  {"stages", "steps"});
  s["$schema"] = "https://json-schema.org/draft/2020-12/schema";
  s["title"] = "ferry playbook (playbooks/NAME.yaml)";
  return s;
}

CLI::App* add_schema_command(CLI::App& app, SchemaOptions& o) {
  auto* sub = app.add_subcommand("schema", "print the JSON Schema of environment or playbook files (for editors)");
  sub->add_option("KIND", o.kind, "environment or playbook")->required();
  return sub;
}

int cmd_schema(const SchemaOptions& o) {
  if (o.kind != "environment" && o.kind != "playbook")
    throw Error(ErrorKind::Config, "ferry schema environment|playbook, not '" + o.kind + "'");
  std::cout << (o.kind == "environment" ? environment_schema() : playbook_schema()).dump(2) << "\n";
  return 0;
}

}  // namespace ferry::cli
