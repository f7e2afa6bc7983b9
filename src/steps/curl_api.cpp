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
  bind(lib, a.easy_init, "curl_easy_init");
  bind(lib, a.easy_setopt, "curl_easy_setopt");
  bind(lib, a.easy_perform, "curl_easy_perform");
  bind(lib, a.easy_getinfo, "curl_easy_getinfo");
  bind(lib, a.easy_cleanup, "curl_easy_cleanup");
  bind(lib, a.easy_strerror, "curl_easy_strerror");
  bind(lib, a.slist_append, "curl_slist_append");
  bind(lib, a.slist_free_all, "curl_slist_free_all");
  bind(lib, a.free, "curl_free");
  bind(lib, a.url, "curl_url");
  bind(lib, a.url_cleanup, "curl_url_cleanup");
  bind(lib, a.url_set, "curl_url_set");
  bind(lib, a.url_get, "curl_url_get");
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
