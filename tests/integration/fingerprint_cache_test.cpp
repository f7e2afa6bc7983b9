// `ferry status` remembers the schema fingerprint under the catalogs' signature
// (cli/fingerprint_cache.*): shown from the cache only after two runs agreed under an unchanged
// signature, and never after a change a fresh computation would see. Each change below is made
// by a real session on real PostgreSQL; the remembered value is compared with a fingerprint
// computed by a status that has no cache (an empty --state-dir).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/app_fixture.hpp"

using namespace ferry::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

class FingerprintCache : public AppTest<FingerprintCache> {
 protected:
  void SetUp() override {
    AppTest::SetUp();
    project.env("dev", pg(), "app");
    pg().exec("app",
              "CREATE SEQUENCE loose_seq; CREATE INDEX tasks_title_idx ON tasks (title);"
              "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'reader') THEN CREATE ROLE reader; "
              "END IF; END $$; GRANT SELECT ON tasks TO reader;");
    fresh_dir = temp_dir("ferry-fp-fresh");
  }
  void TearDown() override {
    fs::remove_all(fresh_dir);
    AppTest::TearDown();
  }
  struct Shown {
    std::string fingerprint;
    bool remembered = false;
  };
  Shown status(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = extra;
    args.insert(args.end(), {"status", "--json"});
    auto r = project.ferry(args);
    EXPECT_EQ(r.code, 0) << r.all();
    auto e = json::parse(r.out)[0];
    return {e["fingerprint"].get<std::string>(), e["fingerprint_remembered"].get<bool>()};
  }
  // A fingerprint computed now, by a status without a cache.
  std::string fresh() {
    fs::remove_all(fresh_dir);
    auto s = status({"--state-dir", fresh_dir});
    EXPECT_FALSE(s.remembered);
    return s.fingerprint;
  }
  // Statuses until one shows the fingerprint remembered (at most three), equal to a fresh one.
  std::string settle() {
    Shown s;
    for (int i = 0; i < 3 && !s.remembered; ++i) s = status();
    EXPECT_TRUE(s.remembered);
    EXPECT_EQ(s.fingerprint, fresh());
    return s.fingerprint;
  }
  std::string cache_file() {
    for (const auto& f : fs::directory_iterator(project.path(".ferry/fingerprints"))) return f.path().string();
    return "";
  }
  std::string fresh_dir;
};

TEST_F(FingerprintCache, RememberedOnlyAfterTwoAgreeingRunsAndEqualToAFreshOne) {
  auto a = status();
  EXPECT_FALSE(a.remembered);
  auto b = status();
  EXPECT_FALSE(b.remembered);  // the second computes it again, between two signatures
  auto c = status();
  EXPECT_TRUE(c.remembered);
  EXPECT_EQ(a.fingerprint, c.fingerprint);
  EXPECT_EQ(c.fingerprint, fresh());
  // Private: a 0700 directory, a 0600 file.
  struct stat st {};
  ASSERT_EQ(::stat(project.path(".ferry/fingerprints").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(cache_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// Every kind of change the fingerprint covers, including those that touch one catalog row only
// (a comment, a grant, OWNED BY in pg_depend, a database setting, a role's name), is seen by
// the next status: computed, not remembered, and equal to a fresh fingerprint.
TEST_F(FingerprintCache, EveryChangeTheFingerprintSeesIsSeenByTheNextStatus) {
  const std::vector<std::string> changes = {
      "ALTER TABLE tasks ADD COLUMN done boolean",
      "ALTER TABLE tasks ALTER COLUMN done SET DEFAULT false",
      "COMMENT ON COLUMN tasks.title IS 'what to do'",
      "REVOKE SELECT ON tasks FROM reader",
      "ALTER SEQUENCE loose_seq OWNED BY tasks.id",
      "DROP INDEX tasks_title_idx",
      "ALTER DATABASE app SET work_mem = '8MB'",
      "ALTER TABLE tasks OWNER TO reader",
      "ALTER ROLE reader RENAME TO reader2",
      "CREATE TYPE mood AS ENUM ('ok')",
      "ALTER TYPE mood ADD VALUE 'sad'",
      "CREATE FUNCTION one() RETURNS int LANGUAGE sql AS 'SELECT 1'",
      "CREATE OR REPLACE FUNCTION one() RETURNS int LANGUAGE sql AS 'SELECT 2'",
      "ALTER TABLE tasks DROP COLUMN done",
  };
  std::string before = settle();
  for (const auto& sql : changes) {
    SCOPED_TRACE(sql);
    pg().exec("app", sql);
    auto s = status();
    EXPECT_FALSE(s.remembered);
    EXPECT_NE(s.fingerprint, before);
    EXPECT_EQ(s.fingerprint, fresh());
    before = settle();
  }
  pg().exec("app", "ALTER TABLE tasks OWNER TO postgres; DROP OWNED BY reader2; DROP ROLE reader2");
}

// What does not change the schema keeps it remembered: rows written, VACUUM and ANALYZE
// (in-place updates of pg_class).
TEST_F(FingerprintCache, DataWritesVacuumAndAnalyzeKeepItRemembered) {
  std::string fp = settle();
  pg().exec("app", "INSERT INTO tasks (title) SELECT 'more ' || g FROM generate_series(1, 1000) g");
  pg().exec("app", "VACUUM ANALYZE tasks");
  auto s = status();
  EXPECT_TRUE(s.remembered);
  EXPECT_EQ(s.fingerprint, fp);
  EXPECT_EQ(fp, fresh());
}

// A change, then its undo (a table created and dropped): the signature is as before, and so is
// the schema: what is shown is the fingerprint of the schema as it is.
TEST_F(FingerprintCache, AChangeAndItsUndoShowTheSchemaAsItIs) {
  std::string fp = settle();
  pg().exec("app", "CREATE TABLE scratch (id int)");
  auto during = status();
  EXPECT_FALSE(during.remembered);
  EXPECT_NE(during.fingerprint, fp);
  pg().exec("app", "DROP TABLE scratch");
  auto after = status();
  EXPECT_EQ(after.fingerprint, fp);
  EXPECT_EQ(after.fingerprint, fresh());
}

// A damaged or foreign file, a planted entry under another signature, a state directory that
// cannot be written: status computes the fingerprint, exits 0, and never shows a planted value.
TEST_F(FingerprintCache, DamagedPlantedOrUnwritableCacheNeverChangesWhatIsShown) {
  std::string fp = settle();
  std::string file = cache_file();
  std::string planted(64, 'a');
  for (const std::string& text :
       {std::string("garbage\n"), std::string(""), "ferry fingerprint cache 1\nnot the signature\n" + planted + "\n1\n",
        "ferry fingerprint cache 1\nx\n" + std::string(64, 'Z') + "\n1\n"}) {
    std::ofstream(file, std::ios::trunc) << text;
    auto s = status();
    EXPECT_FALSE(s.remembered) << text;
    EXPECT_EQ(s.fingerprint, fp) << text;
  }
  // A state directory that is a file: nothing can be remembered, status still answers.
  std::string not_a_dir = project.path("state-file");
  std::ofstream(not_a_dir) << "x";
  for (int i = 0; i < 3; ++i) {
    auto s = status({"--state-dir", not_a_dir});
    EXPECT_FALSE(s.remembered);
    EXPECT_EQ(s.fingerprint, fp);
  }
}

}  // namespace
