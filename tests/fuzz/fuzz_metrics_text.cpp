// libFuzzer target for the metrics text exposition and the POP3 command
// classifier (pure code in src/metrics/). Input: byte 0 picks where the rest
// splits into a label value and a HELP text; the whole rest is also a POP3
// command line. Checks that escaping keeps every sample on one line (no
// value can add a line or a label), that the escaped value reads back as the
// original, and that a command line is counted as a known command only when
// its first word is that command.

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.hpp"
#include "metrics/registry.hpp"
#include "metrics/server_metrics.hpp"

namespace {

// The text format's label value escaping undone, the slow obvious way.
std::string unescape(std::string_view v) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '\\' || i + 1 == v.size()) {
      out += v[i];
      continue;
    }
    const char c = v[++i];
    out += c == 'n' ? '\n' : c;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace popbox::metrics;
  if (size < 1) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::size_t cut = rest.empty() ? 0 : data[0] % (rest.size() + 1);
  const std::string value(rest.substr(0, cut)), help(rest.substr(cut));

  Registry r;
  r.add(Type::counter, "fuzz_total", help, {"v"}).counter({value}).inc();
  const std::string text = r.render();
  std::size_t lines = 0;
  for (char c : text) lines += c == '\n';
  FUZZ_CHECK(lines == 3, popbox::fuzz::escaped(text));
  const std::string prefix =
      "# HELP fuzz_total " + escape_help(help) + "\n# TYPE fuzz_total counter\nfuzz_total{v=\"";
  FUZZ_CHECK(text.compare(0, prefix.size(), prefix) == 0, popbox::fuzz::escaped(text));
  const std::string_view sample(text.data() + prefix.size(), text.size() - prefix.size());
  FUZZ_CHECK(sample.size() >= 5 && sample.substr(sample.size() - 5) == "\"} 1\n",
             popbox::fuzz::escaped(text));
  const std::string_view escaped_value = sample.substr(0, sample.size() - 5);
  // No unescaped quote may end the value early.
  for (std::size_t i = 0; i < escaped_value.size(); ++i) {
    if (escaped_value[i] == '\\') {
      ++i;
      continue;
    }
    FUZZ_CHECK(escaped_value[i] != '"', popbox::fuzz::escaped(text));
  }
  FUZZ_CHECK(unescape(escaped_value) == value, popbox::fuzz::escaped(value));

  const std::size_t i = pop3_command_index(rest);
  FUZZ_CHECK(i <= pop3_commands.size(), "index out of range");
  if (i < pop3_commands.size()) {
    const std::string_view name = pop3_commands[i];
    FUZZ_CHECK(
        rest.size() >= name.size() && (rest.size() == name.size() || rest[name.size()] == ' '),
        popbox::fuzz::escaped(rest));
    for (std::size_t k = 0; k < name.size(); ++k) {
      FUZZ_CHECK(std::toupper(static_cast<unsigned char>(rest[k])) == name[k],
                 popbox::fuzz::escaped(rest));
    }
  }
  return 0;
}
