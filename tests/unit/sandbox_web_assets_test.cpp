// The embedded web UI: every file of src/sandbox/web/ (but the C++) is found
// at its path with its content type and exactly its bytes, nothing else is,
// and the page keeps to the UI's CSP (no inline scripts, styles, handlers).

#include "sandbox/web/web_assets.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <string>

namespace fs = std::filesystem;
using popbox::sandbox::find_web_asset;
using popbox::sandbox::web_asset_paths;

namespace {

const fs::path web_dir = fs::path(POPBOX_SOURCE_DIR) / "src" / "sandbox" / "web";

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The UI's files as the build sees them: relative name -> bytes.
std::map<std::string, std::string> files_on_disk() {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(web_dir)) {
    if (!e.is_regular_file()) continue;
    const std::string ext = e.path().extension().string();
    if (ext == ".hpp" || ext == ".cpp") continue;
    out[fs::relative(e.path(), web_dir).generic_string()] = read_file(e.path());
  }
  return out;
}

std::string expected_type(const std::string& name) {
  static const std::map<std::string, std::string> types = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".json", "application/json"},
  };
  const auto it = types.find(fs::path(name).extension().string());
  return it == types.end() ? "?" : it->second;
}

std::string url_of(const std::string& name) {
  return name == "index.html" ? "/index.html" : "/assets/" + name;
}

}  // namespace

TEST(SandboxWebAssets, EveryFileIsFoundWithItsTypeAndExactBytes) {
  const auto files = files_on_disk();
  ASSERT_TRUE(files.contains("index.html"));
  ASSERT_TRUE(files.contains("app.js"));
  ASSERT_TRUE(files.contains("style.css"));
  for (const auto& [name, bytes] : files) {
    SCOPED_TRACE(name);
    const auto* asset = find_web_asset(url_of(name));
    ASSERT_NE(asset, nullptr);
    EXPECT_EQ(asset->content_type, expected_type(name));
    EXPECT_EQ(asset->body.size(), bytes.size());
    EXPECT_TRUE(asset->body == bytes);  // EXPECT_EQ would print 10 kB on failure
  }
}

TEST(SandboxWebAssets, TheRootIsThePage) {
  const auto* root = find_web_asset("/");
  ASSERT_NE(root, nullptr);
  const auto* page = find_web_asset("/index.html");
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(root->body.data(), page->body.data()) << "one copy of the page";
  EXPECT_EQ(root->content_type, "text/html; charset=utf-8");
  EXPECT_TRUE(root->body.starts_with("<!doctype html>"));
}

TEST(SandboxWebAssets, OnlyTheFilesArePaths) {
  std::set<std::string> expected{"/"};
  for (const auto& entry : files_on_disk()) expected.insert(url_of(entry.first));
  std::set<std::string> got;
  for (std::string_view p : web_asset_paths()) {
    EXPECT_TRUE(got.insert(std::string(p)).second) << "twice: " << p;
    EXPECT_NE(find_web_asset(p), nullptr) << p;
  }
  EXPECT_EQ(got, expected);
}

TEST(SandboxWebAssets, AnythingElseIsNotFound) {
  for (const char* p :
       {"", "/assets/", "/assets", "/index.htm", "/INDEX.HTML", "/app.js", "/assets/../index.html",
        "/assets//app.js", "/assets/app.js?v=1", "/assets/app.js/", "/assets/web_assets.hpp",
        "/assets/index.html", "/api/v1/inboxes", "assets/app.js"}) {
    EXPECT_EQ(find_web_asset(p), nullptr) << p;
  }
  EXPECT_EQ(find_web_asset(std::string_view("/assets/app.js\0", 15)), nullptr);
}

TEST(SandboxWebAssets, ThePageNeedsNoInlineScriptOrStyle) {
  // The UI's CSP has no 'unsafe-inline': an inline script, style element,
  // style attribute or event-handler attribute would be refused.
  const std::string page(find_web_asset("/")->body);
  EXPECT_FALSE(
      std::regex_search(page, std::regex("<script(?![^>]*\\bsrc=)[^>]*>", std::regex::icase)));
  EXPECT_FALSE(std::regex_search(page, std::regex("<style", std::regex::icase)));
  EXPECT_FALSE(std::regex_search(page, std::regex("\\sstyle\\s*=", std::regex::icase)));
  EXPECT_FALSE(std::regex_search(page, std::regex("\\son[a-z]+\\s*=", std::regex::icase)));
  EXPECT_FALSE(std::regex_search(page, std::regex("(src|href)=\"(https?:)?//", std::regex::icase)))
      << "everything local: no CDN";
}

TEST(SandboxWebAssets, TheCspIsTheOneOfTheApi) {
  EXPECT_EQ(popbox::sandbox::web_ui_csp,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "frame-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'");
}
