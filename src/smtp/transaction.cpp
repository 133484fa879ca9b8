#include "smtp/transaction.hpp"

#include <cctype>
#include <charconv>

#include <fmt/format.h>

namespace popbox::smtp {
namespace {

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && upper(s.substr(0, prefix.size())) == prefix;
}

// Splits "<path> PARAM=V ..." into the path and its parameters; false when
// the path is not in angle brackets.
bool split_path(std::string_view args, std::string_view& path, std::string_view& params) {
  while (!args.empty() && args.front() == ' ') args.remove_prefix(1);
  if (args.empty() || args.front() != '<') return false;
  std::size_t close = args.find('>');
  if (close == std::string_view::npos) return false;
  path = args.substr(1, close - 1);
  params = args.substr(close + 1);
  // No spaces, controls or DEL: the path is echoed in replies and headers.
  for (unsigned char c : path) {
    if (c < 0x21 || c == 0x7f || c == '<') return false;
  }
  return true;
}

std::string_view parse_params(std::string_view params, const ParamRules& rules, MailParams& out) {
  out = MailParams{};
  while (!params.empty()) {
    std::size_t start = params.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    params.remove_prefix(start);
    std::string_view param = params.substr(0, params.find(' '));
    params.remove_prefix(param.size());
    const std::size_t eq = param.find('=');
    std::string name = upper(param.substr(0, eq));
    std::string_view value = eq == std::string_view::npos ? "" : param.substr(eq + 1);
    if (name == "SIZE") {
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), out.size);
      if (ec != std::errc() || p != value.data() + value.size()) {
        return "501 5.5.4 Bad SIZE parameter";
      }
      if (out.size > rules.max_message_size) {
        return "552 5.3.4 Message size exceeds fixed maximum message size";
      }
    } else if (name == "BODY") {
      std::string body = upper(value);
      if (body != "7BIT" && body != "8BITMIME") return "501 5.5.4 Bad BODY parameter";
      out.eight_bit = body == "8BITMIME";
    } else if (name == "SMTPUTF8" && rules.smtputf8 && eq == std::string_view::npos) {
      out.smtputf8 = true;
    } else if (name == "AUTH" && rules.auth_param && !value.empty()) {
      // RFC 4954 section 5: the original submitter; nothing relays here.
    } else {
      return "555 5.5.4 Unsupported MAIL parameter";
    }
  }
  return "";
}

}  // namespace

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

CommandLine split_command(std::string_view line) {
  std::size_t sp = line.find(' ');
  return {upper(line.substr(0, sp)), sp == std::string_view::npos ? "" : line.substr(sp + 1)};
}

std::string_view parse_mail(std::string_view args, const ParamRules& rules, std::string& sender,
                            MailParams& params) {
  if (!iequals_prefix(args, "FROM:")) return "501 5.5.4 Syntax: MAIL FROM:<address>";
  std::string_view path, rest;
  if (!split_path(args.substr(5), path, rest)) return "501 5.1.7 Bad sender address syntax";
  std::string_view err = parse_params(rest, rules, params);
  if (err.empty()) sender = std::string(path);
  return err;
}

std::string_view parse_rcpt(std::string_view args, std::string& recipient) {
  if (!iequals_prefix(args, "TO:")) return "501 5.5.4 Syntax: RCPT TO:<address>";
  std::string_view path, params;
  if (!split_path(args.substr(3), path, params) || path.empty()) {
    return "501 5.1.3 Bad recipient address syntax";
  }
  if (params.find_first_not_of(' ') != std::string_view::npos) {
    return "555 5.5.4 Unsupported RCPT parameter";
  }
  recipient = std::string(path);
  return "";
}

void Transaction::reset() {
  active = false;
  sender.clear();
  params = MailParams{};
  recipients.clear();
}

std::optional<bool> answer_common(std::string_view verb, std::string_view hostname, Transaction& tx,
                                  std::string& out) {
  if (verb == "RSET") {
    tx.reset();
    out.append("250 2.0.0 Ok\r\n");
    return false;
  }
  if (verb == "NOOP") {
    out.append("250 2.0.0 Ok\r\n");
    return false;
  }
  if (verb == "QUIT") {
    out += fmt::format("221 2.0.0 {} closing connection\r\n", hostname);
    return true;
  }
  if (verb == "VRFY") {
    out.append("252 2.5.2 Cannot VRFY, send some mail\r\n");
    return false;
  }
  return std::nullopt;
}

bool ErrorCount::add(std::string_view reply, std::string& out) {
  out.append(reply);
  out.append("\r\n");
  if (++errors_ >= max_) {
    out.append("421 4.7.0 Too many errors, closing connection\r\n");
    return true;
  }
  return false;
}

}  // namespace popbox::smtp
