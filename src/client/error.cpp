// The error category of the fetch client and its exit codes.
#include "client/error.hpp"

#include <sysexits.h>

namespace popbox::client {
namespace {

class FetchCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "popbox.fetch"; }

  std::string message(int value) const override {
    switch (static_cast<fetch_errc>(value)) {
      case fetch_errc::config:
        return "configuration error";
      case fetch_errc::unavailable:
        return "server unavailable";
      case fetch_errc::temporary:
        return "temporary failure";
      case fetch_errc::tls:
        return "TLS failure";
      case fetch_errc::protocol:
        return "POP3 protocol error";
      case fetch_errc::auth:
        return "authentication failed";
      case fetch_errc::cant_create:
        return "cannot open the delivery target";
      case fetch_errc::io:
        return "delivery failed";
      case fetch_errc::state:
        return "UIDL state database error";
      case fetch_errc::uidls_changed:
        return "all UIDLs changed";
      case fetch_errc::login_required:
        return "OAuth sign-in needed (popbox fetch login)";
    }
    return "unknown fetch error";
  }
};

}  // namespace

const std::error_category& fetch_category() noexcept {
  static const FetchCategory category;
  return category;
}

int exit_code(const std::error_code& ec) noexcept {
  if (!ec) return EX_OK;
  if (ec.category() != fetch_category()) return EX_SOFTWARE;
  switch (static_cast<fetch_errc>(ec.value())) {
    case fetch_errc::config:
      return EX_CONFIG;
    case fetch_errc::unavailable:
      return EX_UNAVAILABLE;
    case fetch_errc::temporary:
      return EX_TEMPFAIL;
    case fetch_errc::tls:
    case fetch_errc::protocol:
      return EX_PROTOCOL;
    case fetch_errc::auth:
    case fetch_errc::login_required:
      return EX_NOPERM;
    case fetch_errc::cant_create:
    case fetch_errc::state:
      return EX_CANTCREAT;
    case fetch_errc::io:
      return EX_IOERR;
    case fetch_errc::uidls_changed:
      return EX_DATAERR;
  }
  return EX_SOFTWARE;
}

}  // namespace popbox::client
