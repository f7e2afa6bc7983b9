// The ferry binary as a user runs it: exit codes, messages, JSON, help, and secrets.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/fixtures.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using nlohmann::json;

namespace {

class Cli : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster("s3cret-pw-$(touch /tmp/pwned)'\"");
    return cluster;
  }
  void SetUp() override {
    pg().create_db("app");
    secret_env = {{"APP_DB_PASSWORD", "s3cret-pw-$(touch /tmp/pwned)'\""}};
    project.write(
        "environments/dev.yaml",
        "database:\n  name: app\n  user: postgres\n  password: ${APP_DB_PASSWORD}\n  host: 127.0.0.1\n  port: " +
            std::to_string(pg().port()) + "\nbackup:\n  dir: backups\n");
    project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - backup\n  - migrate\n  - sql: SELECT 1\n");
    project.migration("0001_create", "CREATE TABLE t (id int);", "DROP TABLE t;");
  }
  Project project;
  std::map<std::string, std::string> secret_env;
};

TEST_F(Cli, ConfigurationErrorExits64AndRunsNothing) {
  project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - migrate\n  - verfy:\n      sql: [SELECT 1]\n");
  for (const auto& cmd : std::vector<std::vector<std::string>>{{"validate"}, {"run", "promote"}, {"plan", "promote"}}) {
    auto r = project.ferry(cmd, secret_env);
    EXPECT_EQ(r.code, 64) << r.all();
    EXPECT_EQ(r.err, "ferry: error: playbooks/promote.yaml:4:5: unknown step 'verfy' (did you mean 'verify'?)\n");
  }
  EXPECT_EQ(pg().value("app", "SELECT to_regnamespace('ferry') IS NULL"), "t");
}

TEST_F(Cli, UnsetVariableExits64) {
  auto r = project.ferry({"validate"});
  EXPECT_EQ(r.code, 64);
  EXPECT_EQ(r.err,
            "ferry: error: environments/dev.yaml:4:13: environment variable 'APP_DB_PASSWORD' is not set (used as "
            "${APP_DB_PASSWORD})\n");
}

TEST_F(Cli, UsageErrorExits64AndHelpExits0) {
  EXPECT_EQ(project.ferry({"frobnicate"}).code, 64);
  EXPECT_EQ(project.ferry({"rollback", "dev"}, secret_env).code, 64);
  for (const char* c : {"validate", "plan", "run", "status", "history", "backup", "backups", "rollback", "new"}) {
    auto r = project.ferry({c, "--help"});
    EXPECT_EQ(r.code, 0) << c;
    EXPECT_TRUE(contains(r.out, "Usage")) << c << ": " << r.out;
  }
}

TEST_F(Cli, SecretsNeverAppearInOutputJournalsOrReports) {
  fs::remove("/tmp/pwned");
  auto r = project.ferry({"run", "promote", "--report", project.path("report.json")}, secret_env);
  ASSERT_EQ(r.code, 0) << r.all();
  std::string everything = r.all() + project.read("report.json");
  for (const auto& e : fs::recursive_directory_iterator(project.path(".ferry")))
    if (e.is_regular_file()) everything += project.read(fs::relative(e.path(), project.root()));
  for (const auto& e : fs::directory_iterator(project.path("backups")))
    if (e.path().extension() == ".json") everything += project.read(fs::relative(e.path(), project.root()));
  everything += project.ferry({"status", "--json"}, secret_env).out;
  everything += project.ferry({"history", "dev", "--json"}, secret_env).out;
  EXPECT_FALSE(contains(everything, "s3cret-pw")) << everything;
  EXPECT_FALSE(fs::exists("/tmp/pwned"));  // the hostile password never reached a shell
  // A failing connection does not echo it either.
  auto bad = project.ferry({"status"}, {{"APP_DB_PASSWORD", "wrong-password-xyz"}});
  EXPECT_EQ(bad.code, 1);
  EXPECT_TRUE(contains(bad.out, "password authentication failed")) << bad.out;
  EXPECT_FALSE(contains(bad.all(), "wrong-password-xyz"));
}

TEST_F(Cli, StatusAndHistoryJson) {
  ASSERT_EQ(project.ferry({"run", "promote"}, secret_env).code, 0);
  project.migration("0002_more", "CREATE TABLE u (id int);", "DROP TABLE u;");
  auto st = json::parse(project.ferry({"status", "--json"}, secret_env).out);
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0]["environment"], "dev");
  EXPECT_EQ(st[0]["version"], "0001");
  EXPECT_EQ(st[0]["pending"], json::array({"0002_more"}));
  EXPECT_EQ(st[0]["last_run"]["outcome"], "succeeded");
  EXPECT_TRUE(st[0]["lock"].is_null());
  EXPECT_EQ(st[0]["fingerprint"].get<std::string>().size(), 64u);
  auto h = json::parse(project.ferry({"history", "dev", "--json"}, secret_env).out);
  EXPECT_EQ(h["migrations"][0]["version"], "0001");
  EXPECT_EQ(h["runs"][0]["outcome"], "succeeded");
  EXPECT_EQ(h["events"][0]["action"], "applied");
  auto text = project.ferry({"status"}, secret_env);
  EXPECT_TRUE(contains(text.out, "pending      1  0002_more")) << text.out;
}

TEST_F(Cli, PlanChangesNothing) {
  auto r = project.ferry({"plan", "promote"}, secret_env);
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "+ 0001_create")) << r.out;
  EXPECT_TRUE(contains(r.out, "on failure: roll back by down SQL")) << r.out;
  EXPECT_EQ(pg().value("app", "SELECT to_regnamespace('ferry') IS NULL"), "t");
}

TEST_F(Cli, NewCreatesTheNextVersionAndRejectsHostileNames) {
  auto r = project.ferry({"new", "add_index"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(project.exists("migrations/0002_add_index/up.sql"));
  EXPECT_TRUE(project.exists("migrations/0002_add_index/down.sql"));
  auto bad = project.ferry({"new", "x; rm -rf /"});
  EXPECT_EQ(bad.code, 64);
  EXPECT_EQ(bad.err, "ferry: error: migration name 'x; rm -rf /' must be letters, digits, '_' and '-'\n");
}

TEST_F(Cli, UnknownEnvironmentSuggests) {
  auto r = project.ferry({"history", "dve"}, secret_env);
  EXPECT_EQ(r.code, 64);
  EXPECT_TRUE(contains(r.err, "unknown environment 'dve' (did you mean 'dev'?)")) << r.err;
}

TEST_F(Cli, UnreachableDatabaseFailsWithExit1AndNothingChanged) {
  project.write("environments/dev.yaml", "database:\n  name: app\n  host: 127.0.0.1\n  port: " +
                                             std::to_string(free_port()) + "\nbackup:\n  dir: backups\n");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "cannot connect to '127.0.0.1:")) << r.out;
}

}  // namespace
