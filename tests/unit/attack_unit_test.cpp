// The data-loss guard attacked: statements that change existing rows (or what rows read) without
// being an UPDATE or DELETE, and that a whitelist reading statement kinds alone lets through.
#include <gtest/gtest.h>

#include "migrate/sql_parser.hpp"

using ferry::migrate::destroys_data;

// A user's function named like a built-in one is still the user's function: only unqualified
// or pg_catalog names are read as the built-ins.
TEST(AttackGuard, ASchemaQualifiedFunctionNamedLikeABuiltInCounts) {
  EXPECT_NE(destroys_data("SELECT app.lower(title) FROM tasks"), "");
  EXPECT_NE(destroys_data("INSERT INTO log SELECT public.now()"), "");
  EXPECT_NE(destroys_data("ALTER TABLE t ADD COLUMN c int DEFAULT app.abs(1)"), "");
  EXPECT_EQ(destroys_data("SELECT pg_catalog.lower('X'), lower('Y')"), "");
  EXPECT_EQ(destroys_data("INSERT INTO log VALUES (pg_catalog.now())"), "");
}

// A trigger's behaviour changed (its function replaced, a disabled trigger or rule enabled, an
// event trigger created) makes the INSERTs and DDL after it able to change existing rows.
TEST(AttackGuard, ChangingWhatATriggerDoesBeforeAnInsertCounts) {
  EXPECT_NE(destroys_data("CREATE OR REPLACE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                          "UPDATE totals SET n = n + 1; RETURN NEW; END $$;\nINSERT INTO t VALUES (1);"),
            "");
  EXPECT_NE(destroys_data("ALTER TABLE t ENABLE TRIGGER recount;\nINSERT INTO t VALUES (1);"), "");
  EXPECT_NE(destroys_data("ALTER TABLE t ENABLE RULE r;\nINSERT INTO t VALUES (1);"), "");
  EXPECT_NE(destroys_data("CREATE EVENT TRIGGER e ON ddl_command_end EXECUTE FUNCTION touch();\n"
                          "CREATE TABLE x (id int);"),
            "");
  // A new function, or a replaced one with no INSERT after it, changes no rows.
  EXPECT_EQ(destroys_data("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';\nINSERT INTO t VALUES (1);"),
            "");
  EXPECT_EQ(destroys_data("CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';"), "");
}

// A domain CHECK is evaluated for every existing value of the domain, like a table CHECK; a
// sequence restarted (directly or through an identity column), or an identity dropped with its
// sequence, hands out keys that exist again.
TEST(AttackGuard, DomainChecksSequenceRestartsAndDroppedIdentitiesCount) {
  EXPECT_NE(destroys_data("ALTER DOMAIN d ADD CONSTRAINT c CHECK (fix_and_check(VALUE))"), "");
  EXPECT_EQ(destroys_data("ALTER DOMAIN d ADD CONSTRAINT c CHECK (length(VALUE) < 10)"), "");
  EXPECT_NE(destroys_data("ALTER SEQUENCE tasks_id_seq RESTART WITH 1"), "");
  EXPECT_NE(destroys_data("ALTER TABLE t ALTER COLUMN id RESTART WITH 1"), "");
  EXPECT_EQ(destroys_data("ALTER SEQUENCE tasks_id_seq INCREMENT BY 2"), "");
  EXPECT_EQ(destroys_data("ALTER TABLE t ALTER COLUMN id SET INCREMENT BY 2"), "");
  EXPECT_NE(destroys_data("ALTER TABLE t ALTER COLUMN id DROP IDENTITY IF EXISTS"), "");
}
