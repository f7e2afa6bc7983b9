// `ferry status` takes the schema fingerprint it remembered in ferry.fingerprints when the
// catalogs' stamp (every catalog row version, the role names, the settings) is the one it was
// computed at; these tests attack that promise: after every kind of change a user makes, the
// fingerprint status shows is the one the description gives now. Real PostgreSQL, the real
// ferry binary.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "db/catalog_stamp.hpp"
#include "db/introspect.hpp"
#include "support/app_fixture.hpp"

using namespace ferry::test;
using nlohmann::json;

namespace {

class CatalogStamp : public AppTest<CatalogStamp> {
 protected:
  void SetUp() override {
    AppTest::SetUp();
    project.env("dev", pg(), "app");
    project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - migrate\n");
    project.migration("0001_notes", "CREATE TABLE notes (id bigserial PRIMARY KEY, body text);", "DROP TABLE notes;");
    ASSERT_EQ(project.ferry({"run", "promote"}).code, 0);
  }
  // The fingerprint `ferry status` shows.
  std::string status_fingerprint() {
    auto st = project.ferry({"status", "--env", "dev", "--json"});
    EXPECT_EQ(st.code, 0) << st.all();
    return json::parse(st.out)[0]["fingerprint"].get<std::string>();
  }
  // The fingerprint computed now, from the description.
  std::string fingerprint_now() { return ferry::db::schema_fingerprint(*pg().connect("app")); }
  std::string remembered() { return q("SELECT count(*) FROM ferry.fingerprints"); }
  // dev.yaml connects as `user` from now on.
  void connect_as(const std::string& user) {
    std::string y = project.read("environments/dev.yaml");
    y.replace(y.find("user: postgres"), 14, "user: " + user);
    project.write("environments/dev.yaml", y);
  }
  // A role of the cluster, made once for every test (roles outlive the test's database).
  void make_role(const std::string& name, const std::string& options) {
    pg().exec("postgres", "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '" + name +
                              "') THEN CREATE ROLE " + name + " " + options + "; END IF; END $$");
  }
  // A login role that may read the ledger and keep pairs, nothing more (no superuser).
  void make_reader() {
    make_role("stamp_reader", "LOGIN");
    pg().exec("app",
              "GRANT USAGE ON SCHEMA ferry TO stamp_reader; GRANT SELECT ON ALL TABLES IN SCHEMA ferry TO "
              "stamp_reader; GRANT INSERT, DELETE ON ferry.fingerprints TO stamp_reader");
  }
};

TEST_F(CatalogStamp, TheStampedCatalogsAreEveryCatalogOfTheServer) {
  auto conn = pg().connect("app");
  auto r = conn->exec(
      "SELECT relname FROM pg_class WHERE relnamespace = 'pg_catalog'::regnamespace AND relkind = 'r' "
      "AND NOT relisshared");
  std::set<std::string> server;
  for (int i = 0; i < r.rows(); ++i) server.insert(r.text(i, 0));
  std::set<std::string> known;
  for (auto p = ferry::db::stamped_catalogs(conn->server_version()); *p; ++p) known.insert(*p);
  for (auto p = ferry::db::unstamped_catalogs(); *p; ++p) EXPECT_TRUE(known.insert(*p).second) << *p;
  EXPECT_EQ(server, known);
  auto stamp = ferry::db::catalog_stamp(*conn);
  ASSERT_TRUE(stamp.stamp.has_value());
  EXPECT_EQ(stamp.stamp->size(), 64u);
  EXPECT_TRUE(stamp.cache_exists);  // made by the run's ledger
  EXPECT_EQ(ferry::db::catalog_stamp(*conn).stamp, stamp.stamp);  // reading changes nothing
}

TEST_F(CatalogStamp, StatusRemembersTheFingerprintAndShowsTheRightOneAfterEveryKindOfChange) {
  pg().exec("postgres",
            "DROP ROLE IF EXISTS stamp_owner; DROP ROLE IF EXISTS stamp_owner_renamed; CREATE ROLE stamp_owner;");
  pg().exec("app",
            "CREATE TYPE mood AS ENUM ('sad', 'ok'); CREATE TABLE owned (id int); ALTER TABLE owned OWNER TO "
            "stamp_owner; CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS 'SELECT 42'; "
            "CREATE VIEW open_tasks AS SELECT id FROM tasks WHERE id > 10;");
  std::string before = status_fingerprint();
  EXPECT_EQ(before, fingerprint_now());
  EXPECT_EQ(remembered(), "1");
  EXPECT_EQ(status_fingerprint(), before);  // taken from ferry.fingerprints
  EXPECT_EQ(remembered(), "1");
  const char* changes[] = {
      "ALTER TABLE tasks ADD COLUMN done boolean",
      "ALTER TABLE tasks RENAME COLUMN done TO finished",
      "ALTER TABLE tasks ALTER COLUMN finished SET DEFAULT false",
      "CREATE INDEX tasks_title_idx ON tasks (title)",
      "COMMENT ON TABLE tasks IS 'what is left to do'",
      "COMMENT ON TABLE tasks IS NULL",
      "GRANT SELECT ON tasks TO PUBLIC",
      "ALTER TYPE mood ADD VALUE 'happy'",
      "CREATE OR REPLACE FUNCTION answer() RETURNS int LANGUAGE sql AS 'SELECT 43'",
      "CREATE OR REPLACE VIEW open_tasks AS SELECT id FROM tasks WHERE id > 20",
      "ALTER SEQUENCE tasks_id_seq INCREMENT BY 2",
      "ALTER DATABASE app SET work_mem = '8MB'",
      "ALTER ROLE stamp_owner RENAME TO stamp_owner_renamed",  // a shared catalog: owner= changes
      "ALTER TABLE tasks DROP COLUMN finished",
  };
  std::string last = before;
  for (const char* change : changes) {
    pg().exec(change == std::string("ALTER ROLE stamp_owner RENAME TO stamp_owner_renamed") ? "postgres" : "app",
              change);
    std::string now = fingerprint_now();
    EXPECT_NE(now, last) << change;
    EXPECT_EQ(status_fingerprint(), now) << change;
    EXPECT_EQ(status_fingerprint(), now) << change << " (remembered)";
    last = now;
  }
  // One pair per state, but removing the comment brought back the very catalog rows of the state
  // before it (its row deleted, nothing else touched): that state's pair was served again.
  EXPECT_EQ(remembered(), std::to_string(std::size(changes)));
  pg().exec("app", "DROP TABLE owned");
  pg().exec("postgres", "DROP ROLE stamp_owner_renamed");
}

TEST_F(CatalogStamp, ASessionThatMayNotWriteStillShowsTheFingerprint) {
  pg().exec("app", "ALTER DATABASE app SET default_transaction_read_only = on");
  std::string fp = status_fingerprint();
  EXPECT_EQ(fp, fingerprint_now());
  EXPECT_EQ(remembered(), "0");
  EXPECT_EQ(status_fingerprint(), fp);
}

TEST_F(CatalogStamp, ALedgerFromBeforeTheTableIsServedAndTheNextRunAddsIt) {
  pg().exec("app", "DROP TABLE ferry.fingerprints");
  std::string fp = status_fingerprint();
  EXPECT_EQ(fp, fingerprint_now());
  EXPECT_EQ(q("SELECT to_regclass('ferry.fingerprints') IS NULL"), "t");
  ASSERT_EQ(project.ferry({"run", "promote"}).code, 0);
  EXPECT_EQ(q("SELECT to_regclass('ferry.fingerprints') IS NULL"), "f");
  EXPECT_EQ(status_fingerprint(), fingerprint_now());
  EXPECT_EQ(remembered(), "1");
}

TEST_F(CatalogStamp, ARememberedPairIsTrustedLikeTheLedgerAndOnlyWhileTheCatalogsAreUnchanged) {
  std::string fp = status_fingerprint();
  // A planted pair whose stamp is not the catalogs' (any change moves the stamp away).
  pg().exec("app", "UPDATE ferry.fingerprints SET fingerprint = repeat('0', 64)");
  EXPECT_EQ(status_fingerprint(), std::string(64, '0'));  // the pair is trusted while it matches
  pg().exec("app", "ALTER TABLE tasks ADD COLUMN note text");
  EXPECT_EQ(status_fingerprint(), fingerprint_now());
  EXPECT_NE(fingerprint_now(), fp);
}

// pg_user_mapping is readable by superusers only: a plain role gets the stamp without it (the
// fingerprint never reads user mappings) and the pair is kept.
TEST_F(CatalogStamp, ARoleThatIsNotASuperuserGetsTheShortcut) {
  make_reader();
  connect_as("stamp_reader");
  std::string fp = status_fingerprint();
  EXPECT_EQ(fp, ferry::db::schema_fingerprint(*pg().connect("app", "stamp_reader")));
  EXPECT_EQ(remembered(), "1");
  EXPECT_EQ(status_fingerprint(), fp);
  pg().exec("app", "ALTER TABLE tasks ADD COLUMN note text");
  EXPECT_EQ(status_fingerprint(), ferry::db::schema_fingerprint(*pg().connect("app", "stamp_reader")));
}

// A type prints unqualified only where its schema is on the search path and the role may use
// it: the same catalog rows describe differently for another role, and for the same role once it
// joins a group (pg_auth_members, a catalog shared by every database). Each status shows the
// fingerprint its own session describes.
TEST_F(CatalogStamp, WhoAsksAndWhatTheRoleMayUseAreInTheStamp) {
  make_reader();
  make_role("stamp_team", "NOLOGIN");
  pg().exec("postgres", "REVOKE stamp_team FROM stamp_reader");
  pg().exec("app",
            "CREATE SCHEMA team; CREATE TYPE team.level AS ENUM ('low', 'high'); GRANT USAGE ON SCHEMA team TO "
            "stamp_team; ALTER TABLE tasks ADD COLUMN level team.level; "
            "ALTER ROLE stamp_reader IN DATABASE app SET search_path = team, public");
  std::string as_postgres = status_fingerprint();
  EXPECT_EQ(as_postgres, fingerprint_now());
  connect_as("stamp_reader");
  auto reader_now = [&] { return ferry::db::schema_fingerprint(*pg().connect("app", "stamp_reader")); };
  std::string outsider = status_fingerprint();
  EXPECT_EQ(outsider, reader_now());
  EXPECT_EQ(status_fingerprint(), outsider);  // remembered
  pg().exec("postgres", "GRANT stamp_team TO stamp_reader");
  std::string member = reader_now();
  EXPECT_NE(member, outsider);  // "team.level" became "level"
  EXPECT_EQ(status_fingerprint(), member);
  EXPECT_EQ(status_fingerprint(), member);
  pg().exec("postgres", "REVOKE stamp_team FROM stamp_reader");
  EXPECT_EQ(status_fingerprint(), outsider);
}

// CREATE DATABASE ... TEMPLATE copies the catalog rows as they are (the same ctid and xmin) and
// ferry.fingerprints with them, but not the database's settings: a copy renamed into the
// original's place is described as it is, not as the original was.
TEST_F(CatalogStamp, ACopyOfTheDatabaseRenamedIntoItsPlaceIsDescribedAsItIs) {
  pg().exec("app", "ALTER DATABASE app SET work_mem = '8MB'");
  std::string original = status_fingerprint();
  EXPECT_EQ(status_fingerprint(), original);  // remembered
  for (const char* sql : {"DROP DATABASE IF EXISTS app_old WITH (FORCE)", "ALTER DATABASE app RENAME TO app_old",
                          "CREATE DATABASE app TEMPLATE app_old"})
    pg().exec("postgres", sql);
  EXPECT_EQ(q("SELECT count(*) FROM ferry.fingerprints"), "1");  // the original's pair came along
  std::string copy = fingerprint_now();
  EXPECT_NE(copy, original);  // no "database setting * work_mem=8MB" line
  EXPECT_EQ(status_fingerprint(), copy);
  pg().exec("postgres", "DROP DATABASE app_old WITH (FORCE)");
}

// A ledger made before ferry.fingerprints, run by a role that may use ferry's tables but not
// create in its schema: the run goes on without the table, and status computes the fingerprint.
TEST_F(CatalogStamp, ARoleThatMayNotCreateTheTableStillRuns) {
  pg().exec("app", "DROP TABLE ferry.fingerprints");
  make_role("stamp_runner", "LOGIN");
  pg().exec("app",
            "GRANT CREATE ON SCHEMA public TO stamp_runner; GRANT SELECT ON ALL TABLES IN SCHEMA public TO stamp_runner; "
            "GRANT USAGE ON SCHEMA ferry TO stamp_runner; "
            "GRANT ALL ON ALL TABLES IN SCHEMA ferry TO stamp_runner; "
            "GRANT ALL ON ALL SEQUENCES IN SCHEMA ferry TO stamp_runner");
  connect_as("stamp_runner");
  project.migration("0002_tags", "CREATE TABLE tags (id int);", "DROP TABLE tags;");
  auto r = project.ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT to_regclass('ferry.fingerprints') IS NULL"), "t");
  EXPECT_EQ(q("SELECT to_regclass('public.tags') IS NOT NULL"), "t");
  EXPECT_EQ(status_fingerprint(), ferry::db::schema_fingerprint(*pg().connect("app", "stamp_runner")));
  pg().exec("app", "DROP TABLE tags");
}

}  // namespace
