#include "transport/ssh.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libssh2.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "core/text.hpp"
#include "transport/remote_shell.hpp"

namespace ferry::transport {

namespace {
std::atomic<int> g_handshakes{0};

std::string expand_home(const std::string& p) {
  if (p.empty() || p[0] != '~') return p;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + p.substr(1);
}

void libssh2_global() {
  static const int k_init = libssh2_init(0);
  (void)k_init;
}

// Wraps a call that may return LIBSSH2_ERROR_EAGAIN: retries until done, waiting on the socket.
template <typename F>
auto blocking(SshSession& s, F&& f) {
  while (true) {
    decltype(f()) rc;
    {
      std::lock_guard<std::mutex> lock(s.mutex());
      rc = f();
    }
    if constexpr (std::is_pointer_v<decltype(rc)>) {
      if (rc) return rc;
      std::lock_guard<std::mutex> lock(s.mutex());
      if (libssh2_session_last_errno(s.raw()) != LIBSSH2_ERROR_EAGAIN) return rc;
    } else {
      if (rc != LIBSSH2_ERROR_EAGAIN) return rc;
    }
    s.wait();
  }
}
}  // namespace

int SshSession::handshakes() { return g_handshakes.load(); }

SshSession::SshSession(const config::SshSpec& spec) {
  libssh2_global();
  m_describe = (spec.user.empty() ? "" : spec.user + "@") + spec.host + ":" + std::to_string(spec.port);
  int delay_ms = 250;
  for (int attempt = 1;; ++attempt) {
    try {
      connect_once(spec);
      return;
    } catch (const Error& e) {
      // Only reaching the host is retried: a key or authentication problem will not go away.
      bool retryable = e.hint() == "retry";
      if (m_session) {
        libssh2_session_free(m_session);
        m_session = nullptr;
      }
      if (m_sock >= 0) close(m_sock);
      m_sock = -1;
      if (!retryable || attempt >= 4) throw Error(ErrorKind::Transport, e.what(), retryable ? "" : e.hint());
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      delay_ms *= 2;
    }
  }
}

namespace {

// A TCP connection to the host (the first address that answers), TCP_NODELAY set.
int connect_tcp(const config::SshSpec& spec, const std::string& who) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (int rc = getaddrinfo(spec.host.c_str(), std::to_string(spec.port).c_str(), &hints, &res); rc != 0)
    throw Error(ErrorKind::Transport, who + gai_strerror(rc), "retry");
  int sock = -1;
  int err = 0;
  for (auto* ai = res; ai; ai = ai->ai_next) {
    sock = ::socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (sock < 0) continue;
    if (::connect(sock, ai->ai_addr, ai->ai_addrlen) == 0) break;
    err = errno;
    close(sock);
    sock = -1;
  }
  freeaddrinfo(res);
  if (sock < 0) throw Error(ErrorKind::Transport, who + strerror(err), "retry");
  int one = 1;
  setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return sock;
}

// host_key: accept-new. Appends "[host]:port TYPE BASE64" (plain host name for port 22).
void record_host_key(const config::SshSpec& spec, const char* key, size_t key_len, const std::string& kh_file,
                     const std::string& who) {
  uint32_t n = key_len >= 4 ? (static_cast<uint32_t>(static_cast<unsigned char>(key[0])) << 24 |
                               static_cast<uint32_t>(static_cast<unsigned char>(key[1])) << 16 |
                               static_cast<uint32_t>(static_cast<unsigned char>(key[2])) << 8 |
                               static_cast<uint32_t>(static_cast<unsigned char>(key[3])))
                            : 0;
  std::string type = n > 0 && 4 + n <= key_len ? std::string(key + 4, n) : "ssh-ed25519";
  std::string host = spec.port == 22 ? spec.host : "[" + spec.host + "]:" + std::to_string(spec.port);
  std::ofstream out(kh_file, std::ios::app);
  out << host << " " << type << " " << base64(reinterpret_cast<const unsigned char*>(key), key_len) << "\n";
  if (!out) throw Error(ErrorKind::Transport, who + "cannot record the new host key in " + kh_file, "no-retry");
}

// The server's host key, strictly against known_hosts: a mismatch is refused, an unknown key
// recorded only with host_key: accept-new.
void check_host_key(SshSession& s, const config::SshSpec& spec, const std::string& who) {
  size_t key_len = 0;
  int key_type = 0;
  const char* key = libssh2_session_hostkey(s.raw(), &key_len, &key_type);
  const char* sha = libssh2_hostkey_hash(s.raw(), LIBSSH2_HOSTKEY_HASH_SHA256);
  std::string fp = "SHA256:" + base64(reinterpret_cast<const unsigned char*>(sha), 32);
  while (!fp.empty() && fp.back() == '=') fp.pop_back();
  std::string kh_file = expand_home(spec.known_hosts);
  LIBSSH2_KNOWNHOSTS* kh = libssh2_knownhost_init(s.raw());
  libssh2_knownhost_readfile(kh, kh_file.c_str(), LIBSSH2_KNOWNHOST_FILE_OPENSSH);
  libssh2_knownhost* found = nullptr;
  int check = libssh2_knownhost_checkp(kh, spec.host.c_str(), spec.port, key, key_len,
                                       LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW, &found);
  libssh2_knownhost_free(kh);
  if (check == LIBSSH2_KNOWNHOST_CHECK_MISMATCH)
    throw Error(ErrorKind::Transport, who + "host key " + fp + " does not match the key recorded for it in " + kh_file,
                "if the host was really re-keyed, remove its old line from " + kh_file +
                    "; otherwise someone may be intercepting");
  if (check == LIBSSH2_KNOWNHOST_CHECK_MATCH) return;
  if (spec.host_key != "accept-new")
    throw Error(ErrorKind::Transport, who + "host key " + fp + " is not in " + kh_file,
                "check the fingerprint, then add it (ssh-keyscan -p " + std::to_string(spec.port) + " " + spec.host +
                    " >> " + kh_file + "), or set host_key: accept-new");
  record_host_key(spec, key, key_len, kh_file, who);
}

// True when one of the agent's identities is accepted for `user`.
bool authenticate_with_agent(SshSession& s, const std::string& user) {
  LIBSSH2_AGENT* agent = libssh2_agent_init(s.raw());
  bool ok = false;
  if (agent && libssh2_agent_connect(agent) == 0 && libssh2_agent_list_identities(agent) == 0) {
    libssh2_agent_publickey *id = nullptr, *prev = nullptr;
    while (libssh2_agent_get_identity(agent, &id, prev) == 0) {
      if (libssh2_agent_userauth(agent, user.c_str(), id) == 0) {
        ok = true;
        break;
      }
      prev = id;
    }
    libssh2_agent_disconnect(agent);
  }
  if (agent) libssh2_agent_free(agent);
  return ok;
}

// Authentication: the agent, or a key file. Its failures are marked "no-retry": a key or
// authentication problem will not go away.
void authenticate(SshSession& s, const config::SshSpec& spec, const std::string& who) {
  std::string user = spec.user.empty() ? (std::getenv("USER") ? std::getenv("USER") : "root") : spec.user;
  if (spec.agent) {
    if (!authenticate_with_agent(s, user))
      throw Error(ErrorKind::Transport, who + "no key in the SSH agent was accepted for '" + user + "'", "no-retry");
    return;
  }
  std::string identity = expand_home(spec.identity);
  if (access(identity.c_str(), R_OK) != 0)
    throw Error(ErrorKind::Transport, who + "cannot read identity file '" + identity + "'", "no-retry");
  if (libssh2_userauth_publickey_fromfile_ex(s.raw(), user.c_str(), static_cast<unsigned>(user.size()), nullptr,
                                             identity.c_str(), nullptr) != 0)
    throw Error(ErrorKind::Transport,
                who + "public key authentication failed for '" + user + "' with " + identity + ": " + s.last_error(),
                "no-retry");
}

}  // namespace

void SshSession::connect_once(const config::SshSpec& spec) {
  std::string who = "cannot connect to '" + m_describe + "': ";
  m_sock = connect_tcp(spec, who);
  m_session = libssh2_session_init();
  libssh2_session_set_timeout(m_session, 30'000);
  if (libssh2_session_handshake(m_session, m_sock) != 0)
    throw Error(ErrorKind::Transport, who + "SSH handshake failed: " + last_error(), "retry");
  ++g_handshakes;
  check_host_key(*this, spec, who);
  authenticate(*this, spec, who);
  libssh2_keepalive_config(m_session, 1, 15);
  libssh2_session_set_blocking(m_session, 0);
  m_last_keepalive = std::chrono::steady_clock::now();
}

SshSession::~SshSession() {
  if (m_session) {
    libssh2_session_set_blocking(m_session, 1);
    libssh2_session_disconnect(m_session, "ferry done");
    libssh2_session_free(m_session);
  }
  if (m_sock >= 0) close(m_sock);
}

std::string SshSession::last_error() {
  char* msg = nullptr;
  libssh2_session_last_error(m_session, &msg, nullptr, 0);
  return msg ? msg : "unknown error";
}

void SshSession::wait(int ms) {
  int dir;
  {
    std::lock_guard<std::mutex> lock(m_mu);
    dir = libssh2_session_block_directions(m_session);
  }
  pollfd p{m_sock, 0, 0};
  if (dir & LIBSSH2_SESSION_BLOCK_INBOUND) p.events |= POLLIN;
  if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND) p.events |= POLLOUT;
  if (!p.events) p.events = POLLIN;
  poll(&p, 1, ms);
}

void SshSession::keepalive() {
  auto now = std::chrono::steady_clock::now();
  if (now - m_last_keepalive < std::chrono::seconds(10)) return;
  m_last_keepalive = now;
  int next = 0;
  std::lock_guard<std::mutex> lock(m_mu);
  libssh2_keepalive_send(m_session, &next);
}

namespace {

// What goes to a channel's stdin: `input`, then the stream `fd` (non-blocking), then EOF.
struct ChannelStdin {
  std::string input;
  size_t written = 0;
  int fd = -1;  // owned: closed at its end or by the destructor
  bool eof_sent = false;
  ChannelStdin(std::string in, int stream) : input(std::move(in)), fd(stream) {
    if (fd >= 0) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  ~ChannelStdin() {
    if (fd >= 0) close(fd);
  }
  ChannelStdin(const ChannelStdin&) = delete;
  ChannelStdin& operator=(const ChannelStdin&) = delete;

  // One step under the session's mutex; true when bytes moved.
  bool pump(LIBSSH2_CHANNEL* ch, std::vector<char>& buf) {
    if (eof_sent) return false;
    bool progress = false;
    if (written >= input.size() && fd >= 0) {  // refill from the stream
      input.erase(0, written);
      written = 0;
      ssize_t got = read(fd, buf.data(), buf.size());
      if (got > 0) {
        input.append(buf.data(), static_cast<size_t>(got));
        progress = true;
      } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        close(fd);
        fd = -1;
      }
    }
    if (written < input.size()) {
      ssize_t w = libssh2_channel_write(ch, input.data() + written, input.size() - written);
      if (w > 0) {
        written += static_cast<size_t>(w);
        progress = true;
      } else if (w != LIBSSH2_ERROR_EAGAIN) {
        written = input.size();  // the remote end stopped reading
      }
    }
    if (written >= input.size() && fd < 0 && libssh2_channel_send_eof(ch) != LIBSSH2_ERROR_EAGAIN) eof_sent = true;
    return progress;
  }
};

// Reads what stdout and stderr have now (under the session's mutex); true when bytes came.
bool drain(LIBSSH2_CHANNEL* ch, std::vector<char>& buf, const OutputSink& sink, CommandResult& res) {
  bool progress = false;
  for (int stream : {0, 1}) {
    while (true) {
      ssize_t n = libssh2_channel_read_ex(ch, stream, buf.data(), buf.size());
      if (n <= 0) break;
      progress = true;
      if (stream == 0 && sink)
        sink(buf.data(), static_cast<size_t>(n));
      else
        (stream == 0 ? res.out : res.err).append(buf.data(), static_cast<size_t>(n));
    }
  }
  return progress;
}

LIBSSH2_CHANNEL* start(SshSession& s, const std::string& remote) {
  LIBSSH2_CHANNEL* ch = blocking(s, [&] { return libssh2_channel_open_session(s.raw()); });
  if (!ch) throw Error(ErrorKind::Transport, "cannot open a channel on '" + s.describe() + "': " + s.last_error());
  int rc = blocking(s, [&] { return libssh2_channel_exec(ch, remote.c_str()); });
  if (rc != 0) {
    std::lock_guard<std::mutex> lock(s.mutex());
    libssh2_channel_free(ch);
    throw Error(ErrorKind::Transport, "cannot run a command on '" + s.describe() + "': " + s.last_error());
  }
  return ch;
}

// Closes the channel and reads the exit status (or signal) into res.
void finish(SshSession& s, LIBSSH2_CHANNEL* ch, const Command& cmd, CommandResult& res) {
  // A stopped command is not ended by this: libssh2's close waits for sshd's, and sshd sends it
  // when the command ends (without a pty nothing signals it, and libssh2 1.10 cannot send a
  // signal request). So a stop over ssh waits for the command's own end (docs/testing.md).
  blocking(s, [&] { return libssh2_channel_close(ch); });
  if (!res.stopped) blocking(s, [&] { return libssh2_channel_wait_closed(ch); });
  {
    std::lock_guard<std::mutex> lock(s.mutex());
    char* signal = nullptr;
    libssh2_channel_get_exit_signal(ch, &signal, nullptr, nullptr, nullptr, nullptr, nullptr);
    res.exit_code = libssh2_channel_get_exit_status(ch);
    if (signal) {
      if (std::strcmp(signal, "KILL") == 0)
        res.exit_code = 137;
      else if (res.exit_code == 0)
        res.exit_code = 128 + 15;
    }
    libssh2_channel_free(ch);
  }
  if (res.exit_code == 137 && cmd.timeout) res.timed_out = true;
  if (res.timed_out && res.exit_code == 0) res.exit_code = 124;
}

}  // namespace

CommandResult SshTransport::run(const Command& cmd, const OutputSink& sink) {
  if (!m_session) m_session = m_open();
  auto& s = *m_session;
  ChannelStdin in(remote_input(cmd), cmd.stdin_fd);
  LIBSSH2_CHANNEL* ch = start(s, remote_command(cmd));
  CommandResult res;
  auto deadline = cmd.timeout ? std::chrono::steady_clock::now() + *cmd.timeout + std::chrono::seconds(2)
                              : std::chrono::steady_clock::time_point::max();
  std::vector<char> buf(1 << 16);
  while (true) {
    bool progress = false;
    bool eof = false;
    {
      std::lock_guard<std::mutex> lock(s.mutex());
      progress = in.pump(ch, buf);
      progress = drain(ch, buf, sink, res) || progress;
      eof = libssh2_channel_eof(ch);
    }
    if (eof) break;
    if (std::chrono::steady_clock::now() > deadline) {
      res.timed_out = true;
      break;
    }
    if (cmd.on_tick) cmd.on_tick();
    if (cmd.should_stop && cmd.should_stop()) {
      res.stopped = true;
      break;  // the channel is closed once the command has ended (finish)
    }
    s.keepalive();
    if (!progress) {
      if (in.fd >= 0 && in.written >= in.input.size()) {
        // waiting for the stream or the server, whichever comes first
        pollfd p[2] = {{s.socket(), POLLIN, 0}, {in.fd, POLLIN, 0}};
        poll(p, 2, 200);
      } else {
        s.wait(200);
      }
    }
  }
  finish(s, ch, cmd, res);
  return res;
}

}  // namespace ferry::transport
