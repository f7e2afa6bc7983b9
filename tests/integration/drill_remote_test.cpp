// Restore drills on another server (issue 10, item 7): `backup.drill` in the environment sends
// `ferry backup verify ENV ID --restore` to a second real PostgreSQL cluster, with the drill's
// own role and password; the restore time goes to the sidecar and the metrics file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/fixtures.hpp"
#include "support/metrics.hpp"
#include "transport/transport.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using nlohmann::json;

namespace {

constexpr const char* k_password = "s3cret-pw-$(touch /tmp/pwned)'\"";  // the shared scram template's

class DrillRemote : public ::testing::Test {
 protected:
  // The environment's server (trust) and the drill server (scram: a password is required).
  static PgCluster& main_pg() {
    static PgCluster cluster;
    return cluster;
  }
  static PgCluster& drill_pg() {
    static PgCluster cluster(k_password);
    return cluster;
  }
  void SetUp() override {
    // The environment's role may not create databases: a drill on its own server would fail.
    // The drill server has the roles the dump names (owners), as a drill server must.
    for (auto* pg : {&main_pg(), &drill_pg()})
      pg->exec("postgres",
               "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app_owner') THEN "
               "CREATE ROLE app_owner LOGIN NOCREATEDB NOSUPERUSER; END IF; END$$");
    main_pg().create_db("app", "app_owner");
    auto c = main_pg().connect("app", "app_owner");
    c->exec(
        "CREATE TABLE tasks (id int PRIMARY KEY, title text); INSERT INTO tasks SELECT g, 't' || g FROM "
        "generate_series(1, 700) g; CREATE TABLE tags (name text); INSERT INTO tags VALUES ('a'), ('b');");
    c.reset();
    project.write("drill.pw", std::string(k_password) + "\n");
  }
  void write_env(const std::string& drill) {
    project.write("environments/dev.yaml", "database:\n  name: app\n  user: app_owner\n  host: 127.0.0.1\n  port: " +
                                               std::to_string(main_pg().port()) +
                                               "\nbackup:\n  dir: backups\n  drill:\n" + drill);
  }
  std::string drill_block(const std::string& password_line = "    password_file: drill.pw\n") {
    return "    host: 127.0.0.1\n    port: " + std::to_string(drill_pg().port()) + "\n    user: postgres\n" +
           password_line + "    name_prefix: drl\n";
  }
  json sidecar() {
    for (const auto& e : fs::directory_iterator(project.path("backups")))
      if (e.path().extension() == ".json") return json::parse(std::ifstream(e.path()));
    return nullptr;
  }
  std::string scratch_count(PgCluster& pg) {
    return pg.value("postgres",
                    "SELECT count(*) FROM pg_database WHERE datname LIKE 'drl\\_%' OR datname LIKE "
                    "'ferry\\_drill\\_%'");
  }
  // prometheus_client's parser (Debian's python3): "name{labels}" -> value.
  std::map<std::string, double> parse_metrics(const std::string& path) {
    std::map<std::string, double> out;
    json samples = prometheus_samples(project, path);  // kept alive while items() walks it
    for (auto& [k, v] : samples.items()) out[k] = v.get<double>();
    return out;
  }
  Project project;
};

}  // namespace

TEST_F(DrillRemote, RestoresOnTheDrillServerProvesRecordsTheTimeAndDropsTheScratch) {
  write_env(drill_block());
  auto b = project.ferry({"backup", "dev"});
  ASSERT_EQ(b.code, 0) << b.all();
  std::string id = sidecar()["id"];
  std::string metrics = project.path("ferry.prom");
  std::ofstream(metrics) << "# HELP ferry_run_last_exit_code x\n# TYPE ferry_run_last_exit_code gauge\n"
                            "ferry_run_last_exit_code{environment=\"prod\",playbook=\"p\"} 0\n";

  auto d = project.ferry({"--metrics-file", metrics, "backup", "verify", "dev", id, "--restore"});
  ASSERT_EQ(d.code, 0) << d.all();
  std::string where = "127.0.0.1:" + std::to_string(drill_pg().port());
  EXPECT_TRUE(contains(d.out, "scratch database drl_dev_")) << d.out;
  EXPECT_TRUE(contains(d.out, "on " + where)) << d.out;
  EXPECT_TRUE(contains(d.out, "fingerprint and row counts equal the backup's")) << d.out;
  EXPECT_FALSE(contains(d.all(), k_password)) << d.all();

  auto j = sidecar();
  ASSERT_EQ(j["drills"].size(), 1u) << j.dump();
  EXPECT_EQ(j["drills"][0]["ok"], true);
  EXPECT_EQ(j["drills"][0]["server"], where);
  EXPECT_GT(j["drills"][0]["duration_ms"].get<long long>(), 0);

  auto m = parse_metrics(metrics);
  EXPECT_GT(m["ferry_drill_restore_seconds{environment=dev}"], 0) << project.read("ferry.prom");
  EXPECT_GT(m["ferry_drill_last_success_timestamp{environment=dev}"], 1.7e9);
  EXPECT_EQ(m["ferry_drill_last_ok{environment=dev}"], 1);
  EXPECT_EQ(m["ferry_run_last_exit_code{environment=prod,playbook=p}"], 0);  // kept from before
  EXPECT_TRUE(m.count("ferry_run_last_exit_code{environment=prod,playbook=p}"));

  EXPECT_EQ(scratch_count(drill_pg()), "0");
  EXPECT_EQ(scratch_count(main_pg()), "0");
  EXPECT_EQ(main_pg().value("app", "SELECT count(*) FROM tasks"), "700");
}

TEST_F(DrillRemote, AWrongDrillPasswordFailsCleanlyAndABadKeyIsAUsageError) {
  project.write("wrong.pw", "not-the-password\n");
  write_env(drill_block("    password_file: wrong.pw\n"));
  ASSERT_EQ(project.ferry({"backup", "dev"}).code, 0);
  std::string metrics = project.path("ferry.prom");
  auto d = project.ferry({"--metrics-file", metrics, "backup", "verify", "dev", "latest", "--restore"});
  EXPECT_NE(d.code, 0) << d.all();
  EXPECT_FALSE(contains(d.all(), "not-the-password")) << d.all();
  EXPECT_EQ(scratch_count(drill_pg()), "0");
  EXPECT_EQ(main_pg().value("app", "SELECT count(*) FROM tasks"), "700");

  write_env(drill_block() + "    hots: x\n");
  auto v = project.ferry({"validate"});
  EXPECT_EQ(v.code, 64) << v.all();
  EXPECT_TRUE(contains(v.all(), "environments/dev.yaml:14:5")) << v.all();
}
