#pragma once
// The sandbox's inboxes as POP3 users (auth::UserSource): user = the
// inbox's address; the password is the inbox's own, or any password for an
// inbox without one (auto-created ones) and for addresses that have no
// inbox yet, unless strict auth asks for the inbox's own password.

#include <memory>

#include "auth/user_source.hpp"
#include "sandbox/inbox_hub.hpp"

namespace popbox::sandbox {

class Pop3Users final : public auth::UserSource {
 public:
  /// The users of `hub` (which must outlive this); `strict`: --strict-auth.
  Pop3Users(const InboxHub& hub, bool strict) : hub_(hub), strict_(strict) {}

  /// Nothing to read: the hub is the source.
  void load() override {}
  /// Nothing to reread; never fails.
  std::optional<std::string> reload() override { return std::nullopt; }
  /// Never changes behind the caller's back (every find() asks the hub).
  bool refresh() override { return false; }
  /// The entry of the address `user`: a {PLAIN} password, any_password, or
  /// nullopt (strict auth and no password of the inbox's own). Never sets
  /// `ec`. Answers from memory.
  std::optional<auth::UserEntry> find(std::string_view user, std::error_code& ec) override;
  /// A {PLAIN} password nobody has: the inboxes' passwords are plain too.
  std::string dummy_password() override;

 private:
  const InboxHub& hub_;
  bool strict_;
};

}  // namespace popbox::sandbox
