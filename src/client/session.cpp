// Session: framing (lines vs. message bodies), the TRANSACTION state with
// its pipelined command queue, and the listing. The AUTHORIZATION state is
// in session_auth.cpp.
#include "client/session.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <unordered_set>

#include "client/session_detail.hpp"

namespace popbox::client {
namespace detail {
namespace {

bool starts_with_nocase(std::string_view line, std::string_view word) noexcept {
  if (line.size() < word.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    char c = line[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != word[i]) return false;
  }
  return line.size() == word.size() || line[word.size()] == ' ';
}

}  // namespace

bool is_ok(std::string_view line) noexcept {
  return starts_with_nocase(line, "+OK");
}
bool is_err(std::string_view line) noexcept {
  return starts_with_nocase(line, "-ERR");
}
bool is_continuation(std::string_view line) noexcept {
  return line == "+" || (line.starts_with("+ "));
}
std::string_view response_code(std::string_view line) noexcept {
  // "-ERR [CODE] text": the code follows the status indicator at once.
  if (!is_err(line) || line.size() < 7 || line[5] != '[') return {};
  auto close = line.find(']', 6);
  if (close == std::string_view::npos) return {};
  return line.substr(6, close - 6);
}

}  // namespace detail

namespace {

template <class T>
bool parse_number(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

std::string_view command_name(std::size_t cmd) {
  static constexpr std::string_view names[] = {"CAPA", "UIDL", "LIST", "RETR", "DELE", "QUIT"};
  return names[cmd];
}

}  // namespace

Session::Session(SessionOptions options) : options_(std::move(options)) {
  secure_ = options_.tls == TlsMode::implicit;
}

Session::~Session() {
  forget_secrets();
}

std::size_t Session::receive(std::string_view in, Event& ev) {
  ev = Event{};
  if (body_end_pending_) {
    body_end_pending_ = false;
    in_flight_.pop_front();
    ev.kind = EventKind::body_end;
    ev.message = body_message_;
    return 0;
  }
  if (finished()) return in.size();
  if (in.empty()) return 0;
  // RFC 2595 / STYLE rule 6: plaintext after the STLS reply is dropped.
  if (phase_ == Phase::tls_wait) return in.size();
  if (reading_ == Reading::body) return take_body(in, ev);
  return take_line(in, ev);
}

std::size_t Session::take_line(std::string_view in, Event& ev) {
  // Feed the reader one line at most, so bytes after it (a message body)
  // stay with the caller.
  auto lf = in.find('\n');
  std::size_t used = lf == std::string_view::npos ? in.size() : lf + 1;
  reader_.feed(in.substr(0, used));
  // Whether this line ends in CRLF (its CR may have come in the last call):
  // only CRLF "." CRLF ends a listing, like a body (core::DotDecoder).
  bool prev_crlf = line_crlf_;
  if (lf != std::string_view::npos) line_crlf_ = lf > 0 ? in[lf - 1] == '\r' : last_fed_cr_;
  last_fed_cr_ = used > 0 && in[used - 1] == '\r';
  std::string_view line;
  switch (reader_.next(line)) {
    case core::LineReader::Result::need_more:
      break;
    case core::LineReader::Result::too_long:
      fail(ev, fetch_errc::protocol,
           fmt::format("the server sent a line longer than {} bytes", limits::max_line));
      break;
    case core::LineReader::Result::line:
      if (reading_ == Reading::lines) {
        on_multiline(line, line_crlf_ && prev_crlf, ev);
      } else {
        on_status(line, ev);
      }
      break;
  }
  return used;
}

std::size_t Session::take_body(std::string_view in, Event& ev) {
  body_.clear();
  std::size_t used = decoder_.decode(in, body_);
  if (decoder_.done()) {
    reading_ = Reading::status;
    decoder_ = core::DotDecoder();
    if (body_.empty()) {
      in_flight_.pop_front();  // the RETR is answered with its body_end
      ev.kind = EventKind::body_end;
      ev.message = body_message_;
      return used;
    }
    body_end_pending_ = true;
  }
  if (!body_.empty()) {
    ev.kind = EventKind::body_data;
    ev.message = body_message_;
    ev.data = body_;
  }
  return used;
}

void Session::on_status(std::string_view line, Event& ev) {
  switch (phase_) {
    case Phase::greeting:
      on_greeting(line, ev);
      return;
    case Phase::capa:
      if (detail::is_ok(line)) {
        caps_ = Capabilities();
        caps_.known = true;
        reading_ = Reading::lines;
      } else {
        caps_ = Capabilities();  // RFC 1939 server: no CAPA
        after_capa(ev);
      }
      return;
    case Phase::stls:
      on_stls(detail::is_ok(line), line, ev);
      return;
    case Phase::auth:
      on_auth(line, ev);
      return;
    case Phase::transaction:
      if (!detail::is_ok(line) && !detail::is_err(line)) {
        fail(ev, fetch_errc::protocol, fmt::format("unexpected reply \"{}\"", line));
        return;
      }
      on_transaction_status(detail::is_ok(line), line, ev);
      return;
    case Phase::tls_wait:
    case Phase::closed:
    case Phase::failed:
      return;
  }
}

void Session::on_multiline(std::string_view line, bool crlf_around, Event& ev) {
  bool end = line == "." && crlf_around;
  if (phase_ == Phase::capa) {
    if (!end) {
      caps_.add_line(line);
      return;
    }
    reading_ = Reading::status;
    after_capa(ev);
    return;
  }
  if (end) {
    reading_ = Reading::status;
    Cmd done = in_flight_.front().cmd;
    in_flight_.pop_front();
    if (done == Cmd::list) finish_listing(ev);
    return;
  }
  std::size_t entries = in_flight_.front().cmd == Cmd::uidl ? uidls_.size() : sizes_.size();
  if (entries >= options_.max_listing) {
    fail(ev, fetch_errc::protocol,
         fmt::format("the server's {} reply lists more than {} messages; nothing was fetched",
                     command_name(static_cast<std::size_t>(in_flight_.front().cmd)),
                     options_.max_listing));
    return;
  }
  if (!parse_listing_line(line)) {
    fail(ev, fetch_errc::protocol, fmt::format("malformed listing line \"{}\"", line));
  }
}

void Session::on_transaction_status(bool ok, std::string_view line, Event& ev) {
  if (in_flight_.empty()) {
    fail(ev, fetch_errc::protocol, fmt::format("reply \"{}\" to no command", line));
    return;
  }
  Pending p = in_flight_.front();
  text_ = std::string(line);
  switch (p.cmd) {
    case Cmd::uidl:
    case Cmd::list:
      if (!ok) {
        fail_reply(ev, fetch_errc::protocol,
                   p.cmd == Cmd::uidl ? "the server refused UIDL (needed to track messages)"
                                      : "the server refused LIST",
                   line);
        return;
      }
      reading_ = Reading::lines;  // popped at the terminating "."
      return;
    case Cmd::retr:
      ev.message = p.message;
      if (ok) {
        // In flight until the body ends: without PIPELINING the next
        // command must wait for the whole reply.
        reading_ = Reading::body;
        body_message_ = p.message;
        ev.kind = EventKind::body_begin;
      } else {
        in_flight_.pop_front();
        ev.kind = EventKind::retr_failed;
        ev.data = text_;
      }
      return;
    case Cmd::dele:
      in_flight_.pop_front();
      ev.message = p.message;
      ev.kind = ok ? EventKind::deleted : EventKind::dele_failed;
      ev.data = text_;
      return;
    case Cmd::quit:
      in_flight_.pop_front();
      phase_ = Phase::closed;
      ev.kind = EventKind::closed;
      ev.ok = ok;
      ev.data = text_;
      return;
    case Cmd::capa:
      break;
  }
  fail(ev, fetch_errc::protocol, "internal: unexpected command in flight");
}

bool Session::parse_listing_line(std::string_view line) {
  auto sp = line.find(' ');
  if (sp == std::string_view::npos) return false;
  std::size_t number = 0;
  if (!parse_number(line.substr(0, sp), number) || number == 0) return false;
  std::string_view arg = line.substr(sp + 1);
  arg = arg.substr(0, arg.find(' '));  // LIST may carry more after the size
  if (in_flight_.front().cmd == Cmd::uidl) {
    // RFC 1939: 1-70 characters 0x21-0x7E; longer ones are tolerated.
    if (arg.empty() || arg.size() > 255) return false;
    for (char c : arg) {
      if (c < 0x21 || c > 0x7e) return false;
    }
    uidls_.emplace_back(number, std::string(arg));
    return true;
  }
  std::uint64_t size = 0;
  if (!parse_number(arg, size)) return false;
  sizes_.emplace_back(number, size);
  return true;
}

void Session::finish_listing(Event& ev) {
  std::sort(sizes_.begin(), sizes_.end());
  std::unordered_set<std::size_t> seen;
  for (auto& [number, uidl] : uidls_) {
    if (!seen.insert(number).second) {
      fail(ev, fetch_errc::protocol, fmt::format("message {} listed twice by UIDL", number));
      return;
    }
    auto it = std::lower_bound(sizes_.begin(), sizes_.end(), std::pair{number, std::uint64_t{0}});
    std::uint64_t size = it != sizes_.end() && it->first == number ? it->second : 0;
    listing_.push_back({number, size, std::move(uidl)});
  }
  std::sort(listing_.begin(), listing_.end(),
            [](const ListEntry& a, const ListEntry& b) { return a.number < b.number; });
  uidls_.clear();
  sizes_.clear();
  ev.kind = EventKind::listing;
}

void Session::retrieve(std::size_t number) {
  queue_.push_back({Cmd::retr, number});
}

void Session::remove(std::size_t number) {
  queue_.push_back({Cmd::dele, number});
}

std::string_view Session::output() {
  if (phase_ != Phase::transaction) return out_;
  std::size_t window = caps_.pipelining ? std::max<std::size_t>(1, options_.pipeline_window) : 1;
  while (!queue_.empty() && in_flight_.size() < window) {
    Pending p = queue_.front();
    queue_.pop_front();
    std::string_view name = command_name(static_cast<std::size_t>(p.cmd));
    if (p.cmd == Cmd::retr || p.cmd == Cmd::dele) {
      send(fmt::format("{} {}", name, p.message));
    } else {
      send(name);
    }
    in_flight_.push_back(p);
  }
  if (quit_requested_ && queue_.empty() && in_flight_.empty()) {
    send("QUIT");
    in_flight_.push_back({Cmd::quit});
  }
  return out_;
}

Failure Session::eof() const {
  if (phase_ == Phase::closed || phase_ == Phase::failed) return {};
  if (reading_ == Reading::body) {
    return client::fail(fetch_errc::temporary,
                        "the server closed the connection in the middle of a message");
  }
  return client::fail(fetch_errc::temporary, "the server closed the connection");
}

void Session::send(std::string_view command) {
  out_.append(command);
  out_.append("\r\n");
}

void Session::fail(Event& ev, fetch_errc code, std::string message) {
  phase_ = Phase::failed;
  ev.kind = EventKind::failed;
  ev.failure = client::fail(code, std::move(message));
  forget_secrets();
}

void Session::fail_reply(Event& ev, fetch_errc fallback, std::string_view what,
                         std::string_view line) {
  std::string_view code = detail::response_code(line);
  fetch_errc kind = fallback;
  if (code == "SYS/TEMP" || code == "IN-USE" || code == "LOGIN-DELAY") kind = fetch_errc::temporary;
  if (code == "AUTH") kind = fetch_errc::auth;
  fail(ev, kind, fmt::format("{}: server said \"{}\"", what, line));
}

}  // namespace popbox::client
