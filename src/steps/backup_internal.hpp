// Shared by the backup, listing/retention and restore sources of src/steps: how PostgreSQL's
// client tools are invoked on backup.on, and where a backup's files are. Not a public API.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "steps/context.hpp"

namespace ferry::steps::detail {

// Words that run a PostgreSQL client tool where database.tools lives, as a shell command on
// backup.on's host (`here`: on backup.on's host itself).
std::string tool(const config::Environment& env, const std::string& prog, const std::vector<std::string>& args,
                 bool interactive_stdin, bool here = false);

// True when pg_dump runs on backup.on's host (itself, or a container there).
bool tools_on_backup_host(const config::Environment& env);

// Throws Error(Config) unless the dump can stream into this machine (backup.on: local).
void check_streamable(const config::Environment& env);

// Runs `producer` and `consumer` joined by a pipe: producer's stdout -> consumer's stdin.
std::pair<transport::CommandResult, transport::CommandResult> pipe_through(transport::Transport& producer_at,
                                                                           transport::Command producer,
                                                                           transport::Transport& consumer_at,
                                                                           transport::Command consumer);

std::vector<std::string> conn_args(const config::Environment& env);
// pg_dump's arguments after its format: the connection, ferry's schema left out, the exported
// snapshot, the database. One place for the script and the pipeline inside ferry.
std::vector<std::string> dump_args(const config::Environment& env, const std::string& snapshot);
std::map<std::string, std::string> tool_env(const config::Environment& env);

// A tool's stderr made one bounded line: its first lines (where the error is) and its last.
std::string error_summary(const std::string& stderr_text);

// The file of a backup, built from backup.dir and its validated ID (never from the sidecar):
// ID.dump.zst, ID.dump or ID.dir. Empty for an unknown format or compression.
std::string backup_file_path(const std::string& dir, const std::string& id, const std::string& format,
                             const std::string& compression);

// A bash fragment checking "$f" against the sha256 "$2"; exits 66 (missing) or 65 (mismatch).
std::string sha256_check_script(const std::string& format);

// What of the database a restore as the connected user could not drop (schemas, publications,
// large objects owned by roles it is not, event triggers unless a superuser, subscriptions), or "".
std::string restore_blockers(db::Connection& db);

}  // namespace ferry::steps::detail
