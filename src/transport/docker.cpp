#include "transport/docker.hpp"

#include "core/text.hpp"

namespace ferry::transport {

DockerTransport::DockerTransport(Transport& via, config::DockerSpec spec)
    : ViaTransport(via), m_spec(std::move(spec)) {}

std::string DockerTransport::describe() const {
  return "docker exec " + m_spec.container + (m_via.describe() == "local" ? "" : " via " + m_via.describe());
}

// ENGINE exec [-i] [-u U] [-w W] [-e NAME ...] CONTAINER ARGV. Environment values (secrets) are
// passed by name only (-e NAME), taken from the engine's own environment, so they never appear
// in any argv.
std::vector<std::string> DockerTransport::command_line(const std::vector<std::string>& argv,
                                                       const std::vector<std::string>& env_names,
                                                       bool stdin_open) const {
  std::vector<std::string> w = {m_spec.engine, "exec"};
  if (stdin_open) w.push_back("-i");
  if (!m_spec.user.empty()) w.insert(w.end(), {"-u", m_spec.user});
  if (!m_spec.workdir.empty()) w.insert(w.end(), {"-w", m_spec.workdir});
  for (const auto& k : env_names) w.insert(w.end(), {"-e", k});
  w.push_back(m_spec.container);
  w.insert(w.end(), argv.begin(), argv.end());
  return w;
}

CommandResult DockerTransport::run(const Command& cmd, const OutputSink& out) {
  std::string inner = shell_join(cmd.argv);
  // The engine's CLI dies with our timeout, but the process in the container would not.
  if (cmd.timeout) inner = "exec timeout -s KILL " + std::to_string((cmd.timeout->count() + 999) / 1000) + " " + inner;
  if (!cmd.cwd.empty()) inner = "cd " + shell_quote(cmd.cwd) + " && " + inner;
  std::vector<std::string> names;
  for (const auto& [k, v] : cmd.env) names.push_back(k);
  Command outer = cmd;
  outer.argv = command_line({"sh", "-c", inner}, names, true);
  outer.cwd.clear();
  auto res = m_via.run(outer, out);
  if (res.exit_code == 125 || (res.exit_code != 0 && res.err.find("no such container") != std::string::npos) ||
      res.err.find("is not running") != std::string::npos)
    throw Error(ErrorKind::Transport,
                "container '" + m_spec.container + "' is missing or stopped (" + describe() + "): " + res.last_line());
  return res;
}

}  // namespace ferry::transport
