#include "steps/curl_api.hpp"

#include <dlfcn.h>

#include <string>

#include "core/error.hpp"

namespace ferry::steps {

namespace {
constexpr const char* k_library = "libcurl.so.4";  // Debian's libcurl4 (and libcurl3-gnutls's soname differs)

template <class F>
void bind(void* lib, F& fn, const char* name) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  if (!fn) throw Error(ErrorKind::Command, std::string(k_library) + " lacks " + name);
}

CurlApi load() {
  void* lib = dlopen(k_library, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = dlerror();
    throw Error(ErrorKind::Command, std::string("cannot load ") + k_library + " for HTTP: " + (why ? why : "?"),
                "install libcurl4 (apt install libcurl4)");
  }
  CurlApi a{};
#define FERRY_CURL_BIND(name) bind(lib, a.name, "curl_" #name);
  FERRY_CURL_FUNCTIONS(FERRY_CURL_BIND)
#undef FERRY_CURL_BIND
  decltype(&::curl_global_init) global_init = nullptr;
  bind(lib, global_init, "curl_global_init");
  if (global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    throw Error(ErrorKind::Command, std::string(k_library) + ": curl_global_init failed");
  return a;  // the library stays loaded until ferry exits
}
}  // namespace

const CurlApi& curl_api() {
  static const CurlApi api = load();  // a throw leaves it unset: the next call tries again
  return api;
}

}  // namespace ferry::steps
