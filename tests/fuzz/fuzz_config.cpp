// libFuzzer target for the TOML configuration (config/config.hpp).
//
// Each input is written to a file in a private temporary directory and read
// with config::load(), which must either return or throw ConfigError: any
// other exception, a crash or undefined behaviour is a bug, and so is an
// accepted value out of its documented range. The value
// parsers (parse_duration, parse_size, parse_endpoint) also get the raw
// input, and what they accept is checked for sanity.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "fuzz_common.hpp"

using popbox::fuzz::escaped;
namespace config = popbox::config;

namespace {

// The file every run writes; its directory is removed at exit. Kept in a
// never-destroyed object: the atexit handler runs after static destructors.
const std::filesystem::path& config_path() {
  static const std::filesystem::path* path = [] {
    // Under /dev/shm when there is one: the file is rewritten every run.
    std::string tmpl = (std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp");
    tmpl += "/popbox-fuzz-config-XXXXXX";
    if (!mkdtemp(tmpl.data())) {
      std::perror("mkdtemp");
      std::abort();
    }
    auto* p = new std::filesystem::path(std::filesystem::path(tmpl) / "popbox.toml");
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(config_path().parent_path(), ec);
    });
    return p;
  }();
  return *path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);

  if (auto d = config::parse_duration(text)) {
    FUZZ_CHECK(d->count() >= 0, "negative duration from " + escaped(text));
  }
  (void)config::parse_size(text);
  if (auto ep = config::parse_endpoint(text)) {
    FUZZ_CHECK(!ep->host.empty(), "endpoint without host from " + escaped(text));
  }

  {
    std::ofstream f(config_path(), std::ios::binary | std::ios::trunc);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!f) std::abort();
  }
  try {
    config::Config cfg = config::load(config_path());
    FUZZ_CHECK(!cfg.auth.passwd_file.empty() && !cfg.mail.maildir.empty(),
               "a config without passwd_file or maildir was accepted");
    FUZZ_CHECK(cfg.server.idle_timeout.count() > 0, "idle_timeout <= 0 accepted");
    FUZZ_CHECK(!cfg.tls.enabled || (!cfg.tls.cert.empty() && !cfg.tls.key.empty()),
               "[tls] without cert/key accepted");
    FUZZ_CHECK(cfg.auth.failure_delay.count() >= 0, "negative failure_delay accepted");
    // Sent as "LOGIN-DELAY n" and "EXPIRE n" (RFC 2449: non-negative numbers).
    FUZZ_CHECK(!cfg.server.login_delay_seconds || *cfg.server.login_delay_seconds >= 0,
               "login_delay became " + std::to_string(*cfg.server.login_delay_seconds));
    FUZZ_CHECK(!cfg.server.expire_days || *cfg.server.expire_days >= -1,
               "expire_days became " + std::to_string(*cfg.server.expire_days));
    FUZZ_CHECK(cfg.server.threads <= 256 && cfg.server.max_connections >= 1,
               "threads or max_connections out of range");
  } catch (const config::ConfigError&) {
    // Expected for bad input.
  }
  return 0;
}
