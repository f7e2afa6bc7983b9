#include "core/text.hpp"
#include "transport/transport.hpp"
#include "transport/transports.hpp"

namespace ferry::transport {

DockerTransport::DockerTransport(Transport& via, config::DockerSpec spec) : m_via(via), m_spec(std::move(spec)) {}

std::string DockerTransport::describe() const {
  return "docker exec " + m_spec.container + (m_via.describe() == "local" ? "" : " via " + m_via.describe());
}

CommandResult DockerTransport::run(const Command& cmd, const OutputSink& out) {
  // ENGINE exec -i [-u U] [-w W] [-e NAME ...] CONTAINER sh -c 'QUOTED'. Environment values
  // (secrets) are passed by name only (-e NAME), taken from the engine's own environment, so
  // they never appear in any argv.
  Command outer;
  outer.argv = {m_spec.engine, "exec", "-i"};
  if (!m_spec.user.empty()) outer.argv.insert(outer.argv.end(), {"-u", m_spec.user});
  if (!m_spec.workdir.empty()) outer.argv.insert(outer.argv.end(), {"-w", m_spec.workdir});
  for (const auto& [k, v] : cmd.env) outer.argv.insert(outer.argv.end(), {"-e", k});
  outer.argv.push_back(m_spec.container);
  std::string inner = shell_join(cmd.argv);
  // The engine's CLI dies with our timeout, but the process in the container would not.
  if (cmd.timeout) inner = "exec timeout -s KILL " + std::to_string((cmd.timeout->count() + 999) / 1000) + " " + inner;
  outer.argv.insert(outer.argv.end(), {"sh", "-c", inner});
  outer.env = cmd.env;
  outer.stdin_data = cmd.stdin_data;
  outer.stdin_fd = cmd.stdin_fd;
  outer.should_stop = cmd.should_stop;
  outer.on_tick = cmd.on_tick;
  outer.timeout = cmd.timeout;
  auto res = m_via.run(outer, out);
  if (res.exit_code == 125 || (res.exit_code != 0 && res.err.find("no such container") != std::string::npos) ||
      res.err.find("is not running") != std::string::npos)
    throw Error(ErrorKind::Transport,
                "container '" + m_spec.container + "' is missing or stopped (" + describe() + "): " + res.last_line());
  return res;
}

}  // namespace ferry::transport
