// The fixed safety promises attacked as a hostile (or merely unlucky) user would, on restore and
// the data-loss guard: databases with publications, event triggers, extensions, types and schemas
// owned by other roles, a non-superuser database.user, psql killed mid-restore, Ctrl-C, a table
// locked by another session, short server timeouts, a synchronous standby. Real PostgreSQL, the
// real ferry binary, real files.
#include "integration/attack_fixture.hpp"

using namespace ferry::test;

// A database that publishes its tables (logical replication, CDC) or guards itself with an event

// trigger that forbids drops stays restorable: neither lives in a schema, so dropping the schemas

// neither removes them nor gets past the guard.
TEST_F(Attack, PublicationsAndEventTriggersDoNotMakeTheBackupUnrestorable) {
  pg().exec("app",
            "CREATE PUBLICATION cdc FOR TABLE tasks;"
            "CREATE FUNCTION no_drops() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION "
            "'drops are forbidden here'; END $$;"
            "CREATE EVENT TRIGGER no_drops ON ddl_command_start WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA') "
            "EXECUTE FUNCTION no_drops()");
  backup();
  pg().exec("app", "DELETE FROM tasks WHERE id > 100; CREATE TABLE made_after (id int)");
  auto r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
  EXPECT_EQ(q("SELECT to_regclass('made_after') IS NULL"), "t");
  EXPECT_EQ(q("SELECT string_agg(tablename, ',') FROM pg_publication_tables WHERE pubname = 'cdc'"), "tasks");
  EXPECT_EQ(q("SELECT evtenabled FROM pg_event_trigger WHERE evtname = 'no_drops'"), "O");
}

// Extensions (in public and in their own schema), enums, domains, composite types, a second

// schema whose view reads public, and a schema owned by another role all come back as they were.
TEST_F(Attack, ExtensionsTypesAndSchemasOwnedByOtherRolesComeBack) {
  pg().exec(
      "app",
      "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'reporting') THEN CREATE ROLE "
      "reporting; END IF; END $$;"
      "CREATE EXTENSION citext; CREATE SCHEMA ext; CREATE EXTENSION hstore SCHEMA ext;"
      "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy'); CREATE DOMAIN short_text AS text CHECK (length(VALUE) < 20);"
      "CREATE TYPE pair AS (a int, b text);"
      "ALTER TABLE tasks ADD COLUMN email citext, ADD COLUMN m mood DEFAULT 'ok', ADD COLUMN tag short_text, "
      "ADD COLUMN attrs ext.hstore, ADD COLUMN p pair;"
      "UPDATE tasks SET email = 'A' || id || '@x.org', attrs = ext.hstore('k', id::text), p = ROW(id, 'x');"
      "CREATE SCHEMA reports AUTHORIZATION reporting; CREATE TABLE reports.daily (day date, n int);"
      "ALTER TABLE reports.daily OWNER TO reporting; INSERT INTO reports.daily VALUES ('2026-01-01', 3);"
      "CREATE VIEW reports.happy AS SELECT id FROM public.tasks WHERE m = 'happy';");
  backup();
  pg().exec("app",
            "DROP SCHEMA reports CASCADE; ALTER TABLE tasks DROP COLUMN attrs; DROP EXTENSION hstore;"
            "UPDATE tasks SET m = 'sad', email = 'b@x.org'; ALTER TYPE mood ADD VALUE 'angry';");
  auto r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT count(*) FROM tasks WHERE email = 'a7@X.ORG'"), "1");  // citext compares as before
  EXPECT_EQ(q("SELECT count(*) FROM tasks WHERE m = 'ok' AND ext.fetchval(attrs, 'k') = id::text AND (p).a = id"),
            "500");
  EXPECT_EQ(
      q("SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = 'mood'::regtype"),
      "sad,ok,happy");
  EXPECT_EQ(q("SELECT nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
              "WHERE extname = 'hstore'"),
            "ext");
  EXPECT_EQ(q("SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'reports'"), "reporting");
  EXPECT_EQ(q("SELECT tableowner || ' ' || (SELECT n FROM reports.daily) FROM pg_tables WHERE tablename = 'daily'"),
            "reporting 3");
  EXPECT_EQ(q("SELECT count(*) FROM reports.happy"), "0");
}

// database.user is the database's owner, not a superuser: backup and restore work with the

// privileges an owner has.
TEST_F(Attack, ADatabaseOwnerThatIsNotASuperuserCanRestore) {
  pg().exec("postgres",
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_owner') THEN CREATE ROLE "
            "app_owner LOGIN; END IF; END $$");
  pg().create_db("owned", "app_owner");
  auto c = pg().connect("owned", "app_owner");
  c->exec(
      "CREATE TABLE notes (id serial PRIMARY KEY, body text); INSERT INTO notes (body) SELECT 'n' || g FROM "
      "generate_series(1, 50) g; CREATE SCHEMA billing; CREATE TABLE billing.invoices (id int);"
      "SELECT lo_from_bytea(0, 'blob')");
  c.reset();
  project.env("own", pg(), "owned", "backup:\n  dir: " + backups + "/own\n");
  std::string y = project.read("environments/own.yaml");
  y.replace(y.find("user: postgres"), 14, "user: app_owner");
  project.write("environments/own.yaml", y);
  auto r = project.ferry({"backup", "own"});
  ASSERT_EQ(r.code, 0) << r.all();
  pg().exec("owned", "DELETE FROM notes; DROP TABLE billing.invoices");
  r = project.ferry({"rollback", "own", "--backup", "latest"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT count(*) FROM notes", "owned"), "50");
  EXPECT_EQ(q("SELECT to_regclass('billing.invoices') IS NOT NULL", "owned"), "t");
  EXPECT_EQ(q("SELECT count(*) FROM pg_largeobject_metadata", "owned"), "1");
}

// psql killed (SIGKILL) in the middle of the restore: its transaction dies with it; ferry says

// the database is as it was (exit 1), and it is.
TEST_F(Attack, PsqlKilledMidRestoreChangesNothing) {
  pg().exec("app", "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 1500000) g");
  backup();
  pg().exec("app", "DELETE FROM tasks WHERE id > 10; CREATE TABLE made_after (id int)");
  Background bg({ferry_binary(), "-C", project.root(), "rollback", "dev", "--backup", "latest"}, {{"NO_COLOR", "1"}});
  // psql starts after the backup's checksum and the plan: waited for, not given 10 s.
  std::vector<pid_t> psql;
  wait_until([&] { return !(psql = descendants_named(bg.pid(), "psql")).empty(); });
  ASSERT_FALSE(psql.empty()) << "psql never started";
  // Wait until the restore is under way (the big table is being loaded), then kill psql.
  wait_until([&] { return q("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY public.big%'") != "0"; });
  for (pid_t p : psql) kill(p, SIGKILL);
  auto r = bg.wait();
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "the database is as it was")) << r.out;
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "10");
  EXPECT_EQ(q("SELECT to_regclass('made_after') IS NOT NULL"), "t");
  EXPECT_EQ(q("SELECT count(*) FROM big"), "1500000");
}

// Environments whose names are prefixes of each other, sharing one backup.dir, never see, restore

// `rollback --backup` when backup.dir is missing or is not a directory: nothing changes and the

// The public schema's owner, privileges and comment as they were at the backup, not as a fresh

// database has them: a hardened public (no CREATE or USAGE for PUBLIC) stays hardened.
TEST_F(Attack, ThePublicSchemasOwnerPrivilegesAndCommentComeBack) {
  pg().exec("app",
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'reporting') THEN CREATE ROLE "
            "reporting; END IF; END $$;"
            "ALTER SCHEMA public OWNER TO reporting; REVOKE ALL ON SCHEMA public FROM PUBLIC;"
            "GRANT USAGE ON SCHEMA public TO postgres; COMMENT ON SCHEMA public IS 'hardened';"
            "CREATE SCHEMA other; COMMENT ON SCHEMA other IS 'other schema'; GRANT USAGE ON SCHEMA other TO reporting");
  std::string before =
      q("SELECT string_agg(nspname || ' ' || nspowner::regrole || ' ' || coalesce(nspacl::text, '-') || ' ' || "
        "coalesce(obj_description(oid, 'pg_namespace'), '-'), '; ' ORDER BY nspname) FROM pg_namespace "
        "WHERE nspname IN ('public', 'other')");
  backup();
  pg().exec("app", "ALTER SCHEMA public OWNER TO postgres; GRANT ALL ON SCHEMA public TO PUBLIC;");
  auto r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT string_agg(nspname || ' ' || nspowner::regrole || ' ' || coalesce(nspacl::text, '-') || ' ' || "
              "coalesce(obj_description(oid, 'pg_namespace'), '-'), '; ' ORDER BY nspname) FROM pg_namespace "
              "WHERE nspname IN ('public', 'other')"),
            before);
}

// database.user owns the application's tables but not the database nor every schema (the

// database and a schema belong to other roles): what the restore cannot drop is said when

// the backup is taken, and a restore changes nothing.
TEST_F(Attack, AUserThatCannotRestoreIsWarnedWhenTheBackupIsTaken) {
  pg().exec("postgres",
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_user') THEN CREATE ROLE "
            "app_user LOGIN; END IF; IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'reporting') THEN CREATE "
            "ROLE reporting; END IF; END $$");
  pg().exec("app",
            "ALTER TABLE tasks OWNER TO app_user; GRANT CREATE ON DATABASE app TO app_user;"
            "GRANT CREATE ON SCHEMA public TO app_user; CREATE SCHEMA reports AUTHORIZATION reporting;");
  std::string y = project.read("environments/dev.yaml");
  y.replace(y.find("user: postgres"), 14, "user: app_user");
  project.write("environments/dev.yaml", y);
  auto r = project.ferry({"backup", "dev"});
  ASSERT_EQ(r.code, 0) << r.all();
  // Said when the backup is taken, not first at 3 a.m. when the restore is needed.
  EXPECT_TRUE(contains(r.all(),
                       "ferry cannot restore this backup as 'app_user': it does not own schema(s) "
                       "public (pg_database_owner), reports (reporting)"))
      << r.all();
  pg().exec("app", "DELETE FROM tasks WHERE id > 10");
  r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "must be owner of schema public")) << r.out;
  EXPECT_TRUE(contains(r.out, "the database is as it was")) << r.out;
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "10");
  // The database's owner can: no warning.
  pg().exec("postgres", "ALTER DATABASE app OWNER TO app_user");
  pg().exec("app", "ALTER SCHEMA reports OWNER TO app_user");
  r = project.ferry({"backup", "dev"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_FALSE(contains(r.all(), "cannot restore")) << r.all();
  r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 0) << r.all();
}

// A database that subscribes to another (logical replication): DROP SUBSCRIPTION cannot run in
// the restore's transaction, so the dump's CREATE SUBSCRIPTION would fail. Said when the backup
// is taken; a restore changes nothing (exit 1).
TEST_F(Attack, ASubscriptionIsNamedWhenTheBackupIsTakenAndARestoreChangesNothing) {
  pg().exec("app",
            "CREATE SUBSCRIPTION feed CONNECTION 'host=127.0.0.1 port=1 dbname=none' PUBLICATION p WITH (connect = "
            "false)");
  struct Drop {
    ~Drop() {
      pg().exec("app", "ALTER SUBSCRIPTION feed SET (slot_name = NONE)");
      pg().exec("app", "DROP SUBSCRIPTION feed");
    }
  } drop;
  auto r = project.ferry({"backup", "dev"});
  ASSERT_EQ(r.code, 0) << r.all();
  EXPECT_TRUE(contains(r.all(),
                       "ferry cannot restore this backup as 'postgres': subscription(s) feed cannot be "
                       "dropped inside its transaction"))
      << r.all();
  pg().exec("app", "DELETE FROM tasks WHERE id > 10");
  r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "the database is as it was")) << r.out;
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "10");
}

// Another session holds a lock on a table (a long report, an idle transaction): the restore waits

// at most its lock_timeout, then gives up and says so; nothing changed (exit 1). The timeout is
// backup.restore_lock_timeout (60s by default), 3s here to keep the suite short.
TEST_F(Attack, ARestoreBehindALockGivesUpAfterItsLockTimeoutAndChangesNothing) {
  project.env("dev", pg(), "app", "backup:\n  dir: " + dir + "\n  restore_lock_timeout: 3s\n");
  backup();
  pg().exec("app", "DELETE FROM tasks WHERE id > 10");
  auto reader = pg().connect("app");
  reader->exec("SET application_name = 'nightly-report'; BEGIN; SELECT count(*) FROM tasks");
  auto t0 = std::chrono::steady_clock::now();
  auto r = project.ferry({"rollback", "dev", "--backup", "latest"});
  auto waited = std::chrono::steady_clock::now() - t0;
  reader->exec("ROLLBACK");
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "lock timeout")) << r.out;
  // Who holds the lock, so a human knows whom to ask before trying again.
  EXPECT_TRUE(contains(r.out, "sessions holding locks: pid ")) << r.out;
  EXPECT_TRUE(contains(r.out, "(postgres nightly-report, idle in transaction for ")) << r.out;
  EXPECT_TRUE(contains(r.out, "the database is as it was")) << r.out;
  EXPECT_GE(waited, std::chrono::seconds(3));
  EXPECT_LE(waited, std::chrono::seconds(30));  // not the 60s default
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "10");
}

// keep: 1, and a backup whose whole process tree was killed (OOM killer, power cut) half-way:

// Ctrl-C (SIGINT to ferry) in the middle of `rollback --backup`: the restore is one transaction

// that a signal does not cut; ferry finishes it and says what is true.
TEST_F(Attack, CtrlCMidRestoreFinishesTheRestoreAndSaysSo) {
  pg().exec("app", "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 1500000) g");
  backup();
  pg().exec("app", "DELETE FROM tasks WHERE id > 10; CREATE TABLE made_after (id int)");
  Background bg({ferry_binary(), "-C", project.root(), "rollback", "dev", "--backup", "latest"}, {{"NO_COLOR", "1"}});
  wait_until([&] { return q("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY public.big%'") != "0"; });
  bg.signal(SIGINT);
  auto r = bg.wait();
  bool restored = q("SELECT count(*) FROM tasks") == "500";
  if (restored) {
    EXPECT_EQ(q("SELECT to_regclass('made_after') IS NULL"), "t");
    EXPECT_NE(r.code, 1) << r.all();  // 1 would claim the database is as it was before
  } else {
    EXPECT_EQ(r.code, 1) << r.all();
    EXPECT_EQ(q("SELECT to_regclass('made_after') IS NOT NULL"), "t");
  }
}

// A migration that replaces the function behind an existing trigger, then inserts: the trigger

// rewrites existing rows. A down SQL that deletes the new row cannot bring them back; the run

// restores the backup instead of "proving" the down SQL.
TEST_F(Attack, ReplacingATriggersFunctionThenInsertingIsRolledBackByTheBackup) {
  pg().exec("app",
            "CREATE FUNCTION on_task() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;"
            "CREATE TRIGGER on_task AFTER INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION on_task();");
  std::string titles = q("SELECT md5(string_agg(title, ',' ORDER BY id)) FROM tasks");
  project.migration("0001_seed",
                    "CREATE OR REPLACE FUNCTION on_task() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN\n"
                    "  UPDATE tasks SET title = 'renumbered ' || id WHERE id <> NEW.id; RETURN NEW;\nEND $$;\n"
                    "INSERT INTO tasks (title) VALUES ('seeded');\n",
                    "DELETE FROM tasks WHERE title = 'seeded';\n");
  project.write("playbooks/promote.yaml",
                "stages: [dev]\nsteps:\n  - backup\n  - migrate\n  - verify:\n      sql: [SELECT false]\n");
  auto plan = project.ferry({"plan", "promote"});
  EXPECT_TRUE(contains(plan.out, "roll back by restore backup (0001_seed inserts rows after creating or changing"))
      << plan.all();
  auto r = project.ferry({"run", "promote"});
  EXPECT_EQ(r.code, 1) << r.all();
  EXPECT_TRUE(contains(r.out, "restored backup dev-")) << r.out;
  EXPECT_EQ(q("SELECT md5(string_agg(title, ',' ORDER BY id)) FROM tasks"), titles);
}

// The ferry schema is not in the dump and a restore leaves it alone: the runs and history

// recorded after the backup stay, and a user's view reading the ledger comes back.
TEST_F(Attack, ARestoreLeavesTheFerrySchemaAndItsHistoryAlone) {
  backup();
  pg().exec("app", "CREATE VIEW public.deploys AS SELECT id, outcome FROM ferry.runs");
  backup();
  backup();
  std::string runs = q("SELECT count(*) FROM ferry.runs");
  std::string ids = q("SELECT string_agg(id, ',' ORDER BY id) FROM ferry.runs");
  pg().exec("app", "DELETE FROM tasks");
  auto r = project.ferry({"rollback", "dev", "--backup", "latest"});
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT count(*) FROM ferry.runs"), std::to_string(std::stoi(runs) + 1));
  EXPECT_EQ(q("SELECT string_agg(id, ',' ORDER BY id) FROM ferry.runs WHERE playbook <> 'rollback'"), ids);
  EXPECT_EQ(q("SELECT count(*) FROM public.deploys"), std::to_string(std::stoi(runs) + 1));
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
}

// With a synchronous standby configured, a restore is reported done only once its COMMIT is

// as durable as every other commit (it waits for the standby): a failover right after a

// "restored" must not bring the pre-restore database back.
TEST_F(Attack, ARestoreCommitsAsDurablyAsTheServerIsConfiguredTo) {
  pg().exec("app", "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 1500000) g");
  backup();
  pg().exec("app", "DELETE FROM tasks WHERE id > 10");
  pg().exec("app", "ALTER DATABASE app SET synchronous_commit = on");  // this test cluster runs with off
  struct Reset {
    ~Reset() {
      pg().exec("postgres", "ALTER SYSTEM RESET synchronous_standby_names");
      pg().exec("postgres", "SELECT pg_reload_conf()");
    }
  } reset;
  Background bg({ferry_binary(), "-C", project.root(), "rollback", "dev", "--backup", "latest"}, {{"NO_COLOR", "1"}});
  // Each wait is for the event (the restore's psql, then its COMMIT waiting for the standby),
  // not ~10 s: restoring 1.5 M rows alone can take longer than that on a loaded machine.
  EXPECT_TRUE(
      wait_until([&] { return q("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'psql'") != "0"; }));
  pg().exec("postgres", "ALTER SYSTEM SET synchronous_standby_names = 'standby_never_there'");
  pg().exec("postgres", "SELECT pg_reload_conf()");
  bool waited = wait_until([&] {
    return q("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'psql' AND wait_event = 'SyncRep'") != "0";
  });
  pg().exec("postgres", "ALTER SYSTEM RESET synchronous_standby_names");
  pg().exec("postgres", "SELECT pg_reload_conf()");
  auto r = bg.wait();
  EXPECT_TRUE(waited) << "the restore's COMMIT did not wait for the synchronous standby";
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
}

// A production database with a short statement_timeout (and idle_in_transaction_session_timeout):

// the restore still waits for a lock up to its own lock_timeout, instead of failing at the

// database's statement_timeout.
TEST_F(Attack, ARestoreIsNotCutByTheDatabasesStatementTimeout) {
  backup();
  pg().exec("app", "DELETE FROM tasks WHERE id > 10");
  pg().exec("app",
            "ALTER DATABASE app SET statement_timeout = '1s'; ALTER DATABASE app SET "
            "idle_in_transaction_session_timeout = '1s'");
  auto reader = pg().connect("app");
  reader->exec(
      "SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0; BEGIN; LOCK TABLE tasks IN ACCESS "
      "SHARE MODE");
  // The reader lets go once the restore is seen waiting for its lock, and at least 2 s later
  // (past the database's 1 s statement_timeout): a fixed 3 s from the start could end before a
  // slow ferry even reached the lock, and the test would then show nothing.
  std::thread release([&] {
    wait_until([&] {
      return pg().value("app",
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'psql' AND "
                        "wait_event_type = 'Lock'") != "0";
    });
    std::this_thread::sleep_for(std::chrono::seconds(2));
    reader->exec("ROLLBACK");
  });
  auto r = project.ferry({"rollback", "dev", "--backup", "latest"});
  release.join();
  EXPECT_EQ(r.code, 0) << r.all();
  EXPECT_EQ(q("SELECT count(*) FROM tasks"), "500");
}

// A database whose statement_timeout is shorter than counting its rows, and whose

// idle_in_transaction_session_timeout is shorter than the dump: the backup's counting, and its

// backup.format: directory (pg_dump -j): a backup restores exactly, keep prunes whole
