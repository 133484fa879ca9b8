// libFuzzer target for the sandbox's MIME parsing (sandbox/mime/mime.hpp,
// GMime underneath): any bytes parse to a message without a crash, a hang
// or unbounded output; the snippet and links stay within their limits; the
// attachments parse() lists are the ones extract_attachment() finds, with
// the sizes it reported; cid rewriting and html_text never grow without bound.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/limits.hpp"
#include "fuzz_common.hpp"
#include "sandbox/mime/mime.hpp"

namespace mime = popbox::sandbox::mime;
namespace limits = popbox::limits;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 256 * 1024) return 0;
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  const mime::Parsed p = mime::parse(raw);
  FUZZ_CHECK(p.links.size() <= limits::mime_max_links, popbox::fuzz::escaped(raw));
  FUZZ_CHECK(p.snippet.size() <= 4 * limits::mime_snippet_chars, p.snippet);
  FUZZ_CHECK(p.attachments.size() <= limits::mime_max_parts, popbox::fuzz::escaped(raw));
  for (std::size_t i = 0; i < p.attachments.size() && i < 8; ++i) {
    FUZZ_CHECK(p.attachments[i].index == i, popbox::fuzz::escaped(raw));
    mime::AttachmentData d;
    FUZZ_CHECK(mime::extract_attachment(raw, i, d), popbox::fuzz::escaped(raw));
    FUZZ_CHECK(d.bytes.size() == p.attachments[i].size, popbox::fuzz::escaped(raw));
  }
  mime::AttachmentData none;
  FUZZ_CHECK(!mime::extract_attachment(raw, p.attachments.size(), none),
             popbox::fuzz::escaped(raw));
  if (p.html) {
    const std::string text = mime::html_text(*p.html);
    FUZZ_CHECK(text.size() <= p.html->size(), text);
    const std::string rewritten = mime::rewrite_cids(*p.html, p.attachments, "/a/", "?t=x");
    FUZZ_CHECK(rewritten.size() <= p.html->size() * 8 + 64, popbox::fuzz::escaped(rewritten));
  }
  const std::string body = p.body_text();
  const std::string prefix = mime::utf8_prefix(body, 10);
  FUZZ_CHECK(body.compare(0, prefix.size(), prefix) == 0, prefix);
  return 0;
}
