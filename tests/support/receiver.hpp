// A real local HTTP receiver for webhooks: python3's http.server on a free loopback port,
// appending one JSON line per POST ({"path", "headers", "body"}) to a file. Header-only.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/fixtures.hpp"

namespace ferry::test {

class WebhookReceiver {
 public:
  // `status`: what every POST is answered with.
  explicit WebhookReceiver(int status = 200) : m_dir(temp_dir("ferry-hook")), m_port(free_port()) {
    std::ofstream(m_dir + "/server.py") << k_script;
    m_proc = std::make_unique<Background>(std::vector<std::string>{
        "/usr/bin/python3", m_dir + "/server.py", std::to_string(m_port), received_file(), std::to_string(status)});
    for (int i = 0; i < 200 && !accepting(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ~WebhookReceiver() {
    m_proc.reset();
    std::filesystem::remove_all(m_dir);
  }
  std::string url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(m_port) + path;
  }
  std::string received_file() const { return m_dir + "/received.jsonl"; }
  // One JSON text per POST received so far.
  std::vector<std::string> received() const {
    std::vector<std::string> out;
    std::ifstream in(received_file());
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(line);
    return out;
  }

 private:
  bool accepting() const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(m_port));
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
  }
  static constexpr const char* k_script = R"PY(
import http.server, json, sys
port, out, status = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get('Content-Length', 0))
        body = self.rfile.read(n).decode()
        with open(out, 'a') as f:
            f.write(json.dumps({'path': self.path, 'headers': dict(self.headers), 'body': body}) + '\n')
        self.send_response(status)
        self.send_header('Content-Length', '0')
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(('127.0.0.1', port), H).serve_forever()
)PY";
  std::string m_dir;
  int m_port;
  std::unique_ptr<Background> m_proc;
};

}  // namespace ferry::test
