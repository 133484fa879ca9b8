// libcurl behind a small interface: POST a form, get status and body.
#include "client/oauth_http.hpp"

#include <curl/curl.h>
#include <fmt/format.h>

#include <memory>
#include <mutex>

#include "client/auth.hpp"
#include "core/limits.hpp"

namespace popbox::client::oauth {
namespace {

struct CurlDeleter {
  void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Sink {
  std::string* body;
  bool too_large = false;
};

std::size_t on_data(char* data, std::size_t size, std::size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  std::size_t bytes = size * n;
  if (sink->body->size() + bytes > limits::oauth_max_response) {
    sink->too_large = true;
    return 0;  // aborts the transfer: CURLE_WRITE_ERROR
  }
  sink->body->append(data, bytes);
  return bytes;
}

}  // namespace

std::string form_encode(const Form& fields) {
  global_init();
  std::string out;
  for (const auto& [key, value] : fields) {
    if (!out.empty()) out += '&';
    for (const std::string* s : {&key, &value}) {
      char* e = curl_easy_escape(nullptr, s->data(), static_cast<int>(s->size()));
      if (!e) throw std::bad_alloc();
      out += e;
      curl_free(e);
      if (s == &key) out += '=';
    }
  }
  return out;
}

Form parse_query(std::string_view query) {
  global_init();
  Form out;
  auto decode = [](std::string_view s, std::string& to) {
    std::string plus(s);
    for (char& c : plus) {
      if (c == '+') c = ' ';
    }
    int n = 0;
    char* d = curl_easy_unescape(nullptr, plus.data(), static_cast<int>(plus.size()), &n);
    if (!d) return false;
    to.assign(d, static_cast<std::size_t>(n));
    curl_free(d);
    return true;
  };
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    auto eq = part.find('=');
    if (part.empty() || eq == std::string_view::npos) continue;
    std::string key, value;
    if (decode(part.substr(0, eq), key) && decode(part.substr(eq + 1), value))
      out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

Failure post_form(const std::string& url, const Form& fields, const std::string& ca_file,
                  HttpAnswer& answer) {
  global_init();
  if (!url.starts_with("https://")) {
    return fail(fetch_errc::config, fmt::format("OAuth endpoint {} is not https://", url));
  }
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return fail(fetch_errc::temporary, "libcurl: cannot create a handle");
  std::string body = form_encode(fields);
  answer = {};
  Sink sink{&answer.body};
  std::unique_ptr<curl_slist, SlistDeleter> headers(
      curl_slist_append(nullptr, "Accept: application/json"));
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(
      c, CURLOPT_TIMEOUT_MS,
      static_cast<long>(std::chrono::milliseconds(limits::oauth_http_timeout).count()));
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
                   static_cast<curl_off_t>(limits::oauth_max_response));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "popbox-fetch");
  CURLcode rc = curl_easy_perform(c);
  wipe(body);  // holds the refresh token or the code verifier
  if (sink.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
    wipe(answer.body);
    return fail(fetch_errc::protocol, fmt::format("{}: the response is larger than {} bytes", url,
                                                  limits::oauth_max_response));
  }
  if (rc != CURLE_OK) {
    bool tls = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR ||
               rc == CURLE_SSL_CACERT_BADFILE;
    return fail(tls ? fetch_errc::tls : fetch_errc::temporary,
                fmt::format("{}: {}", url, curl_easy_strerror(rc)));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &answer.status);
  return {};
}

}  // namespace popbox::client::oauth
