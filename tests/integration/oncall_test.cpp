// The 3 a.m. rollback that explains itself: the plan before any confirmation and in --dry-run,
// naming a backup by version or run, the nightly-after-the-bad-release guard, --json/--report.
// Real PostgreSQL, the real ferry binary, real backup files, a real terminal (script(1)).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/text.hpp"
#include "support/fixtures.hpp"
#include "transport/transport.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using nlohmann::json;

namespace {

class Oncall : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().create_db("app");
    backups = temp_dir("ferry-oncall");
  }
  void TearDown() override { fs::remove_all(backups); }
  void env(const std::string& name, const std::string& extra = "") {
    project.env(name, pg(), "app", "backup:\n  dir: " + backups + "/" + name + "\n" + extra);
  }
  std::string q(const std::string& sql) { return pg().value("app", sql); }
  json list(const std::string& env) { return json::parse(project.ferry({"backups", env, "--json"}).out); }
  // 0001 (tasks) applied by a run that took backup B1; 10 rows; 0002 (notes) applied by a run
  // that took backup B2; then 7 more rows. Returns {B1, B2}.
  std::pair<std::string, std::string> two_releases(const std::string& name, const std::string& yes = "") {
    project.write("playbooks/p.yaml", "stages: [" + name + "]\nsteps: [backup, migrate]\n");
    project.migration("0001_tasks", "CREATE TABLE tasks (id serial PRIMARY KEY, title text);", "DROP TABLE tasks;");
    std::vector<std::string> run = {"run", "p"};
    if (!yes.empty()) run.push_back(yes);
    auto r1 = project.ferry(run);
    EXPECT_EQ(r1.code, 0) << r1.all();
    pg().exec("app", "INSERT INTO tasks (title) SELECT 'a' FROM generate_series(1, 10)");
    project.migration("0002_notes", "CREATE TABLE notes (id int);", "DROP TABLE notes;");
    auto r2 = project.ferry(run);
    EXPECT_EQ(r2.code, 0) << r2.all();
    pg().exec("app", "INSERT INTO tasks (title) SELECT 'b' FROM generate_series(1, 7)");
    auto l = list(name);
    EXPECT_EQ(l.size(), 2u);
    return {l[1]["id"].get<std::string>(), l[0]["id"].get<std::string>()};
  }
  // A backend's write counters reach pg_stat_* when it flushes them, at its exit a moment after
  // the client left: wait until two_releases' 17 inserted rows show (a fixed 1.2 s was not
  // always enough on a loaded machine, and the discarded writes then read 0).
  void wait_for_stats() {
    EXPECT_TRUE(
        wait_until([&] { return q("SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'tasks'") == "17"; }));
  }

  Project project;
  std::string backups;
};

TEST_F(Oncall, DryRunShowsThePlanAndChangesNothing) {
  env("staging");
  auto [b1, b2] = two_releases("staging");
  wait_for_stats();
  std::string runs_before = q("SELECT count(*) FROM ferry.runs");
  auto r = project.ferry({"rollback", "staging", "--backup", "latest", "--dry-run"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "backup " + b2 + ": taken ")) << r.out;
  EXPECT_TRUE(contains(r.out, "version 0001,")) << r.out;
  // b2 is the pre-change backup of the second release's run: pinned automatically until its
  // changes are themselves backed up (docs/guide.md, retention).
  EXPECT_TRUE(contains(r.out, "verified, pinned")) << r.out;
  EXPECT_TRUE(contains(r.out, "current version 0002 -> after the rollback 0001")) << r.out;
  EXPECT_TRUE(contains(r.out, "migrations undone: 0002 (notes)")) << r.out;
  EXPECT_TRUE(contains(r.out, "runs since the backup: ")) << r.out;
  EXPECT_TRUE(contains(r.out, "about 7 inserted, 0 updated, 0 deleted row(s)")) << r.out;
  EXPECT_TRUE(contains(r.out, "dry run: nothing was changed")) << r.out;
  EXPECT_EQ(q("SELECT count(*) FROM ferry.runs"), runs_before);
  EXPECT_EQ(q("SELECT to_regclass('notes') IS NOT NULL"), "t");
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "17");
}

TEST_F(Oncall, JsonPlanNamesBackupUndoRunsAndDiscardedWrites) {
  env("staging");
  auto [b1, b2] = two_releases("staging");
  wait_for_stats();
  auto r = project.ferry({"rollback", "staging", "--backup", "before:0002", "--dry-run", "--json"});
  EXPECT_EQ(r.code, 0) << r.all();
  auto j = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["exit_code"], 0);
  EXPECT_EQ(j["dry_run"], true);
  const auto& p = j["plan"];
  EXPECT_EQ(p["backup"]["id"], b2);
  EXPECT_EQ(p["backup"]["version"], "0001");
  EXPECT_EQ(p["backup"]["pinned"], true);  // the run's pre-change backup, pinned automatically
  EXPECT_TRUE(p["backup"]["age_seconds"].is_number());
  EXPECT_EQ(p["current_version"], "0002");
  ASSERT_EQ(p["undo"].size(), 1u);
  EXPECT_EQ(p["undo"][0]["version"], "0002");
  ASSERT_GE(p["runs_since_backup"].size(), 1u);
  EXPECT_EQ(p["runs_since_backup"].back()["version_after"], "0002");
  EXPECT_EQ(p["discarded_writes"]["inserted"], 7);
  EXPECT_EQ(p["backup_newer_than_last_change"], false);
  // before:0001 is the first run's backup, taken on an empty database.
  auto r0 = project.ferry({"rollback", "staging", "--backup", "before:0001", "--dry-run", "--json"});
  EXPECT_EQ(json::parse(r0.out)["plan"]["backup"]["id"], b1) << r0.out;
}

TEST_F(Oncall, BeforeRunRestoresThatRunsOwnBackup) {
  env("staging");
  auto [b1, b2] = two_releases("staging");
  std::string run2 = q("SELECT id FROM ferry.runs WHERE version_after = '0002' ORDER BY started DESC LIMIT 1");
  ASSERT_FALSE(run2.empty());
  std::string report = backups + "/report.json";
  auto r = project.ferry({"rollback", "staging", "--backup", "before-run:" + run2, "--report", report});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "backup " + b2 + ": taken ")) << r.out;
  EXPECT_EQ(q("SELECT to_regclass('notes') IS NULL"), "t");
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "10");
  std::ifstream in(report);
  auto j = json::parse(in, nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["outcome"], "succeeded");
  EXPECT_EQ(j["exit_code"], 0);
  EXPECT_EQ(j["plan"]["backup"]["id"], b2);
  bool restored = false;
  for (const auto& s : j["steps"]) restored |= s["step"] == "restore" && s["ok"] == true;
  EXPECT_TRUE(restored) << j.dump(2);
  // An unknown run is a usage error; nothing changed.
  auto bad = project.ferry({"rollback", "staging", "--backup", "before-run:nosuchrun", "--dry-run"});
  EXPECT_EQ(bad.code, 64) << bad.all();
}

TEST_F(Oncall, NightlyTakenAfterTheBadReleaseNeedsAnExtraFlagOnProtected) {
  env("production", "protected: true\n");
  project.write("playbooks/p.yaml", "stages: [production]\nsteps: [migrate]\n");
  project.migration("0001_tasks", "CREATE TABLE tasks (id serial PRIMARY KEY, title text);", "DROP TABLE tasks;");
  ASSERT_EQ(project.ferry({"run", "p", "--yes"}).code, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ASSERT_EQ(project.ferry({"backup", "production"}).code, 0);  // the nightly, after the release
  pg().exec("app", "INSERT INTO tasks (title) VALUES ('x')");
  auto refused = project.ferry({"rollback", "production", "--backup", "latest", "--yes"});
  EXPECT_EQ(refused.code, 3) << refused.all();
  EXPECT_TRUE(contains(refused.all(), "was taken after the newest change, 0001 (tasks) applied at")) << refused.all();
  EXPECT_TRUE(contains(refused.all(), "--allow-newer-backup")) << refused.all();
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "1");
  auto dry = project.ferry({"rollback", "production", "--backup", "latest", "--dry-run"});
  EXPECT_EQ(dry.code, 3) << dry.all();
  auto allowed = project.ferry({"rollback", "production", "--backup", "latest", "--yes", "--allow-newer-backup"});
  EXPECT_EQ(allowed.code, 0) << allowed.all();
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "0");
  EXPECT_EQ(q("SELECT to_regclass('tasks') IS NOT NULL"), "t");  // the release itself stays
}

TEST_F(Oncall, OldSidecarWithoutCountersSaysUnknown) {
  env("staging");
  two_releases("staging");
  auto l = list("staging");
  std::string sidecar = backups + "/staging/" + l[0]["id"].get<std::string>() + ".json";
  json j;
  {
    std::ifstream in(sidecar);
    j = json::parse(in);
  }
  ASSERT_TRUE(j.contains("write_counters"));
  j.erase("write_counters");
  { std::ofstream(sidecar, std::ios::trunc) << j.dump(2); }
  auto r = project.ferry({"rollback", "staging", "--backup", "latest", "--dry-run", "--json"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(json::parse(r.out)["plan"]["discarded_writes"].is_null()) << r.out;
  auto t = project.ferry({"rollback", "staging", "--backup", "latest", "--dry-run"});
  EXPECT_TRUE(contains(t.out, "discards: unknown (the backup's sidecar has no write counters)")) << t.out;
}

TEST_F(Oncall, DryRunIsRefusedWhileAnotherSessionHoldsTheLock) {
  env("staging");
  two_releases("staging");
  auto holder = pg().connect("app");
  holder->exec("SELECT pg_advisory_lock(1717924466, 1)");
  auto r = project.ferry({"rollback", "staging", "--backup", "latest", "--dry-run"});
  EXPECT_EQ(r.code, 3) << r.all();
  EXPECT_TRUE(contains(r.all(), "is locked by")) << r.all();
}

TEST_F(Oncall, TheConfirmationAtATerminalNamesTheBackupAndWhatIsUndone) {
  if (system("command -v script >/dev/null") != 0) GTEST_SKIP() << "needs script(1)";
  env("production", "protected: true\n");
  auto [b1, b2] = two_releases("production", "--yes");
  auto at_tty = [&](const std::string& typed) {
    ferry::transport::LocalTransport t;
    ferry::transport::Command c = ferry::transport::Command::shell(
        "script -qec " +
        ferry::shell_quote(ferry_binary() + " -C " + project.root() + " rollback production --backup latest") +
        " /dev/null");
    c.stdin_data = typed + "\n";
    return t.run(c);
  };
  auto wrong = at_tty("prod");
  EXPECT_EQ(wrong.exit_code, 3) << wrong.out;
  auto prompt = wrong.out.find("Type its name to continue");
  ASSERT_NE(prompt, std::string::npos) << wrong.out;
  for (const std::string& line :
       {"backup " + b2 + ": taken ", std::string("current version 0002"),
        std::string("migrations undone: 0002 (notes)"), std::string("runs since the backup")}) {
    auto at = wrong.out.find(line);
    EXPECT_NE(at, std::string::npos) << line << "\n" << wrong.out;
    EXPECT_LT(at, prompt) << "shown before the confirmation: " << line;
  }
  EXPECT_EQ(q("SELECT to_regclass('notes') IS NOT NULL"), "t");
  auto right = at_tty("production");
  EXPECT_EQ(right.exit_code, 0) << right.out;
  EXPECT_EQ(q("SELECT to_regclass('notes') IS NULL"), "t");
}

}  // namespace
