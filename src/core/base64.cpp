#include "core/base64.hpp"

#include <sodium.h>

namespace popbox::core {
namespace {

bool is_base64_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// RFC 4648 section 4 with padding: groups of four characters from the
// alphabet, '=' only as the last one or two of the final group. libsodium
// 1.0.18 maps some bytes >= 0x80 to sextets instead of refusing them, so the
// alphabet is checked here before it sees the text.
bool is_canonical_shape(std::string_view in) noexcept {
  if (in.size() % 4 != 0) return false;
  std::size_t data = in.size();
  if (data > 0 && in[data - 1] == '=') --data;
  if (data > 0 && data + 1 == in.size() && in[data - 1] == '=') --data;
  for (std::size_t i = 0; i < data; ++i) {
    if (!is_base64_char(in[i])) return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> base64_decode(std::string_view in) {
  if (!is_canonical_shape(in)) return std::nullopt;
  std::string out(in.size() / 4 * 3 + 3, '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  // No `ignore` characters: whitespace is an error. libsodium also refuses
  // non-zero unused bits before the padding.
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), in.data(),
                        in.size(), nullptr, &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != in.data() + in.size()) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

std::string base64_encode(std::string_view in) {
  std::string out(sodium_base64_ENCODED_LEN(in.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(in.data()),
                    in.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

}  // namespace popbox::core
