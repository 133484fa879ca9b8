// What a Store does for a backend that has not implemented delivery or
// usage yet: refuses clearly, so the contract tests name the gap.
#include "store/mailbox.hpp"

namespace popbox::store {
namespace {

class RefusedDelivery final : public Delivery {
 public:
  explicit RefusedDelivery(std::size_t targets) : targets_(targets) {}
  std::error_code write(std::string_view) override { return store_errc::unsupported; }
  std::vector<std::error_code> commit() override {
    return std::vector<std::error_code>(targets_, make_error_code(store_errc::unsupported));
  }
  void abort() noexcept override {}

 private:
  std::size_t targets_;
};

}  // namespace

std::unique_ptr<Delivery> Store::begin_delivery(std::span<const DeliveryTarget> targets) {
  return std::make_unique<RefusedDelivery>(targets.size());
}

std::error_code Store::usage(const OpenRequest&, Usage& out) {
  out = {};
  return store_errc::unsupported;
}

}  // namespace popbox::store
