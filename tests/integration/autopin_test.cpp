// Automatic pins (issue 10, item 6): the backup a run took before changing anything is pinned
// ("pre-change backup of run R") until the run's changes are backed up `keep` times; retention
// releases such pins itself, never a manual one. Real PostgreSQL, the real ferry binary, real
// backup files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>

#include "support/fixtures.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using nlohmann::json;

namespace {

class AutoPin : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().create_db("app");
    pg().exec("app", "CREATE TABLE tasks (id int PRIMARY KEY); INSERT INTO tasks SELECT generate_series(1, 50);");
    dir = temp_dir("ferry-autopin");
    project.env("dev", pg(), "app", "backup:\n  dir: " + dir + "\n  keep: 1\n");
    project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - backup\n  - migrate\n");
    project.migration("0001_due", "ALTER TABLE tasks ADD COLUMN due date;", "ALTER TABLE tasks DROP COLUMN due;");
  }
  void TearDown() override { fs::remove_all(dir); }
  json list() {
    auto r = project.ferry({"backups", "dev", "--json"});
    EXPECT_EQ(r.code, 0) << r.all();
    return json::parse(r.out);
  }
  json find(const std::string& id) {
    for (const auto& b : list())
      if (b["id"] == id) return b;
    return nullptr;
  }
  std::set<std::string> ids() {
    std::set<std::string> s;
    for (const auto& b : list()) s.insert(b["id"].get<std::string>());
    return s;
  }
  // Runs the playbook; returns {run id, the backup it took}.
  std::pair<std::string, std::string> run() {
    auto r = project.ferry({"run", "promote"});
    EXPECT_EQ(r.code, 0) << r.all();
    std::string run_id = pg().value("app", "SELECT id FROM ferry.runs ORDER BY started DESC LIMIT 1");
    return {run_id, pg().value("app", "SELECT backup_id FROM ferry.runs WHERE id = '" + run_id + "'")};
  }
  std::string take() {
    EXPECT_EQ(project.ferry({"backup", "dev"}).code, 0);
    return list()[0]["id"].get<std::string>();
  }
  Project project;
  std::string dir;
};

}  // namespace

TEST_F(AutoPin, KeepOneKeepsTheLatestRunsPreChangeBackupUntilItsChangesAreBackedUp) {
  auto [run1, b1] = run();
  auto first = find(b1);
  ASSERT_TRUE(first.is_object()) << list().dump();
  EXPECT_EQ(first["pinned"], true);
  EXPECT_EQ(first["pin_reason"], "pre-change backup of run " + run1);
  auto shown = project.ferry({"backups", "dev"});
  EXPECT_TRUE(contains(shown.out, "pinned (pre-change backup of run " + run1 + ")")) << shown.out;

  // Run 2 backs up run 1's changes once (keep: 1): run 1's pin is released, run 2's holds.
  project.migration("0002_note", "ALTER TABLE tasks ADD COLUMN note text;", "ALTER TABLE tasks DROP COLUMN note;");
  auto [run2, b2] = run();
  ASSERT_NE(b1, b2);
  EXPECT_EQ(find(b1)["pinned"], false) << list().dump();
  EXPECT_EQ(find(b2)["pinned"], true) << list().dump();
  EXPECT_EQ(find(b2)["pin_reason"], "pre-change backup of run " + run2);
  EXPECT_EQ(ids(), (std::set<std::string>{b1, b2}));  // b1 is the one unpinned backup kept

  // A backup of run 2's changes: run 2's pin goes, and keep: 1 leaves only the newest.
  std::string b3 = take();
  EXPECT_EQ(ids(), (std::set<std::string>{b3})) << list().dump();
  EXPECT_FALSE(fs::exists(dir + "/" + b2 + ".pin"));
}

TEST_F(AutoPin, RetentionNeverReleasesAManualPinAndAHandUnpinEndsAnAutomaticOne) {
  std::string manual = take();
  auto r = project.ferry({"backup", "pin", "dev", manual});
  ASSERT_EQ(r.code, 0) << r.all();
  auto [run1, b1] = run();
  EXPECT_EQ(find(manual)["pin_reason"], "pinned by hand");
  r = project.ferry({"backup", "unpin", "dev", b1});  // unpinned by hand before any newer backup
  ASSERT_EQ(r.code, 0) << r.all();
  std::string b2 = take();
  std::string b3 = take();
  // b1 (unpinned) and b2 went by keep: 1; the manual pin stays whatever is backed up.
  EXPECT_EQ(ids(), (std::set<std::string>{manual, b3})) << list().dump();
  EXPECT_EQ(find(manual)["pinned"], true);
  EXPECT_TRUE(fs::exists(dir + "/" + manual + ".pin"));
}

TEST_F(AutoPin, ABackupStepAfterTheChangeIsNotPinnedAndThePreChangePinStillEnds) {
  project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - backup\n  - migrate\n  - backup\n");
  auto r = project.ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  std::string run_id = pg().value("app", "SELECT id FROM ferry.runs ORDER BY started DESC LIMIT 1");
  auto all = list();
  ASSERT_EQ(all.size(), 2u) << all.dump();
  std::string after = all[0]["id"], before = all[1]["id"];  // newest first
  EXPECT_NE(after, before);
  EXPECT_EQ(all[0]["pinned"], false) << all.dump();
  EXPECT_EQ(all[1]["pinned"], true) << all.dump();
  EXPECT_EQ(all[1]["pin_reason"], "pre-change backup of run " + run_id);
  std::ifstream pin(dir + "/" + before + ".pin");
  std::string pin_text((std::istreambuf_iterator<char>(pin)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(contains(pin_text, "version_after ")) << pin_text;  // recorded at the stage's end
  std::string next = take();
  EXPECT_EQ(ids(), (std::set<std::string>{next})) << list().dump();
}
