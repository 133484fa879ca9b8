#pragma once
// Loading a config from text, for the tests/unit/config_*_test.cpp files.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "config/config.hpp"

namespace popbox::test {

/// Writes `text` to a temporary file, loads it and removes the file; throws
/// what config::load throws.
inline config::Config load_text(const std::string& text) {
  char path[] = "/tmp/popbox-config-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  std::ofstream(path) << text;
  close(fd);
  struct Remove {
    const char* p;
    ~Remove() { std::remove(p); }
  } remove{path};
  return config::load(path);
}

/// The ConfigError message loading `text` gives, or "" if it loads.
inline std::string load_error(const std::string& text) {
  try {
    load_text(text);
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "";
}

/// The smallest valid config: a passwd file and a maildir.
inline const std::string minimal_config =
    "[auth]\npasswd_file = \"/etc/popbox/users\"\n[mail]\nmaildir = \"/var/mail/%d/%n\"\n";

}  // namespace popbox::test
