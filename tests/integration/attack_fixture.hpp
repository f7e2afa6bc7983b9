// The fixture of the Attack suite (attack_test.cpp, attack_backups_test.cpp): one real
// PostgreSQL cluster per test process, a project whose `dev` environment keeps backups in a
// temp directory, and a way to find the processes ferry started.
#pragma once
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/text.hpp"
#include "support/app_fixture.hpp"
#include "support/fixtures.hpp"
#include "transport/transport.hpp"

namespace ferry::test {

namespace fs = std::filesystem;
using nlohmann::json;

class Attack : public AppTest<Attack> {
 protected:
  Attack() : AppTest({500, "ferry-attack"}) {}
  void SetUp() override {
    AppTest::SetUp();
    dir = backups + "/dev";
    project.env("dev", pg(), "app", "backup:\n  dir: " + dir + "\n");
  }
  json list(const std::string& env = "dev") { return json::parse(project.ferry({"backups", env, "--json"}).out); }
  void backup(const std::string& env = "dev") {
    auto r = project.ferry({"backup", env});
    ASSERT_EQ(r.code, 0) << r.all();
  }

  std::string dir;
};

// The pids of `root`'s descendants whose command name is `comm`.
inline std::vector<pid_t> descendants_named(pid_t root, const std::string& comm) {
  std::map<pid_t, pid_t> parent;
  std::map<pid_t, std::string> name;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string f = e.path().filename();
    if (f.empty() || !std::isdigit(static_cast<unsigned char>(f[0]))) continue;
    std::ifstream in(e.path() / "stat");
    std::string line;
    if (!std::getline(in, line)) continue;
    auto open = line.find('('), close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    pid_t pid = std::stoi(f);
    name[pid] = line.substr(open + 1, close - open - 1);
    std::istringstream rest(line.substr(close + 2));
    char state;
    pid_t ppid;
    rest >> state >> ppid;
    parent[pid] = ppid;
  }
  std::vector<pid_t> out;
  for (const auto& [pid, n] : name) {
    if (n != comm) continue;
    for (pid_t p = parent[pid]; p > 1; p = parent[p])
      if (p == root) {
        out.push_back(pid);
        break;
      }
  }
  return out;
}

}  // namespace ferry::test
