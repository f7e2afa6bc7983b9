// ferry::Error: the one root of every error ferry raises. Its kind decides the exit code.
#pragma once
#include <stdexcept>
#include <string>

namespace ferry {

enum class ErrorKind {
  Config,     // bad YAML, bad flags, bad migration files: exit 64, nothing ran
  Refused,    // gate, lock held, confirmation missing, drift: exit 3, nothing changed
  Transport,  // a place could not be reached
  Command,    // a command ran and failed
  Database,   // a database statement or connection failed
  Verify,     // a verification did not hold
  Internal,
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message, std::string hint = {})
      : std::runtime_error(std::move(message)), m_kind(kind), m_hint(std::move(hint)) {}
  ErrorKind kind() const { return m_kind; }
  const std::string& hint() const { return m_hint; }

 private:
  ErrorKind m_kind;
  std::string m_hint;
};

// Exit codes of SPEC section 9.
namespace exit_code {
inline constexpr int k_ok = 0;
inline constexpr int k_failed_clean = 1;
inline constexpr int k_failed_dirty = 2;
inline constexpr int k_refused = 3;
inline constexpr int k_usage = 64;
}  // namespace exit_code

}  // namespace ferry
