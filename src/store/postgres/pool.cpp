// The connection pool.
#include "store/postgres/pool.hpp"

#include <unistd.h>

#include "core/limits.hpp"
#include "store/postgres/pg_error.hpp"

namespace popbox::store::pg {

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    if (pool_ != nullptr) pool_->give_back(std::move(conn_));
    pool_ = other.pool_;
    conn_ = std::move(other.conn_);
    other.pool_ = nullptr;
  }
  return *this;
}

Lease::~Lease() {
  if (pool_ != nullptr) pool_->give_back(std::move(conn_));
}

Pool::Pool(std::string dsn, std::size_t size)
    : dsn_(std::move(dsn)), size_(size ? size : 1), pid_(::getpid()) {}

Lease Pool::acquire(std::error_code& ec, std::string* error) {
  {
    std::unique_lock lock(mu_);
    if (::getpid() != pid_) {
      // A forked child: closing the parent's connections would end the
      // parent's sessions (libpq says goodbye over the shared socket).
      for (auto& c : idle_) (void)c.release();
      idle_.clear();
      lent_ = 0;
      pid_ = ::getpid();
    }
    if (!cv_.wait_for(lock, limits::pg_pool_wait,
                      [&] { return !idle_.empty() || lent_ < size_; })) {
      ec = pg_errc::pool_exhausted;
      return {};
    }
    ++lent_;
    if (!idle_.empty()) {
      std::unique_ptr<Connection> c = std::move(idle_.back());
      idle_.pop_back();
      ec.clear();
      return Lease(this, std::move(c));
    }
  }
  // Connect outside the lock: it takes a round trip or a timeout.
  std::unique_ptr<Connection> c = Connection::connect(dsn_, ec, error);
  if (c && check_) {
    ec = check_(*c, error);
    if (ec) c.reset();
  }
  if (!c) {
    give_back(nullptr);
    return {};
  }
  return Lease(this, std::move(c));
}

void Pool::drop_idle() {
  std::vector<std::unique_ptr<Connection>> dead;
  {
    std::lock_guard lock(mu_);
    dead.swap(idle_);
  }
}

void Pool::give_back(std::unique_ptr<Connection> conn) {
  {
    std::lock_guard lock(mu_);
    if (lent_ > 0) --lent_;
    if (conn && !conn->broken()) idle_.push_back(std::move(conn));
  }
  cv_.notify_one();
}

}  // namespace popbox::store::pg
