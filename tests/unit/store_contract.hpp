#pragma once
// The contract every Store backend keeps, as one GoogleTest suite
// (store_contract_test.cpp) that runs unchanged against each backend.
//
// Registering a backend: in a test source linked into the same binary as
// store_contract_test.cpp, define
//
//   static popbox::store::test::RegisterContractBackend reg{{
//       "postgres", [] { return std::make_unique<MyPlace>(); }}};
//
// where MyPlace derives from ContractPlace: its constructor makes a fresh,
// empty place (a temp Maildir root, a new database or schema), store()
// returns a Store on it, reopen() a NEW Store on the same data (what a
// restarted process would see; a memory store returns itself), and its
// destructor removes the place. Users are plain names ("alice", "bob");
// the empty user name must be refused by begin_delivery's commit and by
// open(). Crash tests fork(): the child _exit()s at the fault points of
// store/fault_point.hpp, which the backend must call.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "store/mailbox.hpp"

namespace popbox::store::test {

/// One backend's fresh place to keep mail, for one test.
class ContractPlace {
 public:
  virtual ~ContractPlace() = default;
  /// The store the test uses.
  virtual std::shared_ptr<Store> store() = 0;
  /// A new store on the same data, as after a restart (or a crash).
  virtual std::shared_ptr<Store> reopen() = 0;
};

/// A backend of the contract suite.
struct ContractBackend {
  std::string name;  ///< shown in the test names
  std::function<std::unique_ptr<ContractPlace>()> make;
};

/// Every registered backend.
inline std::vector<ContractBackend>& contract_backends() {
  static std::vector<ContractBackend> all;
  return all;
}

/// Registers a backend at static initialisation (see the top of the file).
struct RegisterContractBackend {
  explicit RegisterContractBackend(ContractBackend b) {
    contract_backends().push_back(std::move(b));
  }
};

}  // namespace popbox::store::test
