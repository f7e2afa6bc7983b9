// `ferry lint`'s rules, read by PostgreSQL's own parser: one test per rule (the risky form is
// found, the safe form is not), levels scaled by table size, the seed table, accept-risk.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.hpp"
#include "migrate/lint/lint.hpp"

using namespace ferry;
using namespace ferry::migrate::lint;

namespace {
std::vector<Finding> lint(const std::string& sql, bool transactional = true, long long lock_timeout_ms = 5000) {
  Linter l;
  return l.lint(Source{sql, "migrations/0002_x/up.sql", transactional, lock_timeout_ms});
}

std::vector<std::string> codes(const std::string& sql, bool transactional = true, long long lock_timeout_ms = 5000) {
  std::vector<std::string> out;
  for (const auto& f : lint(sql, transactional, lock_timeout_ms)) out.push_back(f.code);
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& code) {
  return std::find(v.begin(), v.end(), code) != v.end();
}

// The level of the first finding `code` on a `tasks` table of `rows` rows on the target.
Level level_at(const std::string& sql, const std::string& code, double rows) {
  auto f = lint(sql);
  scale(f, {{"tasks", TableSize{rows, static_cast<long long>(rows * 100)}}}, Thresholds{});
  for (const auto& x : f)
    if (x.code == code) return x.level;
  ADD_FAILURE() << code << " not found in " << sql;
  return Level::Low;
}
}  // namespace

// The release engineers' classification, as a fixture: add column and table low, index low to
// medium, type change medium to high, drop column and table high.
TEST(Lint, SeedTable) {
  struct Seed {
    const char* sql;
    const char* code;
    double rows;
    Level level;
  } seeds[] = {
      {"ALTER TABLE tasks ADD COLUMN due date", "FL001", 10, Level::Low},
      {"ALTER TABLE tasks ADD COLUMN due date", "FL001", 50e6, Level::Low},
      {"CREATE TABLE notes (id bigint PRIMARY KEY, body text)", "FL002", -1, Level::Low},
      {"CREATE INDEX tasks_due ON tasks (due)", "FL020", 10, Level::Low},
      {"CREATE INDEX tasks_due ON tasks (due)", "FL020", 200'000, Level::Medium},
      {"ALTER TABLE tasks ALTER COLUMN id TYPE bigint", "FL005", 200'000, Level::Medium},
      {"ALTER TABLE tasks ALTER COLUMN id TYPE bigint", "FL005", 50e6, Level::High},
      {"ALTER TABLE tasks DROP COLUMN due", "FL009", 10, Level::High},
      {"DROP TABLE tasks", "FL030", 10, Level::High},
  };
  for (const auto& s : seeds)
    EXPECT_EQ(level_name(level_at(s.sql, s.code, s.rows)), level_name(s.level)) << s.sql << " at " << s.rows;
}

TEST(Lint, RewriteLevelGrowsWithTheTableAndUnknownSizeIsTheWorstCase) {
  const char* sql = "ALTER TABLE tasks ALTER COLUMN title TYPE varchar(200)";
  EXPECT_EQ(level_at(sql, "FL005", 10), Level::Low);
  EXPECT_EQ(level_at(sql, "FL005", 100'000), Level::Medium);
  EXPECT_EQ(level_at(sql, "FL005", 1'000'000), Level::High);
  auto f = lint(sql);  // offline: size unknown
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].level, Level::High);
  // Bytes count too: few rows, but 2 GB of them.
  scale(f, {{"tasks", TableSize{10, 2LL << 30}}}, Thresholds{});
  EXPECT_EQ(f[0].level, Level::High);
  // Configurable thresholds.
  Thresholds t;
  t.medium_rows = 5;
  t.high_rows = 1e9;
  t.high_bytes = 1LL << 40;
  scale(f, {{"tasks", TableSize{10, 1000}}}, t);
  EXPECT_EQ(f[0].level, Level::Medium);
}

TEST(Lint, TablesCreatedEarlierInTheRunAreNewAndSmall) {
  Linter l;
  auto a = l.lint(Source{"CREATE TABLE notes (id int);", "m1/up.sql"});
  auto b = l.lint(Source{"CREATE INDEX notes_id ON public.notes (id);\nALTER TABLE notes ALTER COLUMN id TYPE bigint;",
                         "m2/up.sql"});
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].code, "FL020");
  EXPECT_EQ(b[0].level, Level::Low);
  EXPECT_EQ(b[1].level, Level::Low);
  EXPECT_EQ(b[1].line, 2);
  EXPECT_TRUE(l.tables().empty());  // nothing to look up on the target
}

TEST(Lint, AddColumn) {
  EXPECT_EQ(codes("ALTER TABLE tasks ADD COLUMN a int DEFAULT 0"), std::vector<std::string>{"FL001"});
  EXPECT_EQ(codes("ALTER TABLE tasks ADD COLUMN a timestamptz NOT NULL DEFAULT now()"),
            std::vector<std::string>{"FL001"});
  EXPECT_TRUE(has(codes("ALTER TABLE tasks ADD COLUMN a float DEFAULT random()"), "FL003"));
  EXPECT_TRUE(has(codes("ALTER TABLE tasks ADD COLUMN a uuid DEFAULT gen_random_uuid()"), "FL003"));
  EXPECT_TRUE(has(codes("ALTER TABLE tasks ADD COLUMN n bigserial"), "FL003"));
  EXPECT_TRUE(has(codes("ALTER TABLE tasks ADD COLUMN g int GENERATED ALWAYS AS (id * 2) STORED"), "FL003"));
  EXPECT_TRUE(has(codes("ALTER TABLE tasks ADD COLUMN a int NOT NULL"), "FL004"));
  EXPECT_FALSE(has(codes("ALTER TABLE tasks ADD COLUMN a int NOT NULL DEFAULT 1"), "FL004"));
}

TEST(Lint, TypeChangeSetNotNullRenamesDropColumn) {
  EXPECT_TRUE(has(codes("ALTER TABLE tasks ALTER COLUMN a TYPE bigint USING a::bigint"), "FL005"));
  EXPECT_TRUE(has(codes("ALTER TABLE tasks ALTER COLUMN a SET NOT NULL"), "FL006"));
  EXPECT_FALSE(has(codes("ALTER TABLE tasks ALTER COLUMN a SET DEFAULT 1"), "FL006"));
  EXPECT_TRUE(has(codes("ALTER TABLE tasks RENAME COLUMN a TO b"), "FL007"));
  EXPECT_TRUE(has(codes("ALTER TABLE tasks RENAME TO jobs"), "FL008"));
  EXPECT_TRUE(has(codes("ALTER TABLE tasks DROP COLUMN a"), "FL009"));
}

TEST(Lint, ConstraintsWithoutNotValid) {
  EXPECT_TRUE(has(codes("ALTER TABLE tasks ADD CONSTRAINT c CHECK (a > 0)"), "FL010"));
  EXPECT_FALSE(has(codes("ALTER TABLE tasks ADD CONSTRAINT c CHECK (a > 0) NOT VALID"), "FL010"));
  EXPECT_TRUE(has(codes("ALTER TABLE tasks ADD CONSTRAINT f FOREIGN KEY (u) REFERENCES users (id)"), "FL011"));
  EXPECT_TRUE(has(codes("ALTER TABLE tasks ADD COLUMN u int REFERENCES users (id)"), "FL011"));
  EXPECT_FALSE(
      has(codes("ALTER TABLE tasks ADD CONSTRAINT f FOREIGN KEY (u) REFERENCES users (id) NOT VALID"), "FL011"));
  EXPECT_FALSE(has(codes("ALTER TABLE tasks VALIDATE CONSTRAINT f"), "FL011"));
  EXPECT_TRUE(has(codes("ALTER TABLE tasks ADD PRIMARY KEY (id)"), "FL012"));
  EXPECT_TRUE(has(codes("ALTER TABLE tasks ADD CONSTRAINT u UNIQUE (code)"), "FL012"));
  EXPECT_FALSE(has(codes("ALTER TABLE tasks ADD CONSTRAINT u UNIQUE USING INDEX tasks_code"), "FL012"));
}

TEST(Lint, IndexesAndConcurrently) {
  EXPECT_TRUE(has(codes("CREATE INDEX i ON tasks (a)"), "FL020"));
  EXPECT_TRUE(has(codes("CREATE UNIQUE INDEX i ON tasks (a)"), "FL020"));
  EXPECT_EQ(codes("-- ferry:no-transaction\nCREATE INDEX CONCURRENTLY i ON tasks (a)", false),
            std::vector<std::string>{});
  EXPECT_TRUE(has(codes("CREATE INDEX CONCURRENTLY i ON tasks (a)"), "FL021"));
  EXPECT_TRUE(has(codes("DROP INDEX CONCURRENTLY i"), "FL021"));
  EXPECT_TRUE(has(codes("REINDEX TABLE CONCURRENTLY tasks"), "FL021"));
  EXPECT_TRUE(has(codes("VACUUM tasks"), "FL021"));
  EXPECT_FALSE(has(codes("VACUUM tasks", false), "FL021"));
  // A no-transaction migration that opens its own transaction is in one again.
  EXPECT_TRUE(has(codes("BEGIN;\nCREATE INDEX CONCURRENTLY i ON tasks (a);\nCOMMIT;", false), "FL021"));
  EXPECT_TRUE(has(codes("DROP INDEX i"), "FL022"));
  EXPECT_FALSE(has(codes("DROP INDEX CONCURRENTLY i", false), "FL022"));
  EXPECT_TRUE(has(codes("REINDEX TABLE tasks"), "FL023"));
}

TEST(Lint, DropsTruncateAndWholeTableWrites) {
  EXPECT_TRUE(has(codes("DROP TABLE tasks"), "FL030"));
  EXPECT_TRUE(has(codes("DROP VIEW v"), "FL031"));
  EXPECT_TRUE(has(codes("DROP FUNCTION f()"), "FL031"));
  EXPECT_TRUE(has(codes("DROP SCHEMA s"), "FL032"));
  EXPECT_TRUE(has(codes("DROP TYPE mood CASCADE"), "FL032"));
  EXPECT_TRUE(has(codes("TRUNCATE tasks"), "FL033"));
  EXPECT_TRUE(has(codes("DELETE FROM tasks"), "FL034"));
  EXPECT_FALSE(has(codes("DELETE FROM tasks WHERE id < 10"), "FL034"));
  EXPECT_TRUE(has(codes("UPDATE tasks SET a = 1"), "FL035"));
  EXPECT_FALSE(has(codes("UPDATE tasks SET a = 1 WHERE id < 100"), "FL035"));
}

TEST(Lint, MaintenanceAndEnums) {
  EXPECT_TRUE(has(codes("VACUUM FULL tasks", false), "FL040"));
  EXPECT_TRUE(has(codes("CLUSTER tasks USING tasks_pkey"), "FL040"));
  EXPECT_FALSE(has(codes("VACUUM tasks", false), "FL040"));
  EXPECT_TRUE(has(codes("ALTER TYPE mood ADD VALUE 'meh'"), "FL041"));
  EXPECT_FALSE(has(codes("-- ferry:no-transaction\nALTER TYPE mood ADD VALUE 'meh'", false), "FL041"));
}

TEST(Lint, MissingLockTimeout) {
  const char* sql = "ALTER TABLE tasks ALTER COLUMN a SET NOT NULL";
  EXPECT_FALSE(has(codes(sql), "FL042"));  // ferry's own lock_timeout (5s) is in force
  EXPECT_TRUE(has(codes(sql, true, 0), "FL042"));
  EXPECT_FALSE(has(codes(std::string("SET LOCAL lock_timeout = '2s';\n") + sql, true, 0), "FL042"));
  EXPECT_TRUE(has(codes(std::string("SET lock_timeout = 0;\n") + sql), "FL042"));
  EXPECT_TRUE(has(codes(std::string("RESET lock_timeout;\n") + sql), "FL042"));
  EXPECT_FALSE(has(codes("UPDATE tasks SET a = 1", true, 0), "FL042"));                           // row locks only
  EXPECT_FALSE(has(codes("CREATE TABLE n (id int); CREATE INDEX ON n (id)", true, 0), "FL042"));  // new table
}

TEST(Lint, ManyStatementsAfterAccessExclusive) {
  std::string sql =
      "ALTER TABLE tasks ADD COLUMN a int;\nUPDATE tasks SET a = 1 WHERE id < 10;\nINSERT INTO log VALUES (1);\n"
      "SELECT pg_sleep(0);\n";
  auto f = lint(sql);
  auto it = std::find_if(f.begin(), f.end(), [](const Finding& x) { return x.code == "FL043"; });
  ASSERT_NE(it, f.end());
  EXPECT_EQ(it->line, 1);
  EXPECT_EQ(it->table, "tasks");
  EXPECT_FALSE(has(codes("ALTER TABLE tasks ADD COLUMN a int;\nSELECT 1;\nSELECT 2;"), "FL043"));
  EXPECT_FALSE(has(codes(sql, false), "FL043"));  // autocommit: the lock ends with its statement
}

TEST(Lint, FindingCarriesPositionStatementAndTable) {
  auto f = lint("-- add the index\nSELECT 1;\n\n  CREATE INDEX i ON app.tasks (a);\n");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].file, "migrations/0002_x/up.sql");
  EXPECT_EQ(f[0].line, 4);
  EXPECT_EQ(f[0].col, 3);
  EXPECT_EQ(f[0].table, "app.tasks");
  EXPECT_EQ(f[0].statement, "CREATE INDEX i ON app.tasks (a)");
}

TEST(Lint, AcceptRiskSilencesACodeWithItsReason) {
  auto f = lint("-- ferry:accept-risk FL030 table unused since release 41\nDROP TABLE old_tasks;\nTRUNCATE t;");
  ASSERT_EQ(f.size(), 2u);
  EXPECT_TRUE(f[0].accepted);
  EXPECT_EQ(f[0].accept_reason, "table unused since release 41");
  EXPECT_FALSE(f[1].accepted);
  try {
    lint("SELECT 1;\n-- ferry:accept-risk FL999 because\n");
    FAIL() << "an unknown code must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_EQ(std::string(e.what()), "migrations/0002_x/up.sql:2: ferry:accept-risk names no lint rule 'FL999'");
  }
  EXPECT_THROW(lint("-- ferry:accept-risk FL030\nDROP TABLE t;"), Error);  // no reason
}

TEST(Lint, EveryRuleHasAStableCodeLevelsAndASafeForm) {
  std::set<std::string> seen;
  for (const auto& r : rules()) {
    EXPECT_TRUE(seen.insert(r.code).second) << r.code;
    EXPECT_EQ(r.code.size(), 5u);
    EXPECT_LE(r.levels[0], r.levels[1]);
    EXPECT_LE(r.levels[1], r.levels[2]);
    EXPECT_FALSE(r.why.empty());
    EXPECT_FALSE(r.safe.empty());
    EXPECT_NE(rules_markdown().find("## " + r.code + " " + r.name), std::string::npos);
  }
  EXPECT_EQ(lock_display("ShareRowExclusiveLock"), "SHARE ROW EXCLUSIVE");
}
