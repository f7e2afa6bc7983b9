// The kubectl connection type. No Kubernetes cluster runs on these machines, so: (a) the argv
// ferry builds is fed to the REAL kubectl, pointed at an unreachable server, and must fail on
// the connection, never on its flags; (b) a stand-in kubectl (tests/support/kubectl-standin)
// that accepts only kubectl's exec syntax runs the command in a real podman container, so the
// Alembic seed workflow (`alembic upgrade head` where the backend lives) runs end to end.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "config/model.hpp"
#include "support/fixtures.hpp"
#include "transport/registry.hpp"

namespace fs = std::filesystem;
using namespace ferry;
using namespace ferry::test;
using nlohmann::json;

namespace {

config::Environment kubectl_env(const config::KubectlSpec& spec) {
  config::Environment env;
  env.file = "test.yaml";
  env.connections["local"].name = "local";
  auto& c = env.connections["k8s"];
  c.name = "k8s";
  c.type = config::ConnectionType::Kubectl;
  c.kubectl = spec;
  return env;
}

// The transport's failure message (an Error), or "" when the command ran.
std::string failure(transport::Transport& t, const transport::Command& c) {
  try {
    t.run(c);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Transport);
    return e.what();
  }
  return "";
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(Kubectl, RealKubectlAcceptsFerrysCommandLineAndFailsOnlyOnTheConnection) {
  if (!fs::exists("/usr/bin/kubectl")) GTEST_SKIP() << "no kubectl client";
  std::string d = temp_dir("ferry-kubectl-real");
  std::ofstream(d + "/config") << "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "
                                  "\"https://127.0.0.1:1\"}\nusers:\n- name: u\n  user: {token: bogus}\ncontexts:\n"
                                  "- name: ctx\n  context: {cluster: c, user: u}\ncurrent-context: ctx\n";
  // Records the exact argv ferry built, then hands it to the real kubectl with an unreachable
  // server and a bogus token put before it (global flags).
  std::ofstream(d + "/kubectl") << "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$(dirname \"$0\")/argv\"\n"
                                   "exec /usr/bin/kubectl --server=https://127.0.0.1:1 --token=bogus \"$@\"\n";
  fs::permissions(d + "/kubectl", fs::perms::owner_all);
  config::KubectlSpec spec;
  spec.target = "deployment/backend";
  spec.namespace_ = "prod";
  spec.container = "app";
  spec.context = "ctx";
  spec.kubeconfig = d + "/config";
  spec.kubectl = d + "/kubectl";
  spec.workdir = "/srv/app";
  auto env = kubectl_env(spec);
  transport::Transports reg(env);
  auto c = transport::Command::shell("alembic upgrade head");
  c.env["DATABASE_PASSWORD"] = "hunter2-secret";
  c.cwd = "/srv/app";
  c.timeout = Millis(30'000);
  std::string why = failure(reg.get("k8s"), c);
  EXPECT_TRUE(contains(why, "kubectl: cannot reach the cluster for 'deployment/backend' in namespace 'prod'")) << why;
  EXPECT_FALSE(contains(why, "rejected")) << why;
  std::string argv = slurp(d + "/argv");
  EXPECT_EQ(argv.substr(0, argv.find("\nsh\n-c\n")), "exec\n-i\n--namespace=prod\n--context=ctx\n--kubeconfig=" + d +
                                                         "/config\n--container=app\ndeployment/backend\n--")
      << argv;
  EXPECT_FALSE(contains(argv, "hunter2")) << "a secret reached kubectl's argv";

  // A context the kubeconfig lacks: kubectl's own error, said plainly.
  spec.context = "nope";
  auto env2 = kubectl_env(spec);
  transport::Transports reg2(env2);
  why = failure(reg2.get("k8s"), transport::Command::shell("true"));
  EXPECT_TRUE(contains(why, "kubectl: no such context 'nope'")) << why;
  fs::remove_all(d);
}

TEST(Kubectl, KubectlsOwnErrorsNameTheTarget) {
  KubectlStandin standin;
  standin.add("deployment/locked", "FORBIDDEN", "prod");
  standin.add("deployment/far", "UNREACHABLE", "prod");
  config::KubectlSpec spec;
  spec.kubectl = KubectlStandin::path();
  spec.namespace_ = "prod";
  auto run_on = [&](const std::string& target) {
    spec.target = target;
    auto env = kubectl_env(spec);
    transport::Transports reg(env);
    return failure(reg.get("k8s"), transport::Command::shell("true"));
  };
  std::string why = run_on("deployment/backend");
  EXPECT_TRUE(contains(why, "kubectl: 'deployment/backend' in namespace 'prod' not found")) << why;
  EXPECT_TRUE(contains(why, "deployments.apps \"backend\" not found")) << why;
  why = run_on("deployment/locked");
  EXPECT_TRUE(contains(why, "kubectl: not allowed to exec into 'deployment/locked' in namespace 'prod'")) << why;
  why = run_on("deployment/far");
  EXPECT_TRUE(contains(why, "kubectl: cannot reach the cluster for 'deployment/far'")) << why;
}

TEST(Kubectl, AMisspelledTargetIsAConfigurationError) {
  Project project;
  project.write("environments/dev.yaml",
                "connections:\n  k8s:\n    type: kubectl\n    target: backend\ndatabase:\n  name: app\n");
  auto r = project.ferry({"validate"});
  EXPECT_EQ(r.code, 64) << r.all();
  EXPECT_TRUE(contains(r.all(), "'target' must be TYPE/NAME (deployment/backend, pod/NAME), found 'backend'"))
      << r.all();
}

TEST(Kubectl, AlembicUpgradeRunsInThePodThroughFerry) {
  if (getuid() != 0 || !fs::exists("/usr/bin/podman")) GTEST_SKIP() << "needs root and podman";
  PgCluster pg;  // trust: the password below still travels the secret path
  pg.create_db("app");
  Container app;
  if (!app.ok()) GTEST_SKIP() << "podman could not start a container here (see stderr)";
  KubectlStandin standin;
  standin.add("deployment/backend", app.name(), "shop", "prod-cluster");
  std::string code = temp_dir("ferry-kubectl-app");
  fs::copy(source_dir() + "/examples/alembic", code, fs::copy_options::recursive);
  Project project;
  project.write("environments/dev.yaml",
                "connections:\n  k8s:\n    type: kubectl\n    target: deployment/backend\n    namespace: shop\n"
                "    context: prod-cluster\n    kubectl: " +
                    KubectlStandin::path() + "\n    workdir: " + code +
                    "\ndatabase:\n  name: app\n  user: postgres\n  password: ${secret:PGPW}\n  host: 127.0.0.1\n"
                    "  port: " +
                    std::to_string(pg.port()) + "\n");
  // The password reaches the pod as an exported variable (kubectl's argv never holds it).
  project.write("playbooks/promote.yaml",
                "migrations: {driver: alembic, on: k8s, command: 'env PGPASSWORD=\"${secret:PGPW}\" "
                "DATABASE_URL=postgresql://postgres@127.0.0.1:" +
                    std::to_string(pg.port()) + "/app alembic'}\nstages: [dev]\nsteps:\n  - migrate\n");
  std::map<std::string, std::string> penv = {{"PGPW", "s3cret pw'\""}};
  auto plan = project.ferry({"plan", "promote"}, penv);
  EXPECT_EQ(plan.code, 0) << plan.all();
  EXPECT_TRUE(contains(plan.out, "at alembic revision none; 3 pending")) << plan.out;
  auto r = project.ferry({"run", "promote"}, penv);
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.out, "alembic upgrade head: base -> c3 (3 revisions)")) << r.out;
  EXPECT_EQ(pg.value("app", "SELECT version_num FROM alembic_version"), "c3");
  EXPECT_EQ(pg.value("app", "SELECT count(*) FROM tasks"), "100");
  EXPECT_FALSE(contains(r.all(), "s3cret")) << r.all();
  fs::remove_all(code);
}

TEST(Kubectl, RealKubectlAcceptsFerrysPortForwardAndFailsOnlyOnTheConnection) {
  if (!fs::exists("/usr/bin/kubectl")) GTEST_SKIP() << "no kubectl client";
  std::string d = temp_dir("ferry-kubectl-pf");
  std::ofstream(d + "/kubectl") << "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$(dirname \"$0\")/argv\"\n"
                                   "exec /usr/bin/kubectl --server=https://127.0.0.1:1 --token=bogus \"$@\"\n";
  fs::permissions(d + "/kubectl", fs::perms::owner_all);
  config::KubectlSpec spec;
  spec.target = "service/postgres";
  spec.namespace_ = "data";
  spec.kubectl = d + "/kubectl";
  auto env = kubectl_env(spec);
  transport::Transports reg(env);
  try {
    reg.tunnel("k8s", "ignored", 5432);
    ADD_FAILURE() << "a tunnel to an unreachable cluster opened";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "kubectl: cannot reach the cluster for 'service/postgres' in namespace 'data'"))
        << e.what();
  }
  EXPECT_EQ(slurp(d + "/argv"), "port-forward\n--address=127.0.0.1\n--namespace=data\nservice/postgres\n:5432\n");
  fs::remove_all(d);
}

TEST(Kubectl, DatabaseTunnelThroughPortForward) {
  PgCluster pg;
  pg.create_db("app");
  KubectlStandin standin;
  standin.add("service/postgres", "tcp:127.0.0.1", "data");
  Project project;
  // database.host is the name inside the cluster: ferry's machine cannot resolve it.
  project.write("environments/dev.yaml",
                "connections:\n  cluster-db:\n    type: kubectl\n    target: service/postgres\n    namespace: data\n"
                "    kubectl: " +
                    KubectlStandin::path() +
                    "\ndatabase:\n  name: app\n  user: postgres\n  host: postgres.data.svc.cluster.local\n  port: " +
                    std::to_string(pg.port()) + "\n  tunnel: cluster-db\n");
  project.migration("0001_tasks", "CREATE TABLE tasks (id int);\n", "DROP TABLE tasks;\n");
  project.write("playbooks/p.yaml", "stages: [dev]\nsteps:\n  - migrate\n");
  auto r = project.ferry({"run", "p"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(pg.value("app", "SELECT count(*) FROM information_schema.tables WHERE table_name = 'tasks'"), "1");
  // A target the cluster does not have: the run fails before changing anything, naming it.
  project.write("environments/dev.yaml",
                "connections:\n  cluster-db:\n    type: kubectl\n    target: service/nope\n    namespace: data\n"
                "    kubectl: " +
                    KubectlStandin::path() + "\ndatabase:\n  name: app\n  user: postgres\n  port: " +
                    std::to_string(pg.port()) + "\n  tunnel: cluster-db\n");
  r = project.ferry({"status"});
  EXPECT_NE(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.all(), "kubectl: 'service/nope' in namespace 'data' not found")) << r.all();
}

}  // namespace
