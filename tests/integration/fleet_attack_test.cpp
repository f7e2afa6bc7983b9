// Attacks on fleet runs (docs/fleets.md) with 30-40 real databases on one real cluster and the
// real ferry binary: the failure budget spent (stop, revert), SIGTERM in the middle of a wave then
// --resume, shards covering the fleet exactly once, a lock held on one member, and members whose
// names are prefixes of each other or carry a space and a quote. What a user checks: exit codes,
// the fleet run record, each database's schema, rows and ledger.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "support/fixtures.hpp"

using namespace ferry::test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string quote_ident(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// A fleet: databases copied from one template (a table `accounts` with rows, one of them naming
// the database), an environment `fleet` listing them, and a project to run in.
class Fleet {
 public:
  explicit Fleet(const std::vector<std::string>& names) : m_names(names) {
    m_pg.create_db("fleet_tpl");
    m_pg.exec("fleet_tpl",
              "CREATE TABLE accounts (id bigserial PRIMARY KEY, email text NOT NULL);"
              "INSERT INTO accounts (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, 20) g");
    for (const auto& n : names) {
      m_pg.exec("postgres", "CREATE DATABASE " + quote_ident(n) + " TEMPLATE fleet_tpl");
      m_pg.exec(n, "INSERT INTO accounts (email) VALUES (" + literal(n) + ")");
    }
    json list = names;
    m_p.write("environments/fleet.yaml",
              "database:\n  names: " + list.dump() + "\n  user: postgres\n  host: 127.0.0.1\n  port: " +
                  std::to_string(m_pg.port()) + "\nbackup:\n  dir: " + m_p.path("backups") + "\n");
  }
  static std::vector<std::string> numbered(int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) out.push_back((i < 10 ? "tenant_0" : "tenant_") + std::to_string(i));
    return out;
  }
  // A SQL string literal of `s` (names with quotes).
  static std::string literal(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
  }
  PgCluster& pg() { return m_pg; }
  const Project& p() const { return m_p; }
  const std::vector<std::string>& names() const { return m_names; }

  // playbooks/go.yaml: `steps` (backup, migrate, verify row counts), with this `fleet:` block.
  void playbook(const std::string& fleet_block,
                const std::string& steps = "  - backup\n  - migrate\n  - verify: {row_counts: all}\n") const {
    m_p.write("playbooks/go.yaml",
              "migrations: migrations\nstages: [fleet]\nfleet:\n" + fleet_block + "steps:\n" + steps);
  }
  // What a person compares to say "as before": the public schema's columns, constraints and
  // indexes, and the rows of accounts.
  std::string schema(const std::string& db) {
    return m_pg.value(db,
                      "SELECT concat_ws(' | ', (SELECT string_agg(table_name || '.' || column_name || ':' || "
                      "data_type, ',' ORDER BY table_name, column_name) FROM information_schema.columns WHERE "
                      "table_schema = 'public'), (SELECT string_agg(conname, ',' ORDER BY conname) FROM "
                      "pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public'), "
                      "(SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE schemaname = "
                      "'public'), (SELECT count(*)::text || ':' || md5(string_agg(email, ',' ORDER BY id)) FROM "
                      "accounts))");
  }
  std::map<std::string, std::string> schemas() {
    std::map<std::string, std::string> out;
    for (const auto& n : m_names) out[n] = schema(n);
    return out;
  }
  bool has_ledger(const std::string& db) {
    return m_pg.value(db, "SELECT to_regclass('ferry.runs') IS NOT NULL") == "t";
  }
  // How many times `version` was applied to `db` and stayed applied, by ferry's ledger.
  std::string applied(const std::string& db, const std::string& version) {
    if (!has_ledger(db)) return "no ledger";
    return m_pg.value(db, "SELECT count(*) FROM ferry.migrations WHERE version = '" + version + "'");
  }

  // The fleet run records in the state directory, by run id.
  std::set<std::string> record_ids() const {
    std::set<std::string> out;
    fs::path dir = m_p.path(".ferry/fleets");
    if (!fs::exists(dir)) return out;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".json") out.insert(e.path().stem().string());
    return out;
  }
  json record(const std::string& id) const { return json::parse(m_p.read(".ferry/fleets/" + id + ".json")); }
  // The one record that appeared since `before`.
  std::string new_record(const std::set<std::string>& before) const {
    std::string id;
    for (const auto& r : record_ids())
      if (!before.count(r)) {
        EXPECT_TRUE(id.empty()) << "two new fleet records";
        id = r;
      }
    return id;
  }

 private:
  PgCluster m_pg;
  Project m_p;
  std::vector<std::string> m_names;
};

std::map<std::string, json> by_name(const json& record) {
  std::map<std::string, json> out;
  for (const auto& m : record["databases"]) out[m["name"].get<std::string>()] = m;
  return out;
}

std::map<std::string, int> outcomes(const json& record) {
  std::map<std::string, int> out;
  for (const auto& m : record["databases"]) ++out[m["outcome"].get<std::string>()];
  return out;
}

// Three migrations; the second fails on a database whose accounts hold an email starting 'bad'.
void three_migrations(const Project& p) {
  p.migration("0001_orders", "CREATE TABLE orders (id bigserial PRIMARY KEY, account_id bigint REFERENCES accounts);\n",
              "DROP TABLE orders;\n");
  p.migration("0002_email_check", "ALTER TABLE accounts ADD CONSTRAINT email_not_bad CHECK (email NOT LIKE 'bad%');\n",
              "ALTER TABLE accounts DROP CONSTRAINT email_not_bad;\n");
  p.migration("0003_orders_idx", "CREATE INDEX orders_account_idx ON orders (account_id);\n",
              "DROP INDEX orders_account_idx;\n");
}

void poison(Fleet& f, const std::string& db) {
  f.pg().exec(db, "INSERT INTO accounts (email) VALUES ('bad@example.com')");
}

// 64-bit FNV-1a, written here from its definition: the shard rule docs/fleets.md promises.
std::uint64_t fnv1a64(const std::string& s) {
  std::uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

// max_failures 2, on_budget_spent: stop, one member at a time: the third failure spends the
// budget; nothing starts after it; every failure rolled back and proven -> exit 1. (It caught a
// race in run/fleet.cpp's pool(), fixed: a worker took the next database before the main thread
// had counted the result that spent the budget.)
TEST(FleetAttack, BudgetSpentWithStopStartsNothingAfterAndExits1) {
  Fleet f(Fleet::numbered(30));
  three_migrations(f.p());
  f.playbook("  parallel: 1\n  max_failures: 2\n  on_budget_spent: stop\n");
  for (int i : {4, 9, 14}) poison(f, f.names()[i]);
  auto before = f.schemas();
  auto r = f.p().ferry({"run", "go", "--yes"});
  EXPECT_EQ(r.code, 1) << r.all();
  auto ids = f.record_ids();
  ASSERT_EQ(ids.size(), 1u);
  auto rec = f.record(*ids.begin());
  auto out = outcomes(rec);
  EXPECT_EQ(out["ok"], 12) << rec.dump(2);
  EXPECT_EQ(out["rolled_back"], 3) << rec.dump(2);
  EXPECT_EQ(out["not_started"], 15) << rec.dump(2);
  auto m = by_name(rec);
  for (size_t i = 0; i < f.names().size(); ++i) {
    const auto& n = f.names()[i];
    SCOPED_TRACE(n);
    if (i == 4 || i == 9 || i == 14) {
      EXPECT_EQ(m[n]["outcome"], "rolled_back");
      EXPECT_EQ(f.schema(n), before[n]) << "a failed member is proven back";
    } else if (i < 14) {
      EXPECT_EQ(m[n]["outcome"], "ok");
      EXPECT_EQ(f.applied(n, "0003"), "1");
    } else {
      EXPECT_EQ(m[n]["outcome"], "not_started");
      EXPECT_FALSE(f.has_ledger(n)) << "no member starts after the budget is spent";
      EXPECT_EQ(f.schema(n), before[n]);
    }
  }
}

// max_failures 1, on_budget_spent: revert, 4 at a time: once two fail, every database this run
// migrated is rolled back too; each database's schema and rows equal what they were before.
TEST(FleetAttack, BudgetSpentWithRevertProvesEveryMigratedDatabaseBack) {
  Fleet f(Fleet::numbered(30));
  three_migrations(f.p());
  f.playbook("  parallel: 4\n  max_failures: 1\n  on_budget_spent: revert\n");
  for (int i : {10, 11}) poison(f, f.names()[i]);
  auto before = f.schemas();
  auto r = f.p().ferry({"run", "go", "--yes"});
  EXPECT_EQ(r.code, 1) << r.all();
  auto ids = f.record_ids();
  ASSERT_EQ(ids.size(), 1u);
  auto rec = f.record(*ids.begin());
  auto out = outcomes(rec);
  EXPECT_EQ(out["ok"], 0) << rec.dump(2);
  EXPECT_EQ(out["needs_human"], 0) << rec.dump(2);
  EXPECT_GE(out["rolled_back"], 2) << rec.dump(2);
  EXPECT_EQ(out["rolled_back"] + out["not_started"], 30) << rec.dump(2);
  for (const auto& n : f.names()) EXPECT_EQ(f.schema(n), before[n]) << n;
}

// SIGTERM while a wave runs: the first run stops starting members, its in-flight members roll
// back, and it exits 1 (all proven) or 2 (one needs a human); the record shows what did not
// finish. --resume runs the rest: every database ends migrated, each migration applied once.
TEST(FleetAttack, SigtermMidWaveThenResumeMigratesEachDatabaseExactlyOnce) {
  Fleet f(Fleet::numbered(30));
  f.p().migration("0001_slow", "SELECT pg_sleep(0.4);\nCREATE TABLE orders (id bigserial PRIMARY KEY);\n",
                  "DROP TABLE orders;\n");
  f.p().migration("0002_marker", "INSERT INTO accounts (email) VALUES ('migrated');\n",
                  "DELETE FROM accounts WHERE email = 'migrated';\n");
  f.playbook("  parallel: 3\n", "  - backup\n  - migrate\n");  // 0002 adds a row: no row-count check
  Background run({ferry_binary(), "-C", f.p().root(), "run", "go", "--yes"});
  // Wait until a few members have finished (the record says so), then stop the run.
  std::string id;
  for (int i = 0; i < 1200; ++i) {
    auto ids = f.record_ids();
    if (!ids.empty()) {
      id = *ids.begin();
      try {
        if (outcomes(f.record(id))["ok"] >= 4) break;
      } catch (const std::exception&) {
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(id.empty());
  run.signal(SIGTERM);
  auto first = run.wait();
  auto rec = f.record(id);
  auto out = outcomes(rec);
  EXPECT_TRUE(first.code == 1 || first.code == 2) << first.all();
  EXPECT_EQ(first.code == 2, out["needs_human"] > 0) << rec.dump(2);
  EXPECT_GT(out["not_started"], 0) << "SIGTERM stops new starts: " << rec.dump(2);
  EXPECT_EQ(out["ok"] + out["rolled_back"] + out["not_started"] + out["needs_human"], 30) << rec.dump(2);
  ASSERT_EQ(out["needs_human"], 0) << "resume only continues a run whose failures were proven: " << rec.dump(2)
                                   << first.all();

  auto again = f.p().ferry({"run", "go", "--yes", "--resume", id});
  EXPECT_EQ(again.code, 0) << again.all();
  auto done = outcomes(f.record(id));
  EXPECT_EQ(done["ok"], 30) << f.record(id).dump(2);
  for (const auto& n : f.names()) {
    SCOPED_TRACE(n);
    EXPECT_EQ(f.applied(n, "0002"), "1");
    EXPECT_EQ(f.pg().value(n, "SELECT count(*) FROM accounts WHERE email = 'migrated'"), "1")
        << "the data migration ran once";
    EXPECT_EQ(f.pg().value(n, "SELECT count(*) FROM ferry.history WHERE action = 'applied' AND version = '0002'"),
              f.pg().value(n,
                           "SELECT 1 + count(*) FROM ferry.history WHERE action IN ('reverted', 'restored') AND "
                           "version = '0002'"))
        << "applied once, plus once again for each proven rollback";
  }
}

// The race behind a member left "needs_human" by a stop: a SIGTERM that reaches a member before
// it installed its handlers. The fleet spawns members with SIGTERM blocked; this starts one the
// same way with the signal already pending. It must stop before its first step, change nothing
// and exit 1 (proven), not die mid-start (exit 143, which the fleet must call needs_human).
TEST(FleetAttack, MemberStoppedAsItStartsChangesNothingAndExits1) {
  Fleet f(Fleet::numbered(2));
  three_migrations(f.p());
  f.playbook("  parallel: 1\n");
  auto before = f.schemas();
  std::vector<std::string> args = {ferry_binary(), "-C",    f.p().root(), "--color",    "never",      "run",
                                   "go",           "--env", "fleet",      "--database", f.names()[0], "--yes"};
  std::vector<char*> av;
  for (auto& a : args) av.push_back(a.data());
  av.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  posix_spawnattr_setsigmask(&attr, &stop);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, av[0], nullptr, &attr, av.data(), environ), 0);
  posix_spawnattr_destroy(&attr);
  kill(pid, SIGTERM);  // pending until ferry's handlers are in
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_EQ(f.applied(f.names()[0], "0001"), f.has_ledger(f.names()[0]) ? "0" : "no ledger");
  for (const auto& n : f.names()) EXPECT_EQ(f.schema(n), before[n]) << n;
}

// --shard I/3 for I = 0, 1, 2: together every database exactly once, each shard's members those
// whose name's FNV-1a hash is I mod 3; the same split again on a second run.
TEST(FleetAttack, ShardsCoverEveryDatabaseExactlyOnceAndStably) {
  Fleet f(Fleet::numbered(30));
  f.p().migration("0001_orders", "CREATE TABLE orders (id bigserial PRIMARY KEY);\n", "DROP TABLE orders;\n");
  f.playbook("  parallel: 4\n");
  std::map<std::string, int> shard_of;
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 3; ++i) {
      SCOPED_TRACE("round " + std::to_string(round) + " shard " + std::to_string(i));
      auto before = f.record_ids();
      auto r = f.p().ferry({"run", "go", "--yes", "--shard", std::to_string(i) + "/3"});
      EXPECT_EQ(r.code, 0) << r.all();
      auto rec = f.record(f.new_record(before));
      EXPECT_EQ(rec["shard"], std::to_string(i) + "/3");
      for (const auto& m : rec["databases"]) {
        std::string n = m["name"];
        EXPECT_EQ(m["outcome"], "ok") << n;
        EXPECT_EQ(fnv1a64(n) % 3, static_cast<std::uint64_t>(i)) << n;
        if (round == 0)
          EXPECT_TRUE(shard_of.emplace(n, i).second) << n << " in two shards";
        else
          EXPECT_EQ(shard_of[n], i) << n << " moved to another shard";
      }
    }
  }
  EXPECT_EQ(shard_of.size(), f.names().size()) << "every database in a shard";
  for (const auto& n : f.names()) EXPECT_EQ(f.applied(n, "0001"), "1") << n;
}

// A session holds ferry's advisory lock on one member: that member is refused (its exit 3), it
// counts against the budget (0 here: the budget is spent, the run stops), and it is left
// untouched. (That nothing at all starts after it: BudgetSpentWithStopStartsNothingAfterAndExits1.)
TEST(FleetAttack, LockHeldOnOneMemberIsRefusedAndSpendsTheBudget) {
  Fleet f(Fleet::numbered(30));
  three_migrations(f.p());
  f.playbook("  parallel: 1\n  max_failures: 0\n");
  const std::string locked = f.names()[5];
  auto before = f.schema(locked);
  auto holder = f.pg().connect(locked);
  holder->exec("SELECT pg_advisory_lock(1717924466, 1)");
  auto r = f.p().ferry({"run", "go", "--yes"});
  EXPECT_EQ(r.code, 1) << "5 members changed, the failure proven untouched: " << r.all();
  auto ids = f.record_ids();
  ASSERT_EQ(ids.size(), 1u);
  auto rec = f.record(*ids.begin());
  auto m = by_name(rec);
  EXPECT_EQ(m[locked]["outcome"], "refused") << rec.dump(2);
  EXPECT_EQ(m[locked]["exit_code"], 3) << rec.dump(2);
  auto out = outcomes(rec);
  EXPECT_EQ(out["rolled_back"] + out["needs_human"], 0) << rec.dump(2);
  EXPECT_GE(out["not_started"], 23) << "the refusal spent the budget: " << rec.dump(2);
  EXPECT_TRUE(contains(r.all(), "failure budget spent (1 failed, 0 tolerated)")) << r.all();
  EXPECT_EQ(f.schema(locked), before);
  EXPECT_EQ(f.applied(locked, "0001"), "no ledger");
}

// Members `t1` and `t1_x` (one name a prefix of the other) and one with a space and a quote:
// each member's backup is its own, and the rollback of one restores that one only.
TEST(FleetAttack, PrefixNamesAndQuotesKeepEachMembersBackupItsOwn) {
  const std::vector<std::string> names = {"t1", "t1_x", "we ird'db"};
  Fleet f(names);
  f.p().migration("0001_note", "ALTER TABLE accounts ADD COLUMN note text;\n",
                  "ALTER TABLE accounts DROP COLUMN note;\n");
  f.playbook("  parallel: 3\n");
  auto r = f.p().ferry({"run", "go", "--yes"});
  ASSERT_EQ(r.code, 0) << r.all();
  // After the run, each database gets a row of its own that a foreign restore would lose.
  for (const auto& n : names)
    f.pg().exec(n, "INSERT INTO accounts (email) VALUES (" + Fleet::literal("after " + n) + ")");
  for (const auto& n : names) {
    SCOPED_TRACE(n);
    auto b = f.p().ferry({"backups", "fleet", "--database", n, "--json"});
    ASSERT_EQ(b.code, 0) << b.all();
    auto list = json::parse(b.out);
    ASSERT_EQ(list.size(), 1u) << "only this member's own backup: " << b.out;
  }
  auto before = f.schemas();
  for (const auto& n : {std::string("t1"), std::string("we ird'db")}) {
    SCOPED_TRACE(n);
    auto rb = f.p().ferry({"rollback", "fleet", "--database", n, "--backup", "latest", "--yes"});
    ASSERT_EQ(rb.code, 0) << rb.all();
    // Its own data as at its backup: its own marker row, no column `note`, no row written later.
    EXPECT_EQ(f.pg().value(n, "SELECT count(*) FROM accounts WHERE email = " + Fleet::literal(n)), "1");
    EXPECT_EQ(f.pg().value(n, "SELECT count(*) FROM accounts WHERE email = " + Fleet::literal("after " + n)), "0");
    EXPECT_EQ(f.pg().value(n, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'"), "0");
  }
  EXPECT_EQ(f.schema("t1_x"), before["t1_x"]) << "the rollback of t1 never touches t1_x";
  EXPECT_EQ(f.pg().value("t1_x", "SELECT count(*) FROM accounts WHERE email = 'after t1_x'"), "1");
  EXPECT_EQ(f.applied("t1_x", "0001"), "1");
}
