// ferry's own SQL runs as ferry's role (often a superuser) in databases whose schemas other
// roles write. Every function, operator, type, collation and table in it is named with its
// schema, so nothing there is found through search_path: a user's `public.quote_ident(name)` or
// `public.||(bigint, text)` never runs in ferry's queries, and never changes what the
// fingerprint or the proof says (CVE-2018-1058). Real PostgreSQL, the real ferry binary.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <thread>

#include "db/introspect.hpp"
#include "migrate/search_path_names.hpp"
#include "support/app_fixture.hpp"

using namespace ferry::test;

namespace {

class SearchPath : public AppTest<SearchPath> {
 protected:
  SearchPath() : AppTest(AppShape{.rows = 50, .backups_prefix = "ferry-search-path"}) {}
  void SetUp() override {
    AppTest::SetUp();
    project.env("dev", pg(), "app", "backup:\n  dir: " + backups + "\n");
    project.write("playbooks/promote.yaml",
                  "stages: [dev]\nsteps:\n  - backup\n  - migrate\n  - verify:\n      row_counts: all\n"
                  "      columns: [notes.body]\n");
    // The migrations name everything too: the audit below reads every statement of the session.
    project.migration("0001_notes",
                      "CREATE TABLE public.notes (id pg_catalog.int8 PRIMARY KEY, body pg_catalog.text);\n"
                      "INSERT INTO public.notes VALUES (1, 'a');\n",
                      "DROP TABLE public.notes;\n");
  }
  // The environment runs as sp_runner (not a superuser, not an owner) beside public.bait, a
  // table of one row, and public.peek(), a function that logs who ran it to public.sp_log.
  void run_as_sp_runner_beside_bait() {
    pg().exec("postgres",
              "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sp_runner') THEN "
              "CREATE ROLE sp_runner LOGIN; END IF; END $$;");
    pg().exec("app",
              "GRANT CREATE ON DATABASE app TO sp_runner; GRANT USAGE, CREATE ON SCHEMA public TO sp_runner;"
              "GRANT SELECT ON ALL TABLES IN SCHEMA public TO sp_runner;"
              "CREATE TABLE public.sp_log (who text); GRANT INSERT ON public.sp_log TO PUBLIC;"
              "CREATE FUNCTION public.peek() RETURNS boolean LANGUAGE plpgsql AS "
              "$$ BEGIN INSERT INTO public.sp_log VALUES (current_user); RETURN true; END $$;"
              "CREATE TABLE public.bait (id int); INSERT INTO public.bait VALUES (1);"
              "GRANT SELECT ON public.bait TO PUBLIC;");
    std::string y = project.read("environments/dev.yaml");
    y.replace(y.find("user: postgres"), 14, "user: sp_runner");
    project.write("environments/dev.yaml", y);
  }
  void fail_next_migration() {
    project.migration("0002_bad", "CREATE TABLE public.bad (id integer);\nSELECT pg_catalog.int4div(1, 0);\n",
                      "DROP TABLE public.bad;\n");
  }
  // What a release engineer does in a day: look, run, fail and roll back, back up, restore.
  // Returns every output; each command's exit code is checked.
  std::string day_of_work() {
    std::string out;
    auto expect = [&](const std::vector<std::string>& args, int code) {
      auto r = project.ferry(args);
      EXPECT_EQ(r.code, code) << args[0] << ": " << r.all();
      out += r.all();
      return r;
    };
    expect({"status", "--env", "dev"}, 0);
    expect({"plan", "promote"}, 0);
    expect({"lint"}, 0);
    auto run = expect({"run", "promote"}, 0);
    EXPECT_TRUE(contains(run.out, "applied 1: 0001_notes")) << run.out;
    expect({"status", "--env", "dev", "--json"}, 0);
    expect({"status", "--env", "dev", "--json"}, 0);  // the remembered fingerprint
    fail_next_migration();
    auto failed = expect({"run", "promote"}, 1);
    EXPECT_TRUE(contains(failed.out, "as before")) << failed.out;  // the proof
    std::filesystem::remove_all(project.root() + "/migrations/0002_bad");
    expect({"history", "dev"}, 0);
    expect({"backup", "dev"}, 0);
    expect({"backup", "verify", "dev", "latest", "--restore"}, 0);  // a restore drill
    expect({"rollback", "dev", "--to", "0", "--yes"}, 0);
    EXPECT_EQ(q("SELECT pg_catalog.to_regclass('public.notes') IS NULL"), "t");
    expect({"rollback", "dev", "--backup", "latest", "--yes"}, 0);
    EXPECT_EQ(q("SELECT pg_catalog.count(*) FROM public.notes"), "1");
    EXPECT_EQ(q("SELECT pg_catalog.count(*) FROM public.tasks"), "50");
    expect({"status", "--env", "dev"}, 0);
    return out;
  }
};

// Every statement ferry sent, from the server's own log: the ones of ferry's sessions (not
// pg_dump's or pg_restore's, which set an empty search_path themselves).
std::vector<std::string> statements_in(const std::string& log) {
  std::vector<std::string> out;
  static const std::regex k_entry(R"(^@@([^@]*)@@(?:LOG|ERROR):\s+(?:statement|execute [^:]*): )");
  size_t at = 0;
  while (at < log.size()) {
    size_t next = log.find("\n@@", at);
    std::string entry = log.substr(at, next == std::string::npos ? std::string::npos : next - at);
    at = next == std::string::npos ? log.size() : next + 1;
    std::smatch m;
    if (!std::regex_search(entry, m, k_entry)) continue;
    std::string app = m[1];
    if (app == "pg_dump" || app == "pg_restore" || app == "psql") continue;
    out.push_back(entry.substr(m[0].length()));
  }
  return out;
}

// A function that raises "hijacked SIGNATURE" when anything calls it.
std::string raising(const std::string& signature, const std::string& returns) {
  return "CREATE FUNCTION " + signature + " RETURNS " + returns + " LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION " +
         "'hijacked " + signature + "'; END $$;";
}

}  // namespace

TEST_F(SearchPath, EveryStatementFerrySendsNamesEverythingWithItsSchema) {
  pg().exec("postgres",
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'auditor') THEN "
            "CREATE ROLE auditor SUPERUSER LOGIN; END IF; END $$;"
            "ALTER ROLE auditor SET log_statement = 'all';");
  pg().exec("postgres", "ALTER SYSTEM SET log_line_prefix = '@@%a@@'");
  pg().exec("postgres", "SELECT pg_reload_conf()");
  std::string y = project.read("environments/dev.yaml");
  y.replace(y.find("user: postgres"), 14, "user: auditor");
  project.write("environments/dev.yaml", y);
  FileTail log(pg().dir() + "/log");
  day_of_work();
  // The log is written by the server after each statement; the last one is long done.
  auto statements = statements_in(log.appended());
  ASSERT_GT(statements.size(), 40u);
  std::string left;
  std::set<std::string> seen;
  for (const auto& sql : statements) {
    if (!seen.insert(sql).second) continue;
    std::vector<std::string> names;
    try {
      names = ferry::migrate::names_found_by_search_path(sql);
    } catch (const std::exception& e) {
      names = {e.what()};
    }
    if (names.empty()) continue;
    left += "\n" + sql.substr(0, 300) + "\n   ->";
    for (const auto& n : names) left += " " + n + ";";
  }
  EXPECT_EQ(left, "") << seen.size() << " distinct statements";
}

// The attack itself, on the default search_path: functions and operators that match the
// arguments of ferry's queries better than pg_catalog's do, and raise when called.
TEST_F(SearchPath, FunctionsAndOperatorsPlantedOnThePathNeverRun) {
  pg().exec("app", raising("public.quote_ident(name)", "text") + raising("public.evil(bigint, text)", "text") +
                       "CREATE OPERATOR public.|| (leftarg = bigint, rightarg = text, function = public.evil);" +
                       raising("public.evil(name, name)", "boolean") +
                       "CREATE OPERATOR public.!~~ (leftarg = name, rightarg = name, function = public.evil);"
                       "CREATE OPERATOR public.~~ (leftarg = name, rightarg = name, function = public.evil);" +
                       raising("public.pg_relation_size(oid)", "bigint") +
                       raising("public.unnest(text[])", "SETOF text"));
  auto out = day_of_work();
  EXPECT_FALSE(contains(out, "hijacked")) << out;
}

// With pg_catalog named after public in search_path (a role's or a database's setting), even a
// function or operator with pg_catalog's exact signature wins an unqualified lookup.
TEST_F(SearchPath, ASearchPathThatPutsPgCatalogLastChangesNothing) {
  pg().exec("app", raising("public.evil(oid, oid)", "boolean") +
                       "CREATE OPERATOR public.= (leftarg = oid, rightarg = oid, function = public.evil);" +
                       raising("public.evil(text, text)", "text") +
                       "CREATE OPERATOR public.|| (leftarg = text, rightarg = text, function = public.evil);" +
                       raising("public.pg_get_userbyid(oid)", "name") + raising("public.now()", "timestamptz") +
                       raising("public.current_database()", "name") +
                       "ALTER DATABASE app SET search_path = public, pg_catalog;");
  auto out = day_of_work();
  EXPECT_FALSE(contains(out, "hijacked")) << out;
}

// Reading a table can run code too: a view's functions, a row-level security policy. ferry
// reads Alembic's table only when it is a plain table whose policies do not apply to its role.
TEST_F(SearchPath, AViewNamedAlembicVersionIsNeverRead) {
  pg().exec("app",
            "CREATE FUNCTION public.pwn() RETURNS text LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'hijacked: the view ran as %', current_user; END $$;"
            "CREATE VIEW public.alembic_version AS SELECT public.pwn() AS version_num;");
  auto r = project.ferry({"status", "--env", "dev", "--json"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_FALSE(contains(r.all(), "hijacked")) << r.all();
  EXPECT_TRUE(contains(r.out, "\"alembic_revision\": null")) << r.out;
}

// The check and the read are two statements: a table owner who swaps the table for a view
// while ferry's read waits for its lock gets nothing run. The read itself reads only a table.
TEST_F(SearchPath, AlembicVersionSwappedForAViewWhileFerryWaitsIsNotRead) {
  pg().exec("app",
            "CREATE TABLE public.alembic_version (version_num varchar(32) PRIMARY KEY);"
            "INSERT INTO public.alembic_version VALUES ('abc');"
            "CREATE TABLE public.sp_log (who text);"
            "CREATE FUNCTION public.pwn() RETURNS text LANGUAGE plpgsql AS "
            "$$ BEGIN INSERT INTO public.sp_log VALUES (current_user); RETURN 'pwned'; END $$;");
  auto owner = pg().connect("app");
  owner->exec("BEGIN; LOCK TABLE public.alembic_version IN ACCESS EXCLUSIVE MODE");
  std::thread swap([&] {
    // Once ferry waits for the table (its check done), the table becomes a view.
    wait_until([&] {
      return q("SELECT pg_catalog.count(*) FROM pg_catalog.pg_locks WHERE NOT granted AND relation = "
               "'public.alembic_version'::regclass") != "0";
    });
    owner->exec(
        "ALTER TABLE public.alembic_version RENAME TO old_version;"
        "CREATE VIEW public.alembic_version AS SELECT public.pwn()::varchar(32) AS version_num; COMMIT");
  });
  auto r = project.ferry({"status", "--env", "dev", "--json"});
  swap.join();
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT pg_catalog.count(*) FROM public.sp_log"), "0");  // the view's function never ran
  EXPECT_FALSE(contains(r.out, "pwned")) << r.out;
  EXPECT_TRUE(contains(r.out, "\"alembic_revision\": null")) << r.out;
}

// A role that is not a superuser and not the table's owner would count a table through its
// row-level security policies: their code would run as that role, and the count would be of
// the rows they show. The run refuses before changing anything and says why.
TEST_F(SearchPath, RowCountsNeverRunRowLevelSecurityPolicies) {
  run_as_sp_runner_beside_bait();
  pg().exec("app",
            "ALTER TABLE public.bait ENABLE ROW LEVEL SECURITY;"
            "CREATE POLICY p ON public.bait USING (public.peek())");
  project.write("playbooks/plain.yaml", "stages: [dev]\nsteps:\n  - migrate\n  - verify:\n      row_counts: all\n");
  auto r = project.ferry({"run", "plain"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.all(), "cannot count the rows of \"public\".\"bait\"")) << r.all();
  EXPECT_EQ(q("SELECT pg_catalog.count(*) FROM public.sp_log"), "0");          // the policy never ran
  EXPECT_EQ(q("SELECT pg_catalog.to_regclass('public.notes') IS NULL"), "t");  // nothing changed
  // Its owner, a superuser or a BYPASSRLS role reads every row without the policy.
  pg().exec("postgres", "ALTER ROLE sp_runner BYPASSRLS");
  r = project.ferry({"run", "plain"});
  pg().exec("postgres", "ALTER ROLE sp_runner NOBYPASSRLS");
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT pg_catalog.count(*) FROM public.sp_log"), "0");
}

// The same race for row counts: the table's owner switches row-level security on while ferry's
// count waits for the table. The count refuses instead of running the policy, and nothing runs.
TEST_F(SearchPath, APolicySwitchedOnWhileACountWaitsNeverRuns) {
  run_as_sp_runner_beside_bait();
  project.write("playbooks/plain.yaml", "stages: [dev]\nsteps:\n  - migrate\n");
  auto owner = pg().connect("app");
  owner->exec("BEGIN; LOCK TABLE public.bait IN ACCESS EXCLUSIVE MODE");
  std::thread policy([&] {
    wait_until([&] {
      return q("SELECT pg_catalog.count(*) FROM pg_catalog.pg_locks WHERE NOT granted AND relation = "
               "'public.bait'::regclass") != "0";
    });
    owner->exec(
        "ALTER TABLE public.bait ENABLE ROW LEVEL SECURITY;"
        "CREATE POLICY p ON public.bait USING (public.peek()); COMMIT");
  });
  auto r = project.ferry({"run", "plain"});
  policy.join();
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.all(), "cannot count the rows")) << r.all();
  EXPECT_EQ(q("SELECT pg_catalog.count(*) FROM public.sp_log"), "0");          // the policy never ran
  EXPECT_EQ(q("SELECT pg_catalog.to_regclass('public.notes') IS NULL"), "t");  // nothing changed
}

// An operator in a user's schema changes what an expression that finds it computes, while the
// expression prints the same: a view re-created over `public.||(text, integer)` reads as before
// and returns something else. The operator is part of the description, so the fingerprint moves.
TEST_F(SearchPath, AnOperatorThatChangesWhatAViewComputesChangesTheFingerprint) {
  pg().exec("app", "CREATE VIEW public.v AS SELECT id, 'n' || id::integer AS label FROM public.tasks");
  std::string before = ferry::db::schema_description(*pg().connect("app"));
  pg().exec("app",
            "CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = integer, FUNCTION = pg_catalog.repeat);"
            "DROP VIEW public.v;"
            "CREATE VIEW public.v AS SELECT id, 'n' || id::integer AS label FROM public.tasks");
  EXPECT_EQ(q("SELECT label FROM public.v WHERE id = 3"), "nnn");  // not 'n3'
  std::string after = ferry::db::schema_description(*pg().connect("app"));
  EXPECT_NE(after, before);
  EXPECT_TRUE(contains(after, "operator public.||(text,integer) repeat(text,integer) returns text")) << after;
  EXPECT_EQ(ferry::db::describe_difference(before, after, 5).find("new: operator public.||"), 0u)
      << ferry::db::describe_difference(before, after, 5);
}
