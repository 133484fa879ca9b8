// libFuzzer target for the passwd-file reader (auth/passwd_file.hpp) and the
// stored-password parsing it hands on to (auth/password_scheme.hpp).
//
// Checks: parse() never crashes or throws; every entry is found by find()
// under its own name and is the first line with that name; names hold no
// colon, space or control character; passwd_line_user() agrees with parse()
// on every line; warnings are "NAME:LINE: reason". For each entry's stored
// password the cheap pure functions (split_scheme, scheme_supported,
// cost_class, plaintext_password) must not crash, and verify_password() runs
// for the digest schemes ("fast" cost class) only: crypt and Argon2 with
// fuzzed parameters could legitimately take seconds or gigabytes. The
// extra fields go through the Dovecot quota-rule parser the LMTP delivery
// uses (store::quota_from_extra).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "auth/passwd_file.hpp"
#include "auth/password_scheme.hpp"
#include "fuzz_common.hpp"
#include "store/quota.hpp"

using popbox::fuzz::escaped;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  popbox::auth::PasswdFile f = popbox::auth::PasswdFile::parse(text, "fuzz.passwd");

  // The lines as the file has them, for cross-checking line numbers.
  std::vector<std::string_view> lines;
  for (std::string_view rest = text; !rest.empty();) {
    std::size_t nl = rest.find('\n');
    lines.push_back(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
  }

  std::size_t last_line = 0;
  for (const auto& e : f.entries()) {
    FUZZ_CHECK(f.find(e.user) == &e, "find() does not return the entry for " + escaped(e.user));
    FUZZ_CHECK(!e.user.empty() && e.user.find(':') == std::string::npos,
               "bad user name " + escaped(e.user));
    for (unsigned char c : e.user) {
      FUZZ_CHECK(c > 0x20 && c != 0x7f, "space or control character in " + escaped(e.user));
    }
    FUZZ_CHECK(e.line >= 1 && e.line <= lines.size(), "line number out of range");
    std::string_view line = lines[e.line - 1];
    FUZZ_CHECK(popbox::auth::passwd_line_user(line) == e.user,
               "passwd_line_user disagrees on line " + std::to_string(e.line));
    FUZZ_CHECK(e.line > last_line, "entries out of file order");
    last_line = e.line;

    const popbox::auth::StoredPassword sp = popbox::auth::split_scheme(e.password);
    (void)popbox::auth::scheme_supported(sp.scheme);
    (void)popbox::auth::plaintext_password(e.password);
    if (popbox::auth::cost_class(e.password) == "fast") {
      (void)popbox::auth::verify_password(e.password, "secret");
      (void)popbox::auth::verify_password(e.password, "");
      (void)popbox::auth::dummy_hash_like(e.password);
    }
    std::string quota_error;
    auto quota = popbox::store::quota_from_extra(e.extra, {1024, 10}, &quota_error);
    FUZZ_CHECK(quota.has_value() || !quota_error.empty(), "quota rule refused without a reason");
    if (auto plain = popbox::auth::plaintext_password(e.password)) {
      FUZZ_CHECK(popbox::auth::verify_password(e.password, *plain),
                 "PLAIN password does not verify against itself: " + escaped(e.password));
    }
  }
  for (const auto& w : f.warnings()) {
    FUZZ_CHECK(w.starts_with("fuzz.passwd:"), "warning without the file name: " + escaped(w));
  }
  // Names that are not in the file are not found.
  FUZZ_CHECK(f.find("") == nullptr, "empty name found");
  return 0;
}
