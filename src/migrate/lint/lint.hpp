// `ferry lint`: the risk of each statement of a migration, read by PostgreSQL's own parser
// (libpg_query stays inside src/migrate). The rules live one family per file beside this one;
// this header is what the rest of ferry sees: the rule table, findings, size scaling.
#pragma once
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ferry::migrate::lint {

enum class Level { Low = 0, Medium = 1, High = 2 };
std::string level_name(Level l);                         // "low" | "medium" | "high"
std::optional<Level> parse_level(const std::string& s);  // nullopt for anything else

// A table's size on the target, as pg_class estimates it (reltuples < 0: never analysed).
struct TableSize {
  double rows = -1;
  long long bytes = 0;
};

// How a size maps to a level. Thresholds are inclusive lower bounds; a table is as large as the
// larger of its two readings.
struct Thresholds {
  double medium_rows = 100'000;
  double high_rows = 1'000'000;
  long long medium_bytes = 100LL << 20;  // 100 MB
  long long high_bytes = 1LL << 30;      // 1 GB
};

// What is known of a finding's table: small / medium / large on the target, created by a
// migration linted before it (new: empty), or unknown (offline, not found, no table involved).
enum class SizeClass { Small = 0, Medium = 1, Large = 2, New, Unknown };
SizeClass classify(const std::optional<TableSize>& size, const Thresholds& t);

struct Rule {
  std::string code;  // stable: "FL020"
  std::string name;  // "create-index-not-concurrently"
  Level levels[3];   // at a small, medium and large table (unknown size: large; new table: small)
  std::string lock;  // PostgreSQL's lock mode name as pg_locks shows it ("ShareLock"), or ""
  std::string work;  // "rewrites the table" | "scans the table" | "" (catalog only)
  std::string why;   // what it does to the running application
  std::string safe;  // the safe form
  bool scales() const { return levels[0] != levels[2]; }
};
const std::vector<Rule>& rules();
// "ShareRowExclusiveLock" -> "SHARE ROW EXCLUSIVE" ("" stays "").
std::string lock_display(const std::string& mode);
const Rule* find_rule(const std::string& code);
// docs/lint.md: one section per rule (`ferry lint --rules` prints it; a test keeps them equal).
std::string rules_markdown();

struct Finding {
  std::string code;
  Level level = Level::Low;
  std::string file;  // "migrations/0002_x/up.sql"
  int line = 1, col = 1;
  std::string table;      // the table it concerns, as written ("public.tasks"), or ""
  std::string statement;  // the statement's first line, shortened
  std::string detail;     // what this statement does ("CREATE INDEX on tasks without CONCURRENTLY")
  SizeClass size_class = SizeClass::Unknown;
  std::optional<TableSize> size;
  bool accepted = false;
  std::string accept_reason;
};

// What a migration says about itself and where it runs.
struct Source {
  std::string sql;
  std::string file;                   // shown in findings and errors
  bool transactional = true;          // false: `-- ferry:no-transaction`
  long long lock_timeout_ms = 5'000;  // what ferry sets before it runs (the migrate step's lock_timeout)
  // When set: why the SQL may change existing rows, or "" (destroys_data's answer), read from the
  // same parse trees as the findings, so that a run parses each pending migration once.
  std::string* data_loss = nullptr;
};

// Lints a sequence of migrations in order (tables created by an earlier one are new in later
// ones); sizes are looked up for the tables the findings name.
class Linter {
 public:
  // Findings of one migration, levels not yet scaled (size_class Unknown, or New). Throws
  // Error(Config) "FILE:LINE:COL: ..." for SQL that does not parse, and "FILE:LINE: ..." for an
  // accept-risk directive naming no rule or giving no reason.
  std::vector<Finding> lint(const Source& src);
  // The existing tables the findings so far name (to look their sizes up on a target).
  std::set<std::string> tables() const;

 private:
  std::set<std::string> m_created;  // tables created by the migrations linted so far
  std::set<std::string> m_named;
};

// Sets each finding's size and level from the target's sizes (absent from `sizes`: unknown).
void scale(std::vector<Finding>& findings, const std::map<std::string, TableSize>& sizes, const Thresholds& t);

}  // namespace ferry::migrate::lint
