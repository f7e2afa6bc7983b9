#include "db/pg.hpp"

#include <pqxx/pqxx>

#include <chrono>
#include <thread>

namespace ferry::db {

struct Connection::Session {
  pqxx::connection conn;
  pqxx::quiet_errorhandler quiet;  // notices (e.g. "no transaction in progress") are not printed
  pqxx::nontransaction tx;         // sends statements as they are: ferry writes BEGIN/COMMIT
  explicit Session(const std::string& options) : conn(options), quiet(conn), tx(conn) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    // A lost session must surface as an error, never come back silently without its lock.
    conn.inhibit_reactivation(true);
#pragma GCC diagnostic pop
  }
};

namespace {
std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  return s;
}

// libpqxx 6.4 gives the server's whole message ("ERROR:  primary\nLINE 1: ...\nDETAIL:  ...",
// or FATAL when the server ends the session);
// ferry shows the primary text and the detail: "primary (detail)".
std::string readable(const std::string& full) {
  std::string primary;
  std::string detail;
  size_t at = 0;
  while (at < full.size()) {
    size_t end = full.find('\n', at);
    if (end == std::string::npos) end = full.size();
    std::string line = full.substr(at, end - at);
    at = end + 1;
    size_t sep = line.find(":  ");
    if (primary.empty()) {
      std::string severity = sep == std::string::npos ? "" : line.substr(0, sep);
      bool known = severity == "ERROR" || severity == "FATAL" || severity == "PANIC";
      primary = known ? line.substr(sep + 3) : line;
    } else if (line.rfind("DETAIL:  ", 0) == 0) {
      detail = line.substr(9);
    }
  }
  return detail.empty() ? primary : primary + " (" + detail + ")";
}

DbError translate(int statement_index = -1) {
  try {
    throw;
  } catch (const pqxx::syntax_error& e) {
    return DbError(readable(e.what()), e.sqlstate(), std::max(0, e.error_position), statement_index);
  } catch (const pqxx::insufficient_privilege& e) {  // 6.4 throws it without its SQLSTATE
    return DbError(readable(e.what()), "42501", 0, statement_index);
  } catch (const pqxx::sql_error& e) {
    return DbError(readable(e.what()), e.sqlstate(), 0, statement_index);
  } catch (const pqxx::too_many_connections& e) {  // 6.4: these carry no SQLSTATE at all
    return DbError(readable(e.what()), "53300", 0, statement_index);
  } catch (const pqxx::deadlock_detected& e) {
    return DbError(readable(e.what()), "40P01", 0, statement_index);
  } catch (const pqxx::serialization_failure& e) {
    return DbError(readable(e.what()), "40001", 0, statement_index);
  } catch (const pqxx::transaction_rollback& e) {
    return DbError(readable(e.what()), "40000", 0, statement_index);
  } catch (const pqxx::broken_connection& e) {
    return DbError(trimmed(e.what()), "08006", 0, statement_index);
  } catch (const std::exception& e) {
    return DbError(trimmed(e.what()), "", 0, statement_index);
  }
}

// A connection-string value: always quoted, with ' and \ escaped (libpq's rules).
std::string conninfo_value(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "'";
}
}  // namespace

Connection::Connection(const ConnectParams& p) {
  m_describe = (p.user.empty() ? "" : p.user + "@") + p.host + ":" + std::to_string(p.port) + "/" + p.dbname;
  std::vector<std::pair<std::string, std::string>> kv = {
      {"host", p.host},
      {"port", std::to_string(p.port)},
      {"dbname", p.dbname},
      {"sslmode", p.sslmode},
      // "ferry", unless PGAPPNAME names the session (a fleet's member: ferry/RUN_ID/DATABASE).
      {"fallback_application_name", "ferry"},
      {"connect_timeout", std::to_string(p.connect_timeout_s)},
      // TCP keepalives: a run's session idles while long steps run elsewhere, and a NAT or
      // proxy must not drop it silently (the run's advisory lock lives in it).
      {"keepalives", "1"},
      {"keepalives_idle", "30"},
      {"keepalives_interval", "10"},
      {"keepalives_count", "3"}};
  if (!p.user.empty()) kv.push_back({"user", p.user});
  if (p.password) kv.push_back({"password", *p.password});
  for (const auto& [k, v] : kv) m_options += k + "=" + conninfo_value(v) + " ";
  try {
    open();
  } catch (const std::exception& e) {
    throw DbError("cannot connect to '" + m_describe + "': " + trimmed(e.what()), "08001", 0);
  }
}

Connection::~Connection() = default;

void Connection::open() {
  auto fresh = std::make_unique<Session>(m_options);
  std::lock_guard<std::mutex> lock(m_session_mu);
  m_session = std::move(fresh);
}

Result Connection::exec(const std::string& sql) {
  try {
    return Result(std::make_shared<const pqxx::result>(m_session->tx.exec(sql)));
  } catch (...) {
    throw translate();
  }
}

Result Connection::exec_params(const std::string& sql, const std::vector<std::optional<std::string>>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  try {
    return Result(std::make_shared<const pqxx::result>(
        m_session->tx.exec_params(sql, pqxx::prepare::make_dynamic_params(values))));
  } catch (...) {
    throw translate();
  }
}

void Connection::exec_script(const std::vector<std::string>& statements) {
  if (statements.empty()) return;
  std::vector<pqxx::pipeline::query_id> ids;
  size_t index = 0;
  try {
    pqxx::pipeline pipe(m_session->tx);
    pipe.retain(static_cast<int>(statements.size()) + 1);  // all in one send
    // A newline ends a trailing "-- comment" before the pipeline's "; " separator.
    for (const auto& s : statements) ids.push_back(pipe.insert(s + "\n"));
    pipe.resume();
    for (; index < ids.size(); ++index) pipe.retrieve(ids[index]);
    pipe.complete();
  } catch (...) {
    throw translate(static_cast<int>(index));
  }
}

std::string Connection::literal(const std::string& text) const { return m_session->conn.quote(text); }

bool Connection::alive() {
  try {
    m_session->tx.exec("SELECT 1");
    return true;
  } catch (const pqxx::sql_error&) {
    return true;  // answers, but refuses (an aborted transaction)
  } catch (const std::exception&) {
    return false;
  }
}

void Connection::reconnect(int attempts) {
  int wait_ms = 250;
  std::string why;
  for (int i = 0; i < attempts; ++i) {
    if (i > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
      wait_ms *= 2;
    }
    try {
      open();
      return;
    } catch (const std::exception& e) {
      why = trimmed(e.what());
    }
  }
  throw DbError("cannot reconnect to '" + m_describe + "' after " + std::to_string(attempts) + " attempts: " + why,
                "08001", 0);
}

void Connection::rollback_if_open() {
  // libpqxx 6.4 does not expose the transaction status: ROLLBACK outside a transaction is a
  // warning (silenced), and a broken session has nothing to roll back.
  try {
    if (m_session) m_session->tx.exec("ROLLBACK");
  } catch (const std::exception&) {
  }
}

void Connection::cancel() const {
  std::lock_guard<std::mutex> lock(m_session_mu);
  try {
    if (m_session) m_session->conn.cancel_query();
  } catch (const std::exception&) {
  }
}

int Connection::backend_pid() const { return m_session->conn.backendpid(); }
int Connection::server_version() const { return m_session->conn.server_version(); }

int Result::rows() const { return static_cast<int>(m_res->size()); }
int Result::cols() const { return static_cast<int>(m_res->columns()); }
bool Result::is_null(int row, int col) const { return (*m_res)[row][col].is_null(); }
std::string Result::text(int row, int col) const { return (*m_res)[row][col].c_str(); }
bool Result::single_bool() const { return rows() == 1 && cols() == 1 && m_res->column_type(0) == 16; }

std::string quote_ident(const std::string& ident) {
  std::string out = "\"";
  for (char c : ident) {
    if (c == '"')
      out += "\"\"";
    else
      out.push_back(c);
  }
  return out + "\"";
}

std::string quote_qualified(const std::string& schema, const std::string& name) {
  return quote_ident(schema) + "." + quote_ident(name);
}

std::string quote_literal(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'')
      out += "''";
    else
      out.push_back(c);
  }
  return out + "'";
}

}  // namespace ferry::db
