// Restore drills (issue 10, item 7): `ferry backup verify ENV [ID] --restore` restores a real
// backup into a scratch database, proves it, records the time in the sidecar, drops the scratch
// database, and never touches the environment's own database.
#include <gtest/gtest.h>

#include <filesystem>
#include <csignal>
#include <fstream>
#include <thread>
#include <nlohmann/json.hpp>

#include "support/fixtures.hpp"

using namespace ferry::test;

namespace {

class Drill : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  std::string value(const std::string& sql, const std::string& db = "app") { return pg().value(db, sql); }
  std::string scratch_databases() {
    return value("SELECT count(*) FROM pg_database WHERE datname LIKE 'ferry\\_drill\\_%'", "postgres");
  }
  // The one sidecar in backups/.
  nlohmann::json sidecar() {
    for (const auto& e : std::filesystem::directory_iterator(project.path("backups")))
      if (e.path().extension() == ".json") {
        std::ifstream in(e.path());
        return nlohmann::json::parse(in);
      }
    return nullptr;
  }
  Project project;
};

TEST_F(Drill, RestoresPagilaIntoAScratchDatabaseProvesAndRecordsTheTime) {
  pg().load_pagila("app");
  project.env("dev", pg(), "app", "backup:\n  dir: backups\n");
  auto b = project.ferry({"backup", "dev"});
  ASSERT_EQ(b.code, 0) << b.all();
  pg().exec("app", "CREATE TABLE drill_marker (note text); INSERT INTO drill_marker VALUES ('after the backup')");
  std::string films = value("SELECT count(*) FROM film"), rentals = value("SELECT count(*) FROM rental");

  auto plain = project.ferry({"backup", "verify", "dev"});
  EXPECT_EQ(plain.code, 0) << plain.all();
  EXPECT_NE(plain.out.find("pg_restore can read it"), std::string::npos) << plain.all();

  auto d = project.ferry({"backup", "verify", "dev", "latest", "--restore"});
  ASSERT_EQ(d.code, 0) << d.all();
  EXPECT_NE(d.out.find("(RTO); fingerprint and row counts equal the backup's"), std::string::npos) << d.all();
  auto j = sidecar();
  ASSERT_TRUE(j.contains("drills")) << j.dump();
  ASSERT_EQ(j["drills"].size(), 1u);
  EXPECT_EQ(j["drills"][0]["ok"], true);
  EXPECT_GT(j["drills"][0]["duration_ms"].get<long long>(), 0);
  EXPECT_FALSE(j["drills"][0]["time"].get<std::string>().empty());
  // The real database: untouched (the marker made after the backup is still there).
  EXPECT_EQ(value("SELECT note FROM drill_marker"), "after the backup");
  EXPECT_EQ(value("SELECT count(*) FROM film"), films);
  EXPECT_EQ(value("SELECT count(*) FROM rental"), rentals);
  EXPECT_EQ(scratch_databases(), "0");
  // `backups` still reads the sidecar with its drills.
  auto list = project.ferry({"backups", "dev"});
  EXPECT_EQ(list.code, 0) << list.all();
  EXPECT_NE(list.out.find(j["id"].get<std::string>()), std::string::npos) << list.all();
}

TEST_F(Drill, ACorruptBackupFailsWithExit1AndLeavesNoScratchDatabase) {
  pg().create_db("app");
  pg().exec("app", "CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 100)");
  project.env("dev", pg(), "app", "backup:\n  dir: backups\n");
  ASSERT_EQ(project.ferry({"backup", "dev"}).code, 0);
  std::string id = sidecar()["id"];
  for (const auto& e : std::filesystem::directory_iterator(project.path("backups")))
    if (e.path().extension() != ".json") {
      std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(40);
      f.write("garbage!", 8);
    }
  auto plain = project.ferry({"backup", "verify", "dev", id});
  EXPECT_EQ(plain.code, 1) << plain.all();
  auto d = project.ferry({"backup", "verify", "dev", id, "--restore"});
  EXPECT_EQ(d.code, 1) << d.all();
  EXPECT_NE(d.err.find("restore drill of " + id + " failed"), std::string::npos) << d.all();
  EXPECT_EQ(scratch_databases(), "0");
  EXPECT_EQ(value("SELECT count(*) FROM t"), "100");
}

TEST_F(Drill, ARoleWithoutCreatedbGetsExit1AndAPlainMessage) {
  pg().exec("postgres",
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'drill_owner') THEN CREATE ROLE "
            "drill_owner LOGIN NOCREATEDB; END IF; END $$");
  pg().create_db("app", "drill_owner");
  pg().connect("app", "drill_owner")->exec("CREATE TABLE notes (id int); INSERT INTO notes VALUES (1), (2)");
  project.env("dev", pg(), "app", "backup:\n  dir: backups\n");
  std::string y = project.read("environments/dev.yaml");
  y.replace(y.find("user: postgres"), 14, "user: drill_owner");
  project.write("environments/dev.yaml", y);
  ASSERT_EQ(project.ferry({"backup", "dev"}).code, 0);
  auto d = project.ferry({"backup", "verify", "dev", "--restore"});
  EXPECT_EQ(d.code, 1) << d.all();
  EXPECT_NE(d.err.find("a restore drill needs CREATEDB: role 'drill_owner'"), std::string::npos) << d.all();
  EXPECT_EQ(scratch_databases(), "0");
  EXPECT_EQ(value("SELECT count(*) FROM notes"), "2");
}

TEST_F(Drill, SigtermDuringTheDrillDropsTheScratchDatabase) {
  pg().load_pagila("app");
  project.env("dev", pg(), "app", "backup:\n  dir: backups\n");
  ASSERT_EQ(project.ferry({"backup", "dev"}).code, 0);
  Background drill({ferry_binary(), "-C", project.root(), "backup", "verify", "dev", "--restore"});
  // The scratch database comes after the file's checksum: 4 s was not always enough under load.
  ASSERT_TRUE(wait_until([&] { return scratch_databases() != "0"; }));
  ASSERT_EQ(scratch_databases(), "1");
  drill.signal(SIGTERM);
  auto d = drill.wait();
  EXPECT_EQ(d.code, 1) << d.all();
  EXPECT_NE(d.err.find("interrupted by SIGTERM"), std::string::npos) << d.all();
  EXPECT_EQ(scratch_databases(), "0");
  EXPECT_FALSE(sidecar().contains("drills"));
}

}  // namespace
