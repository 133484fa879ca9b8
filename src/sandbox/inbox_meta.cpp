#include "sandbox/inbox_meta.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

#include "core/limits.hpp"

namespace popbox::sandbox::detail {
namespace {

using nlohmann::json;

std::int64_t to_ms(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
Clock::time_point from_ms(std::int64_t ms) {
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(ms)));
}

bool valid_id(std::string_view id, std::size_t max) {
  return !id.empty() && id.size() <= max && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

}  // namespace

void Inbox::recount() {
  info.messages = messages.size();
  info.unread = 0;
  info.bytes = 0;
  for (const auto& m : messages) {
    if (!m.read) ++info.unread;
    info.bytes += m.size;
  }
}

MessageInfo* Inbox::find(std::string_view id) {
  for (auto& m : messages) {
    if (m.id == id) return &m;
  }
  return nullptr;
}

std::string to_json(const Inbox& inbox) {
  json doc = {{"version", 1},
              {"id", inbox.info.id},
              {"address", inbox.info.address},
              {"auto_created", inbox.info.auto_created},
              {"created_ms", to_ms(inbox.info.created)},
              {"max_messages", inbox.info.max_messages}};
  doc["password"] = inbox.password ? json(*inbox.password) : json(nullptr);
  doc["expires_ms"] = inbox.info.expires ? json(to_ms(*inbox.info.expires)) : json(nullptr);
  json msgs = json::array();
  for (const auto& m : inbox.messages) {
    msgs.push_back({{"id", m.id},
                    {"seq", m.seq},
                    {"received_ms", to_ms(m.received)},
                    {"size", m.size},
                    {"read", m.read},
                    {"from", m.envelope_from},
                    {"to", m.envelope_to}});
  }
  doc["messages"] = std::move(msgs);
  return doc.dump();
}

std::optional<Inbox> from_json(std::string_view text, std::string& why) {
  try {
    json doc = json::parse(text);
    if (doc.at("version").get<int>() != 1) {
      why = "unknown version";
      return std::nullopt;
    }
    Inbox inbox;
    inbox.info.id = doc.at("id").get<std::string>();
    auto address = normalize_address(doc.at("address").get<std::string>());
    if (!valid_id(inbox.info.id, 32) || !address) {
      why = "bad id or address";
      return std::nullopt;
    }
    inbox.info.address = *address;
    inbox.info.auto_created = doc.at("auto_created").get<bool>();
    inbox.info.created = from_ms(doc.at("created_ms").get<std::int64_t>());
    inbox.info.max_messages = doc.at("max_messages").get<std::size_t>();
    if (!doc.at("password").is_null()) inbox.password = doc["password"].get<std::string>();
    inbox.info.has_password = inbox.password.has_value();
    if (!doc.at("expires_ms").is_null()) {
      inbox.info.expires = from_ms(doc["expires_ms"].get<std::int64_t>());
    }
    for (const auto& m : doc.at("messages")) {
      MessageInfo info;
      info.id = m.at("id").get<std::string>();
      if (!valid_id(info.id, limits::max_uidl)) {
        why = "bad message id";
        return std::nullopt;
      }
      info.inbox_id = inbox.info.id;
      info.seq = m.at("seq").get<std::uint64_t>();
      info.received = from_ms(m.at("received_ms").get<std::int64_t>());
      info.size = m.at("size").get<std::uint64_t>();
      info.read = m.at("read").get<bool>();
      info.envelope_from = m.at("from").get<std::string>();
      info.envelope_to = m.at("to").get<std::vector<std::string>>();
      inbox.messages.push_back(std::move(info));
    }
    std::sort(inbox.messages.begin(), inbox.messages.end(),
              [](const MessageInfo& a, const MessageInfo& b) { return a.seq < b.seq; });
    inbox.recount();
    return inbox;
  } catch (const std::exception& e) {
    why = e.what();
    return std::nullopt;
  }
}

std::string new_message_id(std::uint64_t seq, Clock::time_point now) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  return fmt::format("{}.M{}P{}Q{}.sandbox", us / 1000000, us % 1000000, ::getpid(), seq);
}

std::optional<std::string> normalize_address(std::string_view address) {
  if (address.empty() || address.size() > limits::sandbox_max_address) return std::nullopt;
  if (address == "." || address == "..") return std::nullopt;
  std::string out;
  out.reserve(address.size());
  for (char c : address) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '<' || c == '>' || c == '/' || c == '\\' || c == '"') {
      return std::nullopt;
    }
    out += static_cast<char>(std::tolower(u));
  }
  return out;
}

}  // namespace popbox::sandbox::detail
