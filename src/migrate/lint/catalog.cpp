// The rule table: code, levels, lock, effect and safe form of every lint rule, and the page
// docs/lint.md made from it.
#include <cctype>
#include <sstream>

#include "migrate/lint/lint.hpp"

namespace ferry::migrate::lint {

namespace {
constexpr Level L = Level::Low, M = Level::Medium, H = Level::High;
const char* k_ae = "AccessExclusiveLock";
const char* k_rewrite = "rewrites the table";
const char* k_scan = "scans the table";

std::string lock_words(const std::string& mode) {  // "ShareRowExclusiveLock" -> "SHARE ROW EXCLUSIVE"
  std::string out;
  std::string m = mode.ends_with("Lock") ? mode.substr(0, mode.size() - 4) : mode;
  for (char ch : m) {
    if (std::isupper(static_cast<unsigned char>(ch)) && !out.empty()) out += ' ';
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  }
  return out;
}
}  // namespace

const std::vector<Rule>& rules() {
  static const std::vector<Rule> k = {
      {"FL001",
       "add-column",
       {L, L, L},
       k_ae,
       "",
       "Adds a nullable column, or one with a constant default: a catalog change only (no rewrite since "
       "PostgreSQL 11); the ACCESS EXCLUSIVE lock is held for an instant, but it queues behind any running query.",
       "As written, with a lock_timeout (ferry sets one)."},
      {"FL002",
       "create-table",
       {L, L, L},
       "",
       "",
       "Creates a table nobody uses yet; only tables it references by foreign key are locked (SHARE ROW EXCLUSIVE).",
       "As written."},
      {"FL003",
       "add-column-volatile-default",
       {L, M, H},
       k_ae,
       k_rewrite,
       "A default that is not a constant (random(), gen_random_uuid(), clock_timestamp(), a function) is computed "
       "for every existing row: the table is rewritten under ACCESS EXCLUSIVE, blocking reads and writes.",
       "Add the column without a default, then ALTER COLUMN ... SET DEFAULT, then backfill existing rows in "
       "batches."},
      {"FL004",
       "add-column-not-null-without-default",
       {M, H, H},
       k_ae,
       k_scan,
       "NOT NULL without a default fails on a table that has rows (the migration fails on the target).",
       "Add the column nullable (or with a constant default), backfill in batches, then SET NOT NULL via a NOT "
       "VALID check constraint (see FL006)."},
      {"FL005",
       "alter-column-type",
       {L, M, H},
       k_ae,
       k_rewrite,
       "Changing a column's type rewrites the table and rebuilds its indexes under ACCESS EXCLUSIVE: no reads or "
       "writes for the whole rewrite. (varchar(n) to a longer varchar or to text needs no rewrite.)",
       "Add a new column of the new type, write both, backfill in batches, switch reads, drop the old column in "
       "a later release."},
      {"FL006",
       "set-not-null",
       {L, M, H},
       k_ae,
       k_scan,
       "SET NOT NULL scans the whole table under ACCESS EXCLUSIVE to check every row.",
       "ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT c (in a later transaction: "
       "SHARE UPDATE EXCLUSIVE, reads and writes go on); then SET NOT NULL uses the constraint and skips the "
       "scan; DROP CONSTRAINT c."},
      {"FL007",
       "rename-column",
       {H, H, H},
       k_ae,
       "",
       "The running application still uses the old name: its queries fail from the commit on.",
       "Rename in two releases: add the new column (or a view), deploy code that uses it, then drop the old."},
      {"FL008",
       "rename-table",
       {H, H, H},
       k_ae,
       "",
       "The running application still uses the old name: its queries fail from the commit on.",
       "Rename in two releases: create the new name (a view over the old table, or a new table kept in step), "
       "deploy code that uses it, then drop the old."},
      {"FL009",
       "drop-column",
       {H, H, H},
       k_ae,
       "",
       "The column's data is gone, and running code that still reads or writes it fails.",
       "Stop using the column in one release; drop it in the next, after a verified backup."},
      {"FL010",
       "check-constraint-validated",
       {L, M, H},
       k_ae,
       k_scan,
       "Adding a CHECK constraint without NOT VALID scans every row under ACCESS EXCLUSIVE.",
       "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a later transaction (SHARE UPDATE EXCLUSIVE: "
       "reads and writes go on)."},
      {"FL011",
       "foreign-key-validated",
       {L, M, H},
       "ShareRowExclusiveLock",
       k_scan,
       "Adding a foreign key without NOT VALID takes SHARE ROW EXCLUSIVE on both tables (writes blocked) and "
       "scans the referencing table.",
       "ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID, then VALIDATE CONSTRAINT in a later transaction."},
      {"FL012",
       "unique-or-primary-key",
       {L, M, H},
       k_ae,
       k_scan,
       "Adding a UNIQUE constraint or a PRIMARY KEY builds its index under ACCESS EXCLUSIVE: no reads or writes "
       "while it builds (and SET NOT NULL scans for a primary key).",
       "CREATE UNIQUE INDEX CONCURRENTLY in a `-- ferry:no-transaction` migration, then ADD CONSTRAINT ... "
       "UNIQUE (or PRIMARY KEY) USING INDEX."},
      {"FL020",
       "create-index-not-concurrently",
       {L, M, H},
       "ShareLock",
       k_scan,
       "CREATE INDEX without CONCURRENTLY holds a SHARE lock while it reads the whole table: every INSERT, UPDATE "
       "and DELETE waits until the index is built.",
       "CREATE INDEX CONCURRENTLY in a `-- ferry:no-transaction` migration (a failed build leaves an INVALID "
       "index to drop)."},
      {"FL021",
       "not-in-a-transaction",
       {H, H, H},
       "",
       "",
       "CONCURRENTLY, VACUUM and ALTER SYSTEM cannot run inside a transaction block: the migration fails.",
       "Put `-- ferry:no-transaction` on the first line of the migration, one such statement per migration."},
      {"FL022",
       "drop-index-not-concurrently",
       {M, M, M},
       k_ae,
       "",
       "DROP INDEX takes ACCESS EXCLUSIVE on the index's table, and queries that used the index slow down.",
       "DROP INDEX CONCURRENTLY in a `-- ferry:no-transaction` migration."},
      {"FL023",
       "reindex-not-concurrently",
       {L, M, H},
       "ShareLock",
       k_scan,
       "REINDEX without CONCURRENTLY blocks writes to the table (and reads that use the index) while it rebuilds.",
       "REINDEX ... CONCURRENTLY in a `-- ferry:no-transaction` migration."},
      {"FL030",
       "drop-table",
       {H, H, H},
       k_ae,
       "",
       "The table and its data are gone; running code that uses it fails.",
       "Stop using the table in one release; drop it in the next, after a verified backup."},
      {"FL031",
       "drop-object",
       {M, M, M},
       k_ae,
       "",
       "Dropping a view, function, type, sequence or other object breaks running code that still uses it.",
       "Stop using it in one release; drop it in the next."},
      {"FL032",
       "drop-schema-or-cascade",
       {H, H, H},
       k_ae,
       "",
       "DROP SCHEMA, or any DROP ... CASCADE, removes every object that depends on it, data included.",
       "Drop the dependent objects one by one, by name, after a release that stops using them."},
      {"FL033",
       "truncate",
       {H, H, H},
       k_ae,
       "",
       "TRUNCATE removes every row at once under ACCESS EXCLUSIVE.",
       "Delete the rows you mean in batches with a WHERE clause; keep a verified backup."},
      {"FL034",
       "delete-without-where",
       {H, H, H},
       "RowExclusiveLock",
       k_scan,
       "DELETE without WHERE removes every row, locking each one until the transaction ends.",
       "Add the WHERE clause you mean; delete in batches by key range."},
      {"FL035",
       "update-without-where",
       {L, M, H},
       "RowExclusiveLock",
       k_rewrite,
       "UPDATE without WHERE writes a new version of every row and holds every row lock until the transaction "
       "ends: concurrent updates of any row wait.",
       "Update in batches by key range, each in its own transaction (a `-- ferry:no-transaction` migration, "
       "or a job)."},
      {"FL040",
       "vacuum-full-or-cluster",
       {L, M, H},
       k_ae,
       k_rewrite,
       "VACUUM FULL and CLUSTER rewrite the table under ACCESS EXCLUSIVE: no reads or writes until done.",
       "Plain VACUUM, or pg_repack; or a maintenance window."},
      {"FL041",
       "enum-add-value-in-transaction",
       {M, M, M},
       "",
       "",
       "ALTER TYPE ... ADD VALUE inside a transaction: the new value cannot be used until the transaction "
       "commits (\"unsafe use of new value\"), so later statements of the same run that use it fail.",
       "Add the value in its own `-- ferry:no-transaction` migration; use it in a later one."},
      {"FL042",
       "no-lock-timeout",
       {M, M, M},
       "",
       "",
       "A lock that blocks reads or writes is requested with no lock_timeout: while it waits behind a long "
       "query, every other query on the table waits behind it.",
       "Keep the migrate step's lock_timeout (ferry's default is 5s), or SET lock_timeout = '5s' first."},
      {"FL043",
       "statements-after-access-exclusive",
       {M, M, M},
       k_ae,
       "",
       "An ACCESS EXCLUSIVE lock is held until the transaction commits: the statements after it in the same "
       "transaction keep the table unreadable for their whole duration.",
       "Take the ACCESS EXCLUSIVE lock last, or split the migration; run with `migrate: {transaction: each}`."},
  };
  return k;
}

const Rule* find_rule(const std::string& code) {
  for (const auto& r : rules())
    if (r.code == code) return &r;
  return nullptr;
}

std::string level_name(Level l) { return l == Level::Low ? "low" : l == Level::Medium ? "medium" : "high"; }

std::optional<Level> parse_level(const std::string& s) {
  for (Level l : {Level::Low, Level::Medium, Level::High})
    if (level_name(l) == s) return l;
  return std::nullopt;
}

std::string lock_display(const std::string& mode) { return mode.empty() ? "" : lock_words(mode); }

std::string rules_markdown() {
  std::ostringstream o;
  o << "# Lint rules\n\n"
    << "Generated by `ferry lint --rules` from the rule table (src/migrate/lint/catalog.cpp); a test keeps\n"
    << "this page equal to it. Levels are given at a small, a medium and a large table (see\n"
    << "`docs/guide.md`, Lint, for the thresholds); a table created earlier in the same run counts as small,\n"
    << "one whose size is unknown (offline, not found) as large.\n";
  for (const auto& r : rules()) {
    o << "\n## " << r.code << " " << r.name << "\n\n";
    o << "- level: ";
    if (r.scales())
      o << level_name(r.levels[0]) << " / " << level_name(r.levels[1]) << " / " << level_name(r.levels[2])
        << " (small / medium / large table)\n";
    else
      o << level_name(r.levels[0]) << "\n";
    o << "- lock: " << (r.lock.empty() ? "none on existing tables" : lock_words(r.lock)) << "\n";
    o << "- table: " << (r.work.empty() ? "not read" : r.work) << "\n";
    o << "- why: " << r.why << "\n";
    o << "- safe form: " << r.safe << "\n";
  }
  return o.str();
}

}  // namespace ferry::migrate::lint
