// The swap restore's window (restore_swap.cpp), as the next ferry command finds it after a
// ferry that was killed inside it: what is provably safe to finish or undo, and what to say.
#pragma once
#include <string>
#include <vector>

#include "db/pg.hpp"
#include "steps/context.hpp"

namespace ferry::steps {

// The first 8 hex of sha256(database name): names a swap's databases as this database's.
std::string swap_owner_tag(const std::string& dbname);

// application_name of the session that runs a swap of `dbname` (while it is alive, its swap
// is under way) and of the background DROP of the database it replaced.
std::string swap_session_name(const std::string& dbname);
std::string swap_drop_session_name(const std::string& dbname);

// A replaced database's comment once its swap is complete (the restored database proven,
// renamed in, ferry's lock taken back): the next backup/rollback drops it if still there.
extern const char* const k_replaced_comment;

// Before connecting to the database: a swap restore killed inside its window (after it
// blocked new connections, before its renaming committed) leaves the database with
// ALLOW_CONNECTIONS false. When no swap of it is alive and its restored copy is still there,
// the renaming provably did not happen: connections are allowed again (the database is as it
// was). Returns what it did or found, in plain words (empty: nothing to say). Never throws.
std::vector<std::string> recover_swap_window(const config::Environment& env);

// Called by `ferry rollback` and `ferry backup` while they hold the environment's lock: drops
// this database's ferry_restore_* copies (a swap stopped before its renaming) and the
// ferry_replaced_* ones its swap marked done (k_replaced_comment), when no session uses them and
// no swap or background drop of this database is alive; names, and keeps, the others (a swap
// stopped after its renaming: what it replaced; older unattributable ones). Never the live database.
// It first waits (at most 30 s) for the server sessions a killed swap left to end: its `ferry
// swap` session still in CREATE DATABASE (the copy not yet visible), pg_restore in the copy.
void drop_leftover_restores(db::Connection& db, const config::Environment& env, report::Reporter& rep);

// Test-only (FERRY_TEST_PAUSE_AT=swap:POINT with FERRY_TEST_PAUSE_FILE=PATH): at POINT, write
// PATH and wait while it exists (at most 120 s), so a test can SIGKILL ferry there.
void swap_test_pause(const std::string& point);

}  // namespace ferry::steps
