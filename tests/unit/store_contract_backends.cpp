// The backends of this build in the contract suite: Maildir and memory.
#include "store/maildir_store.hpp"
#include "store/memory_store.hpp"
#include "store_contract.hpp"
#include "store_test_util.hpp"

namespace popbox::store::test {
namespace {

class MaildirPlace final : public ContractPlace {
 public:
  MaildirPlace() : store_(std::make_shared<MaildirStore>(dir_.path() + "/%n/Maildir")) {}
  std::shared_ptr<Store> store() override { return store_; }
  std::shared_ptr<Store> reopen() override {
    return std::make_shared<MaildirStore>(dir_.path() + "/%n/Maildir");
  }

 private:
  TempDir dir_;
  std::shared_ptr<Store> store_;
};

class MemoryPlace final : public ContractPlace {
 public:
  std::shared_ptr<Store> store() override { return store_; }
  std::shared_ptr<Store> reopen() override { return store_; }

 private:
  std::shared_ptr<Store> store_ = std::make_shared<MemoryStore>();
};

RegisterContractBackend maildir{{"maildir", [] { return std::make_unique<MaildirPlace>(); }}};
RegisterContractBackend memory{{"memory", [] { return std::make_unique<MemoryPlace>(); }}};

}  // namespace
}  // namespace popbox::store::test
