#include "sandbox/mime/mime.hpp"

#include <gmime/gmime.h>

#include <cstring>
#include <functional>
#include <memory>
#include <mutex>

#include "core/limits.hpp"

namespace popbox::sandbox::mime {

namespace {

// GMime's shared state (charset maps, the iconv cache) is not safe for
// concurrent use in every call: one parse at a time.
std::mutex& gmime_mutex() {
  static std::mutex m;
  return m;
}

void ensure_init() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

struct Unref {
  void operator()(gpointer p) const {
    if (p) g_object_unref(p);
  }
};
template <class T>
using GPtr = std::unique_ptr<T, Unref>;

struct GFree {
  void operator()(gpointer p) const { g_free(p); }
};

std::string str(const char* s) {
  return s ? std::string(s) : std::string();
}

std::string lower(std::string s) {
  for (auto& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::string strip_angles(std::string s) {
  if (s.size() >= 2 && s.front() == '<' && s.back() == '>') s = s.substr(1, s.size() - 2);
  return s;
}

// A header value with its folding removed and the outer whitespace trimmed.
std::string unfold(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c != '\r' && c != '\n') out.push_back(c);
  }
  const auto b = out.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  const auto e = out.find_last_not_of(" \t");
  return out.substr(b, e - b + 1);
}

void add_addresses(InternetAddressList* list, std::vector<Address>& out, int depth = 0) {
  if (!list || depth > 2) return;
  const int n = internet_address_list_length(list);
  for (int i = 0; i < n && out.size() < limits::mime_max_parts; ++i) {
    InternetAddress* ia = internet_address_list_get_address(list, i);
    if (INTERNET_ADDRESS_IS_GROUP(ia)) {
      add_addresses(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)), out, depth + 1);
    } else if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
      out.push_back(Address{str(internet_address_get_name(ia)),
                            str(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)))});
    }
  }
}

std::string mime_type_of(GMimeObject* obj) {
  GMimeContentType* ct = g_mime_object_get_content_type(obj);
  if (!ct) return "application/octet-stream";
  std::unique_ptr<char, GFree> t(g_mime_content_type_get_mime_type(ct));
  return t ? lower(t.get()) : std::string("application/octet-stream");
}

// The decoded content of a leaf part written to `stream`.
void write_content(GMimeObject* obj, GMimeStream* stream) {
  if (GMIME_IS_PART(obj)) {
    if (GMimeDataWrapper* dw = g_mime_part_get_content(GMIME_PART(obj))) {
      g_mime_data_wrapper_write_to_stream(dw, stream);
    }
  } else if (GMIME_IS_MESSAGE_PART(obj)) {
    if (GMimeMessage* m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj))) {
      g_mime_object_write_to_stream(GMIME_OBJECT(m), nullptr, stream);
    }
  }
}

std::uint64_t content_size(GMimeObject* obj) {
  GPtr<GMimeStream> null(g_mime_stream_null_new());
  write_content(obj, null.get());
  return GMIME_STREAM_NULL(null.get())->written;
}

// Every leaf of the message in order, bodies and attachments told apart the
// same way for parse() and extract_attachment().
struct Walker {
  std::function<void(GMimeObject*, std::string mime)> on_text;  // a body part
  std::function<void(GMimeObject*, Attachment)> on_attachment;
  bool have_text = false, have_html = false;
  std::size_t parts = 0;
  std::size_t next_index = 0;

  void walk(GMimeObject* obj, int depth, bool in_related) {
    if (!obj || depth > limits::mime_max_depth || ++parts > limits::mime_max_parts) return;
    if (GMIME_IS_MULTIPART(obj)) {
      const bool related = mime_type_of(obj) == "multipart/related";
      auto* mp = GMIME_MULTIPART(obj);
      const int n = g_mime_multipart_get_count(mp);
      for (int i = 0; i < n; ++i) walk(g_mime_multipart_get_part(mp, i), depth + 1, related);
      return;
    }
    const std::string type = mime_type_of(obj);
    GMimeContentDisposition* disp = g_mime_object_get_content_disposition(obj);
    const bool attached = disp && g_mime_content_disposition_is_attachment(disp);
    const char* fname = GMIME_IS_PART(obj)
                            ? g_mime_part_get_filename(GMIME_PART(obj))
                            : g_mime_object_get_content_disposition_parameter(obj, "filename");
    if (!attached && !fname && GMIME_IS_TEXT_PART(obj)) {
      if (type == "text/plain" && !have_text) {
        have_text = true;
        on_text(obj, type);
        return;
      }
      if (type == "text/html" && !have_html) {
        have_html = true;
        on_text(obj, type);
        return;
      }
    }
    Attachment a;
    a.index = next_index++;
    if (fname) a.filename = fname;
    a.content_type = type;
    if (const char* cid = g_mime_object_get_content_id(obj)) a.content_id = strip_angles(cid);
    const bool inline_disp =
        disp && g_ascii_strcasecmp(str(g_mime_content_disposition_get_disposition(disp)).c_str(),
                                   "inline") == 0;
    a.inline_part = !attached && (inline_disp || (in_related && a.content_id));
    on_attachment(obj, std::move(a));
  }
};

GPtr<GMimeMessage> construct(std::string_view raw) {
  GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(raw.data(), raw.size()));
  GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  return GPtr<GMimeMessage>(g_mime_parser_construct_message(parser.get(), nullptr));
}

std::string text_of(GMimeObject* obj) {
  std::unique_ptr<char, GFree> t(g_mime_text_part_get_text(GMIME_TEXT_PART(obj)));
  return t ? std::string(t.get()) : std::string();
}

std::string collapse_ws(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string utf8_prefix(std::string_view s, std::size_t max_chars) {
  std::size_t i = 0, chars = 0;
  while (i < s.size() && chars < max_chars) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80         ? 1
                      : (c >> 5) == 6  ? 2
                      : (c >> 4) == 14 ? 3
                      : (c >> 3) == 30 ? 4
                                       : 1;
    if (i + len > s.size()) break;
    i += len;
    ++chars;
  }
  return std::string(s.substr(0, i));
}

std::string html_text(std::string_view html) {
  std::string out;
  out.reserve(html.size() / 2);
  for (std::size_t i = 0; i < html.size(); ++i) {
    const char c = html[i];
    if (c == '<') {
      // Skip the contents of <script> and <style> as well as the tag.
      auto starts = [&](std::string_view tag) {
        return html.size() - i > tag.size() &&
               g_ascii_strncasecmp(html.data() + i + 1, tag.data(), tag.size()) == 0;
      };
      const char* closing = starts("script") ? "</script" : starts("style") ? "</style" : nullptr;
      std::size_t end = html.find('>', i);
      if (closing) {
        std::string low = lower(std::string(html.substr(i)));
        const auto close = low.find(closing);
        end = close == std::string::npos ? std::string::npos : html.find('>', i + close);
      }
      if (end == std::string::npos) break;
      i = end;
      out.push_back(' ');
    } else if (c == '&') {
      static const std::pair<std::string_view, char> entities[] = {
          {"&amp;", '&'},  {"&lt;", '<'},   {"&gt;", '>'},   {"&quot;", '"'},
          {"&#39;", '\''}, {"&nbsp;", ' '}, {"&apos;", '\''}};
      bool done = false;
      for (const auto& [name, ch] : entities) {
        if (html.substr(i, name.size()) == name) {
          out.push_back(ch);
          i += name.size() - 1;
          done = true;
          break;
        }
      }
      if (!done) out.push_back(c);
    } else {
      out.push_back(c);
    }
  }
  return collapse_ws(out);
}

void collect_links(std::string_view text, std::vector<std::string>& links) {
  std::size_t pos = 0;
  while (links.size() < limits::mime_max_links) {
    const auto http = text.find("http", pos);
    if (http == std::string_view::npos) return;
    pos = http + 4;
    std::string_view rest = text.substr(http);
    std::size_t scheme = 0;
    if (rest.substr(0, 7) == "http://") scheme = 7;
    if (rest.substr(0, 8) == "https://") scheme = 8;
    if (scheme == 0) continue;
    std::size_t end = scheme;
    while (end < rest.size()) {
      const auto c = static_cast<unsigned char>(rest[end]);
      if (c <= ' ' || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`' || c >= 0x7f) break;
      ++end;
    }
    // Trailing punctuation belongs to the sentence, not the URL.
    while (end > scheme && std::strchr(".,;:!?)]", rest[end - 1])) --end;
    pos = http + end;
    if (end == scheme) continue;
    std::string url(rest.substr(0, end));
    // &amp; in HTML attributes stands for &.
    for (std::size_t a; (a = url.find("&amp;")) != std::string::npos;) url.replace(a, 5, "&");
    bool seen = false;
    for (const auto& l : links) seen = seen || l == url;
    if (!seen) links.push_back(std::move(url));
  }
}

std::string rewrite_cids(std::string_view html, const std::vector<Attachment>& attachments,
                         std::string_view url_prefix, std::string_view url_suffix) {
  std::string out;
  out.reserve(html.size());
  std::size_t pos = 0;
  for (;;) {
    const auto at = html.find("cid:", pos);
    if (at == std::string_view::npos) break;
    out.append(html.substr(pos, at - pos));
    std::size_t end = at + 4;
    while (end < html.size() && !std::strchr("\"' )>\t\r\n", html[end])) ++end;
    const std::string_view id = html.substr(at + 4, end - at - 4);
    const Attachment* hit = nullptr;
    for (const auto& a : attachments) {
      if (a.content_id && *a.content_id == id) hit = &a;
    }
    if (hit) {
      out.append(url_prefix);
      out.append(std::to_string(hit->index));
      out.append(url_suffix);
    } else {
      out.append(html.substr(at, end - at));
    }
    pos = end;
  }
  out.append(html.substr(pos));
  return out;
}

std::string Parsed::body_text() const {
  if (text) return *text;
  if (html) return html_text(*html);
  return {};
}

std::size_t Parsed::footprint() const {
  std::size_t n = sizeof(Parsed) + subject.size() + snippet.size();
  if (text) n += text->size();
  if (html) n += html->size();
  for (const auto& [k, v] : headers) n += k.size() + v.size() + 64;
  for (const auto& l : links) n += l.size() + 32;
  n += attachments.size() * sizeof(Attachment) + (to.size() + cc.size()) * sizeof(Address);
  return n;
}

Parsed parse(std::string_view raw) {
  ensure_init();
  Parsed p;
  std::lock_guard lock(gmime_mutex());
  auto msg = construct(raw);
  if (!msg) return p;
  auto* obj = GMIME_OBJECT(msg.get());
  p.subject = str(g_mime_message_get_subject(msg.get()));
  std::vector<Address> from;
  add_addresses(g_mime_message_get_from(msg.get()), from);
  if (!from.empty()) p.from = from.front();
  add_addresses(g_mime_message_get_to(msg.get()), p.to);
  add_addresses(g_mime_message_get_cc(msg.get()), p.cc);
  add_addresses(g_mime_message_get_reply_to(msg.get()), p.reply_to);
  if (const char* d = g_mime_object_get_header(obj, "Date")) p.date = unfold(d);
  if (const char* id = g_mime_message_get_message_id(msg.get())) p.message_id = strip_angles(id);
  GMimeHeaderList* hl = g_mime_object_get_header_list(obj);
  const int nh = hl ? g_mime_header_list_get_count(hl) : 0;
  for (int i = 0; i < nh; ++i) {
    GMimeHeader* h = g_mime_header_list_get_header_at(hl, i);
    p.headers.emplace_back(str(g_mime_header_get_name(h)),
                           unfold(str(g_mime_header_get_raw_value(h))));
  }
  Walker w;
  w.on_text = [&](GMimeObject* part, const std::string& type) {
    (type == "text/plain" ? p.text : p.html) = text_of(part);
  };
  w.on_attachment = [&](GMimeObject* part, Attachment a) {
    a.size = content_size(part);
    p.attachments.push_back(std::move(a));
  };
  w.walk(g_mime_message_get_mime_part(msg.get()), 0, false);
  if (p.text) collect_links(*p.text, p.links);
  if (p.html) collect_links(*p.html, p.links);
  p.snippet = utf8_prefix(collapse_ws(p.body_text()), limits::mime_snippet_chars);
  return p;
}

bool extract_attachment(std::string_view raw, std::size_t index, AttachmentData& out) {
  ensure_init();
  std::lock_guard lock(gmime_mutex());
  auto msg = construct(raw);
  if (!msg) return false;
  bool found = false;
  Walker w;
  w.on_text = [](GMimeObject*, const std::string&) {};
  w.on_attachment = [&](GMimeObject* part, Attachment a) {
    if (found || a.index != index) return;
    found = true;
    out.content_type = a.content_type;
    out.filename = a.filename;
    GPtr<GMimeStream> mem(g_mime_stream_mem_new());
    write_content(part, mem.get());
    GByteArray* ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem.get()));
    out.bytes.assign(reinterpret_cast<const char*>(ba->data), ba->len);
  };
  w.walk(g_mime_message_get_mime_part(msg.get()), 0, false);
  return found;
}

}  // namespace popbox::sandbox::mime
