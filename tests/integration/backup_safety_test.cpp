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
  EXPECT_TRUE(contains(r.out, "nothing was changed")) << r.out;
  EXPECT_FALSE(contains(r.out, "restored dev-")) << r.out;
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
  EXPECT_TRUE(contains(r.out, "nothing was changed")) << r.out;
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
  EXPECT_EQ(q("SELECT to_regclass('made_after') IS NOT NULL"), "t");
  // and a good one still restores on that path
  auto good = take();
  pg().exec("app", "DELETE FROM tasks WHERE id > 100");
  r = project.ferry({"rollback", "dev", "--backup", good["id"]});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
}

}  // namespace
