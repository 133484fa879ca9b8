// Every key the parser accepts (config::known_sections, the table `load`
// checks against) is documented, in its own section, in popbox.toml(5)
// (docs/man/popbox.toml.5.scd) and in docs/configuration.md, and neither
// document describes a key the code does not know. The man page's example
// loads and shows every key.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "config/config.hpp"
#include "config_test_util.hpp"

namespace cfg = popbox::config;

namespace {

std::string read_source(const std::string& relative) {
  std::ifstream in(std::string(POPBOX_SOURCE_DIR) + "/" + relative);
  EXPECT_TRUE(in) << "cannot read " << relative;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// Splits a document into its sections: the text under each heading that
/// `heading` matches (group 1 is the section name), up to the next line
/// `stop` matches (any heading). Lines in ``` blocks are never headings.
std::map<std::string, std::string> sections(const std::string& doc, const std::regex& heading,
                                            const std::regex& stop) {
  std::map<std::string, std::string> out;
  std::istringstream in(doc);
  std::string* current = nullptr;
  bool literal = false;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("```")) literal = !literal;
    std::smatch m;
    if (literal || line.starts_with("```")) {
      if (current != nullptr) *current += line + "\n";
      continue;
    }
    if (std::regex_match(line, m, heading)) {
      current = &out[m[1].str()];
      continue;
    }
    if (std::regex_match(line, stop)) current = nullptr;
    if (current != nullptr) *current += line + "\n";
  }
  return out;
}

/// The keys a section's text defines: the first capture group of `key`.
std::set<std::string> defined_keys(const std::string& text, const std::regex& key) {
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), key); it != std::sregex_iterator();
       ++it) {
    out.insert((*it)[1].str());
  }
  return out;
}

/// For each document: the sections by heading, and how a key is defined.
struct Doc {
  const char* path;
  std::regex heading, stop, key;
};

const Doc man_page{"docs/man/popbox.toml.5.scd", std::regex(R"(# \[([a-z.]+)\])"),
                   std::regex(R"(# .*)"), std::regex(R"((?:^|\n)\*([a-z_]+)\* = )")};
const Doc reference{"docs/configuration.md", std::regex(R"(## \[([a-z.]+)\])"),
                    std::regex(R"(#{1,2} .*)"), std::regex(R"((?:^|\n)\| `([a-z_]+)` \|)")};

/// "section.key" for every key `doc` documents.
std::set<std::string> documented(const Doc& doc) {
  std::set<std::string> out;
  for (const auto& [name, text] : sections(read_source(doc.path), doc.heading, doc.stop)) {
    for (const std::string& key : defined_keys(text, doc.key)) out.insert(name + "." + key);
  }
  return out;
}

std::set<std::string> code_keys() {
  const auto keys = cfg::known_keys();
  return {keys.begin(), keys.end()};
}

std::vector<std::string> missing(const std::set<std::string>& want,
                                 const std::set<std::string>& have) {
  std::vector<std::string> out;
  for (const auto& k : want) {
    if (!have.contains(k)) out.push_back(k);
  }
  return out;
}

using Keys = std::vector<std::string>;

/// The man page's EXAMPLE: the first literal block after "# EXAMPLE".
std::string man_example() {
  const std::string page = read_source(man_page.path);
  const std::size_t at = page.find("\n# EXAMPLE\n");
  EXPECT_NE(at, std::string::npos);
  const std::size_t open = page.find("```\n", at);
  const std::size_t close = page.find("\n```", open + 4);
  EXPECT_NE(close, std::string::npos);
  return page.substr(open + 4, close - open - 3);
}

}  // namespace

TEST(ConfigManKeys, TheTableHoldsEverySection) {
  std::set<std::string> names;
  for (const auto& s : cfg::known_sections()) names.insert(std::string(s.name));
  EXPECT_EQ(names,
            (std::set<std::string>{"server", "tls", "auth", "auth.oauth", "mail", "log", "quota",
                                   "lmtp", "deliver", "limits", "admin", "metrics", "store"}));
  const Keys keys = cfg::known_keys();
  EXPECT_NE(std::find(keys.begin(), keys.end(), "auth.oauth.issuer"), keys.end());
  EXPECT_NE(std::find(keys.begin(), keys.end(), "metrics.listen"), keys.end());
  EXPECT_GT(keys.size(), 45u);
}

TEST(ConfigManKeys, EveryKeyIsInTheManPage) {
  EXPECT_EQ(missing(code_keys(), documented(man_page)), Keys{})
      << "keys the parser accepts that docs/man/popbox.toml.5.scd does not describe";
}

TEST(ConfigManKeys, TheManPageNamesNoUnknownKey) {
  EXPECT_EQ(missing(documented(man_page), code_keys()), Keys{})
      << "docs/man/popbox.toml.5.scd describes keys the parser refuses";
}

TEST(ConfigManKeys, EveryKeyIsInTheConfigurationReference) {
  EXPECT_EQ(missing(code_keys(), documented(reference)), Keys{})
      << "keys the parser accepts that docs/configuration.md does not describe";
}

TEST(ConfigManKeys, TheConfigurationReferenceNamesNoUnknownKey) {
  EXPECT_EQ(missing(documented(reference), code_keys()), Keys{})
      << "docs/configuration.md describes keys the parser refuses";
}

TEST(ConfigManKeys, TheManPageExampleLoads) {
  const cfg::Config c = popbox::test::load_text(man_example());
  EXPECT_EQ(c.auth.passwd_file, "/etc/popbox/users");
  EXPECT_EQ(c.admin.socket, "/run/popbox/admin.sock");
  ASSERT_TRUE(c.metrics.listen.has_value());
  EXPECT_EQ(c.metrics.listen->port, 9110);
}

TEST(ConfigManKeys, TheManPageExampleShowsEveryKey) {
  // Set or commented out ("# key = ..."), under its own [section] header.
  const std::string example = man_example();
  const auto parts = sections(example, std::regex(R"((?:# )?\[([a-z.]+)\])"), std::regex("$^"));
  std::set<std::string> shown;
  for (const auto& [name, text] : parts) {
    for (const auto& key : defined_keys(text, std::regex(R"((?:^|\n)(?:# )?([a-z_]+) = )"))) {
      shown.insert(name + "." + key);
    }
  }
  EXPECT_EQ(missing(code_keys(), shown), Keys{}) << "keys missing from the man page's EXAMPLE";
}
