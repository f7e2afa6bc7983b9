#include "transport/kubectl.hpp"

#include "core/text.hpp"
#include "transport/remote_shell.hpp"

namespace ferry::transport {

KubectlTransport::KubectlTransport(Transport& via, config::KubectlSpec spec, std::string name)
    : m_via(via), m_spec(std::move(spec)), m_name(std::move(name)) {}

std::string KubectlTransport::describe() const {
  std::string d = "kubectl exec " + m_spec.target;
  if (!m_spec.namespace_.empty()) d += " -n " + m_spec.namespace_;
  if (!m_spec.container.empty()) d += " -c " + m_spec.container;
  if (!m_spec.context.empty()) d += " --context " + m_spec.context;
  return d + (m_via.describe() == "local" ? "" : " via " + m_via.describe());
}

// Flags in their --name=value form: a value is never taken for another flag.
std::vector<std::string> KubectlTransport::command_line(const std::vector<std::string>& argv,
                                                        const std::vector<std::string>& env_names,
                                                        bool stdin_open) const {
  if (!env_names.empty())
    throw Error(ErrorKind::Config,
                "connection '" + m_name + "' (" + describe() + ") cannot pass " + env_names.front() +
                    " to a tool: kubectl exec has no -e and ferry never puts values in argv",
                "run the tool where the value can be passed (database.tools on a local or docker connection), or "
                "give the pod its own credentials (a .pgpass in its image or a Secret)");
  std::vector<std::string> w = {m_spec.kubectl, "exec"};
  if (stdin_open) w.push_back("-i");
  if (!m_spec.namespace_.empty()) w.push_back("--namespace=" + m_spec.namespace_);
  if (!m_spec.container.empty()) w.push_back("--container=" + m_spec.container);
  if (!m_spec.context.empty()) w.push_back("--context=" + m_spec.context);
  if (!m_spec.kubeconfig.empty()) w.push_back("--kubeconfig=" + m_spec.kubeconfig);
  w.push_back(m_spec.target);
  w.push_back("--");
  w.insert(w.end(), argv.begin(), argv.end());
  return w;
}

std::string KubectlTransport::kubectl_error(const CommandResult& r) const {
  if (r.exit_code == 0 || r.timed_out || r.stopped) return "";
  const std::string& e = r.err;
  std::string where =
      "'" + m_spec.target + "'" + (m_spec.namespace_.empty() ? "" : " in namespace '" + m_spec.namespace_ + "'");
  std::string tail = " (" + describe() + "): " + trim(r.last_line());
  auto has = [&](const char* s) { return e.find(s) != std::string::npos; };
  if (has("Error from server (NotFound)") || has("error: unable to upgrade connection: container not found"))
    return "kubectl: " + where + " not found" + tail;
  if (has("Error from server (Forbidden)")) return "kubectl: not allowed to exec into " + where + tail;
  if (has("context was not found") || (has("error: context \"") && has("does not exist")))
    return "kubectl: no such context '" + m_spec.context + "'" + tail;
  if (has("Unable to connect to the server") || has("The connection to the server") || has("dial tcp") ||
      has("no such host") || has("i/o timeout"))
    return "kubectl: cannot reach the cluster for " + where + tail;
  if (has("error: You must be logged in") || has("Unauthorized")) return "kubectl: not logged in to the cluster" + tail;
  if (has("unknown flag") || has("unknown shorthand flag") || has("unknown command") || has("is not supported anymore"))
    return "kubectl rejected ferry's command line" + tail;
  return "";
}

CommandResult KubectlTransport::run(const Command& cmd, const OutputSink& out) {
  Command inner = cmd;
  if (inner.cwd.empty()) inner.cwd = m_spec.workdir;  // kubectl exec has no -w
  Command outer = cmd;
  outer.argv = command_line({"sh", "-c", remote_command(inner)}, {}, true);
  outer.env.clear();  // read by the script from stdin: remote_input()
  outer.stdin_data = remote_input(cmd);
  outer.cwd.clear();
  auto res = m_via.run(outer, out);
  // The command's own stderr may contain any text; kubectl's errors come before it ran (its
  // stdout is then empty) and exit 1.
  if (res.exit_code == 1 && res.out.empty())
    if (std::string why = kubectl_error(res); !why.empty()) throw Error(ErrorKind::Transport, why);
  return res;
}

}  // namespace ferry::transport
