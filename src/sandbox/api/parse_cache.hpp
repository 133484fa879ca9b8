#pragma once
// Parsed messages kept in memory (bounded, least recently used dropped), so
// message lists, waits and events do not read and parse a message again.
// Thread-safe. A miss reads the raw message from the hub and parses it:
// call from the blocking pool.

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>

#include "sandbox/hub.hpp"
#include "sandbox/mime/mime.hpp"

namespace popbox::sandbox::api {

class ParseCache {
 public:
  ParseCache(Hub& hub, std::size_t capacity) : hub_(hub), capacity_(capacity) {}

  /// The parsed message; nullptr with `ec` set when the hub cannot read it.
  std::shared_ptr<const mime::Parsed> get(std::string_view inbox_id, std::string_view message_id,
                                          std::error_code& ec);
  /// Forgets one message (deleted).
  void erase(std::string_view inbox_id, std::string_view message_id);
  /// Forgets every message of an inbox (cleared or deleted).
  void erase_inbox(std::string_view inbox_id);
  /// Messages held now.
  std::size_t size() const;

 private:
  using Entry = std::pair<std::string, std::shared_ptr<const mime::Parsed>>;
  Hub& hub_;
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::list<Entry> lru_;  // most recent first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace popbox::sandbox::api
