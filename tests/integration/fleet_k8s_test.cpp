// examples/kubernetes/fleet-job.yaml: ferry over a fleet as an Indexed Job, one shard per pod.
// No cluster runs here (kubectl apply --dry-run=client needs an API server for discovery and the
// OpenAPI schema), so the manifest is built by the real kubectl's offline kustomize and its keys
// are read with a YAML parser; the argv each pod gets is expanded the way Kubernetes expands
// $(VAR) in args, from the variables the container declares, and checked to be a valid shard.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/fixtures.hpp"
#include "support/packaging.hpp"

using namespace ferry::test;
namespace pk = ferry::test::packaging;
namespace fs = std::filesystem;

namespace {
const std::string k_job = source_dir() + "/examples/kubernetes/fleet-job.yaml";

// Evaluates a Python expression over the documents of the Job file: `pvc` is the claim, `job` the
// Job, `c` the Job's container; `expand(args, env)` is Kubernetes' $(VAR) expansion of args (a
// declared variable's value replaces $(VAR); $$ escapes; anything else is left as written).
std::string job_eval(const std::string& expr) {
  static const std::string prelude = R"PY(
import re, sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
pvc = next(d for d in docs if d['kind'] == 'PersistentVolumeClaim')
job = next(d for d in docs if d['kind'] == 'Job')
pod = job['spec']['template']['spec']
c = pod['containers'][0]
def expand(args, env):
    def one(a):
        return re.sub(r'\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)',
                      lambda m: '$' if m.group(0) == '$$' else env.get(m.group(1), m.group(0)), a)
    return [one(a) for a in args]
v = eval(sys.argv[2])
print('\n'.join(map(str, v)) if isinstance(v, list) else v)
)PY";
  auto p = pk::run({"python3", "-c", prelude, k_job, expr});
  EXPECT_EQ(p.code, 0) << expr << ": " << p.all();
  return p.out;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  for (size_t at = 0, nl; (nl = s.find('\n', at)) != std::string::npos; at = nl + 1)
    out.push_back(s.substr(at, nl - at));
  return out;
}
}  // namespace

TEST(FleetKubernetesExample, KustomizeBuildsTheIndexedJobOffline) {
  if (pk::run({"kubectl", "version", "--client"}, {}, 30).code != 0) GTEST_SKIP() << "kubectl is not installed";
  std::string dir = temp_dir("ferry-fleet-k8s");
  fs::copy_file(k_job, dir + "/fleet-job.yaml");
  std::ofstream(dir + "/kustomization.yaml") << "resources: [fleet-job.yaml]\n";
  auto p = pk::run({"kubectl", "kustomize", dir}, {}, 60);
  ASSERT_EQ(p.code, 0) << p.all();
  EXPECT_TRUE(contains(p.out, "kind: Job")) << p.out;
  EXPECT_TRUE(contains(p.out, "completionMode: Indexed")) << p.out;
  EXPECT_TRUE(contains(p.out, "kind: PersistentVolumeClaim")) << p.out;
  fs::remove_all(dir);
}

TEST(FleetKubernetesExample, OneShardPerIndexNeverRetriedWithSharedState) {
  EXPECT_EQ(job_eval("job['spec']['completionMode']"), "Indexed\n");
  EXPECT_EQ(job_eval("pod['restartPolicy']"), "Never\n");
  EXPECT_EQ(job_eval("job['spec']['backoffLimitPerIndex']"), "0\n") << "a failed shard is not retried";
  EXPECT_EQ(job_eval("'command' in c"), "False\n") << "args are ferry's argv: no shell";
  // The index comes from the pod's annotation, declared so that Kubernetes expands it in args.
  EXPECT_EQ(job_eval("[e['valueFrom']['fieldRef']['fieldPath'] for e in c['env'] if e['name'] == "
                     "'JOB_COMPLETION_INDEX']"),
            "metadata.annotations['batch.kubernetes.io/job-completion-index']\n");
  EXPECT_EQ(job_eval("[e['valueFrom']['secretKeyRef']['name'] for e in c['env'] if e['name'] == 'DB_PASSWORD']"),
            "app-db\n");
  // Backups and the shards' run records on one volume every pod mounts.
  EXPECT_EQ(job_eval("pvc['spec']['accessModes']"), "ReadWriteMany\n");
  EXPECT_EQ(job_eval("[m['mountPath'] for m in c['volumeMounts']]"), "/var/lib/ferry\n");
  EXPECT_EQ(job_eval("[v['persistentVolumeClaim']['claimName'] for v in pod['volumes']]"),
            job_eval("pvc['metadata']['name']"));
}

TEST(FleetKubernetesExample, EachPodGetsADistinctShardOfTheSameCount) {
  int completions = std::stoi(job_eval("job['spec']['completions']"));
  ASSERT_GE(completions, 2);
  EXPECT_LE(std::stoi(job_eval("job['spec']['parallelism']")), completions);
  std::vector<std::string> shards;
  for (int i = 0; i < completions; ++i) {
    // The argv of pod i: its env as the kubelet sees it (the annotation's value is i).
    auto argv = lines(job_eval("expand(c['args'], {'JOB_COMPLETION_INDEX': '" + std::to_string(i) + "'})"));
    ASSERT_GE(argv.size(), 3u);
    EXPECT_EQ(argv[0], "run");
    EXPECT_TRUE(fs::exists(source_dir() + "/examples/kubernetes/project/playbooks/" + argv[1] + ".yaml")) << argv[1];
    auto at = std::find(argv.begin(), argv.end(), "--shard");
    ASSERT_NE(at, argv.end());
    ASSERT_NE(at + 1, argv.end());
    shards.push_back(*(at + 1));
    EXPECT_EQ(*(at + 1), std::to_string(i) + "/" + std::to_string(completions)) << "--shard I/N with N = completions";
  }
  std::sort(shards.begin(), shards.end());
  EXPECT_EQ(std::unique(shards.begin(), shards.end()), shards.end());
}
