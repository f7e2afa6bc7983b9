// Retention by age (backup.keep_days) beside keep, and pinning (`ferry backup pin|unpin`).
// Old backups are real backups whose files and sidecars are renamed to an older valid ID (the
// sidecar's id, file and time edited to match): no test-only code path in ferry.
#include <gtest/gtest.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/text.hpp"
#include "support/fixtures.hpp"

namespace fs = std::filesystem;
using namespace ferry::test;
using nlohmann::json;

namespace {

class Retention : public ::testing::Test {
 protected:
  static PgCluster& pg() {
    static PgCluster cluster;
    return cluster;
  }
  void SetUp() override {
    pg().create_db("app");
    pg().exec("app", "CREATE TABLE tasks (id int PRIMARY KEY); INSERT INTO tasks SELECT generate_series(1, 50);");
    backups = temp_dir("ferry-retention");
    dir = backups + "/dev";
    write_env("");
  }
  void TearDown() override { fs::remove_all(backups); }
  void write_env(const std::string& backup_extra, const std::string& name = "dev", const std::string& db = "app") {
    project.env(name, pg(), db, "backup:\n  dir: " + backups + "/" + name + "\n" + backup_extra);
  }
  json list(const std::string& env = "dev") {
    auto r = project.ferry({"backups", env, "--json"});
    EXPECT_EQ(r.code, 0) << r.all();
    return json::parse(r.out);
  }
  std::set<std::string> ids(const std::string& env = "dev") {
    std::set<std::string> s;
    for (const auto& b : list(env)) s.insert(b["id"].get<std::string>());
    return s;
  }
  std::string take(const std::string& env = "dev") {
    auto r = project.ferry({"backup", env});
    EXPECT_EQ(r.code, 0) << r.all();
    auto l = list(env);
    return l.empty() ? "" : l[0]["id"].get<std::string>();
  }
  // Renames backup `id` (file and sidecar) to an ID `days` old ending in `suffix`, with the
  // sidecar's id, file and time edited to match. Returns the new ID.
  std::string age(const std::string& id, int days, const std::string& suffix) {
    std::time_t t = std::time(nullptr) - static_cast<std::time_t>(days) * 86400;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[32], iso[40];
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    std::strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    std::string new_id = "dev-" + std::string(stamp) + "-" + suffix;
    json j = json::parse(std::ifstream(dir + "/" + id + ".json"));
    std::string file = j["file"];
    std::string new_file = dir + "/" + new_id + file.substr(dir.size() + 1 + id.size());
    fs::rename(file, new_file);
    j["id"] = new_id;
    j["file"] = new_file;
    j["time"] = iso;
    std::ofstream(dir + "/" + new_id + ".json") << j.dump(2);
    fs::remove(dir + "/" + id + ".json");
    return new_id;
  }
  Project project;
  std::string backups, dir;
};

TEST_F(Retention, KeepDaysRemovesOnlyBackupsOlderThanThatManyDays) {
  write_env("  keep_days: 7\n");
  std::string first = take(), second = take();
  std::string old = age(first, 10, "0a0a");
  std::string recent = age(second, 3, "0b0b");
  ASSERT_EQ(ids(), (std::set<std::string>{old, recent}));  // listing prunes nothing
  std::string fresh = take();
  EXPECT_EQ(ids(), (std::set<std::string>{recent, fresh}));
  EXPECT_FALSE(fs::exists(dir + "/" + old + ".json"));
  EXPECT_FALSE(fs::exists(dir + "/" + old + ".dump.zst") || fs::exists(dir + "/" + old + ".dump"));
}

TEST_F(Retention, WithKeepAndKeepDaysABackupGoesOnlyWhenBeyondBoth) {
  write_env("  keep: 3\n  keep_days: 7\n");
  std::string old = age(take(), 10, "0a0a");
  std::string recent = age(take(), 3, "0b0b");
  std::string fresh = take();
  // `old` is older than 7 days but among the newest 3: kept
  EXPECT_EQ(ids(), (std::set<std::string>{old, recent, fresh}));
  write_env("  keep: 1\n  keep_days: 7\n");
  std::string newest = take();
  // beyond keep: 1 are fresh, recent and old; only old is also beyond 7 days
  EXPECT_EQ(ids(), (std::set<std::string>{recent, fresh, newest}));
}

TEST_F(Retention, APinnedBackupSurvivesKeepOneAndGoesOnceUnpinned) {
  write_env("  keep: 1\n");
  std::string pinned = take();
  auto r = project.ferry({"backup", "pin", "dev", pinned});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, pinned + " pinned")) << r.out;
  EXPECT_TRUE(fs::exists(dir + "/" + pinned + ".pin"));
  r = project.ferry({"backup", "pin", "dev", pinned});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "already pinned")) << r.out;
  std::string second = take();
  std::string third = take();
  EXPECT_EQ(ids(), (std::set<std::string>{pinned, third})) << second << " should have been pruned";
  for (const auto& b : list()) EXPECT_EQ(b["pinned"], b["id"] == pinned) << b.dump();
  r = project.ferry({"backups", "dev"});
  EXPECT_TRUE(contains(r.out, pinned)) << r.out;
  EXPECT_TRUE(contains(r.out, "verified  pinned")) << r.out;

  r = project.ferry({"backup", "unpin", "dev", pinned});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, pinned + " unpinned")) << r.out;
  EXPECT_FALSE(fs::exists(dir + "/" + pinned + ".pin"));
  std::string fourth = take();
  EXPECT_EQ(ids(), (std::set<std::string>{fourth}));
}

TEST_F(Retention, ABadKeepDaysIsAUsageErrorAtItsFileLineAndColumn) {
  for (std::string bad : {"-3", "soon", "1.5", "[7]"}) {
    write_env("  keep: 2\n  keep_days: " + bad + "\n");
    auto r = project.ferry({"validate"});
    EXPECT_EQ(r.code, 64) << bad << ": " << r.all();
    EXPECT_TRUE(contains(r.all(), "environments/dev.yaml:10:14: 'keep_days' must be an integer")) << r.all();
    r = project.ferry({"backup", "dev"});
    EXPECT_EQ(r.code, 64) << r.all();
  }
  EXPECT_FALSE(fs::exists(dir));
}

TEST_F(Retention, PinningAnUnknownOrForeignIdIsAUsageError) {
  pg().create_db("staging");
  write_env("", "staging", "staging");
  std::string ours = take();
  std::string theirs = take("staging");
  std::vector<std::pair<std::string, std::string>> cases = {
      {"dev-20000101T000000Z-dead", "no backup 'dev-20000101T000000Z-dead' of 'dev'"},
      {theirs, "'" + theirs + "' is not a backup ID of 'dev'"},
      {"dev-20000101T000000Z-../../x", "is not a backup ID of 'dev'"},
      {"../" + ours, "is not a backup ID of 'dev'"},
  };
  for (const auto& [id, why] : cases)
    for (const char* verb : {"pin", "unpin"}) {
      auto r = project.ferry({"backup", verb, "dev", id});
      EXPECT_EQ(r.code, 64) << verb << " " << id << ": " << r.all();
      EXPECT_TRUE(contains(r.all(), why)) << r.all();
    }
  EXPECT_EQ(project.ferry({"backup", "pin", "dev"}).code, 64);
  EXPECT_EQ(project.ferry({"backup"}).code, 64);
  for (const auto& d : {dir, backups + "/staging"})
    for (const auto& e : fs::directory_iterator(d)) EXPECT_NE(e.path().extension(), ".pin") << e.path();
  EXPECT_FALSE(list("staging")[0]["pinned"].get<bool>());
}

}  // namespace
