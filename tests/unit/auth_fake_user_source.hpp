#pragma once
// A UserSource the test controls: users in a map, a switch that makes every
// call fail as a database that went away does, and counters of what the
// Authenticator asked.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

#include "auth/authenticator.hpp"
#include "auth/user_source.hpp"

namespace popbox::test {

class FakeUserSource final : public auth::UserSource {
 public:
  /// Adds or replaces `name` with the stored password `password`.
  void put(const std::string& name, const std::string& password, bool any_password = false) {
    std::lock_guard lock(mu_);
    auth::UserEntry e(auth::UserInfo{name, std::nullopt, std::nullopt, "/home/" + name, ""},
                      password);
    e.any_password = any_password;
    users_[name] = std::move(e);
  }
  void erase(const std::string& name) {
    std::lock_guard lock(mu_);
    users_.erase(name);
  }

  std::atomic<bool> down{false};     ///< every call fails (find sets ec)
  std::atomic<bool> changed{false};  ///< the next refresh() says "changed"
  std::atomic<int> loads{0}, refreshes{0}, finds{0}, dummies{0};
  std::string dummy = "{PLAIN}no user has this password";

  void load() override {
    ++loads;
    if (down) throw std::runtime_error("fake source: database unreachable");
  }
  std::optional<std::string> reload() override {
    if (down) return std::string("fake source: database unreachable");
    return std::nullopt;
  }
  bool refresh() override {
    ++refreshes;
    return changed.exchange(false);
  }
  std::optional<auth::UserEntry> find(std::string_view user, std::error_code& ec) override {
    ++finds;
    if (down) {
      ec = std::make_error_code(std::errc::connection_refused);
      return std::nullopt;
    }
    std::lock_guard lock(mu_);
    auto it = users_.find(std::string(user));
    if (it == users_.end()) return std::nullopt;
    return it->second;
  }
  std::string dummy_password() override {
    ++dummies;
    return dummy;
  }

 private:
  std::mutex mu_;
  std::map<std::string, auth::UserEntry> users_;
};

/// Expects that a wrong password for `unknown` costs about what one for
/// `known` costs (loose bounds: this guards against a shortcut that skips
/// the hashing, not against scheduler noise).
inline void expect_unknown_costs_like_known(auth::Authenticator& a, std::string_view known,
                                            std::string_view unknown) {
  auto time = [&](std::string_view user) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(a.verify_password(user, "wrong"), auth::AuthResult::bad_credentials);
    }
    return std::chrono::steady_clock::now() - start;
  };
  (void)time(known);  // warm up the allocator
  const auto known_time = time(known);
  const auto unknown_time = time(unknown);
  EXPECT_GT(unknown_time * 2, known_time);
  EXPECT_LT(unknown_time, known_time * 2);
}

}  // namespace popbox::test
