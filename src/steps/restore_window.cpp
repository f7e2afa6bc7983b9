// What a killed swap restore can leave, and what the next command does about it. The states a
// SIGKILL can leave (restore_swap.cpp's phases):
//   - the restored copy ferry_restore_TAG_* alone (killed while restoring or proving it): the
//     database untouched; the copy is dropped by the next backup/rollback (drop_leftover_restores);
//   - the database with ALLOW_CONNECTIONS false and the copy still there (killed inside the
//     window, before the renaming committed): the renaming is one transaction that also allows
//     connections, so the database is provably the original; recover_swap_window allows them
//     again, then the copy is dropped as above;
//   - the renaming committed (the database is the proven copy, connections allowed) and
//     ferry_replaced_TAG_* with what it replaced: kept and named (ferry did not finish, a human
//     decides) unless ferry had marked it done (k_replaced_comment), then dropped.
// The database's name is never missing: both renames are in the one transaction.
#include "steps/restore_window.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/text.hpp"
#include "steps/recovery.hpp"

namespace ferry::steps {

using db::quote_ident;

const char* const k_replaced_comment = "ferry: replaced by a completed swap restore; to be dropped";

std::string swap_owner_tag(const std::string& dbname) { return sha256_hex(dbname).substr(0, 8); }
std::string swap_session_name(const std::string& dbname) { return "ferry swap " + swap_owner_tag(dbname); }
std::string swap_drop_session_name(const std::string& dbname) { return "ferry drop " + swap_owner_tag(dbname); }

namespace {

// Re-allows connections to the database a killed swap blocked; "" when nothing was needed.
std::string allow_again(db::Connection& m, const config::Environment& env) {
  const std::string& name = env.database.name;
  auto r = m.exec_params(
      "SELECT d.datallowconn, (SELECT pg_catalog.string_agg(s.datname, ', ') FROM pg_catalog.pg_database s WHERE "
      "s.datname OPERATOR(pg_catalog.~~) ('ferry\\_restore\\_' OPERATOR(pg_catalog.||) $2 OPERATOR(pg_catalog.||) "
      "'\\_%')), (SELECT pg_catalog.min(a.pid) FROM pg_catalog.pg_stat_activity a WHERE a.application_name "
      "OPERATOR(pg_catalog.=) $3) FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) $1",
      {name, swap_owner_tag(name), swap_session_name(name)});
  if (r.rows() == 0 || r.text(0, 0) == "t") return "";
  if (!r.is_null(0, 2))
    return "database " + name + " does not allow connections: a swap restore of it is under way (session pid " +
           r.text(0, 2) + "); it allows them again when its swap ends";
  if (r.is_null(0, 1))
    return "database " + name +
           " does not allow connections (datallowconn is false) and no swap restore of ferry's is under way or "
           "left: ferry did not block it and leaves it so; its owner allows them with ALTER DATABASE " +
           quote_ident(name) + " ALLOW_CONNECTIONS true";
  try {
    m.exec("ALTER DATABASE " + quote_ident(name) + " ALLOW_CONNECTIONS true");
  } catch (const Error& e) {
    return "database " + name + " does not allow connections: a swap restore stopped inside its window blocked them (" +
           "before its renaming: the database is as it was) and ferry cannot allow them again: " + e.what() +
           "; its owner runs ALTER DATABASE " + quote_ident(name) + " ALLOW_CONNECTIONS true";
  }
  return "database " + name + " did not allow connections: a swap restore was stopped inside its window, before " +
         "its renaming (the database is as it was before that restore); connections are allowed again, and its " +
         "unfinished copy " + r.text(0, 1) + " is dropped by this or the next ferry backup/rollback";
}

}  // namespace

std::vector<std::string> recover_swap_window(const config::Environment& env) {
  if (!env.backup || !env.database.tunnel.empty()) return {};  // no swap restore could have run
  std::vector<std::string> out;
  try {
    db::Connection m(connect_params(env, "postgres"));
    if (auto line = allow_again(m, env); !line.empty()) out.push_back(line);
  } catch (const Error&) {
    // No maintenance database or no rights: no swap could have run here.
  }
  return out;
}

namespace {

std::string leftover_warning(const std::string& name, const std::string& of, bool scratch, bool in_use) {
  if (scratch && in_use) return "database " + name + " (a swap restore's copy of " + of + ") is in use; kept";
  if (name.rfind("ferry_replaced_", 0) == 0)
    return "database " + name + " holds what a swap restore replaced: that restore of " + of + " was stopped " +
           "after its renaming and before it finished (" + of + " holds the restored, proven backup; `ferry " +
           "status` shows the run it left running), so it is kept; drop it with DROP DATABASE " + quote_ident(name) +
           " once not needed";
  return "database " + name + " was left by a swap restore of an older ferry (kept: drop it with DROP DATABASE " +
         "once not needed)";
}

}  // namespace

namespace {

// A ferry killed during a swap restore leaves server sessions that end on their own within
// seconds: its maintenance session finishing a CREATE DATABASE of the copy (the copy not yet
// visible), pg_restore's connections to the copy. This runs under the environment's lock, so
// no live swap of this database is under way: wait for them (bounded), then look.
void wait_for_stopped_swap(db::Connection& db, const config::Environment& env, report::Reporter& rep) {
  const auto bound = std::chrono::seconds(30);
  auto start = std::chrono::steady_clock::now();
  bool said = false;
  for (;;) {
    auto r = db.exec_params(
        "SELECT pg_catalog.string_agg(pid::pg_catalog.text, ', ' ORDER BY pid) FROM pg_catalog.pg_stat_activity "
        "WHERE pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid() AND (application_name OPERATOR(pg_catalog.=) "
        "$1 OR (application_name OPERATOR(pg_catalog.=) 'pg_restore' AND datname OPERATOR(pg_catalog.~~) "
        "('ferry\\_restore\\_' OPERATOR(pg_catalog.||) $2 OPERATOR(pg_catalog.||) '\\_%')))",
        {swap_session_name(env.database.name), swap_owner_tag(env.database.name)});
    if (r.is_null(0, 0)) return;
    if (std::chrono::steady_clock::now() - start >= bound) return;  // kept and named below
    if (!said)
      rep.message(report::Level::Info, "waiting (at most 30 s) for the server sessions of a stopped swap restore of " +
                                           env.database.name + " to end (pid " + r.text(0, 0) + ")");
    said = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace

void drop_leftover_restores(db::Connection& db, const config::Environment& env, report::Reporter& rep) try {
  wait_for_stopped_swap(db, env, rep);
  // Only databases of this server named like a swap's, never the live one (nor the connected one).
  auto r = db.exec_params(
      "SELECT d.datname, d.datname OPERATOR(pg_catalog.~~) ('ferry\\_restore\\_' OPERATOR(pg_catalog.||) $1 "
      "OPERATOR(pg_catalog.||) '\\_%'), EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.datname "
      "OPERATOR(pg_catalog.=) d.datname OR a.application_name OPERATOR(pg_catalog.=) ANY "
      "(ARRAY[$3, $4]::pg_catalog.text[])), d.datname OPERATOR(pg_catalog.~~) ('ferry\\_replaced\\_' "
      "OPERATOR(pg_catalog.||) $1 OPERATOR(pg_catalog.||) '\\_%') AND coalesce(pg_catalog.shobj_description(d.oid, "
      "'pg_database') OPERATOR(pg_catalog.=) $5::pg_catalog.text, false) FROM pg_catalog.pg_database d WHERE "
      "(d.datname "
      "OPERATOR(pg_catalog.~~) 'ferry\\_restore\\_%' OR d.datname OPERATOR(pg_catalog.~~) 'ferry\\_replaced\\_%') AND "
      "d.datname OPERATOR(pg_catalog.<>) $2 AND d.datname OPERATOR(pg_catalog.<>) pg_catalog.current_database() AND "
      "(d.datname OPERATOR(pg_catalog.~~) ('%\\_' OPERATOR(pg_catalog.||) $1 OPERATOR(pg_catalog.||) '\\_%') OR "
      "d.datname OPERATOR(pg_catalog.!~) '^ferry_(restore|replaced)_[0-9a-f]{8}_') ORDER BY 1",
      {swap_owner_tag(env.database.name), env.database.name, swap_session_name(env.database.name),
       swap_drop_session_name(env.database.name), k_replaced_comment});
  for (int i = 0; i < r.rows(); ++i) {
    std::string name = r.text(i, 0);
    bool scratch = r.text(i, 1) == "t", in_use = r.text(i, 2) == "t", done = r.text(i, 3) == "t";
    if (done && in_use) continue;  // its background drop is under way
    if ((scratch || done) && !in_use) {
      try {  // without FORCE: a session that connected since is not ended, the drop fails instead
        db.exec("DROP DATABASE " + quote_ident(name));
        rep.message(report::Level::Info,
                    "dropped database " + name +
                        (scratch ? ", left by a swap restore of " + env.database.name + " stopped before its swap"
                                 : ", replaced by a completed swap restore of " + env.database.name));
      } catch (const Error& e) {
        rep.message(report::Level::Warn, "cannot drop database " + name + ", left by a swap restore: " + e.what());
      }
      continue;
    }
    rep.message(report::Level::Warn, leftover_warning(name, env.database.name, scratch, in_use));
  }
} catch (const Error& e) {
  rep.message(report::Level::Warn, std::string("cannot look for databases a swap restore left: ") + e.what());
}

void swap_test_pause(const std::string& point) {
  const char* at = std::getenv("FERRY_TEST_PAUSE_AT");
  const char* file = std::getenv("FERRY_TEST_PAUSE_FILE");
  if (!at || !file || point != at) return;
  { std::ofstream(file) << point << "\n"; }
  for (int i = 0; i < 1200 && std::filesystem::exists(file); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

}  // namespace ferry::steps
