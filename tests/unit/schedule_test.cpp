// `ferry schedule`: the systemd units pass `systemd-analyze verify`, and the crontab line has
// cron's shape.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "cli/schedule_command.hpp"

namespace fs = std::filesystem;
using namespace ferry::cli;

namespace {

class Schedule : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ferry-schedule-XXXXXX";
    m_dir = mkdtemp(tmpl);
    fs::create_directories(m_dir + "/my project");
    std::ofstream(m_dir + "/prod.pw") << "secret\n";
    spec.ferry = fs::read_symlink("/proc/self/exe").parent_path().string() + "/ferry";
    spec.root = m_dir + "/my project";
    spec.playbook = "nightly";
    spec.unit = "ferry-nightly";
    spec.every = "daily";
    spec.credentials = {{"production.password", m_dir + "/prod.pw"}};
  }
  void TearDown() override { fs::remove_all(m_dir); }
  // Runs `systemd-analyze verify` on the units; its output, or nullopt when not installed.
  std::optional<std::pair<int, std::string>> verify(const ScheduleUnits& u) {
    if (system("command -v systemd-analyze >/dev/null 2>&1") != 0) return std::nullopt;
    fs::create_directories(m_dir + "/units");
    std::ofstream(m_dir + "/units/ferry-nightly.service") << u.service;
    std::ofstream(m_dir + "/units/ferry-nightly.timer") << u.timer;
    std::string out = m_dir + "/verify.out";
    std::string cmd = "cd '" + m_dir + "/units' && SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no " +
                      "./ferry-nightly.service ./ferry-nightly.timer >'" + out + "' 2>&1";
    int rc = system(cmd.c_str());
    std::ifstream f(out);
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    return std::make_pair(WEXITSTATUS(rc), text);
  }
  std::string m_dir;
  ScheduleSpec spec;
};

TEST_F(Schedule, ServiceRunsOnceWithWaitsAndLetsTheRollbackFinish) {
  auto u = make_schedule(spec);
  for (const char* line : {"Type=oneshot", "KillSignal=SIGTERM", "KillMode=mixed", "TimeoutStopSec=1h",
                           "LoadCredential=production.password:"})
    EXPECT_NE(u.service.find(line), std::string::npos) << line << "\n" << u.service;
  EXPECT_NE(u.service.find(" -q run nightly --wait-lock 30m --wait-ready 2m"), std::string::npos) << u.service;
  EXPECT_NE(u.service.find("-C \"" + spec.root + "\""), std::string::npos) << u.service;  // a space: quoted
  EXPECT_NE(u.timer.find("OnCalendar=daily\n"), std::string::npos) << u.timer;
  EXPECT_NE(u.timer.find("Persistent=true\n"), std::string::npos) << u.timer;
  EXPECT_EQ(u.service.find("secret"), std::string::npos);  // the file's content never appears
}

TEST_F(Schedule, SystemdAnalyzeVerifiesTheUnits) {
  spec.user = "postgres";
  spec.every = "Mon..Fri *-*-* 02:30:00";
  auto r = verify(make_schedule(spec));
  if (!r) GTEST_SKIP() << "SKIPPED LOUDLY: systemd-analyze is not installed (apt-get install systemd)";
  EXPECT_EQ(r->first, 0) << r->second;
  EXPECT_EQ(r->second.find("ferry-nightly"), std::string::npos) << r->second;  // nothing said about our units
}

TEST_F(Schedule, CrontabLineHasCronsShape) {
  auto u = make_schedule(spec);
  std::regex line(R"(^@daily '?/\S+/ferry'? -C '[^']+' -q run nightly --wait-lock 30m --wait-ready 2m$)");
  std::string last = u.crontab.substr(u.crontab.rfind('\n', u.crontab.size() - 2) + 1);
  last.pop_back();
  EXPECT_TRUE(std::regex_match(last, line)) << last;
  EXPECT_EQ(u.crontab.rfind("# no flock needed: ferry takes its own lock", 0), 0u) << u.crontab;

  spec.every = "hourly";
  spec.root = m_dir + "/100%";
  u = make_schedule(spec);
  EXPECT_NE(u.crontab.find("\n@hourly "), std::string::npos) << u.crontab;
  EXPECT_NE(u.crontab.find("100\\%"), std::string::npos) << u.crontab;  // cron would read % as a newline
  EXPECT_NE(u.service.find("100%%"), std::string::npos) << u.service;   // systemd would expand %

  spec.every = "*-*-* 04:00:00";
  u = make_schedule(spec);
  EXPECT_NE(u.crontab.find("has no cron shorthand"), std::string::npos) << u.crontab;
  EXPECT_NE(u.crontab.find("\nM H DOM MON DOW "), std::string::npos) << u.crontab;
}

TEST_F(Schedule, SystemdWordsAreQuotedWhereNeeded) {
  EXPECT_EQ(systemd_word("/usr/bin/ferry"), "/usr/bin/ferry");
  EXPECT_EQ(systemd_word("a b"), "\"a b\"");
  EXPECT_EQ(systemd_word("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(systemd_word("$HOME"), "$$HOME");
  EXPECT_EQ(systemd_word(""), "\"\"");
}

}  // namespace
