// examples/kubernetes: no cluster can run here, so the manifests are checked with the real
// kubectl's offline tools (kustomize: every document parses, with apiVersion, kind and name),
// their ferry-specific keys with a YAML parser, the ferry project in them with `ferry validate`,
// and every kubectl command line in them with the real kubectl against an unreachable server
// (it must fail on the connection, never on its flags).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/fixtures.hpp"
#include "support/packaging.hpp"

using namespace ferry::test;
namespace pk = ferry::test::packaging;
namespace fs = std::filesystem;

namespace {
const std::string k_dir = source_dir() + "/examples/kubernetes";

// Runs a Python expression over the YAML documents of FILE (bound to `d`, the first document)
// and prints its value; the check a test needs in one line.
std::string yaml_eval(const std::string& file, const std::string& expr) {
  auto p = pk::run({"python3", "-c",
                    "import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); v = eval(sys.argv[2]); "
                    "print('\\n'.join(map(str, v)) if isinstance(v, list) else v)",
                    file, expr});
  EXPECT_EQ(p.code, 0) << expr << ": " << p.all();
  return p.out;
}

bool kubectl_present() { return pk::run({"kubectl", "version", "--client"}, {}, 30).code == 0; }
}  // namespace

TEST(KubernetesExamples, KustomizeBuildsEveryManifestOffline) {
  if (!kubectl_present()) GTEST_SKIP() << "kubectl is not installed";
  auto p = pk::run({"kubectl", "kustomize", k_dir}, {}, 60);
  ASSERT_EQ(p.code, 0) << p.all();
  for (const std::string kind : {"kind: Secret", "kind: PersistentVolumeClaim", "kind: Job", "kind: Deployment"})
    EXPECT_TRUE(contains(p.out, kind)) << p.out;
  // The Helm hook variant is not in the kustomization (it belongs in a chart): built on its own.
  std::string dir = temp_dir("ferry-k8s");
  fs::copy_file(k_dir + "/helm-pre-upgrade-hook.yaml", dir + "/hook.yaml");
  std::ofstream(dir + "/kustomization.yaml") << "resources: [hook.yaml]\n";
  auto hook = pk::run({"kubectl", "kustomize", dir}, {}, 60);
  EXPECT_EQ(hook.code, 0) << hook.all();
  EXPECT_TRUE(contains(hook.out, "helm.sh/hook: pre-install,pre-upgrade")) << hook.out;
  fs::remove_all(dir);
}

TEST(KubernetesExamples, JobsRunFerryOnceNeverRetriedWithTheSecretAndWaitReady) {
  std::string secret = yaml_eval(k_dir + "/secret.yaml", "d['metadata']['name']");
  std::string claim = yaml_eval(k_dir + "/backups-pvc.yaml", "d['metadata']['name']");
  for (const std::string file : {"job.yaml", "helm-pre-upgrade-hook.yaml"}) {
    SCOPED_TRACE(file);
    std::string f = k_dir + "/" + file;
    std::string pod = "d['spec']['template']['spec']";
    std::string c = pod + "['containers'][0]";
    EXPECT_EQ(yaml_eval(f, "d['kind']"), "Job\n");
    EXPECT_EQ(yaml_eval(f, "d['spec']['backoffLimit']"), "0\n") << "a failed or rolled-back run must not be retried";
    EXPECT_EQ(yaml_eval(f, pod + "['restartPolicy']"), "Never\n");
    auto args = yaml_eval(f, c + "['args']");
    EXPECT_EQ(args.substr(0, args.find('\n')), "run");
    EXPECT_TRUE(contains(args, "\n--wait-ready\n")) << args;
    std::string playbook = yaml_eval(f, c + "['args'][1]");
    playbook.pop_back();
    EXPECT_TRUE(fs::exists(k_dir + "/project/playbooks/" + playbook + ".yaml")) << playbook;
    EXPECT_EQ(yaml_eval(f, "[e['valueFrom']['secretKeyRef']['name'] for e in " + c +
                               "['env'] if e['name'] == 'DB_PASSWORD']"),
              secret);
    EXPECT_EQ(yaml_eval(f, "[m['mountPath'] for m in " + c + "['volumeMounts']]"), "/var/lib/ferry\n");
    EXPECT_EQ(yaml_eval(f, "[v['persistentVolumeClaim']['claimName'] for v in " + pod + "['volumes']]"), claim);
    EXPECT_EQ(yaml_eval(f, pod + "['securityContext']['runAsUser']"), "10001\n") << "the image's ferry user";
  }
  EXPECT_TRUE(contains(yaml_eval(k_dir + "/helm-pre-upgrade-hook.yaml", "d['metadata']['annotations']['helm.sh/hook']"),
                       "pre-upgrade"));
}

TEST(KubernetesExamples, TheProjectInTheImagePassesFerryValidate) {
  auto p = pk::run({ferry_binary(), "-C", k_dir + "/project", "validate"},
                   {{"DB_PASSWORD", "x"}, {"DB_HOST", "db.example"}, {"NO_COLOR", "1"}});
  EXPECT_EQ(p.code, 0) << p.all();
}

TEST(KubernetesExamples, RolloutCommandsParseWithTheRealKubectl) {
  if (!kubectl_present()) GTEST_SKIP() << "kubectl is not installed";
  std::string dir = temp_dir("ferry-kubeconfig");
  std::ofstream(dir + "/config") << "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "
                                    "'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]\n"
                                    "users: [{name: u, user: {token: x}}]\ncontexts: [{name: x, context: {cluster: "
                                    "c, user: u}}]\ncurrent-context: x\n";
  // The restart command of the CI environment, one kubectl call at a time, and the code rollback.
  auto restart = yaml_eval(k_dir + "/project/environments/production-from-ci.yaml",
                           "[s.strip() for s in d['services']['backend']['restart'].split('&&')]");
  std::vector<std::string> commands;
  for (size_t at = 0, nl; (nl = restart.find('\n', at)) != std::string::npos; at = nl + 1)
    commands.push_back(restart.substr(at, nl - at));
  ASSERT_EQ(commands.size(), 2u) << restart;
  EXPECT_TRUE(contains(commands[1], "rollout status") && contains(commands[1], "--timeout=")) << commands[1];
  commands.push_back("kubectl rollout undo deployment/backend -n app");
  commands.push_back("kubectl rollout undo deployment/backend -n app --no-such-flag");  // the check itself works
  for (size_t i = 0; i < commands.size(); ++i) {
    auto p = pk::run({"sh", "-c", commands[i]}, {{"KUBECONFIG", dir + "/config"}}, 90);
    EXPECT_NE(p.code, 0) << commands[i];
    bool flag_error = contains(p.err, "unknown flag") || contains(p.err, "unknown command");
    if (i + 1 == commands.size()) {
      EXPECT_TRUE(flag_error) << p.err;
    } else {
      EXPECT_FALSE(flag_error) << commands[i] << ": " << p.err;
      EXPECT_TRUE(contains(p.err, "127.0.0.1:1 was refused")) << commands[i] << ": " << p.err;
    }
  }
  fs::remove_all(dir);
}
