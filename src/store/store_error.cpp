// The error category of the storage layer.
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

}  // namespace

const std::error_category& store_category() noexcept {
  static const StoreCategory category;
  return category;
}

}  // namespace popbox::store
