// The error categories of the storage layer: store_errc codes and the
// failure conditions every store error is classified into.
#include <cerrno>
#include <string>

#include "store/mailbox.hpp"

namespace popbox::store {
namespace {

class StoreCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "popbox.store"; }

  std::string message(int value) const override {
    switch (static_cast<store_errc>(value)) {
      case store_errc::in_use:
        return "maildrop is locked by another session";
      case store_errc::bad_path:
        return "user name gives an unusable maildrop path";
      case store_errc::io:
        return "file system error";
      case store_errc::message_gone:
        return "message was removed by another program";
      case store_errc::unsafe_path:
        return "a symlink inside the maildrop was refused";
      case store_errc::owner_refused:
        return "the mailbox owner's uid/gid are refused";
      case store_errc::unsupported:
        return "the mail store backend cannot do this";
      case store_errc::unavailable:
        return "the mail store is unreachable";
      case store_errc::damaged:
        return "a file the mail store keeps is damaged";
    }
    return "unknown store error";
  }

  std::error_condition default_error_condition(int value) const noexcept override {
    if (static_cast<store_errc>(value) == store_errc::unsafe_path ||
        static_cast<store_errc>(value) == store_errc::owner_refused) {
      return std::errc::operation_not_permitted;
    }
    return {value, *this};
  }
};

failure classify_store(store_errc e) noexcept {
  switch (e) {
    case store_errc::in_use:
      return failure::in_use;
    case store_errc::message_gone:
      return failure::gone;
    case store_errc::bad_path:
    case store_errc::unsafe_path:
    case store_errc::owner_refused:
    case store_errc::unsupported:
      return failure::permanent;
    case store_errc::io:
    case store_errc::unavailable:
    case store_errc::damaged:
      break;
  }
  return failure::temporary;
}

// errno values an operator must fix (permissions, a file where a directory
// belongs, a symlink refused, a read-only mount); the rest may pass.
failure classify_errno(int value) noexcept {
  switch (value) {
    case EACCES:
    case EPERM:
    case ENOTDIR:
    case EISDIR:
    case ELOOP:
    case ENAMETOOLONG:
    case EROFS:
      return failure::permanent;
    default:
      return failure::temporary;
  }
}

class FailureCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "popbox.store.failure"; }

  std::string message(int value) const override {
    switch (static_cast<failure>(value)) {
      case failure::permanent:
        return "permanent store failure";
      case failure::temporary:
        return "temporary store failure";
      case failure::in_use:
        return "maildrop in use";
      case failure::gone:
        return "message or mailbox gone";
    }
    return "unknown store failure";
  }

  bool equivalent(const std::error_code& code, int condition) const noexcept override {
    return code && static_cast<int>(classify(code)) == condition;
  }
};

}  // namespace

const std::error_category& store_category() noexcept {
  static const StoreCategory category;
  return category;
}

const std::error_category& failure_category() noexcept {
  static const FailureCategory category;
  return category;
}

failure classify(const std::error_code& ec) noexcept {
  if (ec.category() == store_category()) return classify_store(static_cast<store_errc>(ec.value()));
  if (ec.category() == std::system_category() || ec.category() == std::generic_category()) {
    return classify_errno(ec.value());
  }
  std::error_condition own = ec.default_error_condition();
  if (own.category() == failure_category()) return static_cast<failure>(own.value());
  if (own.category() == std::generic_category()) return classify_errno(own.value());
  return failure::temporary;
}

}  // namespace popbox::store
