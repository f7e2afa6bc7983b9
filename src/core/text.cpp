#include "core/text.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.hpp"
#include "core/fd_io.hpp"

namespace ferry {

namespace {
std::string to_hex(const unsigned char* d, unsigned n) {
  static const char* k_digits = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (unsigned i = 0; i < n; ++i) {
    out.push_back(k_digits[d[i] >> 4]);
    out.push_back(k_digits[d[i] & 15]);
  }
  return out;
}
}  // namespace

Sha256::Sha256() : m_ctx(EVP_MD_CTX_new()) {
  // Fetched once: OpenSSL 3 looks EVP_sha256() up in its providers at every init otherwise.
  static EVP_MD* const k_fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(m_ctx), k_fetched ? k_fetched : EVP_sha256(), nullptr);
}
Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(m_ctx)); }
void Sha256::update(const void* data, size_t len) { EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(m_ctx), data, len); }
std::string Sha256::hex_digest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(m_ctx), md, &n);
  return to_hex(md, n);
}

std::string sha256_hex(std::string_view bytes) {
  Sha256 h;
  h.update(bytes.data(), bytes.size());
  return h.hex_digest();
}

std::string shell_quote(std::string_view word) {
  if (!word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/' ||
               c == '=' || c == ':' || c == ',' || c == '@' || c == '+';
      }))
    return std::string(word);
  std::string out = "'";
  for (char c : word) {
    if (c == '\'')
      out += "'\\''";
    else
      out.push_back(c);
  }
  out += "'";
  return out;
}

std::string shell_join(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out.push_back(' ');
    out += shell_quote(a);
  }
  return out;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string closest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string read_file(const std::string& path) {
  // open/fstat/read: a project of hundreds of migrations reads each file on every command, and
  // an ifstream with two more stat() calls cost ~15 us a file.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || S_ISDIR(st.st_mode))
    throw Error(ErrorKind::Config, "cannot read '" + path + "'");
  auto read_some = [&](char* into, size_t n) {
    for (;;) {
      ssize_t got = ::read(fd.get(), into, n);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno != EINTR) throw Error(ErrorKind::Config, "cannot read '" + path + "': " + std::strerror(errno));
    }
  };
  // Sized once for a regular file (a large migration is held once, not copied as it grows).
  std::string out(S_ISREG(st.st_mode) ? static_cast<size_t>(st.st_size) : 0, '\0');
  size_t have = 0;
  while (have < out.size()) {
    size_t n = read_some(out.data() + have, out.size() - have);
    if (n == 0) break;
    have += n;
  }
  out.resize(have);
  char buf[64 * 1024];  // a pipe or device, or a file that grew since fstat
  for (size_t n; (n = read_some(buf, sizeof buf)) > 0;) out.append(buf, n);
  return out;
}

std::string first_line(std::string_view s) {
  auto nl = s.find('\n');
  return std::string(nl == std::string_view::npos ? s : s.substr(0, nl));
}

}  // namespace ferry
