// Every --json output of ferry parsed and held to docs/json.md's contract by python3 and
// jsonschema (tests/schema/json_contract.py): schema_version, times RFC 3339 with
// milliseconds, sizes in bytes, the lock holder an object. Real PostgreSQL, the real binary.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "core/text.hpp"
#include "support/fixtures.hpp"
#include "transport/transport.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using nlohmann::json;

namespace {

const std::regex k_ms_time(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");

class JsonContract : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().create_db("app");
    backups = temp_dir("ferry-json");
    project.env("dev", pg(), "app", "backup:\n  dir: " + backups + "\n");
    project.write("playbooks/p.yaml", "stages: [dev]\nsteps: [backup, migrate]\n");
    project.migration("0001_tasks", "CREATE TABLE tasks (id serial PRIMARY KEY, title text);", "DROP TABLE tasks;");
  }
  void TearDown() override { fs::remove_all(backups); }
  // Runs ferry ARGS with --json, keeps stdout in NAME.json for the checker; returns it parsed.
  json output(const std::string& name, const std::vector<std::string>& args) {
    auto r = project.ferry(args);
    EXPECT_FALSE(r.out.empty()) << r.all();
    std::string file = project.path(name + ".json");
    std::ofstream(file) << r.out;
    files.push_back(file);
    return json::parse(r.out, nullptr, false);
  }
  // python3 tests/schema/json_contract.py over every kept output: its complaints, "" when none.
  std::string check() {
    ferry::transport::LocalTransport t;
    ferry::transport::Command c;
    c.argv = {"python3", std::string(FERRY_SOURCE_DIR) + "/tests/schema/json_contract.py"};
    c.argv.insert(c.argv.end(), files.begin(), files.end());
    auto r = t.run(c);
    return r.exit_code == 0 ? "" : r.out + r.err;
  }
  std::string q(const std::string& sql) { return pg().value("app", sql); }

  Project project;
  std::string backups;
  std::vector<std::string> files;
};

TEST_F(JsonContract, EveryJsonOutputCarriesSchemaVersionMillisecondTimesAndByteSizes) {
  ASSERT_EQ(project.ferry({"run", "p"}).code, 0);
  project.migration("0002_notes", "CREATE TABLE notes (id int);", "DROP TABLE notes;");
  output("validate", {"validate", "--json"});
  output("plan", {"plan", "p", "--json"});
  auto status = output("status", {"status", "--json"});
  auto history = output("history", {"history", "dev", "--json"});
  auto backup = output("backup", {"backup", "dev", "--json"});
  auto list = output("backups", {"backups", "dev", "--json"});
  output("lint", {"lint", "--json"});
  output("rollback", {"rollback", "dev", "--backup", "latest", "--dry-run", "--json"});
  EXPECT_EQ(check(), "");

  // The array outputs keep their shape (old readers index them) and carry the version per element.
  ASSERT_TRUE(status.is_array()) << status;
  EXPECT_EQ(status[0]["schema_version"], 1);
  EXPECT_EQ(status[0]["environment"], "dev");
  EXPECT_TRUE(status[0]["lock"].is_null());
  EXPECT_TRUE(status[0]["lock_holder"].is_null());
  EXPECT_TRUE(std::regex_match(status[0]["last_run"]["started"].get<std::string>(), k_ms_time)) << status;
  ASSERT_TRUE(list.is_array() && list.size() == 2u) << list;
  EXPECT_EQ(list[0]["schema_version"], 1);
  EXPECT_EQ(list[0]["id"], backup["backup"]["id"]);
  EXPECT_TRUE(list[0]["size"].is_number_integer());
  EXPECT_TRUE(std::regex_match(history["runs"][0]["started"].get<std::string>(), k_ms_time)) << history;
  EXPECT_TRUE(std::regex_match(history["migrations"][0]["applied_at"].get<std::string>(), k_ms_time)) << history;
}

TEST_F(JsonContract, LockHolderIsAnObjectNamingTheRunItsOperatorHostAndSince) {
  ASSERT_EQ(project.ferry({"run", "p"}).code, 0);
  project.migration("0002_slow", "CREATE TABLE slow (id int);", "DROP TABLE slow;");
  Gate gate;  // the first run holds the lock until status and rollback have read it (not 5 s)
  project.write("playbooks/p.yaml", "stages: [dev]\nsteps: [backup, migrate, {run: " + gate.command() + "}]\n");
  Background first({ferry_binary(), "-C", project.root(), "run", "p"}, {{"FERRY_OPERATOR", "alice"}});
  ASSERT_TRUE(wait_until([&] {
    return q("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1717924466") == "1" &&
           q("SELECT count(*) FROM ferry.runs WHERE outcome = 'running'") == "1";
  }));
  std::string run_id = q("SELECT id FROM ferry.runs WHERE outcome = 'running'");
  auto status = output("status", {"status", "--json"});
  auto rollback = output("rollback", {"rollback", "dev", "--backup", "latest", "--dry-run", "--json"});
  EXPECT_EQ(check(), "");
  for (const auto& h : {status[0]["lock_holder"], rollback["plan"]["lock_holder"]}) {
    ASSERT_TRUE(h.is_object()) << status << rollback;
    EXPECT_EQ(h["run_id"], run_id);
    EXPECT_EQ(h["operator"], "alice");
    EXPECT_FALSE(h["host"].get<std::string>().empty());
    EXPECT_TRUE(h["pid"].get<int>() > 0);
    EXPECT_TRUE(std::regex_match(h["since"].get<std::string>(), k_ms_time)) << h;
  }
  EXPECT_TRUE(contains(status[0]["lock"].get<std::string>(), "run " + run_id + " by alice")) << status;
  gate.open();
  EXPECT_EQ(first.wait().code, 0);
}

TEST_F(JsonContract, RecordedCodeVersionIsInTheStageSummaryTheReportAndRollbackJson) {
  project.env("dev", pg(), "app",
              "backup:\n  dir: " + backups +
                  "\nservices:\n  app:\n    restart: 'true'\n    version: echo build-41 && echo v1.2.3\n");
  project.write("playbooks/p.yaml", "stages: [dev]\nsteps: [backup, migrate, {restart: app}]\n");
  auto run = project.ferry({"run", "p", "--report", project.path("run.json")});
  ASSERT_EQ(run.code, 0) << run.all();
  auto report = json::parse(project.read("run.json"));
  EXPECT_EQ(report["schema_version"], 1);
  json summary;
  for (const auto& e : report["events"])
    if (e["event"] == "stage_summary") summary = e;
  ASSERT_TRUE(summary.is_object()) << report.dump(2);
  EXPECT_EQ(summary["code_versions"]["app"], "v1.2.3");  // the last line the command printed
  EXPECT_EQ(summary["stage"], "dev");
  // The journal holds the same event.
  std::string journal = project.read(".ferry/runs/" + report["run_id"].get<std::string>() + ".jsonl");
  EXPECT_TRUE(contains(journal, R"("code_versions":{"app":"v1.2.3"})")) << journal;

  auto rb = output("rollback", {"rollback", "dev", "--backup", "latest", "--json"});
  EXPECT_EQ(rb["exit_code"], 0) << rb.dump(2);
  EXPECT_EQ(rb["code_versions"]["app"], "v1.2.3") << rb.dump(2);
  EXPECT_EQ(check(), "");
}

}  // namespace
