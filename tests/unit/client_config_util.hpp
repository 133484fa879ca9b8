#pragma once
// Loading a fetch config from text, for tests/unit/client_*config_test.cpp.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "client/fetch_config.hpp"
#include "config/config.hpp"

namespace popbox::test {

/// `text` as fetch.toml in a temporary directory, removed with it.
struct ConfigFile {
  explicit ConfigFile(const std::string& text) {
    char tmpl[] = "/tmp/popbox-fetchcfg-XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    EXPECT_NE(made, nullptr);
    dir = made ? made : "/nonexistent";
    path = dir + "/fetch.toml";
    std::ofstream(path) << text;
  }
  ~ConfigFile() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  ConfigFile(const ConfigFile&) = delete;
  ConfigFile& operator=(const ConfigFile&) = delete;
  std::string dir, path;
};

/// The fetch config `text` loaded for the home directory /home/u.
inline client::FetchConfig load_fetch_text(const std::string& text) {
  ConfigFile f(text);
  return client::load_fetch_config(f.path, "/home/u");
}

/// The error message for a bad config, with the temp path replaced by "F";
/// "no error" when it loads.
inline std::string fetch_config_error(const std::string& text) {
  ConfigFile f(text);
  try {
    client::load_fetch_config(f.path, "/home/u");
  } catch (const config::ConfigError& e) {
    std::string msg = e.what();
    if (msg.starts_with(f.path)) msg = "F" + msg.substr(f.path.size());
    return msg;
  }
  return "no error";
}

}  // namespace popbox::test
