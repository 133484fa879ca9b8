// Password sources.
#include "client/credentials.hpp"

#include <fmt/format.h>
#include <sys/wait.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

#include "client/auth.hpp"
#include "core/limits.hpp"

namespace popbox::client {

std::optional<std::string> netrc_lookup(std::string_view text, std::string_view machine,
                                        std::string_view login) {
  std::vector<std::string_view> tokens;
  for (std::size_t i = 0; i < text.size();) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    std::size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) tokens.push_back(text.substr(start, i - start));
  }
  // Entries: "machine NAME" or "default", then login/password/account pairs.
  std::optional<std::string> from_default;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    bool is_default = tokens[i] == "default";
    if (tokens[i] != "machine" && !is_default) continue;
    std::string_view name = is_default ? "" : (i + 1 < tokens.size() ? tokens[i + 1] : "");
    std::size_t j = is_default ? i + 1 : i + 2;
    std::string_view user, password;
    bool has_password = false;
    for (; j + 1 < tokens.size() && tokens[j] != "machine" && tokens[j] != "default"; j += 2) {
      if (tokens[j] == "login") user = tokens[j + 1];
      if (tokens[j] == "password") {
        password = tokens[j + 1];
        has_password = true;
      }
    }
    i = j - 1;
    if (!has_password || (!user.empty() && user != login)) continue;
    if (!is_default && name == machine) return std::string(password);
    if (is_default && !from_default) from_default = std::string(password);
  }
  return from_default;
}

Failure run_password_command(const std::string& command, std::string& secret) {
  FILE* p = ::popen(command.c_str(), "re");
  if (!p)
    return fail(fetch_errc::auth, fmt::format("password_command: cannot run \"{}\"", command));
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
    if (out.size() < limits::max_secret) out.append(buf, n);
  }
  int status = ::pclose(p);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    wipe(out);
    return fail(fetch_errc::auth,
                fmt::format("password_command \"{}\" failed (exit status {})", command,
                            WIFEXITED(status) ? WEXITSTATUS(status) : -1));
  }
  std::size_t end = out.find('\n');
  secret.assign(out, 0, end == std::string::npos ? out.size() : end);
  if (!secret.empty() && secret.back() == '\r') secret.pop_back();
  wipe(out);
  if (secret.empty()) {
    return fail(fetch_errc::auth, fmt::format("password_command \"{}\" printed nothing", command));
  }
  return {};
}

Failure account_secret(const AccountConfig& a, const std::string& home, std::string& secret) {
  if (a.password) {
    secret = *a.password;
    return {};
  }
  if (a.password_command) return run_password_command(*a.password_command, secret);
  std::ifstream in(home + "/.netrc");
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    std::string content = text.str();
    auto found = netrc_lookup(content, a.host, a.user);
    wipe(content);
    if (found) {
      secret = std::move(*found);
      return {};
    }
  }
  if (a.auth == AuthMech::xoauth2 || a.auth == AuthMech::oauthbearer) {
    return fail(fetch_errc::auth,
                fmt::format("no access token (account at {}): set oauth (and run `popbox fetch "
                            "login --account {}`), password_command or password, or add "
                            "\"machine {} login {} password TOKEN\" to ~/.netrc",
                            a.where, a.name, a.host, a.user));
  }
  return fail(
      fetch_errc::auth,
      fmt::format(
          "no password (account at {}): set password, password_command, or add \"machine {} "
          "login {} password ...\" to ~/.netrc",
          a.where, a.host, a.user));
}

}  // namespace popbox::client
