// Wire form to Maildir form, reversible by the Maildir store's RETR.
#include "store/migrate/maildir_form.hpp"

namespace popbox::store::migrate {

void WireToMaildir::convert(std::string_view block, std::string& out) {
  for (char c : block) {
    if (held_cr_) {
      held_cr_ = false;
      // CRLF -> LF, unless this CR followed a CR: RETR would then see
      // "\r\n" after the first CR and send one CR fewer.
      if (c != '\n' || cr_before_cr_) out.push_back('\r');
      if (c == '\r') {
        held_cr_ = true;
        cr_before_cr_ = true;
        continue;
      }
      out.push_back(c);
      continue;
    }
    if (c == '\r') {
      held_cr_ = true;
      cr_before_cr_ = false;
      continue;
    }
    out.push_back(c);
  }
}

void WireToMaildir::finish(std::string& out) {
  if (held_cr_) out.push_back('\r');
  held_cr_ = false;
  cr_before_cr_ = false;
}

std::string to_maildir_form(std::string_view wire) {
  std::string out;
  WireToMaildir w;
  w.convert(wire, out);
  w.finish(out);
  return out;
}

}  // namespace popbox::store::migrate
