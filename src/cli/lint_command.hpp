// `ferry lint [PLAYBOOK]`: the risk of every pending migration on every stage, and the short
// form `ferry plan` shows.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "config/model.hpp"
#include "db/ledger.hpp"
#include "db/pg.hpp"
#include "migrate/lint/pending.hpp"
#include "migrate/migration_set.hpp"
#include "transport/transport.hpp"

namespace CLI {
class App;
}

namespace ferry::cli {

struct LintOptions {
  std::string playbook;  // "" = migrations/ against every environment
  bool offline = false;
  bool json = false;
  bool rules = false;  // print the rule table (docs/lint.md) and exit
  std::string fail_on = "high";
  std::optional<double> medium_rows, high_rows;
};

// Registers the subcommand and its flags on `app`, filling `o`.
CLI::App* add_lint_command(CLI::App& app, LintOptions& o);
int cmd_lint(const Globals& g, const LintOptions& o);

// For `ferry plan`: one line per pending migration with findings ("lint 0002_x: FL020 medium
// (tasks), ..."), or one "lint: no findings" line; levels scaled by the sizes read on `conn`.
void print_plan_lint(std::ostream& os, const config::Playbook& pb, db::Connection& conn,
                     const std::vector<migrate::Migration>& pending);
// The same lines for migrations already linted (Alembic revisions). Both add the preflight's
// problems read on `conn` ("preflight: ..." lines).
void print_plan_lint(std::ostream& os, const config::Playbook& pb, db::Connection& conn,
                     const std::vector<migrate::lint::Linted>& linted);

// The same for an Alembic playbook at revision `current` (offline SQL through `on`); a failure of
// `alembic upgrade --sql` is one "lint: not available" line, not a failed plan.
void print_plan_lint_alembic(std::ostream& os, const config::Playbook& pb, db::Connection& conn,
                             transport::Transport& on, const std::string& current);

// `ferry history ENV`: the accept-risk directives recorded when their migrations were applied
// (ferry.accepted_risks), newest first: a JSON array / "accepted risks" lines.
nlohmann::json accepted_risks_json(db::Ledger& ledger);
void print_accepted_risks(std::ostream& os, db::Ledger& ledger);

}  // namespace ferry::cli
