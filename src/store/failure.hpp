#pragma once
// The four ways a store operation can fail, as the protocols see them:
// `ec == store::failure::temporary` works for any error a Store returns
// (store_errc, errno values, a backend's own category). POP3 and LMTP map
// only these classes to [SYS/PERM], [SYS/TEMP], [IN-USE], 4xx and 5xx.

#include <system_error>

namespace popbox::store {

enum class failure {
  permanent = 1,  ///< an operator must fix something: retrying does not help
  temporary,      ///< may succeed later (I/O, backend unreachable, unknown)
  in_use,         ///< another session holds the maildrop
  gone,           ///< the message or mailbox vanished behind our back
};

/// The category of failure conditions ("popbox.store.failure").
const std::error_category& failure_category() noexcept;

inline std::error_condition make_error_condition(failure f) noexcept {
  return {static_cast<int>(f), failure_category()};
}

/// The class of a set error code (every error has exactly one; errors no
/// table knows are temporary). A backend's own category takes part by
/// returning a failure condition from default_error_condition().
failure classify(const std::error_code& ec) noexcept;

}  // namespace popbox::store

template <>
struct std::is_error_condition_enum<popbox::store::failure> : std::true_type {};
