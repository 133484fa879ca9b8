// libFuzzer target for the admin socket's request parser
// (admin/protocol.hpp): any bytes give a request or an error, never an
// exception or a crash; a request that parses formats to a line that parses
// back to the same request; an error reply is always one valid JSON line.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "admin/protocol.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  auto request = popbox::admin::parse_request(text, error);
  if (!request) {
    FUZZ_CHECK(!error.empty(), popbox::fuzz::escaped(text));
    const std::string reply = popbox::admin::error_reply(error);
    FUZZ_CHECK(reply.back() == '\n' && reply.find('\n') == reply.size() - 1, reply);
    FUZZ_CHECK(nlohmann::json::accept(reply), reply);
    return 0;
  }
  const std::string line = popbox::admin::format_request(*request);
  FUZZ_CHECK(line.back() == '\n' && line.find('\n') == line.size() - 1, line);
  std::string again_error;
  auto again =
      popbox::admin::parse_request(std::string_view(line).substr(0, line.size() - 1), again_error);
  FUZZ_CHECK(again && *again == *request, line + " " + again_error);
  return 0;
}
