#pragma once
// The JSON objects of the sandbox HTTP API v1 (docs/sandbox.md): Inbox,
// Summary, Message, Fault, and the parsing of request values (durations,
// faults). Pure: no I/O.

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sandbox/hub.hpp"
#include "sandbox/mime/mime.hpp"

namespace popbox::sandbox::api {

using json = nlohmann::json;

/// `t` as RFC 3339 UTC with milliseconds ("2026-12-02T04:05:06.789Z").
std::string format_time(Clock::time_point t);
/// The Inbox object.
json inbox_json(const InboxInfo& inbox);
/// The Summary object of a message.
json summary_json(const MessageInfo& info, const mime::Parsed& parsed);
/// The Message object: the Summary and the parsed details.
json message_json(const MessageInfo& info, const mime::Parsed& parsed);
/// The Fault object.
json fault_json(const Fault& fault);
/// A Fault from its JSON; nullopt with `error` set when it is invalid.
std::optional<Fault> parse_fault(const json& j, std::string& error);
/// Event kind as the API names it ("message_received", ...).
const char* event_kind_name(Event::Kind kind);
/// "30m", "90s", "2h", "1d", "250ms" or a bare number of seconds; nullopt when invalid.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
/// `j` as text; invalid UTF-8 (from a broken message) is replaced, never thrown.
std::string dump(const json& j);
/// The body of an error response: {"error": text}.
std::string error_body(std::string_view text);

}  // namespace popbox::sandbox::api
