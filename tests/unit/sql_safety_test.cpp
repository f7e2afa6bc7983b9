// The data-loss guard's reading of SQL, transaction control in migrations, and statement splitting
// on large and hostile inputs, checked against PostgreSQL's own parser.
#include <gtest/gtest.h>
#include <pg_query.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.hpp"
#include "migrate/lint/lint.hpp"
#include "migrate/migration_set.hpp"
#include "migrate/sql_parser.hpp"

namespace fs = std::filesystem;
using namespace ferry;
using namespace ferry::migrate;

namespace {
const char* const changing[] = {
    "DO $$ BEGIN UPDATE tasks SET title = upper(title); END $$",
    "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a",
    "DELETE FROM t WHERE id > 0; INSERT INTO t SELECT * FROM t_new",
    "INSERT INTO t VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET a = excluded.a",
    "UPDATE t SET a = a * 2 WHERE true",
    "UPDATE t SET a = 1 WHERE b",
    "DELETE FROM t WHERE id = 1",
    "COPY t FROM '/tmp/t.csv'",
    "CALL rewrite_everything()",
    "SELECT rewrite_everything()",
    "SELECT public.fix_rows(1)",
    "WITH gone AS (DELETE FROM t RETURNING *) INSERT INTO archive SELECT * FROM gone",
    "INSERT INTO log SELECT * FROM (WITH u AS (UPDATE t SET a = 1 RETURNING id) SELECT id FROM u) s",
    "ALTER TABLE t ADD COLUMN c int DEFAULT touch_rows()",
    "ALTER TABLE t ADD CONSTRAINT c CHECK (audit_and_fix(a))",
    "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f(); INSERT INTO t VALUES (1)",
    "TRUNCATE t",
    "DROP TABLE t",
    "DROP SEQUENCE s",
    "DROP TYPE mood CASCADE",
    "ALTER TABLE t ALTER COLUMN c TYPE text USING lower(c)",
    "ALTER TABLE t DROP COLUMN c",
    "REFRESH MATERIALIZED VIEW mv",
    "CREATE TABLE copy_of AS SELECT wipe(id) FROM t",
    "this does not parse",
};

const char* const safe[] = {
    "CREATE TABLE tasks (id bigserial PRIMARY KEY, title text NOT NULL, created_at timestamptz DEFAULT now());\n"
    "INSERT INTO tasks (title) VALUES ('write the release notes'), ('promote; then production');",
    "ALTER TABLE tasks ADD COLUMN due_date timestamptz;\nCOMMENT ON COLUMN tasks.due_date IS 'when; due';",
    "ALTER TABLE tasks ADD COLUMN priority_id smallint REFERENCES priorities (id) DEFAULT 2;\n"
    "CREATE FUNCTION priority_name(p smallint) RETURNS text LANGUAGE plpgsql AS $$\nBEGIN\n"
    "  RETURN (SELECT name FROM priorities WHERE id = p);\nEND;\n$$;",
    "-- ferry:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_due_date_idx ON tasks (due_date);",
    "ALTER TABLE tasks RENAME COLUMN title TO name",
    "CREATE VIEW v AS SELECT * FROM t; GRANT SELECT ON v TO reader; SET search_path = public",
    "INSERT INTO t SELECT g, g::text FROM generate_series(1, 1000) g",
    "INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING",
    "CREATE TYPE mood AS ENUM ('sad', 'ok'); CREATE SEQUENCE s; DROP INDEX i; DROP VIEW v",
    "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0), ALTER COLUMN b SET NOT NULL, ALTER COLUMN b SET DEFAULT 3",
    "SELECT pg_sleep(1); SELECT count(*) FROM t",
    "CREATE TABLE audit_log (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), what text)",
};
}  // namespace

TEST(SqlSafety, DataChangesThatAreNotPlainUpdateOrDeleteCount) {
  for (const char* sql : changing) EXPECT_NE(destroys_data(sql), "") << sql;
  EXPECT_EQ(destroys_data("DO $$ BEGIN UPDATE t SET a = 1; END $$"), "runs a DO block");
  EXPECT_EQ(destroys_data("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE"), "merges rows (MERGE)");
  EXPECT_EQ(destroys_data("CALL p()"), "calls a procedure (CALL)");
  EXPECT_EQ(destroys_data("SELECT f()"), "calls f(), which may change rows");
}

TEST(SqlSafety, SchemaOnlyMigrationsLeaveRowsAlone) {
  for (const char* sql : safe) EXPECT_EQ(destroys_data(sql), "") << sql;
}

// A run reads each pending migration's data-loss facts from the lint's parse (one parse per
// statement) instead of parsing up.sql again: the answer must be the guard's, word for word.
TEST(SqlSafety, TheLintReadsTheSameDataLossAsTheGuard) {
  std::vector<std::string> all(std::begin(changing), std::end(changing));
  all.insert(all.end(), std::begin(safe), std::end(safe));
  all.insert(all.end(), {"CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();\n"
                         "CREATE TABLE x (a int);\nINSERT INTO t VALUES (1);\nDROP TABLE x;",
                         "CREATE EVENT TRIGGER e ON ddl_command_end EXECUTE FUNCTION touch();\nCREATE TABLE y (a int);",
                         "SELECT 1; -- a comment\n/* another */ ;;", "", "-- only a comment\n"});
  for (const auto& sql : all) {
    std::string loss = "unset";
    try {
      lint::Linter().lint({sql, "up.sql", sql.rfind("-- ferry:no-transaction", 0) != 0, 5000, &loss});
    } catch (const Error&) {
      EXPECT_NE(destroys_data(sql), "") << sql;  // SQL that does not parse counts: the guard says so
      continue;
    }
    EXPECT_EQ(loss, destroys_data(sql)) << sql;
  }
}

namespace {
struct Dir {
  std::string root;
  Dir() {
    char t[] = "/tmp/ferry-safety-XXXXXX";
    root = mkdtemp(t);
  }
  ~Dir() { fs::remove_all(root); }
  void add(const std::string& d, const std::string& up, const std::string& down = "SELECT 1;") const {
    fs::create_directories(root + "/" + d);
    std::ofstream(root + "/" + d + "/up.sql") << up;
    std::ofstream(root + "/" + d + "/down.sql") << down;
  }
  std::string load_error() const {
    try {
      load_migrations(root, "migrations");
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config);
      return e.what();
    }
    return "";
  }
};
}  // namespace

TEST(SqlSafety, TransactionControlInATransactionalMigrationIsRefusedAtLoad) {
  {
    Dir d;
    d.add("0001_a", "CREATE TABLE a (id int);\n  COMMIT;\nCREATE TABLE b (id int);");
    EXPECT_EQ(d.load_error(), "migrations/0001_a/up.sql:2:3: COMMIT inside a transactional migration");
  }
  for (const char* bad : {"BEGIN;", "START TRANSACTION;", "END;", "ROLLBACK;", "ABORT;", "PREPARE TRANSACTION 'x';",
                          "RELEASE SAVEPOINT nowhere;", "ROLLBACK TO SAVEPOINT nowhere;"}) {
    Dir d;
    d.add("0001_a", std::string("SELECT 1;\n") + bad);
    EXPECT_EQ(d.load_error().rfind("migrations/0001_a/up.sql:2:1: ", 0), 0u) << bad;
  }
  {
    Dir d;
    d.add("0001_a", "SELECT 1;", "DROP TABLE a; COMMIT;");
    EXPECT_EQ(d.load_error(), "migrations/0001_a/down.sql:1:15: COMMIT inside a transactional migration");
  }
  {
    Dir d;  // a savepoint of its own, and a no-transaction migration managing its own transactions
    d.add("0001_a", "SAVEPOINT s;\nINSERT INTO a VALUES (1);\nROLLBACK TO SAVEPOINT s;\nRELEASE s;");
    d.add("0002_b", "-- ferry:no-transaction\nBEGIN;\nCREATE TABLE b (id int);\nCOMMIT;");
    EXPECT_EQ(d.load_error(), "");
    EXPECT_EQ(load_migrations(d.root, "migrations")[1].up_statements, 3u);
  }
}

TEST(SqlSafety, DirectoryWithoutLeadingDigitsIsNamedOnStderr) {
  Dir d;
  d.add("0001_a", "SELECT 1;");
  d.add("add_priority", "SELECT 2;");
  fs::create_directories(d.root + "/.git");
  testing::internal::CaptureStderr();
  auto ms = load_migrations(d.root, "migrations");
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(ms.size(), 1u);
  EXPECT_EQ(err,
            "warning: migrations/add_priority is ignored: a migration directory's name starts with its version "
            "digits\n");
}

TEST(SqlSafety, LineAndColumnStayRightOnAMultiMegabyteFile) {
  std::string sql;
  const int n = 60000;  // about 4 MB
  for (int i = 0; i < n; ++i)
    sql +=
        "  INSERT INTO t (id, note) VALUES (" + std::to_string(i) + ",\n    'row; é " + std::string(30, 'x') + "');\n";
  auto stmts = split_statements(sql, "big.sql");
  ASSERT_EQ(stmts.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; i += 997) {
    EXPECT_EQ(stmts[i].line, 2 * i + 1);
    EXPECT_EQ(stmts[i].col, 3);
    EXPECT_EQ(stmts[i].text.rfind("INSERT INTO t (id, note) VALUES (" + std::to_string(i) + ",", 0), 0u);
  }
  EXPECT_EQ(stmts.back().line, 2 * n - 1);
  try {
    split_statements(sql + "SELECT 'é', 1 FROM t WHERE;\n", "big.sql");
    FAIL() << "the syntax error was not found";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "big.sql:" + std::to_string(2 * n + 1) + ":28: syntax error at or near \";\"");
  }
}

TEST(SqlSafety, BeginAtomicBodiesAcrossChunkBoundariesStayWhole) {
  std::string body;
  for (int i = 0; i < 40; ++i) body += " SELECT " + std::to_string(i) + ";";
  std::string sql = "SELECT 1;\nCREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC" + body + " END;\nSELECT 2;";
  for (size_t chunk : {16, 64, 100, 1 << 20}) {
    auto s = split_statements(sql, "x.sql", chunk);
    ASSERT_EQ(s.size(), 3u) << chunk;
    EXPECT_EQ(s[1].text, "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC" + body + " END");
    EXPECT_EQ(s[2].line, 3);
  }
}

namespace {
// A random SQL file from a grammar of statements that are hard to split, and what PostgreSQL
// must see in it: each statement's text and the text since the previous ';'.
struct Generated {
  std::string sql;
  std::vector<std::string> stmts;
  std::vector<std::string> since_semicolon;
  std::vector<size_t> offsets;
};

std::string pick(std::mt19937& rng, const std::vector<std::string>& v) { return v[rng() % v.size()]; }

std::string random_statement(std::mt19937& rng) {
  const std::vector<std::string> words = {"a;b", "it''s", "x", "é;ü", "--no", "/*no*/", "$$", "\\", ""};
  std::string w = pick(rng, words), tag = pick(rng, {"", "t", "body", "x_1"});
  std::string dq = "$" + tag + "$";
  if (tag.empty() && w == "$$") w = "y";  // would end the dollar quote early
  switch (rng() % 11) {
    case 0:
      return "SELECT '" + w + "'";
    case 1:
      return "SELECT E'" + pick(rng, {"a\\';b", "\\\\", "x;\\n", "it''s;"}) + "' AS v";
    case 2:
      return "SELECT " + dq + " ; " + w + " $other$ ; " + dq;
    case 3:
      return "SELECT 1 /* a /* nested; */ b; */ + 2";
    case 4:
      return "SELECT 1 AS \"col;" + std::string(rng() % 2 ? "\"\"" : "") + "x\"";
    case 5:
      return "CREATE FUNCTION f" + std::to_string(rng() % 100) + "() RETURNS int LANGUAGE plpgsql AS " + dq +
             "\nBEGIN\n  PERFORM 1; -- ;\n  RETURN 2;\nEND;\n" + dq;
    case 6:
      return "CREATE FUNCTION g() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT 2;\nEND";
    case 7:
      return "SELECT U&'d\\0061t;a'";
    case 8:
      return "INSERT INTO t VALUES (1, '" + w + "'),\n  (2, $$;$$)";
    case 9:
      return "SELECT 1 -- trailing; comment\n  + 2";
    default:
      return "CREATE TABLE \"t;" + std::to_string(rng() % 100) + "\" (id int)";
  }
}

std::string random_gap(std::mt19937& rng) {
  return pick(rng, {"", " ", "\n", "\n\n  ", "-- a comment; with ;\n", "/* c; /* nested ; */ */ ", "\t/**/\n"});
}

Generated generate(unsigned seed) {
  std::mt19937 rng(seed);
  Generated g;
  std::string since;
  bool terminated = true;
  int n = 1 + static_cast<int>(rng() % 40);
  for (int i = 0; i < n; ++i) {
    if (rng() % 6 == 0) {  // an empty statement
      g.sql += random_gap(rng) + ";";
      since.clear();
    }
    std::string gap = random_gap(rng);
    std::string stmt = random_statement(rng);
    g.sql += gap;
    since += gap;
    g.offsets.push_back(g.sql.size());
    g.sql += stmt;
    g.stmts.push_back(stmt);
    g.since_semicolon.push_back(since + stmt);
    since.clear();
    terminated = i + 1 < n || rng() % 2;
    if (terminated) g.sql += ";";
  }
  if (terminated && rng() % 2) g.sql += random_gap(rng);
  return g;
}

std::pair<int, int> naive_line_col(const std::string& s, size_t pos) {
  int line = 1, col = 1;
  for (size_t i = 0; i < pos; ++i) s[i] == '\n' ? (++line, col = 1) : ++col;
  return {line, col};
}
}  // namespace

TEST(SqlSafety, RandomFilesSplitAsPostgresParserSplitsThem) {
  unsigned base = 20261130;
  if (const char* s = std::getenv("FERRY_FUZZ_SEED")) base = static_cast<unsigned>(std::strtoul(s, nullptr, 10));
  for (unsigned seed = base; seed < base + 400; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with FERRY_FUZZ_SEED=" + std::to_string(seed) + ")");
    Generated g = generate(seed);
    // PostgreSQL's parser on the whole file is the reference.
    PgQuerySplitResult ref = pg_query_split_with_parser(g.sql.c_str());
    ASSERT_EQ(ref.error, nullptr) << (ref.error ? ref.error->message : "") << "\n" << g.sql;
    ASSERT_EQ(static_cast<size_t>(ref.n_stmts), g.stmts.size()) << g.sql;
    for (int i = 0; i < ref.n_stmts; ++i) {
      size_t loc = static_cast<size_t>(ref.stmts[i]->stmt_location);
      size_t len = ref.stmts[i]->stmt_len ? static_cast<size_t>(ref.stmts[i]->stmt_len) : g.sql.size() - loc;
      std::string seen = g.sql.substr(loc, len);
      EXPECT_TRUE(seen.starts_with(g.since_semicolon[i]) &&
                  seen.find_first_not_of(" \t\n", g.since_semicolon[i].size()) == std::string::npos)
          << i << ": " << seen;
    }
    pg_query_free_split_result(ref);
    for (size_t chunk : {16, 50, 300, 1 << 20}) {
      auto ours = split_statements(g.sql, "x.sql", chunk);
      ASSERT_EQ(ours.size(), g.stmts.size()) << "chunk " << chunk << "\n" << g.sql;
      for (size_t i = 0; i < ours.size(); ++i) {
        std::string want = g.stmts[i];
        EXPECT_EQ(ours[i].text.substr(0, want.size()), want) << "chunk " << chunk;
        EXPECT_EQ(ours[i].text.find_first_not_of(" \t\n", want.size()), std::string::npos) << ours[i].text;
        auto [line, col] = naive_line_col(g.sql, g.offsets[i]);
        EXPECT_EQ(ours[i].line, line) << "chunk " << chunk << " statement " << i;
        EXPECT_EQ(ours[i].col, col) << "chunk " << chunk << " statement " << i;
      }
    }
  }
}
