// Secret redaction. Every secret value read from configuration (passwords, password_file
// contents, ${secret:VAR} values) is registered here once; every string bound for output, logs,
// journals and reports passes through redact(). It lives in core so that no call site has
// to remember it: the reporters and the journal call it on everything they write.
#pragma once
#include <string>
#include <vector>

namespace ferry {

class Secrets {
 public:
  void add(const std::string& value);
  std::string redact(std::string text) const;
  bool empty() const { return m_values.empty(); }

 private:
  void add_one(const std::string& value);
  std::vector<std::string> m_values;
};

}  // namespace ferry
