// MIME parsing for the sandbox API with real-world shapes: alternative
// bodies, related parts with cid images, encoded words, other charsets,
// RFC 2231 names, and hostile input (truncated at every offset, deep
// nesting, huge headers, garbage) that must parse without a crash.

#include <gtest/gtest.h>

#include <string>

#include "sandbox/mime/mime.hpp"

namespace mime = popbox::sandbox::mime;

namespace {

const std::string alternative =
    "Return-Path: <bounce@shop.example>\r\n"
    "From: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <juergen@shop.example>\r\n"
    "To: Ann <ann@example.com>, bob@example.com\r\n"
    "Cc: Team: carol@example.com, Dave <dave@example.com>;\r\n"
    "Reply-To: support@shop.example\r\n"
    "Subject: =?UTF-8?Q?Best=C3=A4tigen_Sie?=\r\n"
    " =?UTF-8?Q?_Ihr_Konto?=\r\n"
    "Date: Wed, 02 Dec 2026 04:05:06 +0000\r\n"
    "Message-ID: <abc.123@shop.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/alternative; boundary=\"b1\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--b1\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Hallo J=C3=BCrgen,\r\n"
    "confirm: https://shop.example/confirm?t=1&u=2.\r\n"
    "again https://shop.example/confirm?t=1&u=2 and http://x.example/a\r\n"
    "--b1\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "\r\n"
    "<html><head><style>p{}</style></head><body><p>Hallo &amp; welcome</p>"
    "<a href=\"https://shop.example/confirm?t=1&amp;u=2\">go</a>"
    "<a href='https://shop.example/other'>x</a></body></html>\r\n"
    "--b1--\r\n";

const std::string related =
    "From: a@example.com\r\n"
    "To: b@example.com\r\n"
    "Subject: pic\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=outer\r\n"
    "\r\n"
    "--outer\r\n"
    "Content-Type: multipart/related; boundary=rel\r\n"
    "\r\n"
    "--rel\r\n"
    "Content-Type: text/html; charset=us-ascii\r\n"
    "\r\n"
    "<img src=\"cid:logo@x\"><img src=\"cid:unknown@x\">\r\n"
    "--rel\r\n"
    "Content-Type: image/png\r\n"
    "Content-ID: <logo@x>\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "iVBORw0KGgo=\r\n"
    "--rel--\r\n"
    "--outer\r\n"
    "Content-Type: application/pdf\r\n"
    "Content-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "JVBERi0xLjQK\r\n"
    "--outer\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Disposition: attachment; filename=\"notes.txt\"\r\n"
    "\r\n"
    "not the body\r\n"
    "--outer--\r\n";

TEST(SandboxMime, AlternativeBodiesAddressesAndEncodedWords) {
  const auto p = mime::parse(alternative);
  EXPECT_EQ(p.subject, "Bestätigen Sie Ihr Konto");
  ASSERT_TRUE(p.from);
  EXPECT_EQ(p.from->name, "Jürgen Müller");
  EXPECT_EQ(p.from->address, "juergen@shop.example");
  ASSERT_EQ(p.to.size(), 2u);
  EXPECT_EQ(p.to[0].name, "Ann");
  EXPECT_EQ(p.to[1].address, "bob@example.com");
  ASSERT_EQ(p.cc.size(), 2u);  // the group's members
  EXPECT_EQ(p.cc[0].address, "carol@example.com");
  ASSERT_EQ(p.reply_to.size(), 1u);
  EXPECT_EQ(p.date.value_or(""), "Wed, 02 Dec 2026 04:05:06 +0000");
  EXPECT_EQ(p.message_id.value_or(""), "abc.123@shop.example");
  ASSERT_TRUE(p.text);
  EXPECT_EQ(p.text->substr(0, 14), "Hallo Jürgen,");
  ASSERT_TRUE(p.html);
  EXPECT_TRUE(p.attachments.empty());
  const std::vector<std::string> links{"https://shop.example/confirm?t=1&u=2", "http://x.example/a",
                                       "https://shop.example/other"};
  EXPECT_EQ(p.links, links);
  EXPECT_EQ(p.snippet.substr(0, 22), "Hallo Jürgen, confirm");
  // Headers in raw order, unfolded, not decoded.
  ASSERT_GE(p.headers.size(), 6u);
  EXPECT_EQ(p.headers[0].first, "Return-Path");
  bool saw_subject = false;
  for (const auto& [name, value] : p.headers) {
    if (name == "Subject") {
      saw_subject = true;
      EXPECT_EQ(value, "=?UTF-8?Q?Best=C3=A4tigen_Sie?= =?UTF-8?Q?_Ihr_Konto?=");
    }
  }
  EXPECT_TRUE(saw_subject);
}

TEST(SandboxMime, RelatedCidImagesAndAttachments) {
  const auto p = mime::parse(related);
  EXPECT_FALSE(p.text);  // the text/plain part is an attachment
  ASSERT_TRUE(p.html);
  ASSERT_EQ(p.attachments.size(), 3u);
  EXPECT_EQ(p.attachments[0].content_type, "image/png");
  EXPECT_EQ(p.attachments[0].content_id.value_or(""), "logo@x");
  EXPECT_TRUE(p.attachments[0].inline_part);
  EXPECT_EQ(p.attachments[0].size, 8u);  // the decoded PNG signature
  EXPECT_EQ(p.attachments[1].filename.value_or(""), "résumé.pdf");
  EXPECT_FALSE(p.attachments[1].inline_part);
  EXPECT_EQ(p.attachments[1].size, 9u);
  EXPECT_EQ(p.attachments[2].filename.value_or(""), "notes.txt");

  const std::string html = mime::rewrite_cids(*p.html, p.attachments, "/att/", "?t=1");
  EXPECT_EQ(html.substr(0, 38), "<img src=\"/att/0?t=1\"><img src=\"cid:un");

  mime::AttachmentData d;
  ASSERT_TRUE(mime::extract_attachment(related, 1, d));
  EXPECT_EQ(d.bytes, "%PDF-1.4\n");
  EXPECT_EQ(d.content_type, "application/pdf");
  ASSERT_TRUE(mime::extract_attachment(related, 0, d));
  EXPECT_EQ(d.bytes, std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_FALSE(mime::extract_attachment(related, 3, d));
}

TEST(SandboxMime, OtherCharsetsBecomeUtf8) {
  const std::string latin1 =
      "From: x@example.com\r\nSubject: =?ISO-8859-1?Q?caf=E9?=\r\n"
      "Content-Type: text/plain; charset=iso-8859-1\r\n"
      "Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xe9 cr\xe8me\r\n";
  const auto p = mime::parse(latin1);
  EXPECT_EQ(p.subject, "café");
  ASSERT_TRUE(p.text);
  EXPECT_EQ(p.text->substr(0, 12), "café crème");
}

TEST(SandboxMime, HtmlTextAndSnippetBoundaries) {
  EXPECT_EQ(mime::html_text("<p>a&amp;b</p><script>evil()</script>  <b>c</b>"), "a&b c");
  EXPECT_EQ(mime::utf8_prefix("aé€😀b", 4), "aé€😀");
  EXPECT_EQ(mime::utf8_prefix("aé", 1), "a");
  EXPECT_EQ(mime::utf8_prefix("\xe2\x82", 5), "");  // never half a character
}

TEST(SandboxMime, PlainMessageWithoutMime) {
  const auto p = mime::parse("Subject: hi\r\n\r\nbody line\r\n");
  EXPECT_EQ(p.subject, "hi");
  EXPECT_FALSE(p.from);
  ASSERT_TRUE(p.text);
  EXPECT_EQ(p.snippet, "body line");
}

TEST(SandboxMime, EveryTruncationParses) {
  for (std::size_t n = 0; n <= related.size(); ++n) {
    const auto p = mime::parse(std::string_view(related).substr(0, n));
    mime::AttachmentData d;
    mime::extract_attachment(std::string_view(related).substr(0, n), 0, d);
    EXPECT_LE(p.snippet.size(), 4 * 200u);
  }
}

TEST(SandboxMime, HostileInputIsBounded) {
  EXPECT_EQ(mime::parse("").subject, "");
  EXPECT_NO_FATAL_FAILURE(mime::parse(std::string(5000, '\0')));
  // A 1 MiB folded header.
  std::string huge = "Subject: ";
  for (int i = 0; i < 20000; ++i) huge += "=?UTF-8?B?w6k=?=\r\n ";
  huge += "end\r\n\r\nbody\r\n";
  const auto h = mime::parse(huge);
  EXPECT_FALSE(h.subject.empty());
  ASSERT_FALSE(h.headers.empty());
  EXPECT_GT(h.headers[0].second.size(), 20000u * 16);  // unfolded, whole
  ASSERT_TRUE(h.text);
  EXPECT_EQ(*h.text, "body\r\n");
  // 2,000 nested multiparts: the walk stops at the depth limit.
  std::string deep = "Content-Type: multipart/mixed; boundary=b0\r\n\r\n";
  for (int i = 0; i < 2000; ++i) {
    deep += "--b" + std::to_string(i) + "\r\nContent-Type: multipart/mixed; boundary=b" +
            std::to_string(i + 1) + "\r\n\r\n";
  }
  deep += "--b2000\r\nContent-Type: text/plain\r\n\r\ndeep\r\n";
  const auto d = mime::parse(deep);
  EXPECT_FALSE(d.text);
  // Many parts: at most mime_max_parts are walked.
  std::string many = "Content-Type: multipart/mixed; boundary=z\r\n\r\n";
  for (int i = 0; i < 3000; ++i) many += "--z\r\nContent-Type: image/gif\r\n\r\nx\r\n";
  many += "--z--\r\n";
  EXPECT_LE(mime::parse(many).attachments.size(), 1000u);
}

}  // namespace
