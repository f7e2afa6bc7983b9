// The CLI as CI and editors use it: `status --check` exit codes, `validate` reporting every
// error, mistyped commands, global flags anywhere, and the JSON outputs (docs/json.md).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "core/text.hpp"
#include "support/cli_run.hpp"
#include "support/fixtures.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using nlohmann::json;

namespace {

class CliCheck : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().create_db("app");
    project.env("dev", pg(), "app", "backup:\n  dir: backups\n");
    project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - migrate\n");
    project.migration("0001_create", "CREATE TABLE t (id int);", "DROP TABLE t;");
  }
  Project project;
};

TEST_F(CliCheck, StatusCheckExits2OnPending3OnDriftAnd0WhenUpToDate) {
  auto pending = project.ferry({"status", "--check"});
  EXPECT_EQ(pending.code, 2) << pending.all();
  EXPECT_TRUE(contains(pending.out, "pending      1  0001_create")) << pending.out;
  EXPECT_EQ(project.ferry({"status"}).code, 0);  // without --check: status is information

  auto run = project.ferry({"run", "promote"});
  ASSERT_EQ(run.code, 0) << run.all();
  auto clean = project.ferry({"status", "--check"});
  EXPECT_EQ(clean.code, 0) << clean.all();

  project.write("migrations/0001_create/up.sql", "CREATE TABLE t (id bigint);");  // edited after it was applied
  auto drift = project.ferry({"status", "--check", "--json"});
  EXPECT_EQ(drift.code, 3) << drift.all();
  auto j = json::parse(drift.out);
  EXPECT_FALSE(j[0]["drift"].empty()) << drift.out;
}

TEST_F(CliCheck, BackupJsonNamesTheBackupWithItsSizeAndHashAndReportIsWritten) {
  auto r = project.ferry({"backup", "dev", "--json", "--report", project.path("backup-report.json")});
  ASSERT_EQ(r.code, 0) << r.all();
  auto j = json::parse(r.out);  // stdout is the JSON alone
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["environment"], "dev");
  EXPECT_EQ(j["outcome"], "succeeded");
  const auto& b = j["backup"];
  ASSERT_TRUE(b.is_object()) << r.out;
  std::string id = b["id"];
  EXPECT_EQ(id.rfind("dev-", 0), 0u) << id;
  std::string file = b["file"];
  EXPECT_EQ(b["size"].get<long long>(), static_cast<long long>(fs::file_size(file))) << r.out;
  EXPECT_EQ(b["sha256"], ferry::sha256_hex(ferry::read_file(file)));
  EXPECT_EQ(b["verified"], true);
  EXPECT_TRUE(std::regex_match(b["time"].get<std::string>(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << b["time"];
  auto report = json::parse(ferry::read_file(project.path("backup-report.json")));
  EXPECT_EQ(report["outcome"], "succeeded");
  EXPECT_EQ(fs::status(project.path("backup-report.json")).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

TEST_F(CliCheck, HistoryAndLintJsonCarryTheSchemaVersion) {
  ASSERT_EQ(project.ferry({"run", "promote"}).code, 0);
  auto history = project.ferry({"history", "dev", "--json"});
  ASSERT_EQ(history.code, 0) << history.all();
  auto h = json::parse(history.out);
  EXPECT_EQ(h["schema_version"], 1);
  EXPECT_EQ(h["migrations"][0]["version"], "0001");
  auto lint = project.ferry({"lint", "--offline", "--json"});
  ASSERT_EQ(lint.code, 0) << lint.all();
  EXPECT_EQ(json::parse(lint.out)["schema_version"], 1);
}

TEST(CliValidate, ReportsEveryErrorOfEveryFileWithItsPlaceAndExits64) {
  Project project;
  project.write("environments/dev.yaml",
                "database:\n  name: app\n  pasword: x\n  port: many\nbackup:\n  dir: b\n  keep: -1\n");
  project.write("environments/prod.yaml", "descripton: x\ndatabase:\n  name: app\n");
  project.write("playbooks/promote.yaml",
                "stages: [dev, prodd]\nsteps:\n  - migrate\n  - verfy: {}\n  - restart: nope\n");
  project.migration("0001_x", "SELEC 1;");
  auto r = project.ferry({"validate"});
  EXPECT_EQ(r.code, 64) << r.all();
  for (const char* line : {"ferry: error: environments/dev.yaml:3:3: unknown key 'pasword' in database",
                           "ferry: error: environments/dev.yaml:4:9: ", "ferry: error: environments/dev.yaml:7:9: ",
                           "ferry: error: environments/prod.yaml:1:1: unknown key 'descripton'",
                           "ferry: error: playbooks/promote.yaml:1:15: stage 'prodd' names no environment",
                           "ferry: error: playbooks/promote.yaml:4:5: unknown step 'verfy'",
                           "ferry: error: playbooks/promote.yaml:5:5: service 'nope' is not defined"})
    EXPECT_TRUE(contains(r.err, line)) << line << "\n" << r.err;
  EXPECT_TRUE(contains(r.err, "errors\n")) << r.err;

  auto j = project.ferry({"validate", "--json"});
  EXPECT_EQ(j.code, 64);
  auto doc = json::parse(j.out);
  EXPECT_EQ(doc["schema_version"], 1);
  EXPECT_EQ(doc["valid"], false);
  EXPECT_GE(doc["errors"].size(), 7u) << j.out;
  EXPECT_EQ(doc["errors"][0]["file"], "environments/dev.yaml");
  EXPECT_EQ(doc["errors"][0]["line"], 3);
  EXPECT_EQ(doc["errors"][0]["col"], 3);

  // Not a project at all: still one JSON document.
  auto empty = ferry_in(temp_dir("ferry-not-a-project"), {"validate", "--json"});
  EXPECT_EQ(empty.code, 64) << empty.all();
  EXPECT_TRUE(contains(json::parse(empty.out)["errors"][0]["message"].get<std::string>(), "no environments/"))
      << empty.out;

  // Once the YAML is right, the migration's own error is reported too.
  project.write("environments/dev.yaml", "database:\n  name: app\n");
  project.write("environments/prod.yaml", "database:\n  name: app\n");
  project.write("playbooks/promote.yaml", "stages: [dev, prod]\nsteps:\n  - migrate\n");
  auto sql = project.ferry({"validate"});
  EXPECT_EQ(sql.code, 64);
  EXPECT_TRUE(contains(sql.err, "migrations/0001_x/up.sql:1:1: syntax error")) << sql.err;
}

}  // namespace

namespace {

TEST(CliCommands, AMistypedCommandSuggestsTheRightOneAndExits64) {
  Project project;
  auto r = project.ferry({"rnu", "promote"});
  EXPECT_EQ(r.code, 64) << r.all();
  EXPECT_TRUE(contains(r.err, "unknown command 'rnu' (did you mean 'run'?)")) << r.err;
  auto s = ferry_in(project.root(), {"-q", "--state-dir", "/tmp/x", "stauts"});
  EXPECT_EQ(s.code, 64) << s.all();
  EXPECT_TRUE(contains(s.err, "unknown command 'stauts' (did you mean 'status'?)")) << s.err;
}

TEST(CliCommands, GlobalFlagsWorkAfterTheCommandToo) {
  Project project;
  project.write("environments/dev.yaml", "database:\n  name: app\n");
  project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - migrate\n");
  std::string elsewhere = temp_dir("ferry-elsewhere");
  for (const auto& args : std::vector<std::vector<std::string>>{{"--project", project.root(), "validate"},
                                                                {"validate", "--project", project.root()},
                                                                {"validate", "-C", project.root(), "-v"},
                                                                {"validate", "-q", "--color", "never"}}) {
    auto r = ferry_in(args.back() == "never" ? project.root() : elsewhere, args);
    EXPECT_EQ(r.code, 0) << r.all();
    EXPECT_TRUE(contains(r.out, "1 environment(s)")) << r.all();
  }
  auto colored = ferry_in(project.root(), {"validate", "--color", "always"});
  EXPECT_TRUE(contains(colored.out, "\033[32mok")) << colored.out;
}

TEST(CliCommands, EveryCommandsHelpHasAnExampleAndItsExitCodes) {
  Project project;
  for (const auto& cmd : std::vector<std::vector<std::string>>{{"init"},
                                                               {"validate"},
                                                               {"plan"},
                                                               {"run"},
                                                               {"status"},
                                                               {"history"},
                                                               {"backup"},
                                                               {"backups"},
                                                               {"rollback"},
                                                               {"new"},
                                                               {"lint"},
                                                               {"schedule"},
                                                               {"backup", "verify"},
                                                               {"backup", "pin"}}) {
    auto args = cmd;
    args.push_back("--help");
    auto r = project.ferry(args);
    EXPECT_EQ(r.code, 0) << cmd[0];
    EXPECT_TRUE(contains(r.out, "Example:\n  ferry " + cmd[0])) << cmd[0] << ": " << r.out;
    EXPECT_TRUE(contains(r.out, "Exit codes: 0 ")) << cmd[0] << ": " << r.out;
  }
}

}  // namespace
