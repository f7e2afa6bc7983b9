// libcurl's functions as ferry calls them, loaded (dlopen of libcurl.so.4) the first time ferry
// makes an HTTP request (a health probe, a webhook), not at every start: libcurl and the 13
// shared libraries it brings cost every ferry process ~3 ms of CPU in the dynamic loader, which
// `ferry status` and each member of a fleet run paid for nothing. The header gives the types
// and constants; the functions come from here. steps/ is libcurl's only user.
#pragma once

#include <curl/curl.h>

namespace ferry::steps {

// The functions ferry uses, each loaded by its name curl_NAME into the member NAME.
#define FERRY_CURL_FUNCTIONS(X)                                                                                     \
  X(easy_init)                                                                                                      \
  X(easy_setopt) X(easy_perform) X(easy_getinfo) X(easy_cleanup) X(easy_strerror) X(slist_append) X(slist_free_all) \
      X(free) X(url) X(url_cleanup) X(url_set) X(url_get)

struct CurlApi {
#define FERRY_CURL_MEMBER(name) decltype(&::curl_##name) name;
  FERRY_CURL_FUNCTIONS(FERRY_CURL_MEMBER)
#undef FERRY_CURL_MEMBER
};

// Loaded and curl_global_init'ed once (thread-safe). Throws Error (Command) naming the library
// when it cannot be loaded.
const CurlApi& curl_api();

}  // namespace ferry::steps
