// Running the real ferry binary the way a user does from a directory of their choosing (no -C).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "support/fixtures.hpp"
#include "transport/transport.hpp"

namespace ferry::test {

// Runs `ferry ARGS...` in `cwd` (no -C added); env vars added to ferry's environment.
inline Proc ferry_in(const std::string& cwd, const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& env = {}) {
  transport::LocalTransport t;
  transport::Command c;
  c.argv = {ferry_binary()};
  c.argv.insert(c.argv.end(), args.begin(), args.end());
  c.env = env;
  c.env["NO_COLOR"] = "1";
  c.cwd = cwd;
  auto r = t.run(c);
  return Proc{r.exit_code, r.out, r.err};
}

}  // namespace ferry::test
