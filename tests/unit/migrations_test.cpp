// Statement splitting with the real parser, the data-loss reading, versions, checksums, drift.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "core/duration.hpp"
#include "core/text.hpp"
#include "migrate/migration_set.hpp"
#include "migrate/sql_parser.hpp"

namespace fs = std::filesystem;
using namespace ferry;
using namespace ferry::migrate;

TEST(Split, DollarQuotedFunctionBodiesStayWhole) {
  auto s = split_statements(
      "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  PERFORM 1; RETURN 2;\nEND;\n$$;\n"
      "CREATE FUNCTION g() RETURNS text AS $body$ SELECT 'a;b' $body$ LANGUAGE sql;\nSELECT 3;",
      "x.sql");
  ASSERT_EQ(s.size(), 3u);
  EXPECT_NE(s[0].text.find("RETURN 2;"), std::string::npos);
  EXPECT_EQ(s[1].line, 6);
  EXPECT_EQ(s[2].text, "SELECT 3");
}

TEST(Split, CommentsAndStringsWithSemicolons) {
  auto s = split_statements("-- a comment; with a semicolon\nSELECT 'x;y';\n/* block; comment */ SELECT E'it''s;';\n",
                            "x.sql");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].text, "SELECT 'x;y'");
  EXPECT_EQ(s[0].line, 2);
  EXPECT_EQ(s[1].text, "SELECT E'it''s;'");
  EXPECT_EQ(s[1].line, 3);
  EXPECT_EQ(s[1].col, 22);
}

TEST(Split, SyntaxErrorNamesFileLineColumn) {
  try {
    split_statements("SELECT 1;\nSELEC 2;\n", "migrations/0001_x/up.sql");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "migrations/0001_x/up.sql:2:1: syntax error at or near \"SELEC\"");
    EXPECT_EQ(e.kind(), ErrorKind::Config);
  }
}

TEST(Split, EmptyAndCommentOnly) {
  EXPECT_TRUE(split_statements("", "x").empty());
  EXPECT_TRUE(split_statements("-- nothing here\n", "x").empty());
}

TEST(DataLoss, ReadsThePlanNotTheText) {
  EXPECT_EQ(destroys_data("DROP TABLE tasks"), "drops a table");
  EXPECT_EQ(destroys_data("ALTER TABLE tasks DROP COLUMN priority"), "drops column 'priority'");
  EXPECT_EQ(destroys_data("ALTER TABLE t ALTER COLUMN c TYPE bigint"), "changes the type of column 'c'");
  EXPECT_EQ(destroys_data("TRUNCATE t"), "truncates a table");
  EXPECT_EQ(destroys_data("DELETE FROM t"), "deletes without WHERE");
  EXPECT_EQ(destroys_data("UPDATE t SET a = 1"), "updates without WHERE");
  EXPECT_EQ(destroys_data("DELETE FROM t WHERE id = 1"), "deletes rows");
  EXPECT_EQ(destroys_data("UPDATE t SET a = 1 WHERE b"), "updates rows");
  EXPECT_EQ(destroys_data("ALTER TABLE t ADD COLUMN c int; SELECT 'DROP TABLE x'"), "");
  EXPECT_EQ(destroys_data("DROP INDEX i"), "");
  EXPECT_EQ(destroys_data("-- DROP TABLE t\nCREATE TABLE u (id int)"), "");
}

TEST(Versions, CompareAsNumbers) {
  EXPECT_LT(compare_versions("9", "10"), 0);
  EXPECT_EQ(compare_versions("0010", "10"), 0);
  EXPECT_GT(compare_versions("20261123000000", "0002"), 0);
  EXPECT_LT(compare_versions("99999999999999999999999", "100000000000000000000000"), 0);
}

namespace {
struct Dir {
  std::string root;
  Dir() {
    char t[] = "/tmp/ferry-mig-XXXXXX";
    root = mkdtemp(t);
  }
  ~Dir() { fs::remove_all(root); }
  void add(const std::string& d, const std::string& up, const char* down = "SELECT 1;") {
    fs::create_directories(root + "/" + d);
    std::ofstream(root + "/" + d + "/up.sql") << up;
    if (down) std::ofstream(root + "/" + d + "/down.sql") << down;
  }
};
}  // namespace

TEST(MigrationSet, OrderedByNumberWithChecksumsAndDirectives) {
  Dir d;
  d.add("10_ten", "SELECT 10;");
  d.add("9_nine", "-- ferry:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);");
  d.add("0001_first", "-- ferry:irreversible\nDROP TABLE x;", nullptr);
  d.add("notes", "not a migration");
  auto ms = load_migrations(d.root, "migrations");
  ASSERT_EQ(ms.size(), 3u);
  EXPECT_EQ(ms[0].id(), "0001_first");
  EXPECT_TRUE(ms[0].irreversible);
  EXPECT_FALSE(ms[0].down_sql.has_value());
  EXPECT_EQ(ms[1].id(), "9_nine");
  EXPECT_TRUE(ms[1].no_transaction);
  EXPECT_EQ(ms[2].version, "10");
  EXPECT_EQ(ms[2].checksum, sha256_hex("SELECT 10;"));
  EXPECT_EQ(ms[2].checksum, "7510ac2d3839abb00501a87ab8f322480d834271227b9db6e764531bef02c683");
}

TEST(MigrationSet, MissingDownIsAnError) {
  Dir d;
  d.add("0001_a", "SELECT 1;", nullptr);
  try {
    load_migrations(d.root, "migrations");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "migrations/0001_a: missing down.sql");
  }
}

TEST(MigrationSet, DuplicateVersionIsAnError) {
  Dir d;
  d.add("0001_a", "SELECT 1;");
  d.add("1_b", "SELECT 1;");
  EXPECT_THROW(load_migrations(d.root, "migrations"), Error);
}

TEST(Plan, PendingAndEveryKindOfDrift) {
  Dir d;
  d.add("0001_a", "SELECT 1;");
  d.add("0002_b", "SELECT 2;");
  d.add("0004_d", "SELECT 4;");
  auto files = load_migrations(d.root, "migrations");
  std::vector<db::AppliedMigration> applied(3);
  applied[0].version = "0001";
  applied[0].name = "a";
  applied[0].checksum = sha256_hex("SELECT 1;");
  applied[1].version = "0003";
  applied[1].name = "c";
  applied[1].checksum = "x";
  applied[2].version = "0004";
  applied[2].name = "d";
  applied[2].checksum = sha256_hex("SELECT 4 changed;");
  auto plan = make_plan(files, applied);
  EXPECT_EQ(plan.current, "0004");
  EXPECT_TRUE(plan.pending.empty());
  ASSERT_EQ(plan.drift.size(), 3u);
  EXPECT_EQ(plan.drift[0].message, "0003_c: applied, but its directory is missing from migrations/");
  EXPECT_EQ(plan.drift[1].message.rfind("0004_d: up.sql changed since it was applied", 0), 0u);
  EXPECT_EQ(plan.drift[2].message, "0002_b: pending, but the newer 0004 is already applied (out of order)");
}

TEST(Text, ShellQuotingSurvivesHostileStrings) {
  EXPECT_EQ(shell_quote("plain-word_1.2"), "plain-word_1.2");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
  EXPECT_EQ(shell_quote(""), "''");
  EXPECT_EQ(shell_quote("a\nb"), "'a\nb'");
}

TEST(Text, Durations) {
  EXPECT_EQ(*parse_duration("500ms"), Millis(500));
  EXPECT_EQ(*parse_duration("5m"), Millis(300000));
  EXPECT_EQ(*parse_duration("1h"), Millis(3600000));
  EXPECT_FALSE(parse_duration("5 m"));
  EXPECT_FALSE(parse_duration("s"));
  EXPECT_EQ(format_duration(Millis(850)), "850ms");
  EXPECT_EQ(format_duration(Millis(1250)), "1.2s");
  EXPECT_EQ(format_duration(Millis(184000)), "3m04s");
}
