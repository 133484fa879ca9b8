// Session: the dispatcher, shared replies and the TRANSACTION commands.
// AUTHORIZATION commands live in session_auth.cpp.
#include "pop3/session.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/limits.hpp"
#include "pop3/command.hpp"
#include "pop3/session_detail.hpp"

namespace popbox::pop3 {

using detail::reply;

// A command, the states it is valid in, and its handler. The state check
// happens once, in dispatch().
struct Session::CommandSpec {
  const char* name;
  bool in_authorization;
  bool in_transaction;
  Handler handler;
};

const Session::CommandSpec* Session::find_command(std::string_view keyword) {
  static const CommandSpec table[] = {
      {"USER", true, false, &Session::cmd_user}, {"PASS", true, false, &Session::cmd_pass},
      {"APOP", true, false, &Session::cmd_apop}, {"AUTH", true, false, &Session::cmd_auth},
      {"STLS", true, false, &Session::cmd_stls}, {"CAPA", true, true, &Session::cmd_capa},
      {"QUIT", true, true, &Session::cmd_quit},  {"STAT", false, true, &Session::cmd_stat},
      {"LIST", false, true, &Session::cmd_list}, {"UIDL", false, true, &Session::cmd_uidl},
      {"RETR", false, true, &Session::cmd_retr}, {"TOP", false, true, &Session::cmd_top},
      {"DELE", false, true, &Session::cmd_dele}, {"NOOP", false, true, &Session::cmd_noop},
      {"RSET", false, true, &Session::cmd_rset},
  };
  for (const auto& spec : table) {
    if (keyword == spec.name) return &spec;
  }
  return nullptr;
}

std::string_view close_reason_name(CloseReason reason) noexcept {
  switch (reason) {
    case CloseReason::none:
      break;
    case CloseReason::quit:
      return "quit";
    case CloseReason::too_many_errors:
      return "too_many_errors";
    case CloseReason::line_too_long:
      return "line_too_long";
    case CloseReason::auth_failures:
      return "auth_failures";
  }
  return "none";
}

Session::Session(SessionOptions options) : options_(std::move(options)) {}

std::string_view mechanism_name(Mechanism m) noexcept {
  switch (m) {
    case Mechanism::user:
      return "USER";
    case Mechanism::apop:
      return "APOP";
    case Mechanism::plain:
      return "PLAIN";
    case Mechanism::login:
      return "LOGIN";
    case Mechanism::scram_sha_256:
      return "SCRAM-SHA-256";
    case Mechanism::scram_sha_256_plus:
      return "SCRAM-SHA-256-PLUS";
    case Mechanism::oauthbearer:
      return "OAUTHBEARER";
    case Mechanism::xoauth2:
      break;
  }
  return "XOAUTH2";
}

void Session::greeting(std::string& out) const {
  if (options_.apop_enabled) {
    reply(out,
          fmt::format("+OK {} POP3 server ready {}", options_.hostname, options_.apop_timestamp));
  } else {
    reply(out, fmt::format("+OK {} POP3 server ready", options_.hostname));
  }
}

Step Session::on_line(std::string_view line, std::string& out) {
  // A driver that skipped more(): finish the listing, so replies stay in order.
  while (listing_.kind != Listing::Kind::none) listing_piece(out.size(), out);
  if (state_ == State::closed || state_ == State::update) return {Step::Action::close};
  if (sasl_ != Sasl::none) return on_sasl_line(line, out);
  ++stats_.commands;
  return dispatch(line, out);
}

Step Session::on_line_too_long(std::string& out) {
  reply(out, "-ERR Line too long.");
  return close(CloseReason::line_too_long);
}

Step Session::close(CloseReason why) {
  state_ = State::closed;
  close_reason_ = why;
  return {Step::Action::close};
}

Step Session::dispatch(std::string_view line, std::string& out) {
  CommandLine cmd = parse_command(line);
  const CommandSpec* spec = find_command(cmd.keyword);
  bool allowed =
      spec && (state_ == State::authorization ? spec->in_authorization : spec->in_transaction);
  if (!allowed) return bad_command("-ERR Unknown command.", out);
  Args args{cmd.args, cmd.rest};
  Step step = (this->*(spec->handler))(args, out);
  // A handler may have hit a limit (bad commands) on a path that only
  // writes a reply; the close must still reach the driver.
  if (state_ == State::closed) step.action = Step::Action::close;
  return step;
}

Step Session::bad_command(std::string_view text, std::string& out) {
  ++stats_.bad_commands;
  if (stats_.bad_commands >= static_cast<std::uint64_t>(limits::max_bad_commands)) {
    reply(out, "-ERR Too many bad commands, closing.");
    return close(CloseReason::too_many_errors);
  }
  reply(out, text);
  return {};
}

std::optional<std::size_t> Session::message_arg(std::string_view arg, std::string& out) {
  auto n = parse_number(arg);
  if (!n) {
    bad_command("-ERR Invalid message number.", out);
    return std::nullopt;
  }
  if (*n == 0 || *n > messages_->size()) {
    reply(out, fmt::format("-ERR There's no message {}.", *n));
    return std::nullopt;
  }
  std::size_t index = *n - 1;
  if (deleted_[index]) {
    reply(out, "-ERR Message is deleted.");
    return std::nullopt;
  }
  return index;
}

Step Session::cmd_capa(const Args& args, std::string& out) {
  if (!args.list.empty()) return bad_command("-ERR CAPA takes no arguments.", out);
  out.append("+OK Capability list follows\r\n");
  out.append("TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
  if (state_ == State::authorization) {
    if (options_.plaintext_allowed) out.append("USER\r\n");
    out.append("SASL " + sasl_mechanisms() + "\r\n");
    if (options_.stls_available && !options_.secure) out.append("STLS\r\n");
  }
  if (options_.expire_days) {
    if (*options_.expire_days < 0) {
      out.append("EXPIRE NEVER\r\n");
    } else {
      out.append(fmt::format("EXPIRE {}\r\n", *options_.expire_days));
    }
  }
  if (options_.login_delay_seconds) {
    out.append(fmt::format("LOGIN-DELAY {}\r\n", *options_.login_delay_seconds));
  }
  out.append("IMPLEMENTATION popbox\r\n.\r\n");
  return {};
}

Step Session::cmd_quit(const Args&, std::string& out) {
  if (state_ == State::authorization) {
    reply(out, "+OK Logging out.");
    return close(CloseReason::quit);
  }
  state_ = State::update;
  return {Step::Action::commit};
}

std::vector<std::size_t> Session::commit_deleted() const {
  std::vector<std::size_t> out;
  // EXPIRE 0: the server keeps no message once it has been retrieved.
  bool expire_now = options_.expire_days && *options_.expire_days == 0;
  for (std::size_t i = 0; i < deleted_.size(); ++i) {
    if (deleted_[i] || (expire_now && retrieved_[i])) out.push_back(i);
  }
  return out;
}

std::vector<std::size_t> Session::commit_retrieved() const {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < retrieved_.size(); ++i) {
    if (retrieved_[i] && !deleted_[i]) out.push_back(i);
  }
  return out;
}

Step Session::commit_done(bool ok, std::string& out) {
  if (ok) {
    reply(out, "+OK Logging out.");
  } else {
    // RFC 1939 section 6: QUIT reports failure to remove messages.
    reply(out, "-ERR [SYS/TEMP] Some deleted messages could not be removed.");
  }
  return close(CloseReason::quit);
}

Step Session::cmd_stat(const Args& args, std::string& out) {
  if (!args.list.empty()) return bad_command("-ERR STAT takes no arguments.", out);
  std::uint64_t count = 0, octets = 0;
  for (std::size_t i = 0; i < messages_->size(); ++i) {
    if (deleted_[i]) continue;
    ++count;
    octets += (*messages_)[i].size;
  }
  reply(out, fmt::format("+OK {} {}", count, octets));
  return {};
}

Step Session::cmd_list(const Args& args, std::string& out) {
  if (args.list.size() > 1) return bad_command("-ERR Too many arguments.", out);
  if (args.list.size() == 1) {
    auto index = message_arg(args.list[0], out);
    if (index) reply(out, fmt::format("+OK {} {}", *index + 1, (*messages_)[*index].size));
    return {};
  }
  const std::size_t start = out.size();
  std::uint64_t count = 0, octets = 0;
  for (std::size_t i = 0; i < messages_->size(); ++i) {
    if (deleted_[i]) continue;
    ++count;
    octets += (*messages_)[i].size;
  }
  reply(out, fmt::format("+OK {} messages ({} octets)", count, octets));
  listing_ = Listing{Listing::Kind::list, 0};
  return listing_piece(start, out);
}

Step Session::cmd_uidl(const Args& args, std::string& out) {
  if (args.list.size() > 1) return bad_command("-ERR Too many arguments.", out);
  if (args.list.size() == 1) {
    auto index = message_arg(args.list[0], out);
    if (index) reply(out, fmt::format("+OK {} {}", *index + 1, (*messages_)[*index].uidl));
    return {};
  }
  const std::size_t start = out.size();
  out.append("+OK Unique-ID listing follows\r\n");
  listing_ = Listing{Listing::Kind::uidl, 0};
  return listing_piece(start, out);
}

Step Session::more(std::string& out) {
  if (listing_.kind == Listing::Kind::none) return {};
  return listing_piece(out.size(), out);
}

Step Session::listing_piece(std::size_t start, std::string& out) {
  const auto& msgs = *messages_;
  for (; listing_.next < msgs.size(); ++listing_.next) {
    const std::size_t i = listing_.next;
    if (deleted_[i]) continue;
    const std::size_t before = out.size();
    if (listing_.kind == Listing::Kind::list) {
      fmt::format_to(std::back_inserter(out), "{} {}\r\n", i + 1, msgs[i].size);
    } else {
      fmt::format_to(std::back_inserter(out), "{} {}\r\n", i + 1, msgs[i].uidl);
    }
    // Every piece carries at least one line, so the listing always advances.
    if (out.size() - start > limits::listing_piece && before > start) {
      out.resize(before);
      return {Step::Action::more};
    }
  }
  constexpr std::string_view end = ".\r\n";
  if (out.size() - start + end.size() > limits::listing_piece) return {Step::Action::more};
  out.append(end);
  listing_ = {};
  return {};
}

Step Session::cmd_retr(const Args& args, std::string& out) {
  if (args.list.size() != 1) return bad_command("-ERR RETR takes a message number.", out);
  auto index = message_arg(args.list[0], out);
  if (!index) return {};
  pending_ = Pending{*index, false, 0};
  Step step{Step::Action::stream};
  step.message = *index;
  return step;
}

Step Session::cmd_top(const Args& args, std::string& out) {
  if (args.list.size() != 2) {
    return bad_command("-ERR TOP takes a message number and a line count.", out);
  }
  auto lines = parse_number(args.list[1]);
  if (!lines) return bad_command("-ERR Invalid line count.", out);
  auto index = message_arg(args.list[0], out);
  if (!index) return {};
  pending_ = Pending{*index, true, *lines};
  Step step{Step::Action::stream};
  step.message = *index;
  step.top_lines = *lines;
  return step;
}

void Session::stream_opened(std::string& out) {
  const auto& msg = (*messages_)[pending_.index];
  encoder_ = pending_.top ? core::DotEncoder(pending_.top_lines) : core::DotEncoder();
  block_ = {};
  block_end_ = false;
  if (pending_.top) {
    ++stats_.top;
    reply(out, "+OK");
    return;
  }
  retrieved_[pending_.index] = true;
  ++stats_.retrieved;
  stats_.retrieved_bytes += msg.size;
  reply(out, fmt::format("+OK {} octets", msg.size));
}

void Session::stream_feed(std::string_view block) {
  block_ = block;
  block_end_ = block.empty();
}

StreamStep Session::stream_next(std::string& out) {
  using core::DotEncoder;
  static_assert(limits::stream_min_room > DotEncoder::max_finish + DotEncoder::max_expansion,
                "every step with room must make progress");
  for (;;) {
    if (encoder_.done()) return StreamStep::done;
    const std::size_t room =
        out.size() < limits::max_pending_output ? limits::max_pending_output - out.size() : 0;
    if (room < limits::stream_min_room) return StreamStep::write;
    if (block_.empty()) {
      if (!block_end_) return StreamStep::need_block;
      block_end_ = false;
      encoder_.finish(out);
      return StreamStep::done;
    }
    // Only as much of the block as can grow into the room left, so the
    // output bound holds whatever the message holds.
    const std::size_t n =
        std::min(block_.size(), (room - DotEncoder::max_finish) / DotEncoder::max_expansion);
    const bool more = encoder_.encode(block_.substr(0, n), out);
    block_.remove_prefix(n);
    if (!more) {
      // TOP has its lines: the rest of the message is not needed.
      block_ = {};
      block_end_ = false;
      encoder_.finish(out);
      return StreamStep::done;
    }
  }
}

void Session::stream_failed(std::string& out) {
  reply(out, "-ERR [SYS/TEMP] The message could not be read.");
}

Step Session::cmd_dele(const Args& args, std::string& out) {
  if (args.list.size() != 1) return bad_command("-ERR DELE takes a message number.", out);
  auto index = message_arg(args.list[0], out);
  if (!index) return {};
  deleted_[*index] = true;
  ++stats_.deleted;
  reply(out, "+OK Marked to be deleted.");
  return {};
}

Step Session::cmd_noop(const Args& args, std::string& out) {
  if (!args.list.empty()) return bad_command("-ERR NOOP takes no arguments.", out);
  reply(out, "+OK");
  return {};
}

Step Session::cmd_rset(const Args& args, std::string& out) {
  if (!args.list.empty()) return bad_command("-ERR RSET takes no arguments.", out);
  std::fill(deleted_.begin(), deleted_.end(), false);
  stats_.deleted = 0;
  std::uint64_t count = messages_->size();
  reply(out, fmt::format("+OK {} messages", count));
  return {};
}

}  // namespace popbox::pop3
