// A run whose first step is a backup reads the database's state once before changing it: the
// baseline (what a rollback must prove it returned to) is read in the backup's own snapshot, the
// one pg_dump dumps and the sidecar describes, not once more before it. What a DBA sees in the
// server's log (log_min_duration_statement = 0 on `app`): one description of the schema and one
// count of each table before the migration. What a user checks: the sidecar's fingerprint is the
// one `ferry status` showed before the run, and a failing migration after the backup is still
// rolled back and proven. Real PostgreSQL, the real ferry binary; no timings.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "support/app_fixture.hpp"

using namespace ferry::test;
using nlohmann::json;

namespace {

class BaselineOnce : public AppTest<BaselineOnce> {
 protected:
  BaselineOnce() : AppTest(AppShape{.rows = 300, .backups_prefix = "ferry-baseline-once"}) {}
  void SetUp() override {
    AppTest::SetUp();
    pg().exec("postgres", "ALTER DATABASE app SET log_min_duration_statement = 0");
    project.env("dev", pg(), "app", "backup:\n  dir: " + backups + "\n");
    project.migration("0001_notes", "CREATE TABLE notes (id bigserial PRIMARY KEY, body text);", "DROP TABLE notes;");
  }
  // The server log's lines written while `ferry ARGS` ran.
  std::string log_of(const std::vector<std::string>& args, int code) {
    FileTail log(pg().dir() + "/log");
    auto r = project.ferry(args);
    EXPECT_EQ(r.code, code) << r.all();
    return log.appended();
  }
  static long occurrences(const std::string& text, const std::string& what) {
    long n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
    return n;
  }
  json sidecar() {
    for (const auto& e : std::filesystem::recursive_directory_iterator(backups))
      if (e.path().extension() == ".json") return json::parse(std::ifstream(e.path()));
    ADD_FAILURE() << "no sidecar in " << backups;
    return json::object();
  }
  std::string status_fingerprint() {
    auto r = project.ferry({"status", "--env", "dev", "--json"});
    EXPECT_EQ(r.code, 0) << r.all();
    return json::parse(r.out)[0]["fingerprint"].get<std::string>();
  }
};

TEST_F(BaselineOnce, ABackupFirstRunDescribesAndCountsTheDatabaseOnceBeforeItsChange) {
  project.write("playbooks/p.yaml", "stages: [dev]\nsteps:\n  - backup\n  - migrate\n");
  std::string before = status_fingerprint();
  std::string log = log_of({"run", "p"}, 0);
  // the schema's description: read once (for the baseline and the sidecar alike)
  EXPECT_EQ(occurrences(log, "WITH ns AS ("), 1) << log;
  // tasks counted once by ferry; pg_dump's COPY reads it once more for the dump itself
  EXPECT_EQ(occurrences(log, "count(*) FROM \"public\".\"tasks\""), 1) << log;
  auto meta = sidecar();
  EXPECT_EQ(meta["fingerprint"].get<std::string>(), before);
  EXPECT_EQ(meta["row_counts"]["public.tasks"].get<long long>(), 300);
  EXPECT_EQ(q("SELECT to_regclass('public.notes') IS NOT NULL"), "t");
}

TEST_F(BaselineOnce, AFailureAfterTheBackupIsRolledBackAndProvenAgainstTheBackupsSnapshot) {
  project.migration("0002_bad", "INSERT INTO tasks (title) VALUES ('x'); SELECT 1/0;", "SELECT 1;");
  project.write("playbooks/p.yaml",
                "stages: [dev]\nrollback: down\nsteps:\n  - backup\n  - migrate: {transaction: each}\n");
  std::string before = status_fingerprint();
  auto r = project.ferry({"run", "p"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_NE(r.all().find("proof"), std::string::npos) << r.all();
  EXPECT_NE(r.all().find("row counts as before"), std::string::npos) << r.all();
  EXPECT_EQ(status_fingerprint(), before);
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "300");
  EXPECT_EQ(q("SELECT to_regclass('public.notes') IS NULL"), "t");
}

TEST_F(BaselineOnce, ABackupThatFailsBeforeReadingLeavesARunThatChangedNothing) {
  // backup.dir is a file: the backup fails; nothing that changes the database ran
  std::filesystem::remove_all(backups);
  std::ofstream(backups) << "not a directory\n";
  project.write("playbooks/p.yaml", "stages: [dev]\nsteps:\n  - backup\n  - migrate\n");
  auto r = project.ferry({"run", "p"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_EQ(q("SELECT to_regclass('public.notes') IS NULL"), "t");
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "300");
  std::filesystem::remove(backups);
  std::filesystem::create_directories(backups);
}

}  // namespace
