// One suite for every connection type, built the way ferry builds them (transport::Transports
// from an environment): local, ssh (real sshd on loopback), docker (podman's docker CLI) and
// kubectl (the stand-in, tests/support/kubectl-standin, exec'ing into a real podman container).
// Exit codes, stdin streaming, hostile environment values, cwd, timeouts, stop, and the file
// operations (put/fetch/list/remove, names confined to their directory).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "config/model.hpp"
#include "support/fixtures.hpp"
#include "transport/registry.hpp"

using namespace ferry;
using namespace ferry::test;
namespace fs = std::filesystem;

namespace {

enum class Kind { Local, Ssh, Docker, Kubectl };

class TransportConformance : public ::testing::TestWithParam<Kind> {
 protected:
  static SshServer& sshd() {
    static SshServer server;
    return server;
  }
  static Container& container() {
    static Container c;
    return c;
  }
  void SetUp() override {
    Kind k = GetParam();
    if (k == Kind::Ssh && !sshd().ok()) GTEST_SKIP() << "sshd tests need root";
    if ((k == Kind::Docker || k == Kind::Kubectl) && !container().ok()) GTEST_SKIP() << "no container engine";
    env.file = "test.yaml";
    env.connections["local"].name = "local";
    config::Connection& c = env.connections["it"];
    c.name = "it";
    switch (k) {
      case Kind::Local:
        c.type = config::ConnectionType::Local;
        break;
      case Kind::Ssh:
        c.type = config::ConnectionType::Ssh;
        c.ssh = {"127.0.0.1", sshd().port(), sshd().user(), sshd().identity(), false, sshd().known_hosts(), "strict"};
        break;
      case Kind::Docker:
        c.type = config::ConnectionType::Docker;
        c.docker.container = container().name();
        c.docker.engine = Container::engine();
        break;
      case Kind::Kubectl:
        c.type = config::ConnectionType::Kubectl;
        c.kubectl.target = "deployment/backend";
        c.kubectl.namespace_ = "prod";
        c.kubectl.kubectl = KubectlStandin::path();
        standin.add("deployment/backend", container().name(), "prod");
        break;
    }
    registry = std::make_unique<transport::Transports>(env);
    t = &registry->get("it");
    dir = temp_dir("ferry-conformance");
    fs::permissions(dir, fs::perms::all);  // the ssh user writes here too
  }
  void TearDown() override {
    if (!dir.empty()) fs::remove_all(dir);
  }
  transport::CommandResult sh(const std::string& script, const std::string& input = "") {
    auto c = transport::Command::shell(script);
    c.stdin_data = input;
    return t->run(c);
  }
  config::Environment env;
  KubectlStandin standin;
  std::unique_ptr<transport::Transports> registry;
  transport::Transport* t = nullptr;
  std::string dir;
};

TEST_P(TransportConformance, ExitCodesAndBothStreams) {
  auto r = sh("echo out; echo err >&2; exit 7");
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_TRUE(sh("true").ok());
  EXPECT_EQ(sh("exit 1").exit_code, 1);  // the command's exit 1 is data, never a kubectl error
}

TEST_P(TransportConformance, StdinStreamsAfterTheEnvironment) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  auto c = transport::Command::shell("printf '%s|' \"$SECRET\"; wc -c");
  c.env["SECRET"] = "s3cret";
  c.stdin_data = "head-";
  c.stdin_fd = p[0];
  std::thread writer([w = p[1]] {
    std::string chunk(64 * 1024, 'x');
    for (int i = 0; i < 32; ++i)
      if (write(w, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) break;
    close(w);
  });
  auto r = t->run(c);
  writer.join();
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_EQ(r.out.substr(0, 7), "s3cret|");
  EXPECT_EQ(std::stol(r.out.substr(7)), 5 + 32 * 64 * 1024);
}

TEST_P(TransportConformance, EnvironmentValuesArriveAsWrittenAndNeverInArgv) {
  const std::string v = "it's \"quoted\" $HOME `id` \\ and\nsecond line  with  spaces ";
  auto c = transport::Command::shell("printf '%s' \"$V\"; cat /proc/$$/cmdline");
  c.env["V"] = v;
  auto r = t->run(c);
  ASSERT_TRUE(r.ok()) << r.err;
  ASSERT_GE(r.out.size(), v.size());
  EXPECT_EQ(r.out.substr(0, v.size()), v);
  EXPECT_FALSE(contains(r.out.substr(v.size()), "quoted")) << "the value reached a command line";
}

TEST_P(TransportConformance, WorkingDirectoryWithAndWithoutEnvironment) {
  auto c = transport::Command::shell("pwd");
  c.cwd = dir;
  auto r = t->run(c);
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_EQ(r.out, dir + "\n");
  c.env["X"] = "y";
  r = t->run(c);
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_EQ(r.out, dir + "\n");
}

TEST_P(TransportConformance, TimeoutEndsTheCommand) {
  auto c = transport::Command::shell("sleep 60; echo finished");
  c.timeout = Millis(1000);
  auto r = t->run(c);
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(contains(r.out, "finished"));
}

// A stop ends the command and all it started, at once. Over ssh it cannot (no pty, and libssh2
// 1.10 sends no signal): the stop waits for the command's own end (3 s here), which is why
// `run:` steps are stopped only on this machine (docs/testing.md).
TEST_P(TransportConformance, StopEndsTheCommand) {
  const bool ssh = GetParam() == Kind::Ssh;
  auto c = transport::Command::shell(ssh ? "sleep 3; echo finished" : "sleep 60.25; echo finished");
  int ticks = 0;
  c.on_tick = [&] { ++ticks; };
  c.should_stop = [&] { return ticks >= 2; };
  auto t0 = std::chrono::steady_clock::now();
  auto r = t->run(c);
  EXPECT_TRUE(r.stopped);
  EXPECT_FALSE(contains(r.out, "finished"));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
  // Checked here only: over ssh the 3 s command ends by itself; in containers the stop ends
  // only the client (docs/testing.md).
  if (GetParam() != Kind::Local) return;
  // Nothing of it is left running.
  auto left = sh("for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < \"$f\"; echo; done 2>/dev/null | "
                 "grep -c '^sleep 60[.]25' || true");
  EXPECT_EQ(left.out, "0\n") << left.err;
}

TEST_P(TransportConformance, PutFetchListRemove) {
  std::string content = std::string("line 1\nbinary \0 byte\n", 21) + std::string(100000, 'z');
  t->put_file(dir + "/a.json", content, 0640);
  t->put_file(dir + "/b.json", "{}\n");
  t->put_file(dir + "/c.pin", "c\n");
  EXPECT_EQ(t->fetch_file(dir + "/a.json"), content);
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/a.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_EQ(t->list(dir, "*.json"), (std::vector<std::string>{"a.json", "b.json"}));
  EXPECT_EQ(t->list(dir), (std::vector<std::string>{"a.json", "b.json", "c.pin"}));
  auto many = t->fetch_files(dir, {"a.json", "b.json", "missing.json"});
  EXPECT_EQ(many["a.json"], content);
  EXPECT_EQ(many["b.json"], "{}\n");
  EXPECT_FALSE(many["missing.json"].has_value());
  // Local files both ways, streamed.
  std::string local = temp_dir("ferry-conformance-local");
  t->fetch_to_local(dir + "/a.json", local + "/copy");
  std::ifstream in(local + "/copy", std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), content);
  t->put_local_file(local + "/copy", dir + "/d.json");
  EXPECT_EQ(t->fetch_file(dir + "/d.json"), content);
  fs::remove_all(local);
  EXPECT_TRUE(t->remove(dir, "a.json"));
  auto mk = transport::Command::shell("mkdir -p \"$0/e.dir/sub\" && touch \"$0/e.dir/sub/f\"");
  mk.argv.push_back(dir);  // made by the transport's user: the ssh user can remove it
  ASSERT_TRUE(t->run(mk).ok());
  EXPECT_TRUE(t->remove(dir, "e.dir"));
  EXPECT_EQ(t->list(dir), (std::vector<std::string>{"b.json", "c.pin", "d.json"}));
  EXPECT_THROW(t->fetch_file(dir + "/a.json"), Error);
}

TEST_P(TransportConformance, NamesOutsideTheDirectoryAreRefused) {
  fs::create_directories(dir + "/inner");
  std::ofstream(dir + "/outside") << "keep";
  for (const std::string bad : {"../outside", "..", ".", "", "sub/../../outside", "/etc/passwd"}) {
    try {
      t->remove(dir + "/inner", bad);
      ADD_FAILURE() << "removed '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config) << bad;
    }
  }
  EXPECT_THROW(t->fetch_files(dir + "/inner", {"../outside"}), Error);
  EXPECT_TRUE(fs::exists(dir + "/outside"));
  EXPECT_TRUE(fs::exists(dir + "/inner"));
}

TEST_P(TransportConformance, ListingAMissingDirectoryIsAnErrorNamingIt) {
  try {
    t->list(dir + "/nope");
    ADD_FAILURE() << "listed a missing directory";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Command);
    EXPECT_TRUE(contains(e.what(), dir + "/nope does not exist")) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Transports, TransportConformance,
                         ::testing::Values(Kind::Local, Kind::Ssh, Kind::Docker, Kind::Kubectl), [](const auto& info) {
                           switch (info.param) {
                             case Kind::Local:
                               return std::string("Local");
                             case Kind::Ssh:
                               return std::string("Ssh");
                             case Kind::Docker:
                               return std::string("Docker");
                             default:
                               return std::string("Kubectl");
                           }
                         });

}  // namespace
