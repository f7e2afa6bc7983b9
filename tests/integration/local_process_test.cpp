// The local transport's process handling (Boost.Process): whole process trees stopped on a
// timeout or a stop, no descriptor of ferry's in a child, the handed-over stdin closed in
// ferry, default signals in the child, flat memory while streaming. Real processes only.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sstream>
#include <thread>

#include "core/text.hpp"
#include "support/fixtures.hpp"
#include "transport/transport.hpp"

using namespace ferry;
using namespace ferry::test;
namespace fs = std::filesystem;

namespace {

// A script that starts two background sleeps and a subshell with a third, writes their pids
// to PIDS (one a line), then waits for them.
const char* k_tree_script =
    "sleep 100 & echo $! >> \"$PIDS\"; sleep 100 & echo $! >> \"$PIDS\";"
    " sh -c 'sleep 100 & echo $! >> \"$PIDS\"; wait' & wait";

std::vector<pid_t> pids_in(const std::string& file) {
  std::vector<pid_t> pids;
  std::ifstream in(file);
  for (long p; in >> p;) pids.push_back(static_cast<pid_t>(p));
  return pids;
}

// Gone, or a zombie waiting for its reaper: either way it runs no more.
bool is_dead(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

// SIGKILL is delivered asynchronously: give each process a moment to die (not a timing assertion).
bool all_dead(const std::vector<pid_t>& pids) {
  for (int i = 0; i < 100; ++i) {
    bool dead = true;
    for (pid_t p : pids) dead = dead && is_dead(p);
    if (dead) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

class LocalProcess : public ::testing::Test {
 protected:
  void SetUp() override { dir = temp_dir("ferry-localproc"); }
  void TearDown() override { fs::remove_all(dir); }
  transport::Command tree() {
    auto c = transport::Command::shell(k_tree_script);
    c.env["PIDS"] = dir + "/pids";
    return c;
  }
  std::string dir;
  transport::LocalTransport local;
};

TEST_F(LocalProcess, TimeoutKillsTheWholeTree) {
  auto c = tree();
  c.timeout = Millis(1500);
  auto r = local.run(c);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, 128 + SIGKILL);
  auto pids = pids_in(dir + "/pids");
  ASSERT_EQ(pids.size(), 3u);
  EXPECT_TRUE(all_dead(pids));
}

TEST_F(LocalProcess, StopTerminatesTheWholeTree) {
  auto c = tree();
  std::string file = dir + "/pids";
  c.should_stop = [&] { return pids_in(file).size() == 3; };
  auto r = local.run(c);
  EXPECT_TRUE(r.stopped);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 128 + SIGTERM);
  auto pids = pids_in(file);
  ASSERT_EQ(pids.size(), 3u);
  EXPECT_TRUE(all_dead(pids));
}

TEST_F(LocalProcess, FerrysRunStepTimeoutLeavesNoProcessBehind) {
  PgCluster pg;
  pg.create_db("app");
  Project project;
  project.env("dev", pg, "app");
  project.write("tree.sh", k_tree_script);
  project.write("playbooks/tree.yaml", "stages: [dev]\nsteps:\n  - run: {command: 'sh tree.sh', timeout: 1s}\n");
  auto r = project.ferry({"run", "tree"}, {{"PIDS", dir + "/pids"}});
  EXPECT_EQ(r.code, 1) << r.all();
  auto pids = pids_in(dir + "/pids");
  ASSERT_EQ(pids.size(), 3u) << r.all();
  EXPECT_TRUE(all_dead(pids));
}

TEST_F(LocalProcess, WhatACommandLeavesRunningOnPurposeSurvivesItsExit) {
  // A restart command that starts a service in the background and exits: the service stays.
  auto c = transport::Command::shell("sleep 100 >/dev/null 2>&1 & echo $!");
  auto r = local.run(c);
  ASSERT_EQ(r.exit_code, 0);
  pid_t pid = std::stoi(trim(r.out));
  EXPECT_FALSE(is_dead(pid));
  kill(pid, SIGKILL);
}

TEST_F(LocalProcess, NoDescriptorOfFerryReachesTheChild) {
  int leaky = open("/dev/null", O_RDONLY);  // no O_CLOEXEC on purpose
  int p[2];
  ASSERT_EQ(pipe(p), 0);  // nor here
  ASSERT_GE(leaky, 0);
  auto r = local.run(transport::Command::shell("ls /proc/$$/fd"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "0\n1\n2\n");
  // and with a stdin pipe handed over
  int in[2];
  ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
  auto c = transport::Command::shell("ls /proc/$$/fd; readlink /proc/$$/fd/0");
  c.stdin_fd = in[0];
  r = local.run(c);
  close(in[1]);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "0\n1\n2\npipe:[")) << r.out;
  for (int fd : {leaky, p[0], p[1]}) close(fd);
}

TEST_F(LocalProcess, HandedOverStdinIsClosedInFerry) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  ASSERT_EQ(write(p[1], "hello world", 11), 11);
  transport::Command c;
  c.argv = {"head", "-c", "5"};
  c.stdin_fd = p[0];
  auto r = local.run(c);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "hello");
  // Nobody reads the pipe any more: the writer learns it (EPIPE, not a signal that ends us).
  errno = 0;
  EXPECT_EQ(write(p[1], "x", 1), -1);
  EXPECT_EQ(errno, EPIPE);
  EXPECT_EQ(fcntl(p[0], F_GETFD), -1);
  close(p[1]);
}

TEST_F(LocalProcess, HandedOverStdinIsClosedWhenTheProgramIsMissing) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  transport::Command c;
  c.argv = {"ferry-no-such-program-xyz"};
  c.stdin_fd = p[0];
  try {
    local.run(c);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Transport);
    EXPECT_TRUE(contains(e.what(), "cannot start 'ferry-no-such-program-xyz'")) << e.what();
  }
  EXPECT_EQ(fcntl(p[0], F_GETFD), -1);
  close(p[1]);
}

TEST_F(LocalProcess, SignalsAreDefaultInTheChild) {
  // ferry ignores SIGPIPE; a pipeline it starts must not: `yes` ends quietly on SIGPIPE.
  // grep reads its own status (inherited across fork and exec): the shell's, read from outside,
  // races with dash blocking every signal around each fork.
  auto r = local.run(transport::Command::shell("yes | head -c 3; grep -E '^Sig(Ign|Blk)' /proc/self/status"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, "y\nySigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

// defer_stop_signals (fleet members): SIGTERM and SIGINT blocked across exec, so a stop sent
// before a child installed its handlers stays pending instead of killing it half-started.
TEST_F(LocalProcess, DeferredStopSignalsStayPendingInTheChild) {
  auto c = transport::Command::shell("kill -TERM $$; echo survived");
  c.defer_stop_signals = true;
  auto r = local.run(c);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "survived\n");
  auto plain = local.run(transport::Command::shell("kill -TERM $$; echo survived"));
  EXPECT_EQ(plain.exit_code, 128 + SIGTERM) << "without it, the signal kills at once";
  EXPECT_EQ(plain.out, "");
}

TEST_F(LocalProcess, StdinDataToACommandThatDoesNotReadIt) {
  transport::Command c;
  c.argv = {"true"};
  c.stdin_data = std::string(8 << 20, 'x');
  auto r = local.run(c);
  EXPECT_EQ(r.exit_code, 0);
}

TEST_F(LocalProcess, ArgvZeroCwdAndExitBySignal) {
  transport::Command c;
  c.argv = {"sh", "-c", "printf '%s %s' \"$0\" \"$(pwd)\""};
  c.cwd = dir;
  auto r = local.run(c);
  EXPECT_EQ(r.out, "sh " + fs::canonical(dir).string());
  EXPECT_EQ(local.run(transport::Command::shell("kill -9 $$")).exit_code, 128 + SIGKILL);
}

long status_kb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  return -1;
}

TEST_F(LocalProcess, MemoryStaysFlatWhileStreaming) {
  std::ofstream("/proc/self/clear_refs") << "5";  // peak RSS := current RSS
  long before = status_kb("VmRSS");
  size_t total = 0;
  auto c = transport::Command::shell("head -c 209715200 /dev/zero");
  auto r = local.run(c, [&](const char*, size_t n) { total += n; });
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(total, 209715200u);
  long peak = status_kb("VmHWM");
  EXPECT_LT(peak - before, 16 * 1024) << "peak RSS grew by " << (peak - before) << " kB for 200 MB streamed";
}

}  // namespace
