#pragma once
// A bounded pool of PostgreSQL connections ([store] pool_size). A
// connection is lent to one thread at a time; a broken one is dropped when
// it comes back, and the next borrower gets a fresh one, so a node
// reconnects by itself after the server went away.

#include <sys/types.h>

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "store/postgres/connection.hpp"
#include "store/postgres/pg_error.hpp"

namespace popbox::store::pg {

class Pool;

/// A borrowed connection, given back when destroyed.
class Lease {
 public:
  Lease() = default;
  Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
  Lease(Lease&& other) noexcept
      : pool_(std::exchange(other.pool_, nullptr)), conn_(std::move(other.conn_)) {}
  Lease& operator=(Lease&& other) noexcept;
  ~Lease();
  explicit operator bool() const { return conn_ != nullptr; }
  Connection& operator*() const { return *conn_; }
  Connection* operator->() const { return conn_.get(); }
  /// Drops the connection instead of giving it back (its state is unknown).
  void discard() { conn_.reset(); }

 private:
  Pool* pool_ = nullptr;
  std::unique_ptr<Connection> conn_;
};

/// At most `size` connections to `dsn`, opened on demand.
class Pool {
 public:
  /// Checks each new connection before it is lent (e.g. the schema
  /// version); an error drops the connection and fails the borrower.
  using ConnectCheck = std::function<std::error_code(Connection&, std::string* error)>;

  Pool(std::string dsn, std::size_t size);
  /// Sets the check new connections pass (call before lending any).
  void set_connect_check(ConnectCheck check) { check_ = std::move(check); }
  /// A connection; in a child after fork() never one of the parent's (they
  /// are left alone, not closed: the parent still talks over them). Waits up to
  /// limits::pg_pool_wait for one to come back when all are lent (then pg_errc::pool_exhausted), or
  /// connection_lost when the server cannot be reached (`error` gets libpq's words).
  Lease acquire(std::error_code& ec, std::string* error = nullptr);
  /// Runs `fn(Connection&, std::error_code&)` on a pooled connection. When
  /// it fails with connection_lost on a connection that had sat idle (the
  /// server may have restarted meanwhile), it runs once more on a new one.
  template <typename Fn>
  std::error_code with(Fn&& fn);
  /// Closes every idle connection: after one was found dead (the server
  /// restarted), the others are dead too.
  void drop_idle();
  const std::string& dsn() const { return dsn_; }

 private:
  friend class Lease;
  void give_back(std::unique_ptr<Connection> conn);

  std::string dsn_;
  std::size_t size_;
  ConnectCheck check_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t lent_ = 0;
  pid_t pid_;  ///< the process the idle connections belong to (see acquire)
};

template <typename Fn>
std::error_code Pool::with(Fn&& fn) {
  std::error_code ec;
  for (int attempt = 0; attempt < 2; ++attempt) {
    Lease lease = acquire(ec);
    if (ec) return ec;
    fn(*lease, ec);
    if (!ec) return ec;
    lease->rollback_if_open();
    if (!lease->broken()) return ec;
    lease.discard();
    if (ec != make_error_code(pg_errc::connection_lost)) return ec;
    drop_idle();
  }
  return ec;
}

}  // namespace popbox::store::pg
