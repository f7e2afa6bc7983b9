// Backups and restore under attack: failing producers, shared backup directories, planted and
// ill-typed sidecars, large objects, corrupt files, pg_dump errors. Real PostgreSQL, the real
// ferry binary, real files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/text.hpp"
#include "support/fixtures.hpp"
#include "transport/transport.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using nlohmann::json;

namespace {

const char* k_schema =
    "CREATE TABLE tasks (id bigserial PRIMARY KEY, title text NOT NULL);"
    "INSERT INTO tasks (title) SELECT 'task ' || g FROM generate_series(1, 500) g;";

class BackupSafety : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().create_db("app");
    pg().exec("app", k_schema);
    backups = temp_dir("ferry-backup-safety");
    dir = backups + "/dev";
    write_env("dev", "app");
  }
  void TearDown() override { fs::remove_all(backups); }
  void write_env(const std::string& name, const std::string& db, const std::string& backup_extra = "",
                 const std::string& dir_override = "") {
    project.env(name, pg(), db, "backup:\n  dir: " + (dir_override.empty() ? dir : dir_override) + "\n" + backup_extra);
  }
  std::string q(const std::string& sql, const std::string& db = "app") { return pg().value(db, sql); }
  static void sh(const std::string& script) {
    ferry::transport::LocalTransport t;
    auto r = t.run(ferry::transport::Command::shell(script));
    ASSERT_TRUE(r.ok()) << script << ": " << r.err;
  }
  json list(const std::string& env = "dev") { return json::parse(project.ferry({"backups", env, "--json"}).out); }
  // Takes a backup and returns its sidecar.
  json take(const std::string& env = "dev") {
    auto r = project.ferry({"backup", env});
    EXPECT_EQ(r.code, 0) << r.all();
    auto l = list(env);
    EXPECT_FALSE(l.empty());
    return l.empty() ? json::object() : l[0];
  }
  // Replaces a backup's file by `bytes` and edits its sidecar's sha256 to match.
  void replace_file_keeping_sha(const json& b, const std::string& bytes) {
    std::string file = b["file"];
    { std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes; }
    std::string side = dir + "/" + b["id"].get<std::string>() + ".json";
    auto j = json::parse(ferry::read_file(side));
    j["sha256"] = ferry::sha256_hex(bytes);
    std::ofstream(side, std::ios::trunc) << j.dump(2);
  }
  // The dump of `b` cut after `keep` bytes of pg_dump's output, compressed again: pg_restore
  // prints the schema, then fails reading the data.
  std::string truncated_dump(const json& b, size_t keep) {
    std::string out = backups + "/cut.zst";
    sh("zstd -q -dc -- '" + b["file"].get<std::string>() + "' | head -c " + std::to_string(keep) + " | zstd -q -c > '" +
       out + "'");
    return ferry::read_file(out);
  }
  void plant_sidecar(const std::string& id, json j) {
    j["id"] = id;
    std::ofstream(dir + "/" + id + ".json", std::ios::trunc) << j.dump(2);
  }

  Project project;
  std::string backups;
  std::string dir;
};

// Item 1: the DROP of the restore must not commit when pg_restore or zstd fails.
TEST_F(BackupSafety, AFailingProducerCommitsNothingAndEveryRowStays) {
  auto b = take();
  pg().exec("app", "CREATE TABLE made_after (id int); INSERT INTO made_after VALUES (7)");
  replace_file_keeping_sha(b, truncated_dump(b, 3000));
  auto r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "the database is as it was before the restore")) << r.out;
  EXPECT_FALSE(contains(r.all(), "restored dev-")) << r.out;
  EXPECT_TRUE(contains(r.out, "reading the backup failed")) << r.out;
  EXPECT_TRUE(contains(r.out, "pg_restore")) << r.out;
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
  EXPECT_EQ(q("SELECT id FROM made_after"), "7");
  // Garbage that zstd cannot read at all.
  replace_file_keeping_sha(b, std::string(5000, 'x'));
  r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "reading the backup failed")) << r.out;
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
  EXPECT_EQ(q("SELECT id FROM made_after"), "7");
  auto st = json::parse(project.ferry({"history", "dev", "--json"}).out);
  EXPECT_EQ(st["runs"][0]["outcome"], "failed");
}

TEST_F(BackupSafety, AFailingProducerOnTheStreamedPathCommitsNothing) {
  // pg_dump and psql run on another connection ("here"); the dump streams through ferry.
  project.env("dev", pg(), "app",
              "  tools: here\nconnections:\n  here:\n    type: local\nbackup:\n  dir: " + dir + "\n");
  auto b = take();
  pg().exec("app", "CREATE TABLE made_after (id int)");
  replace_file_keeping_sha(b, truncated_dump(b, 3000));
  auto r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "the database is as it was before the restore")) << r.out;
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
  EXPECT_EQ(q("SELECT to_regclass('made_after') IS NOT NULL"), "t");
  // and a good one still restores on that path
  auto good = take();
  pg().exec("app", "DELETE FROM tasks WHERE id > 100");
  r = project.ferry({"rollback", "dev", "--backup", good["id"]});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
}

// Item 2: a backup belongs to one environment, even when backup.dir is shared.
TEST_F(BackupSafety, EnvironmentsSharingABackupDirectoryNeverSeeEachOthersBackups) {
  pg().create_db("staging");
  pg().exec("staging", k_schema);
  pg().exec("staging", "CREATE TABLE only_in_staging (id int)");
  write_env("dev", "app", "  keep: 1\n");
  write_env("staging", "staging");
  auto s = take("staging");
  EXPECT_EQ(list("dev").size(), 0u);
  // A backup that is not this environment's is a bad argument: refused before anything (64).
  auto r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 64) << r.all();
  EXPECT_TRUE(contains(r.all(), "no verified backup 'latest' for 'dev'")) << r.all();
  r = project.ferry({"rollback", "dev", "--backup", s["id"]});
  EXPECT_EQ(r.code, 64) << r.all();
  EXPECT_TRUE(contains(r.all(), "is not a backup of environment 'dev'")) << r.all();
  EXPECT_EQ(q("SELECT to_regclass('only_in_staging') IS NULL"), "t");
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
  // dev's retention (keep: 1) counts and removes only dev's backups
  take();
  auto d = take();
  EXPECT_EQ(list("dev").size(), 1u);
  EXPECT_EQ(list("staging").size(), 1u);
  EXPECT_TRUE(fs::exists(s["file"].get<std::string>()));
  r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "equal to backup " + d["id"].get<std::string>())) << r.out;
  EXPECT_EQ(q("SELECT to_regclass('only_in_staging') IS NULL"), "t");
}

// Item 3: paths come from backup.dir and a validated ID, never from a sidecar's `file`; the
// newest backup is the one whose ID says so.
TEST_F(BackupSafety, PlantedSidecarsNeitherDeleteOutsideBackupDirNorBecomeLatest) {
  std::string victim = backups + "/victim";
  fs::create_directories(victim);
  sh("echo precious > '" + victim + "/data'");
  write_env("dev", "app", "  keep: 1\n");
  auto first = take();
  json planted = first;
  planted["file"] = victim;
  planted["time"] = "2000-01-01T00:00:00.000Z";
  planted["environment"] = "dev";
  plant_sidecar("dev-20000101T000000Z-dead", planted);  // old: retention removes it
  json future = first;
  future["time"] = "2999-12-31T23:59:59.000Z";
  plant_sidecar("dev-29991231T235959Z-beef", future);  // dated in the future: skipped
  json escaping = first;
  escaping["id"] = "dev-20000101T000000Z-../../victim";  // not an ID: skipped
  std::ofstream(dir + "/escaping.json") << escaping.dump(2);
  auto second = take();
  EXPECT_TRUE(fs::exists(victim + "/data"));
  EXPECT_FALSE(fs::exists(dir + "/dev-20000101T000000Z-dead.json"));
  auto r = project.ferry({"backup", "dev"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(fs::exists(victim + "/data"));
  auto l = list();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_NE(l[0]["id"], second["id"]);
  EXPECT_EQ(l[0]["file"].get<std::string>().rfind(dir + "/dev-", 0), 0u);
  auto warn = project.ferry({"backups", "dev"});
  EXPECT_TRUE(contains(warn.err,
                       "dev-29991231T235959Z-beef.json: its id 'dev-29991231T235959Z-beef' is dated in "
                       "the future"))
      << warn.err;
  // a sidecar whose `time` lies is not newer than a later ID
  json lying = l[0];
  std::string newest = l[0]["id"];
  take();
  auto l2 = list();
  ASSERT_EQ(l2.size(), 1u);
  lying["time"] = "2999-01-01T00:00:00.000Z";
  std::string older = "dev-20010101T000000Z-0001";
  lying["file"] = "/etc";
  plant_sidecar(older, lying);
  EXPECT_EQ(list()[0]["id"], l2[0]["id"]);
  EXPECT_EQ(list()[1]["file"], dir + "/" + older + ".dump.zst");
}

// Item 5a: large objects are dropped and replayed inside the restore transaction.
TEST_F(BackupSafety, LargeObjectsAreRestoredWithTheirContent) {
  std::string oid = q("SELECT lo_from_bytea(0, 'the large object as it was')");
  take();
  pg().exec("app", "SELECT lo_put(" + oid + ", 0, 'CHANGED'); SELECT lo_from_bytea(0, 'made after the backup')");
  auto r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT convert_from(lo_get(" + oid + "), 'UTF8')"), "the large object as it was");
  EXPECT_EQ(q("SELECT count(*) FROM pg_largeobject_metadata"), "1");
  // a failed restore leaves the large objects too
  pg().exec("app", "SELECT lo_put(" + oid + ", 0, 'CHANGED')");
  auto b = list()[0];
  replace_file_keeping_sha(b, truncated_dump(b, 1500));
  r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_EQ(q("SELECT convert_from(lo_get(" + oid + "), 'UTF8')"), "CHANGEDge object as it was");
}

// Item 12: a corrupt backup is refused before anything changes: exit 1, naming a good one.
TEST_F(BackupSafety, ACorruptBackupIsRefusedWithExit1AndAGoodOneIsNamed) {
  auto good = take();
  auto bad = take();
  sh("printf 'rot' >> '" + bad["file"].get<std::string>() + "'");
  pg().exec("app", "DELETE FROM tasks WHERE id > 10");
  auto r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.all(), "does not match its sha256")) << r.all();
  EXPECT_TRUE(contains(r.all(), "nothing was changed")) << r.all();
  EXPECT_TRUE(contains(r.all(), "a good backup of dev (its sha256 matches): " + good["id"].get<std::string>()))
      << r.all();
  EXPECT_FALSE(contains(r.all(), "a human must act")) << r.out;
  EXPECT_FALSE(contains(r.all(), "restore by hand")) << r.out;
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "10");
  r = project.ferry({"rollback", "dev", "--backup", good["id"]});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
}

// Item 13: an ill-typed or unreadable sidecar is skipped with a warning naming it.
TEST_F(BackupSafety, AnIllTypedSidecarIsSkippedWithAWarningAndNothingCrashes) {
  write_env("dev", "app", "  keep: 1\n");
  auto b = take();
  json big = b;
  big["size"] = "big";
  plant_sidecar("dev-20250101T000000Z-0bad", big);
  sh("printf '{not json' > '" + dir + "/dev-20250101T000000Z-0bae.json'");
  auto r = project.ferry({"backups", "dev"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.err, "skipped backup sidecar " + dir +
                                  "/dev-20250101T000000Z-0bad.json: a field has the "
                                  "wrong type"))
      << r.err;
  EXPECT_TRUE(contains(r.err, dir + "/dev-20250101T000000Z-0bae.json")) << r.err;
  EXPECT_TRUE(contains(r.out, b["id"].get<std::string>())) << r.out;
  EXPECT_FALSE(contains(r.all(), "internal error")) << r.all();
  pg().exec("app", "DELETE FROM tasks");
  r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.all(), "dev-20250101T000000Z-0bad.json")) << r.all();
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
  project.migration("0001_a", "CREATE TABLE a (id int);", "DROP TABLE a;");
  project.write("playbooks/promote.yaml", "stages: [dev]\nsteps: [backup, migrate]\n");
  r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_FALSE(contains(r.all(), "internal error")) << r.all();
  EXPECT_EQ(q("SELECT to_regclass('a') IS NOT NULL"), "t");
  // keep: 1 ran: the newest unpinned backup, plus the run's pre-change backup (pinned automatically).
  EXPECT_EQ(list().size(), 2u);
}

// Item 21a: pg_dump's own error is in the message, not just its exit status.
TEST_F(BackupSafety, PgDumpFailureSaysWhatPgDumpSaid) {
  pg().exec("app",
            "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'reader') THEN CREATE ROLE reader LOGIN; "
            "END IF; END$$; GRANT CREATE ON DATABASE app TO reader; GRANT SELECT ON ALL TABLES IN SCHEMA public TO "
            "reader; REVOKE ALL ON SEQUENCE tasks_id_seq FROM reader");
  auto yaml = [&](const std::string& extra) {
    return "database:\n  name: app\n  user: reader\n  host: 127.0.0.1\n  port: " + std::to_string(pg().port()) + "\n" +
           extra + "backup:\n  dir: " + dir + "\n";
  };
  project.write("environments/dev.yaml", yaml(""));
  auto r = project.ferry({"backup", "dev"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out,
                       "pg_dump failed (exit 1): pg_dump: error: query failed: ERROR:  permission denied for "
                       "sequence tasks_id_seq"))
      << r.out;
  // the streamed path (pg_dump on another connection) says it too
  project.write("environments/dev.yaml", yaml("  tools: here\nconnections:\n  here:\n    type: local\n"));
  r = project.ferry({"backup", "dev"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "permission denied for sequence tasks_id_seq")) << r.out;
}

// Own case: a symbolic link planted in backup.dir under a backup's name is never restored
// through (it could point anywhere); nothing changes.
TEST_F(BackupSafety, ASymlinkInBackupDirIsNotRestoredThrough) {
  auto b = take();
  std::string elsewhere = backups + "/elsewhere.dump.zst";
  fs::copy_file(b["file"].get<std::string>(), elsewhere);
  std::string id = "dev-20200101T000000Z-5111";
  fs::create_symlink(elsewhere, dir + "/" + id + ".dump.zst");
  plant_sidecar(id, b);
  pg().exec("app", "CREATE TABLE made_after (id int)");
  auto r = project.ferry({"rollback", "dev", "--backup", id});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.all(), "is a symbolic link")) << r.all();
  EXPECT_EQ(q("SELECT to_regclass('made_after') IS NOT NULL"), "t");
}

// Item 12 in `ferry run`: when the run's own backup is corrupted mid-run, the restore is refused
// (the migration stays: exit 2), and the hints name a good backup, never the corrupt file.
TEST_F(BackupSafety, ARunWhoseBackupWasCorruptedNamesAGoodBackupNotTheCorruptOne) {
  auto good = take();
  project.write("corrupt.sh", "f=$(ls -t '" + dir + "'/*.dump.zst | head -n 1); printf rot >> \"$f\"\n");
  project.migration("0001_a", "CREATE TABLE a (id int);", "DROP TABLE a;");
  project.write("playbooks/promote.yaml",
                "stages: [dev]\nrollback: restore\nsteps:\n  - backup\n  - migrate\n  - run: sh " +
                    project.path("corrupt.sh") + "\n  - verify:\n      sql: [SELECT false]\n");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 2) << r.all();
  auto l = list();
  ASSERT_EQ(l.size(), 2u);
  std::string bad = l[0]["id"];
  ASSERT_NE(bad, good["id"].get<std::string>());
  EXPECT_TRUE(contains(r.out, "does not match its sha256")) << r.out;
  EXPECT_TRUE(contains(r.all(), "ferry rollback dev --backup " + good["id"].get<std::string>())) << r.all();
  EXPECT_FALSE(contains(r.all(), "--backup " + bad)) << r.out;
  EXPECT_FALSE(contains(r.all(), "zstd -dc " + dir + "/" + bad)) << r.out;
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
}

// The restore removes pg_restore's own BEGIN/COMMIT only: data rows and function bodies that
// look like transaction control come back unchanged.
TEST_F(BackupSafety, RowsAndBodiesThatLookLikeTransactionControlSurviveARestore) {
  pg().exec(
      "app",
      "CREATE TABLE lines (n int, t text); INSERT INTO lines VALUES (1, 'BEGIN;'), (2, 'COMMIT;'), (3, '--'), "
      "(4, ''), (5, 'COMMIT;');"
      "CREATE PROCEDURE tick() LANGUAGE plpgsql AS $$\nBEGIN\nINSERT INTO lines VALUES (9, 'x');\nCOMMIT;\nEND\n$$;");
  std::string before = q("SELECT string_agg(n || '=' || t, '|' ORDER BY n) FROM lines");
  std::string body = q("SELECT md5(prosrc) FROM pg_proc WHERE proname = 'tick'");
  take();
  pg().exec("app", "DELETE FROM lines; DROP PROCEDURE tick()");
  auto r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT string_agg(n || '=' || t, '|' ORDER BY n) FROM lines"), before);
  EXPECT_EQ(q("SELECT md5(prosrc) FROM pg_proc WHERE proname = 'tick'"), body);
}

}  // namespace
