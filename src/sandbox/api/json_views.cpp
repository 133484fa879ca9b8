#include "sandbox/api/json_views.hpp"

#include <cstdio>
#include <ctime>

namespace popbox::sandbox::api {

namespace {

json address_json(const mime::Address& a) {
  return json{{"name", a.name}, {"address", a.address}};
}

json addresses_json(const std::vector<mime::Address>& list) {
  json out = json::array();
  for (const auto& a : list) out.push_back(address_json(a));
  return out;
}

template <class T>
json optional_json(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

struct KindName {
  Fault::Kind kind;
  const char* name;
};
constexpr KindName fault_kinds[] = {
    {Fault::Kind::pop3_login_temp, "pop3_login_temp"},
    {Fault::Kind::pop3_login_in_use, "pop3_login_in_use"},
    {Fault::Kind::pop3_delay, "pop3_delay"},
    {Fault::Kind::pop3_drop_retr, "pop3_drop_retr"},
    {Fault::Kind::pop3_dele_error, "pop3_dele_error"},
    {Fault::Kind::smtp_mail, "smtp_mail"},
    {Fault::Kind::smtp_rcpt, "smtp_rcpt"},
    {Fault::Kind::smtp_data, "smtp_data"},
    {Fault::Kind::smtp_delay, "smtp_delay"},
};

}  // namespace

std::string format_time(Clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
  auto secs = static_cast<std::time_t>(ms.count() / 1000);
  long millis = static_cast<long>(ms.count() % 1000);
  if (millis < 0) {
    millis += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

json inbox_json(const InboxInfo& i) {
  return json{{"id", i.id},
              {"address", i.address},
              {"auto_created", i.auto_created},
              {"has_password", i.has_password},
              {"created", format_time(i.created)},
              {"expires", i.expires ? json(format_time(*i.expires)) : json(nullptr)},
              {"max_messages", i.max_messages},
              {"messages", i.messages},
              {"unread", i.unread},
              {"bytes", i.bytes}};
}

json summary_json(const MessageInfo& m, const mime::Parsed& p) {
  return json{{"id", m.id},
              {"inbox_id", m.inbox_id},
              {"seq", m.seq},
              {"received", format_time(m.received)},
              {"size", m.size},
              {"read", m.read},
              {"from", p.from ? address_json(*p.from) : json(nullptr)},
              {"to", addresses_json(p.to)},
              {"subject", p.subject},
              {"has_attachments", !p.attachments.empty()},
              {"snippet", p.snippet}};
}

json message_json(const MessageInfo& m, const mime::Parsed& p) {
  json j = summary_json(m, p);
  j["cc"] = addresses_json(p.cc);
  j["reply_to"] = addresses_json(p.reply_to);
  j["date"] = optional_json(p.date);
  j["message_id"] = optional_json(p.message_id);
  json headers = json::array();
  for (const auto& [name, value] : p.headers) headers.push_back({{"name", name}, {"value", value}});
  j["headers"] = std::move(headers);
  j["text"] = optional_json(p.text);
  j["html"] = optional_json(p.html);
  json atts = json::array();
  for (const auto& a : p.attachments) {
    atts.push_back({{"index", a.index},
                    {"filename", optional_json(a.filename)},
                    {"content_type", a.content_type},
                    {"size", a.size},
                    {"content_id", optional_json(a.content_id)},
                    {"inline", a.inline_part}});
  }
  j["attachments"] = std::move(atts);
  j["links"] = p.links;
  j["envelope"] = {{"from", m.envelope_from}, {"to", m.envelope_to}};
  return j;
}

json fault_json(const Fault& f) {
  const char* name = "";
  for (const auto& k : fault_kinds) {
    if (k.kind == f.kind) name = k.name;
  }
  return json{{"kind", name},
              {"probability", f.probability},
              {"delay_ms", f.delay.count()},
              {"after_octets", f.after_octets},
              {"smtp_code", f.smtp_code}};
}

std::optional<Fault> parse_fault(const json& j, std::string& error) {
  if (!j.is_object() || !j.contains("kind") || !j["kind"].is_string()) {
    error = "a fault needs a \"kind\"";
    return std::nullopt;
  }
  Fault f;
  const std::string kind = j["kind"].get<std::string>();
  bool known = false;
  for (const auto& k : fault_kinds) {
    if (kind == k.name) {
      f.kind = k.kind;
      known = true;
    }
  }
  if (!known) {
    error = "unknown fault kind '" + kind + "'";
    return std::nullopt;
  }
  if (j.contains("probability")) {
    if (!j["probability"].is_number()) return error = "probability must be a number", std::nullopt;
    f.probability = j["probability"].get<double>();
    if (!(f.probability >= 0.0 && f.probability <= 1.0)) {
      error = "probability must be between 0 and 1";
      return std::nullopt;
    }
  }
  if (j.contains("delay_ms")) {
    if (!j["delay_ms"].is_number_unsigned()) return error = "delay_ms must be >= 0", std::nullopt;
    f.delay = std::chrono::milliseconds(j["delay_ms"].get<std::uint64_t>());
  }
  if (j.contains("after_octets")) {
    if (!j["after_octets"].is_number_unsigned()) {
      error = "after_octets must be >= 0";
      return std::nullopt;
    }
    f.after_octets = j["after_octets"].get<std::uint64_t>();
  }
  if (j.contains("smtp_code")) {
    if (!j["smtp_code"].is_number_integer())
      return error = "smtp_code must be 4xx or 5xx", std::nullopt;
    f.smtp_code = j["smtp_code"].get<int>();
    if (f.smtp_code < 400 || f.smtp_code > 599) {
      error = "smtp_code must be 4xx or 5xx";
      return std::nullopt;
    }
  }
  return f;
}

const char* event_kind_name(Event::Kind kind) {
  switch (kind) {
    case Event::Kind::message_received:
      return "message_received";
    case Event::Kind::message_deleted:
      return "message_deleted";
    case Event::Kind::message_read:
      return "message_read";
    case Event::Kind::inbox_created:
      return "inbox_created";
    case Event::Kind::inbox_deleted:
      return "inbox_deleted";
    case Event::Kind::inbox_cleared:
      return "inbox_cleared";
  }
  return "unknown";
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  std::size_t i = 0;
  std::uint64_t n = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    if (n > 1'000'000'000ull) return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(text[i] - '0');
    ++i;
  }
  if (i == 0) return std::nullopt;
  const std::string_view unit = text.substr(i);
  std::uint64_t ms_per = 0;
  if (unit.empty() || unit == "s")
    ms_per = 1000;
  else if (unit == "ms")
    ms_per = 1;
  else if (unit == "m")
    ms_per = 60'000;
  else if (unit == "h")
    ms_per = 3'600'000;
  else if (unit == "d")
    ms_per = 86'400'000;
  else
    return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(n * ms_per));
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string error_body(std::string_view text) {
  return dump(json{{"error", text}});
}

}  // namespace popbox::sandbox::api
