// libFuzzer target for the fetch client's OAuth answers (client/oauth_token.hpp):
// what a token endpoint or device endpoint (or whoever answers in its place)
// sends back.
//
// The first byte picks what the rest is:
//   0: a token endpoint body (parse_token_reply), then fed to a DevicePoll
//   1: a device authorization body (parse_device_authorization)
// Checks: nothing crashes or throws; a successful reply has a non-empty
// access token and tokens of printable ASCII only (they go into SASL lines
// and files); describe_error is bounded and printable; a parsed device
// answer has its codes, an http(s) URI and a positive interval, and the
// poll's interval stays within limits::oauth_device_max_wait.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "client/oauth_token.hpp"
#include "core/limits.hpp"
#include "fuzz_common.hpp"

using popbox::fuzz::escaped;
namespace oauth = popbox::client::oauth;
namespace limits = popbox::client::limits;

namespace {

bool printable(std::string_view s) {
  for (char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

void fuzz_token(std::string_view in) {
  oauth::TokenReply r = oauth::parse_token_reply(in);
  if (r.ok) {
    FUZZ_CHECK(!r.access_token.empty() && printable(r.access_token), escaped(in));
    FUZZ_CHECK(printable(r.refresh_token), escaped(in));
    FUZZ_CHECK(r.expires_in >= 0 && r.error.empty(), escaped(in));
  } else {
    FUZZ_CHECK(!r.error.empty(), escaped(in));
  }
  std::string d = oauth::describe_error(r);
  FUZZ_CHECK(d.size() <= limits::oauth_max_error_text, escaped(in));
  for (char c : d) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f, escaped(d));
  oauth::DeviceAuthorization dev;
  dev.interval = 5;
  dev.expires_in = 600;
  oauth::DevicePoll poll(dev, 0);
  for (std::int64_t t = 0; t < 4; ++t) {
    // Every other poll also meets a network error (the interval doubles).
    if (t % 2 == 1 && in.size() % 2 == 1 &&
        poll.on_transient_error(t * poll.interval()) != oauth::DevicePoll::Step::wait) {
      break;
    }
    if (poll.on_reply(r, t * poll.interval()) != oauth::DevicePoll::Step::wait) break;
    FUZZ_CHECK(poll.interval() >= 1 && poll.interval() <= limits::oauth_device_max_wait.count(),
               escaped(in));
  }
}

void fuzz_device(std::string_view in) {
  std::string why;
  auto d = oauth::parse_device_authorization(in, why);
  if (!d) {
    FUZZ_CHECK(!why.empty(), escaped(in));
    return;
  }
  FUZZ_CHECK(!d->device_code.empty() && !d->user_code.empty(), escaped(in));
  FUZZ_CHECK(d->verification_uri.starts_with("http"), escaped(in));
  FUZZ_CHECK(d->interval > 0 && d->expires_in > 0, escaped(in));
  oauth::DevicePoll poll(*d, 0);
  FUZZ_CHECK(poll.interval() >= 1 && poll.interval() <= limits::oauth_device_max_wait.count(),
             escaped(in));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    fuzz_token(in);
  } else {
    fuzz_device(in);
  }
  return 0;
}
