#pragma once
// A received message as the sandbox API shows it, parsed with GMime 3:
// decoded subject (RFC 2047), addresses, the text and HTML bodies converted
// to UTF-8, the attachments, the links and a snippet. Every function here
// takes raw octets and does no I/O; any input gives a result (GMime
// recovers from broken MIME), never an exception. GMime is initialised once
// on first use; its calls are serialised here (its charset and iconv caches
// are shared state), so parse from any thread.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace popbox::sandbox::mime {

struct Address {
  std::string name;  ///< display name, decoded; "" when none
  std::string address;
};

struct Attachment {
  std::size_t index = 0;  ///< 0-based, the order of the parts in the message
  std::optional<std::string> filename;
  std::string content_type;               ///< "type/subtype", lowercase
  std::uint64_t size = 0;                 ///< octets of the decoded content
  std::optional<std::string> content_id;  ///< without the angle brackets
  bool inline_part = false;               ///< Content-Disposition: inline, or a related part
};

struct Parsed {
  std::string subject;  ///< decoded; "" when none
  std::optional<Address> from;
  std::vector<Address> to, cc, reply_to;
  std::optional<std::string> date;                           ///< the Date header as sent
  std::optional<std::string> message_id;                     ///< without the angle brackets
  std::vector<std::pair<std::string, std::string>> headers;  ///< raw order, unfolded
  std::optional<std::string> text;  ///< the first text/plain body part, UTF-8
  std::optional<std::string> html;  ///< the first text/html body part, UTF-8
  std::vector<Attachment> attachments;
  std::vector<std::string> links;  ///< http(s) URLs of text and HTML, deduplicated, in order
  std::string snippet;             ///< the first characters of the text, whitespace collapsed

  /// The text a body regex is matched against: the text part, else the HTML's text.
  std::string body_text() const;
  /// Approximate bytes held (for the cache's accounting).
  std::size_t footprint() const;
};

/// Parses `raw` (a whole RFC 5322 message).
Parsed parse(std::string_view raw);

/// One attachment's decoded bytes; false when `index` names none.
struct AttachmentData {
  std::string content_type;
  std::optional<std::string> filename;
  std::string bytes;
};
bool extract_attachment(std::string_view raw, std::size_t index, AttachmentData& out);

/// The visible text of an HTML fragment: tags dropped, common entities
/// decoded, whitespace collapsed. For snippets and body matching only.
std::string html_text(std::string_view html);
/// The http:// and https:// URLs in `text`, appended to `links` unless there.
void collect_links(std::string_view text, std::vector<std::string>& links);
/// `html` with every "cid:ID" reference whose ID names an attachment
/// replaced by `url_prefix` + the attachment's index + `url_suffix`.
std::string rewrite_cids(std::string_view html, const std::vector<Attachment>& attachments,
                         std::string_view url_prefix, std::string_view url_suffix = {});
/// `s` cut to at most `max_chars` UTF-8 characters (never inside one).
std::string utf8_prefix(std::string_view s, std::size_t max_chars);

}  // namespace popbox::sandbox::mime
