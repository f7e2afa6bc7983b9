// The only user of libpqxx: a session over one pqxx::connection and one long-lived
// pqxx::nontransaction, so ferry sends BEGIN/COMMIT itself (one transaction for a run, one per
// migration, none for CREATE INDEX CONCURRENTLY). Callers see no pqxx type (one forward declaration).
#pragma once
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/interrupt.hpp"

namespace pqxx {
class result;
}

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
  // 1-based character offset into the failing statement, 0 = none. libpqxx 6.4 reports it for
  // syntax errors (42601) only (Pqxx.PositionOnlyForSyntaxErrors).
  int position() const { return m_position; }

 private:
  std::string m_sqlstate;
  int m_position;
  int m_statement_index;
};

class Result {
 public:
  explicit Result(std::shared_ptr<const pqxx::result> r) : m_res(std::move(r)) {}
  int rows() const;
  int cols() const;
  bool is_null(int row, int col) const;
  std::string text(int row, int col) const;
  std::optional<std::string> opt(int row, int col) const {
    if (is_null(row, col)) return std::nullopt;
    return text(row, col);
  }
  long long integer(int row, int col) const { return std::stoll(text(row, col)); }
  bool boolean(int row, int col) const { return text(row, col) == "t"; }
  bool single_bool() const;

 private:
  std::shared_ptr<const pqxx::result> m_res;
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

class Connection : public Cancellable {
 public:
  // Connects; throws DbError naming "user@host:port/dbname" and the server's reason.
  explicit Connection(const ConnectParams& p);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one or more statements (simple protocol). Throws DbError on failure.
  Result exec(const std::string& sql);
  // Runs one statement with text parameters ($1, $2, ...; nullopt is NULL).
  Result exec_params(const std::string& sql, const std::vector<std::optional<std::string>>& params);

  // Runs statements (one each, no trailing semicolon needed) in ONE round trip (a
  // pqxx::pipeline). On failure throws DbError whose statement_index() is the 0-based index of
  // the failing statement; the ones after it did not run.
  void exec_script(const std::vector<std::string>& statements);
  // A literal safe for this connection's settings.
  std::string literal(const std::string& text) const;

  // True when the session answers (a lost connection: a restart, pg_terminate_backend).
  bool alive();
  // A new session with the same parameters, tried `attempts` times with waits doubling from
  // 250 ms. Session state (settings, advisory locks) is gone. Throws DbError when the server
  // stays unreachable.
  void reconnect(int attempts = 7);

  void rollback_if_open();  // ROLLBACK when a transaction is open or aborted; never throws

  // Asks the server to cancel the running statement. Call it from another thread (the signal
  // thread, a watchdog), never from a signal handler.
  void cancel() const override;
  const std::string& describe() const { return m_describe; }
  int backend_pid() const;
  int server_version() const;  // as server_version_num: 150004

 private:
  struct Session;
  void open();
  std::unique_ptr<Session> m_session;
  mutable std::mutex m_session_mu;  // cancel() from another thread vs reconnect()
  std::string m_options;            // the connection string: holds the password, never printed
  std::string m_describe;
};

// Quotes ONE identifier for SQL, whatever it contains: odd.name -> "odd.name", a"b -> "a""b".
// A name is never split on dots: "my.schema" is one schema.
std::string quote_ident(const std::string& ident);
// A schema-qualified name: "my.schema"."odd.name".
std::string quote_qualified(const std::string& schema, const std::string& name);
std::string quote_literal(const std::string& text);

}  // namespace ferry::db
