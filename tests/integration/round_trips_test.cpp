// What ferry asks the server, as a DBA sees it in the server's log (log_min_duration_statement
// = 0 on the `app` database: one entry per round trip): `ferry status` and a run with nothing
// pending ask whether ferry's schema exists once, the fingerprint is hashed by the server, the
// baseline counts only tables that can hold rows; and the checks these cuts touch still see what
// they must (a row in a table that was empty, a fingerprint equal to the description's hash).
// Real PostgreSQL, the real ferry binary; no timings.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "core/text.hpp"
#include "db/introspect.hpp"
#include "support/app_fixture.hpp"

using namespace ferry::test;
using nlohmann::json;

namespace {

class RoundTrips : public AppTest<RoundTrips> {
 protected:
  void SetUp() override {
    AppTest::SetUp();
    pg().exec("postgres", "ALTER DATABASE app SET log_min_duration_statement = 0");
    project.env("dev", pg(), "app");
    project.write("playbooks/promote.yaml", "stages: [dev]\nsteps:\n  - migrate\n");
    project.migration("0001_notes", "CREATE TABLE notes (id bigserial PRIMARY KEY, body text);", "DROP TABLE notes;");
  }
  // The statements the server logged while `ferry ARGS` ran (a multi-statement batch is one).
  std::vector<std::string> statements_of(const std::vector<std::string>& args, int code = 0) {
    FileTail log(pg().dir() + "/log");
    auto r = project.ferry(args);
    EXPECT_EQ(r.code, code) << r.all();
    std::istringstream in(log.appended());
    std::vector<std::string> out;
    static const std::regex entry(R"(^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)");
    bool in_statement = false;
    for (std::string line; std::getline(in, line);) {
      if (std::regex_search(line, entry)) {
        auto at = line.find("LOG:  duration: ");
        size_t text = std::string::npos;
        if (at != std::string::npos)
          for (const char* kind : {"  statement: ", "  execute "})
            if (auto k = line.find(kind, at); k != std::string::npos) text = k + 2;
        in_statement = text != std::string::npos;
        if (in_statement) out.push_back(line.substr(text));
      } else if (in_statement) {
        out.back() += "\n" + line;
      }
    }
    return out;
  }
  static long count_with(const std::vector<std::string>& statements, const std::string& text) {
    return std::count_if(statements.begin(), statements.end(),
                         [&](const std::string& s) { return s.find(text) != std::string::npos; });
  }
  static std::string listing(const std::vector<std::string>& statements) {
    std::string out;
    for (const auto& s : statements) out += "  " + s.substr(0, 160) + "\n";
    return out;
  }
};

TEST_F(RoundTrips, StatusAsksEachQuestionOnceAndHashesTheSchemaOnTheServer) {
  ASSERT_EQ(project.ferry({"run", "promote"}).code, 0);
  // The first status after a change describes the schema and remembers the fingerprint.
  auto sent = statements_of({"status", "--env", "dev"});
  EXPECT_EQ(count_with(sent, "to_regclass('ferry.runs')"), 1) << listing(sent);
  EXPECT_EQ(count_with(sent, "WITH ns AS"), 1) << listing(sent);
  EXPECT_EQ(count_with(sent, "INSERT INTO ferry.fingerprints"), 1) << listing(sent);
  // applied, interrupted, lock holder, last run, alembic_version: one each; the fingerprint:
  // the catalogs' stamp, the remembered pair, the stamp with the description, remembering
  // (if the stamp has not moved)
  EXPECT_LE(sent.size(), 10u) << listing(sent);
  // The next one, nothing changed in between: the stamp and the remembered pair, no description.
  sent = statements_of({"status", "--env", "dev"});
  EXPECT_EQ(count_with(sent, "to_regclass('ferry.runs')"), 1) << listing(sent);
  EXPECT_EQ(count_with(sent, "WITH ns AS"), 0) << listing(sent);
  EXPECT_EQ(count_with(sent, "FROM ferry.fingerprints WHERE stamp"), 1) << listing(sent);
  EXPECT_LE(sent.size(), 8u) << listing(sent);
}

// The lint runs on a thread while the baseline is read; a protected environment is preflighted
// first, so that its refusal does not wait for the baseline's description and counts.
TEST_F(RoundTrips, AProtectedRunRefusedByTheLintReadsNoBaselineAnUnprotectedOneWarnsAndReadsIt) {
  project.migration("0001_notes", "ALTER TABLE tasks RENAME COLUMN title TO name;",
                    "ALTER TABLE tasks RENAME COLUMN name TO title;");
  project.env("dev", pg(), "app", "protected: true\n");
  auto refused = statements_of({"run", "promote", "--yes"}, 3);
  EXPECT_EQ(count_with(refused, "count(*) FROM \"public\".\"tasks\""), 0) << listing(refused);
  EXPECT_EQ(count_with(refused, "WITH ns AS"), 0) << listing(refused);
  project.env("dev", pg(), "app");
  FileTail log(pg().dir() + "/log");
  auto r = project.ferry({"run", "promote"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(r.all().find("1 lint finding(s) at high not accepted") != std::string::npos) << r.all();
  std::string sent = log.appended();
  size_t counts = 0;
  for (size_t at = 0; (at = sent.find("count(*) FROM \"public\".\"tasks\"", at)) != std::string::npos; ++at) ++counts;
  EXPECT_EQ(counts, 1u) << sent;  // the baseline's count, read once
  EXPECT_EQ(q("SELECT count(*) FROM information_schema.columns WHERE table_name = 'tasks' AND column_name = 'name'"),
            "1");
}

TEST_F(RoundTrips, ARunWithNothingPendingAsksForFerrysSchemaOnce) {
  ASSERT_EQ(project.ferry({"run", "promote"}).code, 0);
  auto sent = statements_of({"run", "promote"});
  EXPECT_EQ(count_with(sent, "to_regclass('ferry.runs')"), 1) << listing(sent);
  EXPECT_LE(sent.size(), 20u) << listing(sent);
  EXPECT_EQ(q("SELECT count(*) FROM ferry.runs WHERE outcome = 'succeeded'"), "2");
}

TEST_F(RoundTrips, TheBaselineCountsOnlyTablesThatCanHoldRows) {
  ASSERT_EQ(project.ferry({"run", "promote"}).code, 0);  // notes: created, empty
  auto sent = statements_of({"run", "promote"});
  EXPECT_EQ(count_with(sent, "count(*) FROM \"public\".\"tasks\""), 1) << listing(sent);
  EXPECT_EQ(count_with(sent, "count(*) FROM \"public\".\"notes\""), 0) << listing(sent);
}

TEST_F(RoundTrips, TheProofSeesARowInATableThatWasEmpty) {
  // notes is empty (no block at all) at the baseline; 0002 adds a row that its down SQL leaves.
  ASSERT_EQ(project.ferry({"run", "promote"}).code, 0);
  project.migration("0002_note", "INSERT INTO notes (body) VALUES ('left behind');", "SELECT 1;");
  project.migration("0003_fails", "SELECT 1/0;", "SELECT 1;");
  project.write("playbooks/promote.yaml", "stages: [dev]\nrollback: down\nsteps:\n  - migrate: {transaction: each}\n");
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 2) << r.all();
  EXPECT_TRUE(contains(r.all(), "rows public.notes: 1 now, 0 before")) << r.all();
  EXPECT_EQ(q("SELECT count(*) FROM notes"), "1");
}

TEST_F(RoundTrips, StatusFingerprintIsTheHashOfTheDescription) {
  // an enum without labels (a description line that is NULL), names beyond ASCII, a comment
  pg().exec("app",
            "CREATE TYPE nothing AS ENUM (); CREATE TABLE \"größe\" (\"maß\" int, n nothing);"
            "COMMENT ON TABLE \"größe\" IS 'Größe in Metern';");
  auto st = project.ferry({"status", "--env", "dev", "--json"});
  ASSERT_EQ(st.code, 0) << st.all();
  auto conn = pg().connect("app");
  std::string description = ferry::db::schema_description(*conn);
  EXPECT_TRUE(contains(description, "größe")) << description;
  EXPECT_EQ(json::parse(st.out)[0]["fingerprint"].get<std::string>(), ferry::sha256_hex(description));
  EXPECT_EQ(ferry::db::schema_fingerprint(*conn), ferry::sha256_hex(description));
}

}  // namespace
