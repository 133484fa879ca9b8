// libFuzzer target for the LMTP server session (lmtp/session.hpp), driven as
// a listener drives it (fuzz_receiver.hpp: command lines through
// core::LineReader, the DATA body through core::DotDecoder), with a fake
// recipient lookup and delivery.
//
// Input layout: 2 header bytes, then the client's bytes.
//   byte 0: bits 0-1 lookup result for recipients whose address ends in
//           '1'-'3' (others: the digit % 4 picks ok, unknown, over quota,
//           temporary failure); bit 2 quota is temporary; bit 3 tiny
//           max_message_size (64 bytes)
//   byte 1: delivery result for every recipient (value % 4, as above)
//
// Invariants: those of fuzz_receiver.hpp, and one reply per accepted
// recipient after the body (RFC 2033 section 4.2).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/limits.hpp"
#include "fuzz_receiver.hpp"
#include "lmtp/session.hpp"

namespace {

using popbox::lmtp::RcptStatus;
using popbox::lmtp::Session;
using popbox::lmtp::Step;

RcptStatus status_of(unsigned v) {
  static const RcptStatus table[4] = {RcptStatus::ok, RcptStatus::no_such_user,
                                      RcptStatus::over_quota, RcptStatus::temp_failure};
  return table[v % 4];
}

struct Hooks {
  Session& session;
  std::uint8_t opts, deliver_result;

  void after_line(Step&, std::string&) {}
  bool other_action(const Step&, popbox::core::LineReader&, std::string&) { return false; }
  bool check_recipient(const std::string& a, std::string& out) {
    unsigned digit = static_cast<unsigned char>(a.back());
    RcptStatus st = status_of(digit >= '1' && digit <= '3' ? (opts & 3) : digit);
    session.recipient_checked(st, out);
    return st == RcptStatus::ok;
  }
  void deliver(std::string& out) {
    std::vector<RcptStatus> results(session.recipients().size(), status_of(deliver_result));
    session.delivered(results, out);
  }
  std::size_t replies_after_data(std::size_t recipients) { return recipients; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t opts = data[0], deliver_result = data[1];
  std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);

  popbox::lmtp::SessionOptions o;
  o.hostname = "lmtp.test";
  o.quota_temporary = opts & 4;
  if (opts & 8) o.max_message_size = 64;
  Session session(o);
  Hooks hooks{session, opts, deliver_result};
  // As net/lmtp_connection.cpp reads commands.
  popbox::fuzz::drive_receiver(
      session, hooks, in,
      {popbox::limits::max_line, o.max_message_size, popbox::limits::lmtp_max_recipients});
  return 0;
}
