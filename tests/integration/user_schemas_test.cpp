// "The user's schemas" has one definition (db::user_schema_test), used by the description, the
// row counts, the lock trace, the lock blockers and the restores. Two of them once wrote it with
// LIKE 'pg_toast%' unescaped, where `_` matches any character: a user's schema named "pgxtoast"
// was then a system schema to the lock trace and the blockers, and the others saw it.
#include <gtest/gtest.h>

#include "db/blockers.hpp"
#include "db/introspect.hpp"
#include "db/lock_trace.hpp"
#include "support/app_fixture.hpp"

using namespace ferry::test;
namespace db = ferry::db;

namespace {

class UserSchemas : public AppTest<UserSchemas> {
 protected:
  UserSchemas() : AppTest(no_tasks()) {}
  static AppShape no_tasks() {
    AppShape shape;
    shape.tasks = false;  // `app` stays empty: SetUp makes the schema these tests are about
    return shape;
  }
  void SetUp() override {
    AppTest::SetUp();
    pg().exec("app",
              "CREATE SCHEMA pgxtoast_app; CREATE TABLE pgxtoast_app.orders (id int PRIMARY KEY);"
              "INSERT INTO pgxtoast_app.orders VALUES (1), (2)");
  }
};

bool names(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

TEST_F(UserSchemas, ASchemaNamedLikeATOASTSchemaIsTheUsersEverywhere) {
  auto conn = pg().connect("app");
  EXPECT_TRUE(names(db::schema_description(*conn), "pgxtoast_app.orders"));
  EXPECT_EQ(db::row_counts(*conn).count(db::table_key("pgxtoast_app", "orders")), 1u);
  bool traced = false;
  for (const auto& [oid, t] : db::user_tables(*conn)) traced |= names(t.name, "pgxtoast_app.orders");
  EXPECT_TRUE(traced) << "the lock trace does not see pgxtoast_app.orders";
  // Another session holding a lock on that table is in the way of a migration.
  auto holder = pg().connect("app");
  holder->exec("BEGIN; LOCK TABLE pgxtoast_app.orders IN ACCESS SHARE MODE");
  auto holders = db::table_lock_holders(*conn, conn->backend_pid());
  ASSERT_EQ(holders.size(), 1u);
  EXPECT_EQ(holders[0].pid, holder->backend_pid());
  EXPECT_EQ(holders[0].relation, "pgxtoast_app.orders");
  holder->exec("ROLLBACK");
}

// A session's temporary table is its own: a lock on it is in nobody's way.
TEST_F(UserSchemas, ALockOnASessionsOwnTemporaryTableIsNotInTheWay) {
  auto conn = pg().connect("app");
  auto other = pg().connect("app");
  other->exec("CREATE TEMP TABLE scratch (a int)");
  other->exec("BEGIN");
  other->exec("LOCK TABLE scratch IN ACCESS EXCLUSIVE MODE");
  ASSERT_EQ(pg().value("app",
                       "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n "
                       "ON n.oid = c.relnamespace WHERE l.granted AND l.pid = " +
                           std::to_string(other->backend_pid()) + " AND n.nspname LIKE 'pg\\_temp%'"),
            "1");  // the lock is there
  auto holders = db::table_lock_holders(*conn, conn->backend_pid());
  EXPECT_TRUE(holders.empty()) << holders[0].relation;
  other->exec("ROLLBACK");
}

}  // namespace
