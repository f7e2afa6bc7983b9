// The only user of libpq. A thin RAII connection over the C API.
//
// Why libpq and not libpqxx: ferry needs exact control of transaction boundaries (one
// transaction for a whole run, or one per migration, or none for CREATE INDEX CONCURRENTLY),
// of cancelling a running statement from a signal (PQcancel is async-signal-safe), and of
// error fields (SQLSTATE, position) to point at the failing line of a migration. libpqxx 6.4
// wraps all three in ways that get in the way; the C API is small and stable.
#pragma once
#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace ferry::db {

// A failed statement or connection, with PostgreSQL's own fields.
class DbError : public Error {
 public:
  DbError(std::string message, std::string sqlstate, int position, int statement_index = -1)
      : Error(ErrorKind::Database, std::move(message)),
        m_sqlstate(std::move(sqlstate)),
        m_position(position),
        m_statement_index(statement_index) {}
  int statement_index() const { return m_statement_index; }
  const std::string& sqlstate() const { return m_sqlstate; }
  int position() const { return m_position; }  // 1-based character offset into the query, 0 = none

 private:
  std::string m_sqlstate;
  int m_position;
  int m_statement_index;
};

class Result {
 public:
  explicit Result(PGresult* r) : m_res(r, &PQclear) {}
  int rows() const { return PQntuples(m_res.get()); }
  int cols() const { return PQnfields(m_res.get()); }
  bool is_null(int row, int col) const { return PQgetisnull(m_res.get(), row, col); }
  std::string text(int row, int col) const { return PQgetvalue(m_res.get(), row, col); }
  std::optional<std::string> opt(int row, int col) const {
    if (is_null(row, col)) return std::nullopt;
    return text(row, col);
  }
  long long integer(int row, int col) const { return std::stoll(text(row, col)); }
  bool boolean(int row, int col) const { return text(row, col) == "t"; }
  bool single_bool() const { return rows() == 1 && cols() == 1 && PQftype(m_res.get(), 0) == 16; }

 private:
  std::shared_ptr<PGresult> m_res;
};

struct ConnectParams {
  std::string host;
  int port = 5432;
  std::string dbname;
  std::string user;
  std::optional<std::string> password;
  std::string sslmode = "prefer";
  int connect_timeout_s = 10;
};

class Connection {
 public:
  // Connects; throws DbError naming "user@host:port/dbname" and libpq's reason.
  explicit Connection(const ConnectParams& p);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one or more statements (simple protocol). Throws DbError on failure.
  Result exec(const std::string& sql);
  // Runs one statement with text parameters ($1, $2, ...; nullopt is NULL).
  Result exec_params(const std::string& sql, const std::vector<std::optional<std::string>>& params);

  // Runs a script of several statements in ONE round trip. On failure throws DbError whose
  // statement_index() is the 0-based index of the failing statement (empty statements do not
  // count) and whose position() is relative to the whole script.
  void exec_script(const std::string& sql);
  // A literal safe for this connection's settings (PQescapeLiteral).
  std::string literal(const std::string& text) const;

  // True when the session answers (a lost connection: a restart, pg_terminate_backend).
  bool alive();
  // A new session with the same parameters (PQreset), tried `attempts` times with waits
  // doubling from 250 ms. Session state (settings, advisory locks) is gone. Throws DbError
  // when the server stays unreachable.
  void reconnect(int attempts = 7);

  bool in_transaction() const;
  void rollback_if_open();  // ROLLBACK when a transaction is open or aborted; never throws

  // Asks the server to cancel the running statement. Async-signal-safe.
  void cancel() const;
  const std::string& describe() const { return m_describe; }
  int backend_pid() const { return PQbackendPID(m_conn); }

 private:
  PGconn* m_conn = nullptr;
  PGcancel* m_cancel = nullptr;
  std::string m_describe;
};

// Quotes ONE identifier for SQL, whatever it contains: odd.name -> "odd.name", a"b -> "a""b".
// A name is never split on dots: "my.schema" is one schema.
std::string quote_ident(const std::string& ident);
// A schema-qualified name: "my.schema"."odd.name".
std::string quote_qualified(const std::string& schema, const std::string& name);
std::string quote_literal(const std::string& text);

}  // namespace ferry::db
