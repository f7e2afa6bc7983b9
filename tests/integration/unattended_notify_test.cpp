// Unattended runs: webhooks told of each stage's outcome, FERRY_* variables in run steps, the
// Prometheus metrics file, and the diagnostics log. Real PostgreSQL, the real ferry binary, a
// real HTTP receiver (python3 http.server) and python3-prometheus-client's parser.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/app_fixture.hpp"
#include "support/fixtures.hpp"
#include "support/metrics.hpp"
#include "support/receiver.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using nlohmann::json;

namespace {

// The scram template cluster is made once per machine with the first password asked for
// (tests/support): the same one as cli_test's.
constexpr const char* k_password = "s3cret-pw-$(touch /tmp/pwned)'\"";
constexpr const char* k_token = "tok-Hook-s3cret-0815";

class Notify : public AppTest<Notify> {
 public:
  static std::string cluster_password() { return k_password; }

 protected:
  Notify() : AppTest({50, "ferry-notify-backups"}) {}
  void SetUp() override {
    AppTest::SetUp();
    project.migration("0001_due_date", "ALTER TABLE tasks ADD COLUMN due_date timestamptz;",
                      "ALTER TABLE tasks DROP COLUMN due_date;");
  }
  void write_env(const std::string& extra = "") {
    project.write("environments/dev.yaml",
                  "database:\n  name: app\n  user: postgres\n  password: ${secret:PGPW}\n"
                  "  host: 127.0.0.1\n  port: " +
                      std::to_string(pg().port()) + "\nbackup:\n  dir: " + backups + "\n" + extra);
  }
  void playbook(const std::string& steps, const std::string& extra = "") {
    project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n" + steps + extra);
  }
  Proc ferry(std::vector<std::string> args) {
    return project.ferry(args, {{"PGPW", k_password}, {"HOOK_TOKEN", k_token}});
  }
  static std::string hook_yaml(const std::string& url, const std::string& on, const std::string& more = "") {
    return "  - url: " + url + "\n    on: " + on + "\n" + more;
  }
  // Samples of a Prometheus text file as read by prometheus_client's parser: "name{labels} value".
  std::map<std::string, double> parse_metrics(const std::string& path) {
    std::map<std::string, double> out;
    nlohmann::json samples = prometheus_samples(project, path);  // kept alive while items() walks it
    for (auto& [k, v] : samples.items()) out[k] = v.get<double>();
    return out;
  }
};

TEST_F(Notify, WebhookGetsTheRunOnSuccessAndOnFailure) {
  WebhookReceiver hook;
  write_env("notify:\n" + hook_yaml(hook.url(), "[success, failure]",
                                    "    headers:\n      Authorization: Bearer ${secret:HOOK_TOKEN}\n"));
  playbook("  - backup\n  - migrate\n");
  auto r = ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  auto got = hook.received();
  ASSERT_EQ(got.size(), 1u) << r.all();
  auto req = json::parse(got[0]);
  EXPECT_EQ(req["headers"]["Authorization"], std::string("Bearer ") + k_token);
  EXPECT_EQ(req["headers"]["Content-Type"], "application/json");
  auto body = json::parse(req["body"].get<std::string>());
  EXPECT_EQ(body["outcome"], "succeeded");
  EXPECT_EQ(body["environment"], "dev");
  EXPECT_EQ(body["playbook"], "promote");
  EXPECT_EQ(body["version_before"], "");
  EXPECT_EQ(body["version_after"], "0001");
  EXPECT_EQ(body["exit_code"], 0);
  std::string run_id = body["run_id"];
  EXPECT_EQ(pg().value("app", "SELECT outcome FROM ferry.runs WHERE id = '" + run_id + "'"), "succeeded");
  std::string backup_id = body["backup_id"];
  EXPECT_EQ(pg().value("app", "SELECT backup_id FROM ferry.runs WHERE id = '" + run_id + "'"), backup_id);
  EXPECT_TRUE(fs::exists(body["backup_file"].get<std::string>())) << body.dump();
  EXPECT_TRUE(body["duration_ms"].is_number());

  // A failing migration: rolled back, and the receiver is told why.
  project.migration("0002_broken", "ALTER TABLE tasks ADD COLUMN x int;\nSELECT no_such_column FROM tasks;",
                    "ALTER TABLE tasks DROP COLUMN x;");
  r = ferry({"run", "promote"});
  ASSERT_EQ(r.code, 1) << r.all();
  got = hook.received();
  ASSERT_EQ(got.size(), 2u) << r.all();
  body = json::parse(json::parse(got[1])["body"].get<std::string>());
  EXPECT_EQ(body["outcome"], "rolled_back");
  EXPECT_EQ(body["exit_code"], 1);
  EXPECT_EQ(body["version_before"], "0001");
  EXPECT_EQ(body["version_after"], "0001");
  EXPECT_TRUE(contains(body["error"], "no_such_column")) << body.dump();
  EXPECT_FALSE(body["backup_id"].get<std::string>().empty());
  for (const auto& line : got) EXPECT_FALSE(contains(line, k_password)) << line;
}

TEST_F(Notify, OnlyTheOutcomesAskedFor) {
  WebhookReceiver failures, successes;
  write_env("notify:\n" + hook_yaml(failures.url(), "[failure]"));
  playbook("  - migrate\n", "notify:\n" + hook_yaml(successes.url(), "[success]"));
  auto r = ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(failures.received().size(), 0u);
  ASSERT_EQ(successes.received().size(), 1u);
  EXPECT_EQ(json::parse(json::parse(successes.received()[0])["body"].get<std::string>())["outcome"], "succeeded");
}

TEST_F(Notify, DeadReceiverIsAWarningNotAFailure) {
  int closed = free_port();  // nothing listens there
  std::string url = "http://127.0.0.1:" + std::to_string(closed) + "/hook?token=${secret:HOOK_TOKEN}";
  write_env("notify:\n" + hook_yaml(url, "[success]", "    timeout: 2s\n    retries: 2\n"));
  playbook("  - migrate\n");
  auto r = ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(pg().value("app", "SELECT count(*) FROM ferry.migrations"), "1");
  EXPECT_TRUE(contains(r.err, "not delivered")) << r.all();
  EXPECT_TRUE(contains(r.err, "token=***")) << r.all();
  EXPECT_FALSE(contains(r.all(), k_token)) << r.all();
}

TEST_F(Notify, ReceiverAnsweringAnErrorIsAWarning) {
  WebhookReceiver hook(500);
  write_env("notify:\n" + hook_yaml(hook.url(), "[success]", "    retries: 1\n"));
  playbook("  - migrate\n");
  auto r = ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(hook.received().size(), 2u);  // the first POST and one retry
  EXPECT_TRUE(contains(r.err, "HTTP 500")) << r.all();
}

TEST_F(Notify, RunStepSeesTheFerryVariables) {
  write_env();
  playbook("  - backup\n  - run:\n      command: env | grep '^FERRY_' | sort > ferry_env.txt\n");
  auto r = ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  std::map<std::string, std::string> vars;
  std::istringstream in(project.read("ferry_env.txt"));
  for (std::string line; std::getline(in, line);)
    vars[line.substr(0, line.find('='))] = line.substr(line.find('=') + 1);
  std::string run_id = pg().value("app", "SELECT id FROM ferry.runs ORDER BY started DESC LIMIT 1");
  EXPECT_EQ(vars["FERRY_RUN_ID"], run_id);
  EXPECT_EQ(vars["FERRY_PLAYBOOK"], "promote");
  EXPECT_EQ(vars["FERRY_ENV"], "dev");
  EXPECT_EQ(vars["FERRY_BACKUP_ID"], pg().value("app", "SELECT backup_id FROM ferry.runs WHERE id = '" + run_id + "'"));
  EXPECT_TRUE(fs::exists(vars["FERRY_BACKUP_FILE"])) << project.read("ferry_env.txt");
  EXPECT_TRUE(contains(vars["FERRY_BACKUP_FILE"], vars["FERRY_BACKUP_ID"]));
}

TEST_F(Notify, MetricsFileIsPrometheusText) {
  write_env();
  playbook("  - backup\n  - migrate\n");
  std::string metrics = project.path("metrics/ferry.prom");
  fs::create_directories(project.path("metrics"));
  auto r = ferry({"--metrics-file", metrics, "run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  auto m = parse_metrics(metrics);
  const std::string run = "environment=dev,playbook=promote";  // labels sorted by name
  auto outcome = [](const std::string& o) {
    return "ferry_run_last_outcome{environment=dev,outcome=" + o + ",playbook=promote}";
  };
  EXPECT_EQ(m[outcome("succeeded")], 1);
  EXPECT_EQ(m[outcome("rolled_back")], 0);
  EXPECT_EQ(m["ferry_run_last_exit_code{" + run + "}"], 0);
  EXPECT_GT(m["ferry_run_last_timestamp_seconds{" + run + "}"], 1.7e9);
  EXPECT_TRUE(m.count("ferry_step_duration_seconds{" + run + ",step=migrate}"));
  EXPECT_TRUE(m.count("ferry_step_duration_seconds{" + run + ",step=backup}"));
  EXPECT_EQ(m["ferry_migrations_pending{" + run + "}"], 0);
  double backup_at = m["ferry_backup_last_success_timestamp_seconds{environment=dev}"];
  EXPECT_GT(backup_at, 1.7e9);
  EXPECT_GT(m["ferry_backup_last_size_bytes{environment=dev}"], 0);
  EXPECT_TRUE(m.count("ferry_backup_last_duration_seconds{environment=dev}"));

  // A failed run without a backup step: its outcome replaces the last one, the last good
  // backup stays, the pending count is what is still pending. Nothing but the file is left.
  project.migration("0002_broken", "SELECT no_such_column FROM tasks;");
  playbook("  - migrate\n");
  r = ferry({"--metrics-file", metrics, "run", "promote"});
  ASSERT_EQ(r.code, 1) << r.all();
  m = parse_metrics(metrics);
  EXPECT_EQ(m[outcome("succeeded")], 0);
  EXPECT_EQ(m[outcome("rolled_back")], 1);
  EXPECT_EQ(m["ferry_run_last_exit_code{" + run + "}"], 1);
  EXPECT_EQ(m["ferry_migrations_pending{" + run + "}"], 1);
  EXPECT_EQ(m["ferry_backup_last_success_timestamp_seconds{environment=dev}"], backup_at);
  EXPECT_TRUE(m.count("ferry_step_duration_seconds{" + run + ",step=migrate}"));
  EXPECT_FALSE(m.count("ferry_step_duration_seconds{" + run + ",step=backup}"));  // not a step of this run
  int files = 0;
  for (const auto& e : fs::directory_iterator(project.path("metrics"))) files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1);
}

TEST_F(Notify, LogFileHasTheSqlAtVvAndNoSecretAtAnyLevel) {
  write_env();
  // The step's last line (its summary) is the secret: every sink must redact it.
  playbook("  - backup\n  - migrate\n  - run:\n      command: echo \"${secret:HOOK_TOKEN}\"\n");
  std::string log = project.path("logs/ferry.log");
  fs::create_directories(project.path("logs"));
  auto r = ferry({"-vv", "--log-file", log, "run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  std::string text = project.read("logs/ferry.log");
  EXPECT_TRUE(contains(text, "ALTER TABLE tasks ADD COLUMN due_date timestamptz")) << text;
  EXPECT_TRUE(contains(text, "run on local")) << text;
  EXPECT_TRUE(contains(text, "ok migrate")) << text;
  EXPECT_FALSE(contains(text, k_password)) << text;
  EXPECT_FALSE(contains(text, k_token)) << text;
  EXPECT_FALSE(contains(r.all(), k_token)) << r.all();
  EXPECT_TRUE(contains(r.err, "sql: ")) << r.err;  // -vv: diagnostics on stderr too

  for (const char* level : {"-v", "-q", ""}) {
    fs::remove(log);
    std::vector<std::string> args = {"--log-file", log, "run", "promote"};
    if (level[0]) args.insert(args.begin(), level);
    r = ferry(args);
    ASSERT_EQ(r.code, 0) << level << r.all();
    text = project.read("logs/ferry.log");
    EXPECT_TRUE(contains(text, "run ")) << level << text;
    EXPECT_FALSE(contains(text, "sql: ")) << level << text;
    EXPECT_FALSE(contains(text, k_password)) << level << text;
    EXPECT_FALSE(contains(text, k_token)) << level << text;
    if (std::string(level) == "-q") {
      EXPECT_EQ(r.err, "") << r.err;
    }
  }
}

TEST_F(Notify, BadNotifyConfigurationIsRefused) {
  write_env("notify:\n  - url: file:///etc/passwd\n");
  playbook("  - migrate\n");
  auto r = ferry({"validate"});
  EXPECT_EQ(r.code, 64) << r.all();
  EXPECT_TRUE(contains(r.all(), "environments/dev.yaml:")) << r.all();
  EXPECT_TRUE(contains(r.all(), "http:// or https://")) << r.all();
  write_env("notify:\n  - url: http://127.0.0.1:9/\n    on: [sometimes]\n");
  r = ferry({"validate"});
  EXPECT_EQ(r.code, 64) << r.all();
  EXPECT_TRUE(contains(r.all(), "'on' must list outcomes")) << r.all();
}

}  // namespace
