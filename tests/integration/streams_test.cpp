// Which stream a line goes to: step lines and results on stdout; warnings, errors and hints on
// stderr (so `-q` is silent on stdout after a success and `--json` stdout stays one document).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/fixtures.hpp"

using namespace ferry::test;

namespace {

class Streams : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    db = "streams_" + std::to_string(++counter());
    pg().create_db(db);
    project.migration("0001_create", "CREATE TABLE t (id int);", "DROP TABLE t;");
  }
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::string db;
  Project project;
};

TEST_F(Streams, ARefusalIsAnErrorOnStderrNotOnStdout) {
  project.env("prod", pg(), db, "protected: true\nbackup:\n  dir: backups\n");
  project.write("playbooks/p.yaml", "stages: [prod]\nsteps:\n  - migrate\n");
  auto r = project.ferry({"run", "p"});  // protected, not confirmed
  EXPECT_EQ(r.code, 3) << r.all();
  EXPECT_TRUE(contains(r.err, "error: refused")) << "stderr:\n" << r.err << "\nstdout:\n" << r.out;
  EXPECT_FALSE(contains(r.out, "error:")) << r.out;
  EXPECT_EQ(pg().value(db, "SELECT count(*) FROM pg_tables WHERE tablename = 't'"), "0");
}

TEST_F(Streams, AWarningOfASuccessfulQuietRunLeavesStdoutEmpty) {
  project.env("dev", pg(), db, "backup:\n  dir: backups\n");
  // A hook that fails is a warning: the stage's outcome stays succeeded.
  project.write("playbooks/p.yaml", "stages: [dev]\nsteps:\n  - migrate\nfinally:\n  - run: exit 7\n");
  auto r = project.ferry({"-q", "run", "p"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(r.out, "") << r.out;
  EXPECT_TRUE(contains(r.err, "warning: hook")) << r.err;
  EXPECT_EQ(pg().value(db, "SELECT count(*) FROM pg_tables WHERE tablename = 't'"), "1");
}

TEST_F(Streams, JsonStdoutIsOneDocumentWhenAWarningIsGiven) {
  project.env("dev", pg(), db, "backup:\n  dir: backups\n");
  project.write("playbooks/p.yaml", "stages: [dev]\nsteps:\n  - migrate\nfinally:\n  - run: exit 7\n");
  auto r = project.ferry({"run", "p", "--json"});
  EXPECT_EQ(r.code, 0) << r.all();
  auto j = nlohmann::json::parse(r.out);  // throws (and fails the test) when a warning is mixed in
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_TRUE(contains(r.err, "warning: hook")) << r.err;
}

}  // namespace
