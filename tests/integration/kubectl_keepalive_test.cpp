// Long kubectl exec commands and idle streams (issue 12, item 2). A proxy, load balancer or the
// kubelet cuts an exec stream that carries nothing for a while, and kubectl can then exit 0
// while the command goes on in the pod (kubernetes#73056). The stand-in kubectl
// (tests/support/kubectl-standin) does exactly that when KUBECTL_STANDIN_IDLE_CUT is set; the
// command runs in a real podman container.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "config/model.hpp"
#include "support/fixtures.hpp"
#include "transport/registry.hpp"

namespace fs = std::filesystem;
using namespace ferry;
using namespace ferry::test;

namespace {

// KUBECTL_STANDIN_IDLE_CUT for this scope (children such as the ferry binary inherit it).
// The stand-in's idle clock starts before `podman exec` has started the command, and the first
// keepalive comes a keepalive interval (1 s) after that: 1.3-1.8 s at a load of 18 on two cores.
// A 2 s cut left 0.2 s; 4 s leaves room while the bare `sleep 5` is still cut.
constexpr const char* k_idle_cut = "4";
struct IdleCut {
  explicit IdleCut(const char* seconds) { setenv("KUBECTL_STANDIN_IDLE_CUT", seconds, 1); }
  ~IdleCut() { unsetenv("KUBECTL_STANDIN_IDLE_CUT"); }
};

config::Environment kubectl_env(const std::string& target, Millis keepalive) {
  config::Environment env;
  env.file = "test.yaml";
  env.connections["local"].name = "local";
  auto& c = env.connections["k8s"];
  c.name = "k8s";
  c.type = config::ConnectionType::Kubectl;
  c.kubectl.target = target;
  c.kubectl.kubectl = KubectlStandin::path();
  c.kubectl.keepalive = keepalive;
  return env;
}

transport::CommandResult run_in_pod(Millis keepalive, const std::string& script) {
  auto env = kubectl_env("deployment/backend", keepalive);
  transport::Transports reg(env);
  return reg.get("k8s").run(transport::Command::shell(script));
}

TEST(KubectlKeepalive, ASilentLongCommandOutlivesAnIdleCutAndItsExitCodeIsKept) {
  if (getuid() != 0 || !fs::exists("/usr/bin/podman")) GTEST_SKIP() << "needs root and podman";
  Container app;
  if (!app.ok()) GTEST_SKIP() << "podman could not start a container here (see stderr)";
  KubectlStandin standin;
  standin.add("deployment/backend", app.name());
  IdleCut cut(k_idle_cut);
  const std::string script = "sleep 5; echo finished; echo 'its own message' >&2; exit 7";

  // Without keepalives the stand-in cuts the silent stream: kubectl's exit 0 says nothing.
  auto bare = run_in_pod(Millis(0), script);
  EXPECT_EQ(bare.exit_code, 0) << bare.err;
  EXPECT_FALSE(contains(bare.out, "finished")) << "the stand-in did not cut the idle stream";

  // With them (every second, under the 4 s cut) the command's own end and exit code come back,
  // and the keepalive bytes are not in its stderr.
  auto kept = run_in_pod(Millis(1000), script);
  EXPECT_EQ(kept.exit_code, 7) << kept.err;
  EXPECT_TRUE(contains(kept.out, "finished")) << kept.out;
  EXPECT_EQ(kept.err, "its own message\n");
  EXPECT_EQ(kept.err.find('\0'), std::string::npos);
}

TEST(KubectlKeepalive, AQuickCommandLeavesNothingRunningInThePod) {
  if (getuid() != 0 || !fs::exists("/usr/bin/podman")) GTEST_SKIP() << "needs root and podman";
  Container app;
  if (!app.ok()) GTEST_SKIP() << "podman could not start a container here (see stderr)";
  KubectlStandin standin;
  standin.add("deployment/backend", app.name());
  auto r = run_in_pod(Millis(30'000), "echo quick");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "quick\n");
  // The keepalive loop and its sleep were killed and reaped when the command ended.
  auto ps = run_in_pod(Millis(0), "ps -eo args | grep -c '^sleep 30' || true");
  EXPECT_EQ(ps.out, "0\n") << ps.out << ps.err;
}

// A value without a newline goes to the pod as its own stdin line, read by `read -r` (no
// base64 process per value); quotes, $, backticks, backslashes and spaces arrive as written,
// beside a value with a newline (the base64 line), and neither reaches a command line.
TEST(KubectlKeepalive, SingleLineAndMultiLineValuesArriveAsWrittenThroughTheKeepaliveScript) {
  if (getuid() != 0 || !fs::exists("/usr/bin/podman")) GTEST_SKIP() << "needs root and podman";
  Container app;
  if (!app.ok()) GTEST_SKIP() << "podman could not start a container here (see stderr)";
  KubectlStandin standin;
  standin.add("deployment/backend", app.name());
  auto env = kubectl_env("deployment/backend", Millis(30'000));
  transport::Transports reg(env);
  const std::string one = "  it's \"quoted\" $HOME `id` \\ and  spaces \\";
  const std::string two = "first\nsecond `id` line ";
  auto c =
      transport::Command::shell("printf '%s|%s|' \"$ONE\" \"$TWO\"; cat; ps -eo args | grep -c 'quo[t]ed' || true");
  c.env["ONE"] = one;
  c.env["TWO"] = two;
  c.stdin_data = "the rest of stdin";
  auto r = reg.get("k8s").run(c);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, one + "|" + two + "|the rest of stdin0\n");  // no process's argv holds it
}

TEST(KubectlKeepalive, AFailingStepIsSeenThroughAnIdleCutInARealRun) {
  if (getuid() != 0 || !fs::exists("/usr/bin/podman")) GTEST_SKIP() << "needs root and podman";
  PgCluster pg;
  pg.create_db("app");
  Container app;
  if (!app.ok()) GTEST_SKIP() << "podman could not start a container here (see stderr)";
  KubectlStandin standin;
  standin.add("deployment/backend", app.name());
  IdleCut cut(k_idle_cut);
  Project project;
  project.write("environments/dev.yaml",
                "connections:\n  k8s:\n    type: kubectl\n    target: deployment/backend\n"
                "    keepalive: 1s\n    kubectl: " +
                    KubectlStandin::path() + "\ndatabase:\n  name: app\n  user: postgres\n  host: 127.0.0.1\n  port: " +
                    std::to_string(pg.port()) + "\n");
  project.write("playbooks/p.yaml",
                "migrations: none\nstages: [dev]\nsteps:\n  - run: {on: k8s, command: 'sleep 5; exit 3'}\n");
  auto r = project.ferry({"run", "p"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.all(), "exit 3") || contains(r.all(), "exited 3")) << r.all();
}

}  // namespace
