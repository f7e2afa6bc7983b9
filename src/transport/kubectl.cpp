#include "transport/kubectl.hpp"

#include <algorithm>
#include <chrono>

#include "core/text.hpp"
#include "transport/remote_shell.hpp"

namespace ferry::transport {

KubectlTransport::KubectlTransport(Transport& via, config::KubectlSpec spec, std::string name)
    : ViaTransport(via), m_spec(std::move(spec)), m_name(std::move(name)) {}

std::string KubectlTransport::describe() const {
  std::string d = "kubectl exec " + m_spec.target;
  if (!m_spec.namespace_.empty()) d += " -n " + m_spec.namespace_;
  if (!m_spec.container.empty()) d += " -c " + m_spec.container;
  if (!m_spec.context.empty()) d += " --context " + m_spec.context;
  return d + (m_via.describe() == "local" ? "" : " via " + m_via.describe());
}

namespace {

// The connection's flags in their --name=value form: a value is never taken for another flag.
std::vector<std::string> flags(const config::KubectlSpec& k) {
  std::vector<std::string> f;
  if (!k.namespace_.empty()) f.push_back("--namespace=" + k.namespace_);
  if (!k.context.empty()) f.push_back("--context=" + k.context);
  if (!k.kubeconfig.empty()) f.push_back("--kubeconfig=" + k.kubeconfig);
  return f;
}

// kubectl's own failure (not the command's) as a clear message naming the target, or "".
std::string kubectl_error(const config::KubectlSpec& k, const std::string& what, const CommandResult& r) {
  if (r.exit_code == 0 || r.timed_out || r.stopped) return "";
  const std::string& e = r.err;
  std::string where = "'" + k.target + "'" + (k.namespace_.empty() ? "" : " in namespace '" + k.namespace_ + "'");
  std::string tail = " (" + what + "): " + trim(r.last_line());
  auto has = [&](const char* s) { return e.find(s) != std::string::npos; };
  if (has("Error from server (NotFound)") || has("error: unable to upgrade connection: container not found"))
    return "kubectl: " + where + " not found" + tail;
  if (has("Error from server (Forbidden)")) return "kubectl: not allowed to exec into " + where + tail;
  if (has("context was not found") || (has("error: context \"") && has("does not exist")))
    return "kubectl: no such context '" + k.context + "'" + tail;
  if (has("Unable to connect to the server") || has("The connection to the server") || has("dial tcp") ||
      has("no such host") || has("i/o timeout"))
    return "kubectl: cannot reach the cluster for " + where + tail;
  if (has("error: You must be logged in") || has("Unauthorized")) return "kubectl: not logged in to the cluster" + tail;
  if (has("unknown flag") || has("unknown shorthand flag") || has("unknown command") || has("is not supported anymore"))
    return "kubectl rejected ferry's command line" + tail;
  return "";
}

// Runs SCRIPT ($2) in a subshell while a background loop writes a NUL byte to stderr every
// $1 seconds, so that no proxy, load balancer or kubelet cuts the stream as idle (kubectl exec
// can then exit 0 while the command goes on in the pod: kubernetes#73056). When the command
// ends, the loop and its sleep are killed and reaped: nothing is left in the pod. A quick command
// can end before the loop has set its trap: the loop then dies of the TERM itself, and the
// shell's "Terminated" report of that is sent to /dev/null, not into the command's stderr.
constexpr const char* k_keepalive_script =
    R"SH({ s=; trap '[ -z "$s" ] || { kill "$s" 2>/dev/null; wait "$s" 2>/dev/null; }; exit 0' TERM
  while sleep "$1" 2>/dev/null & s=$!; wait "$s"; do printf '\0' >&2 || exit 0; done; } </dev/null >/dev/null &
k=$!
( eval "$2" )
r=$?
kill "$k" 2>/dev/null; wait "$k" 2>/dev/null
exit "$r")SH";

// The words after `--`: sh -c SCRIPT, wrapped in the keepalive loop unless it is off or the
// command's own timeout ends it before the first keepalive would be written.
std::vector<std::string> pod_argv(const std::string& script, const Command& cmd, Millis keepalive) {
  if (keepalive.count() <= 0 || (cmd.timeout && *cmd.timeout <= keepalive)) return {"sh", "-c", script};
  std::string seconds = std::to_string(std::max<long long>(1, (keepalive.count() + 999) / 1000));
  return {"sh", "-c", k_keepalive_script, "ferry-keepalive", seconds, script};
}

void drop_keepalives(std::string& err) { err.erase(std::remove(err.begin(), err.end(), '\0'), err.end()); }

}  // namespace

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
  auto f = flags(m_spec);
  w.insert(w.end(), f.begin(), f.end());
  if (!m_spec.container.empty()) w.push_back("--container=" + m_spec.container);
  w.push_back(m_spec.target);
  w.push_back("--");
  w.insert(w.end(), argv.begin(), argv.end());
  return w;
}

CommandResult KubectlTransport::run(const Command& cmd, const OutputSink& out) {
  Command inner = cmd;
  if (inner.cwd.empty()) inner.cwd = m_spec.workdir;  // kubectl exec has no -w
  Command outer = cmd;
  outer.env.clear();  // read by the script from stdin: remote_input()
  outer.stdin_data = remote_input(cmd);
  // Without -i when nothing goes in: kubectl then opens no stdin stream (the command reads EOF).
  bool stdin_open = !outer.stdin_data.empty() || cmd.stdin_fd >= 0;
  outer.argv = command_line(pod_argv(remote_script(inner), cmd, m_spec.keepalive), {}, stdin_open);
  outer.cwd.clear();
  auto res = m_via.run(outer, out);
  drop_keepalives(res.err);
  // The command's own stderr may contain any text; kubectl's errors come before it ran (its
  // stdout is then empty) and exit 1.
  if (res.exit_code == 1 && res.out.empty())
    if (std::string why = kubectl_error(m_spec, describe(), res); !why.empty()) throw Error(ErrorKind::Transport, why);
  return res;
}

KubectlPortForward::KubectlPortForward(const config::KubectlSpec& spec, int remote_port) {
  Command c;
  c.argv = {spec.kubectl, "port-forward", "--address=127.0.0.1"};
  auto f = flags(spec);
  c.argv.insert(c.argv.end(), f.begin(), f.end());
  c.argv.insert(c.argv.end(), {spec.target, ":" + std::to_string(remote_port)});
  c.should_stop = [this] { return m_stop.load(); };
  std::string what = "kubectl port-forward " + spec.target + " :" + std::to_string(remote_port);
  m_thread = std::thread([this, c, spec, what] {
    std::string failure;
    try {
      auto r = m_local.run(c, [this](const char* d, size_t n) {
        std::lock_guard<std::mutex> lock(m_mu);
        if (m_port > 0) return;  // later lines ("Handling connection for ...") are not kept
        m_out.append(d, n);
        // "Forwarding from 127.0.0.1:PORT -> REMOTE"
        auto at = m_out.find("Forwarding from 127.0.0.1:");
        if (m_port == 0 && at != std::string::npos && m_out.find('\n', at) != std::string::npos)
          m_port = std::atoi(m_out.c_str() + at + 26);
        m_cv.notify_all();
      });
      failure = kubectl_error(spec, what, r);
      if (failure.empty()) failure = what + " ended (exit " + std::to_string(r.exit_code) + "): " + r.last_line();
    } catch (const std::exception& e) {
      failure = e.what();
    }
    std::lock_guard<std::mutex> lock(m_mu);
    m_ended = true;
    m_failure = failure;
    m_cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(m_mu);
  m_cv.wait_for(lock, std::chrono::seconds(30), [this] { return m_port > 0 || m_ended; });
  if (m_port > 0) return;
  std::string why = m_ended ? m_failure : what + " printed no local port within 30 s";
  lock.unlock();
  close();
  throw Error(ErrorKind::Transport, why);
}

void KubectlPortForward::close() {
  m_stop = true;  // the local transport sends SIGTERM to kubectl's process group
  if (m_thread.joinable()) m_thread.join();
}

KubectlPortForward::~KubectlPortForward() { close(); }

}  // namespace ferry::transport
