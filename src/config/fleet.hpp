// Fleets: an environment naming many databases of one server (`database.names`, `names_file`,
// `discover`), and the playbook's `fleet:` block. What is shared by config, run and cli.
#pragma once
#include <string>
#include <vector>

#include "config/model.hpp"

namespace ferry::config {

// Why `name` cannot be a fleet member ("" when it can): empty, over 63 bytes (PostgreSQL's
// identifier limit), a NUL, a '/', or "." / ".." (a member's backups live in backup.dir/NAME).
std::string member_name_problem(const std::string& name);

// The environment of one member: `fleet` with database.name = `name`, no member list, and its
// backups under backup.dir/NAME (so no member ever lists or restores another's backup).
Environment member_environment(const Environment& fleet, const std::string& name);

// The members a names_file lists: one per line, blank lines and `#` comments skipped, spaces
// around a name trimmed. Throws Error(Config) "DISPLAY:LINE: ..." for a bad or repeated name.
std::vector<std::string> parse_names_file(const std::string& content, const std::string& display);

// A share of `total` databases: K (at most total) or P% rounded up (`round_up`) or down.
int share_of(const Share& s, int total, bool round_up);

}  // namespace ferry::config
