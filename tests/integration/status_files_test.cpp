// `ferry status` with a migration file it cannot read (a directory without up.sql): the
// project's error, exit 64 naming the directory, as `plan` and `run` say it; never an
// environment or a fleet member shown as unreachable. Real PostgreSQL, the real ferry binary.
#include <gtest/gtest.h>

#include "support/app_fixture.hpp"

using namespace ferry::test;

namespace {

class StatusFiles : public AppTest<StatusFiles> {
 protected:
  void SetUp() override {
    AppTest::SetUp();
    project.env("dev", pg(), "app");
    project.migration("0001_notes", "CREATE TABLE notes (id bigserial PRIMARY KEY);", "DROP TABLE notes;");
    project.write("playbooks/p.yaml", "stages: [dev]\nsteps:\n  - migrate\n");
  }
  static bool contains(const std::string& text, const std::string& what) {
    return text.find(what) != std::string::npos;
  }
};

TEST_F(StatusFiles, AMigrationWithoutUpSqlIsTheProjectsErrorNotAnUnreachableDatabase) {
  ASSERT_EQ(project.ferry({"run", "p"}).code, 0);
  project.write("migrations/0002_broken/down.sql", "SELECT 1;");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"status"}, {"status", "--env", "dev"}, {"status", "--json"}}) {
    auto r = project.ferry(args);
    EXPECT_EQ(r.code, 64) << r.all();
    EXPECT_TRUE(contains(r.err, "0002_broken: missing up.sql")) << r.all();
    EXPECT_FALSE(contains(r.all(), "unreachable")) << r.all();
  }
  auto plan = project.ferry({"plan", "p"});
  EXPECT_EQ(plan.code, 64) << plan.all();
}

TEST_F(StatusFiles, AFleetsStatusSaysTheSameOnce) {
  pg().create_db("app_b");
  project.write("environments/fleet.yaml",
                "database:\n  names: [app, app_b]\n  user: postgres\n  host: 127.0.0.1\n"
                "  port: " +
                    std::to_string(pg().port()) + "\n");
  project.write("migrations/0002_broken/down.sql", "SELECT 1;");
  auto r = project.ferry({"status", "--env", "fleet"});
  EXPECT_EQ(r.code, 64) << r.all();
  EXPECT_TRUE(contains(r.err, "0002_broken: missing up.sql")) << r.all();
  EXPECT_FALSE(contains(r.all(), "unreachable")) << r.all();
}

// A fleet's view shows no fingerprint, so its members' reads compute none (the fingerprint is
// most of a single database's status time); `status --env ENV` of one database still shows it.
TEST_F(StatusFiles, AFleetsMembersAreReadWithoutTheFingerprint) {
  pg().create_db("app_b");
  for (const char* db : {"app", "app_b"})
    pg().exec("postgres", std::string("ALTER DATABASE ") + db + " SET log_min_duration_statement = 0");
  project.write("environments/fleet.yaml",
                "database:\n  names: [app, app_b]\n  user: postgres\n  host: 127.0.0.1\n"
                "  port: " +
                    std::to_string(pg().port()) + "\n");
  FileTail log(pg().dir() + "/log");
  auto r = project.ferry({"status", "--env", "fleet", "--json"});
  EXPECT_EQ(r.code, 0) << r.all();
  std::string sent = log.appended();
  EXPECT_TRUE(contains(sent, "ferry.runs")) << sent;  // the members were read
  EXPECT_FALSE(contains(sent, "pg_catalog.sha256(")) << sent;
  FileTail one(pg().dir() + "/log");
  auto single = project.ferry({"status", "--env", "dev", "--json"});
  EXPECT_TRUE(contains(single.out, "\"fingerprint\"")) << single.all();
  EXPECT_TRUE(contains(one.appended(), "pg_catalog.sha256(")) << single.all();
}

}  // namespace
