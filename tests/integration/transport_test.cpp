// One conformance suite for every transport: local, ssh (real sshd on loopback), and docker
// exec (podman's docker CLI) directly and over ssh when a container engine is available.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config/model.hpp"
#include "core/text.hpp"
#include "support/fixtures.hpp"
#include "transport/ssh.hpp"
#include "transport/docker.hpp"

using namespace ferry;
using namespace ferry::test;
namespace fs = std::filesystem;

namespace {

enum class Kind { Local, Ssh, Docker, DockerOverSsh };

config::SshSpec spec_for(const SshServer& s) {
  config::SshSpec spec;
  spec.host = "127.0.0.1";
  spec.port = s.port();
  spec.user = s.user();
  spec.identity = s.identity();
  spec.known_hosts = s.known_hosts();
  return spec;
}

class Conformance : public ::testing::TestWithParam<Kind> {
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
    if ((k == Kind::Ssh || k == Kind::DockerOverSsh) && !sshd().ok()) GTEST_SKIP() << "sshd tests need root";
    if ((k == Kind::Docker || k == Kind::DockerOverSsh) && !container().ok()) GTEST_SKIP() << "no container engine";
    config::DockerSpec docker;
    docker.container = container().name();
    docker.engine = Container::engine();
    switch (k) {
      case Kind::Local:
        t = std::make_unique<transport::LocalTransport>();
        break;
      case Kind::Ssh:
        session = std::make_shared<transport::SshSession>(spec_for(sshd()));
        t = std::make_unique<transport::SshTransport>(session);
        break;
      case Kind::Docker:
        via = std::make_unique<transport::LocalTransport>();
        t = std::make_unique<transport::DockerTransport>(*via, docker);
        break;
      case Kind::DockerOverSsh: {
        auto spec = spec_for(sshd());
        spec.user = "ferryroot";
        session = std::make_shared<transport::SshSession>(spec);
        via = std::make_unique<transport::SshTransport>(session);
        t = std::make_unique<transport::DockerTransport>(*via, docker);
        break;
      }
    }
  }
  std::unique_ptr<transport::Transport> via;
  transport::CommandResult sh(const std::string& script, const std::string& input = "") {
    auto c = transport::Command::shell(script);
    c.stdin_data = input;
    return t->run(c);
  }
  std::shared_ptr<transport::SshSession> session;
  std::unique_ptr<transport::Transport> t;
};

TEST_P(Conformance, StdoutStderrAndExitCodes) {
  auto r = sh("echo out; echo err >&2; exit 3");
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(sh("exit 0").exit_code, 0);
  EXPECT_EQ(sh("no-such-command-xyz").exit_code, 127);
}

TEST_P(Conformance, StdinIsPassedWhole) {
  std::string input;
  for (int i = 0; i < 100000; ++i) input += "line " + std::to_string(i) + "\n";
  auto r = sh("cat", input);
  EXPECT_EQ(r.out.size(), input.size());
  EXPECT_EQ(r.out, input);
}

TEST_P(Conformance, FiftyMegabytesOfOutput) {
  size_t total = 0;
  Sha256 h;
  transport::Command c = transport::Command::shell("head -c 52428800 /dev/zero | tr '\\0' 'x'");
  auto r = t->run(c, [&](const char* d, size_t n) {
    total += n;
    h.update(d, n);
  });
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(total, 52428800u);
  EXPECT_EQ(h.hex_digest(), sha256_hex(std::string(52428800, 'x')));
}

TEST_P(Conformance, TimeoutStopsTheCommand) {
  transport::Command c = transport::Command::shell("sleep 30");
  c.timeout = Millis(1000);
  auto t0 = std::chrono::steady_clock::now();
  auto r = t->run(c);
  EXPECT_TRUE(r.timed_out);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

TEST_P(Conformance, HostileStringsArriveAsWritten) {
  for (std::string hostile :
       {std::string("it's"), std::string("$(touch /tmp/ferry-pwned)"), std::string("`id`"), std::string("a\nb"),
        std::string("\"; exit 9; \""), std::string("*"), std::string("--help")}) {
    transport::Command c;
    c.argv = {"printf", "%s", hostile};
    auto r = t->run(c);
    EXPECT_EQ(r.exit_code, 0) << hostile;
    EXPECT_EQ(r.out, hostile);
  }
  EXPECT_FALSE(fs::exists("/tmp/ferry-pwned"));
}

TEST_P(Conformance, EnvironmentIsPassedOutsideArgv) {
  transport::Command c;
  c.argv = {"sh", "-c", "printf %s \"$SECRET_X\"; ps -eo args | grep -c '[t]he-secret-value' >&2"};
  c.env = {{"SECRET_X", "the-secret-value with 'quotes' and $(x)"}};
  auto r = t->run(c);
  EXPECT_EQ(r.out, "the-secret-value with 'quotes' and $(x)");
  // No process's argv holds it (the [t] keeps grep from matching its own argv).
  EXPECT_EQ(trim(r.err), "0");
}

INSTANTIATE_TEST_SUITE_P(Transports, Conformance,
                         ::testing::Values(Kind::Local, Kind::Ssh, Kind::Docker, Kind::DockerOverSsh),
                         [](const auto& info) {
                           switch (info.param) {
                             case Kind::Local:
                               return "local";
                             case Kind::Ssh:
                               return "ssh";
                             case Kind::Docker:
                               return "docker";
                             default:
                               return "docker_over_ssh";
                           }
                         });

TEST(Docker, MissingContainerIsAClearError) {
  transport::LocalTransport local;
  config::DockerSpec spec;
  spec.container = "ferry-no-such-container";
  spec.engine = Container::engine();
  transport::DockerTransport t(local, spec);
  try {
    t.run(transport::Command::shell("true"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "container 'ferry-no-such-container' is missing or stopped")) << e.what();
  }
}

class SshHostKeys : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server.ok()) GTEST_SKIP() << "sshd tests need root";
  }
  SshServer server;
};

TEST_F(SshHostKeys, UnknownKeyIsRefusedNamingTheFingerprint) {
  std::ofstream(server.known_hosts(), std::ios::trunc) << "";
  try {
    transport::SshSession s(spec_for(server));
    FAIL();
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_TRUE(contains(
        msg, "cannot connect to 'ferrytest@127.0.0.1:" + std::to_string(server.port()) + "': host key SHA256:"))
        << msg;
    EXPECT_TRUE(contains(msg, "is not in " + server.known_hosts())) << msg;
  }
}

TEST_F(SshHostKeys, ChangedKeyIsRefused) {
  // A different key recorded for the same host.
  std::string other = server.dir() + "/other";
  ASSERT_EQ(std::system(("ssh-keygen -q -t ed25519 -N '' -f " + other).c_str()), 0);
  std::string pub = read_file(other + ".pub");
  std::ofstream(server.known_hosts(), std::ios::trunc) << "[127.0.0.1]:" << server.port() << " " << pub;
  for (auto mode : {"strict", "accept-new"}) {
    auto spec = spec_for(server);
    spec.host_key = mode;
    try {
      transport::SshSession s(spec);
      FAIL() << mode;
    } catch (const Error& e) {
      EXPECT_TRUE(contains(e.what(), "does not match the key recorded for it in " + server.known_hosts())) << e.what();
    }
  }
}

TEST_F(SshHostKeys, AcceptNewRecordsTheKey) {
  std::ofstream(server.known_hosts(), std::ios::trunc) << "";
  auto spec = spec_for(server);
  spec.host_key = "accept-new";
  { transport::SshSession s(spec); }
  std::string recorded = read_file(server.known_hosts());
  EXPECT_EQ(recorded, "[127.0.0.1]:" + std::to_string(server.port()) + " " + server.host_public_key() + "\n");
  spec.host_key = "strict";
  EXPECT_NO_THROW(transport::SshSession s(spec));
}

TEST_F(SshHostKeys, WrongKeyIsRefusedWithoutRetry) {
  std::string other = server.dir() + "/wrong";
  ASSERT_EQ(std::system(("ssh-keygen -q -t ed25519 -N '' -f " + other).c_str()), 0);
  auto spec = spec_for(server);
  spec.identity = other;
  int before = transport::SshSession::handshakes();
  try {
    transport::SshSession s(spec);
    FAIL();
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "public key authentication failed for 'ferrytest'")) << e.what();
  }
  EXPECT_EQ(transport::SshSession::handshakes() - before, 1);  // no retry
}

TEST_F(SshHostKeys, AgentAuthentication) {
  std::string sock = server.dir() + "/agent.sock";
  ASSERT_EQ(std::system(("ssh-agent -a " + sock + " > " + server.dir() + "/agent.env").c_str()), 0);
  ASSERT_EQ(std::system(("SSH_AUTH_SOCK=" + sock + " ssh-add -q " + server.identity() + " 2>/dev/null").c_str()), 0);
  setenv("SSH_AUTH_SOCK", sock.c_str(), 1);
  auto spec = spec_for(server);
  spec.identity = "";
  spec.agent = true;
  {
    auto session = std::make_shared<transport::SshSession>(spec);
    transport::SshTransport t(session);
    EXPECT_EQ(t.run(transport::Command::shell("whoami")).out, "ferrytest\n");
  }
  std::system(("SSH_AUTH_SOCK=" + sock + " ssh-add -qD 2>/dev/null").c_str());
  try {
    transport::SshSession s(spec);
    FAIL();
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "no key in the SSH agent was accepted for 'ferrytest'")) << e.what();
  }
  std::system(("SSH_AUTH_SOCK=" + sock + " ssh-agent -k >/dev/null 2>&1").c_str());
  unsetenv("SSH_AUTH_SOCK");
}

TEST_F(SshHostKeys, UnreachableHostIsRetriedThenFails) {
  auto spec = spec_for(server);
  spec.port = free_port();
  int before = transport::SshSession::handshakes();
  try {
    transport::SshSession s(spec);
    FAIL();
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "Connection refused")) << e.what();
  }
  EXPECT_EQ(transport::SshSession::handshakes() - before, 0);
}

TEST_F(SshHostKeys, OneSessionManyChannelsAndATunnel) {
  auto session = std::make_shared<transport::SshSession>(spec_for(server));
  transport::SshTransport t(session);
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(t.run(transport::Command::shell("echo " + std::to_string(i))).out, std::to_string(i) + "\n");
  PgCluster pg;
  transport::SshTunnel tunnel(session, "127.0.0.1", pg.port());
  db::ConnectParams p;
  p.host = "127.0.0.1";
  p.port = tunnel.local_port();
  p.dbname = "postgres";
  p.user = "postgres";
  db::Connection c(p);
  EXPECT_EQ(c.exec("SELECT 40 + 2").text(0, 0), "42");
  EXPECT_EQ(c.exec("SELECT count(*) FROM generate_series(1, 100000)").text(0, 0), "100000");
  EXPECT_EQ(server.accepted_logins(), 1);
}

}  // namespace
