#pragma once
// HTTPS POSTs to OAuth endpoints over libcurl: TLS verified (system trust
// store or a ca_file), one deadline for the whole exchange, the response
// body bounded by limits::oauth_max_response. No redirects are followed.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "client/error.hpp"

namespace popbox::client::oauth {

/// One HTTP answer: the status and the body (at most oauth_max_response).
struct HttpAnswer {
  long status = 0;
  std::string body;
};

/// Form fields of an application/x-www-form-urlencoded body.
using Form = std::vector<std::pair<std::string, std::string>>;

/// `fields` percent-encoded as a form body or query ("a=1&b=x%20y").
std::string form_encode(const Form& fields);

/// The decoded key/value pairs of a URL query ("a=1&b=x%20y"); malformed
/// pairs are skipped.
Form parse_query(std::string_view query);

/// POSTs `fields` to `url` (https only) and returns the answer, or a
/// Failure (fetch_errc::temporary for network trouble and timeouts,
/// fetch_errc::tls for certificate problems, fetch_errc::protocol for an
/// oversized response). `ca_file` empty: the system trust store.
Failure post_form(const std::string& url, const Form& fields, const std::string& ca_file,
                  HttpAnswer& answer);

}  // namespace popbox::client::oauth
