// net::Server's store: the one [store] backend names, or one injected.
#include <gtest/gtest.h>

#include <fstream>
#include <stdexcept>

#include "auth_fake_user_source.hpp"
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

TEST(ServerStore, AnInjectedUserSourceIsServed) {
  test::TempDir dir;
  auto store = std::make_shared<store::MemoryStore>();
  auto users = std::make_shared<test::FakeUserSource>();
  config::Config cfg = small_config(dir);
  cfg.auth.passwd_file = dir.path + "/no-such-file";  // not read: the source replaces it
  EXPECT_NO_THROW(Server(cfg, store, users));
  EXPECT_EQ(users->loads, 1);
  EXPECT_THROW(Server(cfg, store, nullptr), std::invalid_argument);
  users->down = true;  // its load() fails: the server does not start
  EXPECT_THROW(Server(cfg, store, users), std::runtime_error);
}

TEST(ServerStore, TheConfigChoosesTheBackend) {
  test::TempDir dir;
  config::Config cfg = small_config(dir);
  EXPECT_NE(store::make_store(cfg)->maildir_paths(), nullptr);
  EXPECT_EQ(store::MemoryStore().maildir_paths(), nullptr);
  // PostgreSQL: no Maildir paths, and a node starts while the database is
  // unreachable (its calls fail as temporary until it is back).
  cfg.store.backend = config::StoreBackend::postgres;
  cfg.store.dsn = "host=" + dir.path + "/no-such-socket-dir dbname=popbox";
  EXPECT_EQ(store::make_store(cfg)->maildir_paths(), nullptr);
}

}  // namespace
}  // namespace popbox::net
