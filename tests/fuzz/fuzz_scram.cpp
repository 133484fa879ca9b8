// libFuzzer target for the SCRAM message parser (auth/scram_message.hpp)
// and the server exchange built on it (auth/scram_server.hpp).
//
// Input layout: 1 header byte, then client-first, '\n', client-final.
//   byte 0: bit 0 the client chose SCRAM-SHA-256-PLUS, bit 1 the link has
//     tls-exporter binding data (32 bytes of 'b'), bit 2 tls-unique instead
//
// Checks: the parsers never crash; a parsed client-first is exactly its gs2
// header and bare part; re-escaping the user name and authzid gives back what
// was sent; the nonce is printable without ','; an accepted client-first
// binds the channel exactly when -PLUS was chosen, to this link's type, and
// says "y" only where -PLUS is impossible; a parsed client-final's
// without-proof part is a prefix of the message followed by ",p="; the
// exchange never says ok to a proof for the RFC 7677 secret unless the
// client-final is the RFC's own (the fuzzer cannot find a valid proof).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/scram.hpp"
#include "auth/scram_message.hpp"
#include "auth/scram_server.hpp"
#include "fuzz_common.hpp"

using popbox::fuzz::escaped;
namespace auth = popbox::auth;

namespace {

std::string escape_saslname(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out += c;
    }
  }
  return out;
}

void check_first(std::string_view msg) {
  auto r = auth::parse_client_first(msg);
  if (!r.value) return;
  const auth::ScramClientFirst& f = *r.value;
  FUZZ_CHECK(f.gs2_header + f.bare == msg, "gs2 header + bare is not the message");
  FUZZ_CHECK(f.bare.starts_with("n=" + escape_saslname(f.user) + ",r=" + f.nonce),
             "user or nonce do not round-trip: " + escaped(msg));
  if (!f.authzid.empty()) {
    FUZZ_CHECK(f.gs2_header.find(",a=" + escape_saslname(f.authzid) + ",") != std::string::npos,
               "authzid does not round-trip: " + escaped(msg));
  }
  for (unsigned char c : f.nonce) {
    FUZZ_CHECK(c > 0x20 && c < 0x7f && c != ',', "bad nonce character");
  }
  FUZZ_CHECK((f.binding == auth::ScramClientFirst::Binding::used) == !f.cb_name.empty(),
             "cb-name without p= or p= without cb-name");
}

void check_final(std::string_view msg) {
  auto r = auth::parse_client_final(msg);
  if (!r.value) return;
  const auth::ScramClientFinal& f = *r.value;
  FUZZ_CHECK(msg.starts_with(f.without_proof + ",p="), "without-proof is not a prefix");
  FUZZ_CHECK(!f.proof.empty() && !f.channel_binding.empty(), "empty proof or binding accepted");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t opts = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t nl = rest.find('\n');
  const std::string_view first = rest.substr(0, nl);
  const std::string_view final_msg =
      nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
  check_first(first);
  check_final(final_msg);
  (void)auth::decode_saslname(first);

  auth::ChannelBinding link;
  if (opts & 0x02) link = {"tls-exporter", std::string(32, 'b')};
  if (opts & 0x04) link = {"tls-unique", std::string(12, 'u')};
  auth::ScramServer server(opts & 0x01, link);
  if (server.client_first(first) != auth::ScramStatus::ok) return 0;
  FUZZ_CHECK(!server.user().empty(), "ok with an empty user name");
  {
    // Channel binding (RFC 5802 section 6): "p=" only with -PLUS and this
    // link's type; "n" only without -PLUS; "y" only where -PLUS is not
    // possible (else it is a downgrade).
    const auth::ScramClientFirst f = *auth::parse_client_first(first).value;
    using Binding = auth::ScramClientFirst::Binding;
    const bool plus = opts & 0x01;
    if (f.binding == Binding::used) {
      FUZZ_CHECK(plus && link.available() && f.cb_name == link.type,
                 "channel binding accepted wrongly: " + escaped(first));
    } else {
      FUZZ_CHECK(!plus, "-PLUS without channel binding: " + escaped(first));
      if (f.binding == Binding::client_only) {
        FUZZ_CHECK(!link.available(), "downgrade (y) accepted: " + escaped(first));
      }
    }
    FUZZ_CHECK(f.authzid.empty() || f.authzid == f.user, "foreign authzid accepted");
  }
  auto secret = auth::parse_scram_secret(
      "4096,W22ZaJ0SNY7soEsUEjb6gQ==,WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
      "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
  FUZZ_CHECK(secret.has_value(), "RFC 7677 secret does not parse");
  const std::string sf = server.server_first(std::move(*secret), "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
  FUZZ_CHECK(sf.starts_with("r="), "server-first without nonce");
  if (server.client_final(final_msg) == auth::ScramStatus::ok) {
    FUZZ_CHECK(final_msg.ends_with("p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
               "a proof other than the RFC's was accepted: " + escaped(final_msg));
    FUZZ_CHECK(server.server_final().starts_with("v="), "server-final without v=");
  }
  return 0;
}
