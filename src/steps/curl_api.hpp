// libcurl's functions as ferry calls them, loaded (dlopen of libcurl.so.4) the first time ferry
// makes an HTTP request (a health probe, a webhook), not at every start: libcurl and the 13
// shared libraries it brings cost every ferry process ~3 ms of CPU in the dynamic loader, which
// `ferry status` and each member of a fleet run paid for nothing. The header gives the types
// and constants; the functions come from here. steps/ is libcurl's only user.
#pragma once

#include <curl/curl.h>

namespace ferry::steps {

struct CurlApi {
  decltype(&::curl_easy_init) easy_init;
  decltype(&::curl_easy_setopt) easy_setopt;
  decltype(&::curl_easy_perform) easy_perform;
  decltype(&::curl_easy_getinfo) easy_getinfo;
  decltype(&::curl_easy_cleanup) easy_cleanup;
  decltype(&::curl_easy_strerror) easy_strerror;
  decltype(&::curl_slist_append) slist_append;
  decltype(&::curl_slist_free_all) slist_free_all;
  decltype(&::curl_free) free;
  decltype(&::curl_url) url;
  decltype(&::curl_url_cleanup) url_cleanup;
  decltype(&::curl_url_set) url_set;
  decltype(&::curl_url_get) url_get;
};

// Loaded and curl_global_init'ed once (thread-safe). Throws Error (Command) naming the library
// when it cannot be loaded.
const CurlApi& curl_api();

}  // namespace ferry::steps
