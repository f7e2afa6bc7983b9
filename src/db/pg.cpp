#include "db/pg.hpp"

#include <chrono>
#include <thread>

namespace ferry::db {

namespace {
void ignore_notice(void*, const char*) {}

DbError error_from(PGresult* res, PGconn* conn) {
  std::string msg;
  std::string state;
  int pos = 0;
  if (res) {
    const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char* s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char* p = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
    const char* detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    if (primary) msg = primary;
    if (detail) msg += " (" + std::string(detail) + ")";
    if (s) state = s;
    if (p) pos = std::atoi(p);
  }
  if (msg.empty()) {
    msg = PQerrorMessage(conn);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  }
  return DbError(msg, state, pos);
}
}  // namespace

Connection::Connection(const ConnectParams& p) {
  m_describe = (p.user.empty() ? "" : p.user + "@") + p.host + ":" + std::to_string(p.port) + "/" + p.dbname;
  std::string port = std::to_string(p.port);
  std::string timeout = std::to_string(p.connect_timeout_s);
  std::vector<const char*> keys = {"host", "port", "dbname", "sslmode", "connect_timeout", "application_name"};
  std::vector<const char*> vals = {p.host.c_str(),    port.c_str(),    p.dbname.c_str(),
                                   p.sslmode.c_str(), timeout.c_str(), "ferry"};
  if (!p.user.empty()) {
    keys.push_back("user");
    vals.push_back(p.user.c_str());
  }
  if (p.password) {
    keys.push_back("password");
    vals.push_back(p.password->c_str());
  }
  // TCP keepalives: a run's session idles while long steps run elsewhere, and a NAT or proxy
  // must not drop it silently (the run's advisory lock lives in it).
  static const char* const k_keepalives[][2] = {
      {"keepalives", "1"}, {"keepalives_idle", "30"}, {"keepalives_interval", "10"}, {"keepalives_count", "3"}};
  for (const auto& kv : k_keepalives) {
    keys.push_back(kv[0]);
    vals.push_back(kv[1]);
  }
  keys.push_back(nullptr);
  vals.push_back(nullptr);
  m_conn = PQconnectdbParams(keys.data(), vals.data(), 0);
  if (PQstatus(m_conn) != CONNECTION_OK) {
    std::string why = PQerrorMessage(m_conn);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    PQfinish(m_conn);
    m_conn = nullptr;
    throw DbError("cannot connect to '" + m_describe + "': " + why, "08001", 0);
  }
  PQsetNoticeProcessor(m_conn, ignore_notice, nullptr);
  m_cancel = PQgetCancel(m_conn);
}

Connection::~Connection() {
  if (m_cancel) PQfreeCancel(m_cancel);
  if (m_conn) PQfinish(m_conn);
}

Result Connection::exec(const std::string& sql) {
  PGresult* r = PQexec(m_conn, sql.c_str());
  auto st = PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) return Result(r);
  DbError e = error_from(r, m_conn);
  PQclear(r);
  throw e;
}

Result Connection::exec_params(const std::string& sql, const std::vector<std::optional<std::string>>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  PGresult* r =
      PQexecParams(m_conn, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0);
  auto st = PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return Result(r);
  DbError e = error_from(r, m_conn);
  PQclear(r);
  throw e;
}

void Connection::exec_script(const std::string& sql) {
  if (!PQsendQuery(m_conn, sql.c_str())) {
    std::string why = PQerrorMessage(m_conn);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    throw DbError(why, "08006", 0);
  }
  int index = 0;
  std::optional<DbError> failure;
  while (PGresult* r = PQgetResult(m_conn)) {
    auto st = PQresultStatus(r);
    if (st == PGRES_FATAL_ERROR && !failure) {
      DbError e = error_from(r, m_conn);
      failure = DbError(e.what(), e.sqlstate(), e.position(), index);
    }
    if (st != PGRES_EMPTY_QUERY) ++index;
    PQclear(r);
  }
  if (failure) throw *failure;
}

std::string Connection::literal(const std::string& text) const {
  char* q = PQescapeLiteral(m_conn, text.c_str(), text.size());
  if (!q) throw DbError(PQerrorMessage(m_conn), "22000", 0);
  std::string out(q);
  PQfreemem(q);
  return out;
}

bool Connection::alive() {
  if (!m_conn || PQstatus(m_conn) != CONNECTION_OK) return false;
  if (PQtransactionStatus(m_conn) == PQTRANS_INERROR) return true;  // answers, but would refuse SELECT
  PGresult* r = PQexec(m_conn, "SELECT 1");
  bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
  PQclear(r);
  return ok;
}

void Connection::reconnect(int attempts) {
  int wait_ms = 250;
  for (int i = 0; i < attempts; ++i) {
    if (i > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
      wait_ms *= 2;
    }
    PQreset(m_conn);
    if (PQstatus(m_conn) == CONNECTION_OK) {
      if (m_cancel) PQfreeCancel(m_cancel);
      m_cancel = PQgetCancel(m_conn);
      return;
    }
  }
  std::string why = PQerrorMessage(m_conn);
  while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
  throw DbError("cannot reconnect to '" + m_describe + "' after " + std::to_string(attempts) + " attempts: " + why,
                "08001", 0);
}

bool Connection::in_transaction() const {
  auto s = PQtransactionStatus(m_conn);
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE;
}

void Connection::rollback_if_open() {
  if (!m_conn || !in_transaction()) return;
  PGresult* r = PQexec(m_conn, "ROLLBACK");
  PQclear(r);
}

void Connection::cancel() const {
  if (!m_cancel) return;
  char buf[256];
  PQcancel(m_cancel, buf, sizeof buf);
}

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
