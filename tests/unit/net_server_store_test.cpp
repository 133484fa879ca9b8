// net::Server's store: the one [store] backend names, or one injected.
#include <gtest/gtest.h>

#include <fstream>
#include <stdexcept>

#include "net/server.hpp"
#include "store/make_store.hpp"
#include "store/memory_store.hpp"
#include "temp_dir.hpp"

namespace popbox::net {
namespace {

config::Config small_config(const test::TempDir& dir) {
  std::ofstream(dir.path + "/users") << "alice:{PLAIN}a::::::\n";
  config::Config cfg;
  cfg.auth.passwd_file = dir.path + "/users";
  cfg.mail.maildir = dir.path + "/%n/Maildir";
  cfg.server.threads = 1;
  cfg.server.listen = {config::Endpoint{"127.0.0.1", 0}};
  return cfg;
}

TEST(ServerStore, AnInjectedStoreIsServed) {
  test::TempDir dir;
  auto store = std::make_shared<store::MemoryStore>();
  EXPECT_NO_THROW(Server(small_config(dir), store));
  EXPECT_THROW(Server(small_config(dir), nullptr), std::invalid_argument);
}

TEST(ServerStore, TheConfigChoosesTheBackend) {
  test::TempDir dir;
  config::Config cfg = small_config(dir);
  EXPECT_NE(store::make_store(cfg)->maildir_paths(), nullptr);
  EXPECT_EQ(store::MemoryStore().maildir_paths(), nullptr);
  cfg.store.backend = config::StoreBackend::postgres;
  try {
    Server server(cfg);
    FAIL() << "a postgres backend this build lacks was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("not wired yet"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace popbox::net
