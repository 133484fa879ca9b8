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
    }
    return "unknown store error";
  }
};

}  // namespace

const std::error_category& store_category() noexcept {
  static const StoreCategory category;
  return category;
}

}  // namespace popbox::store
