#include "cli/admin_call.hpp"

#include <sysexits.h>
#include <CLI/CLI.hpp>

#include <ctime>
#include <iostream>

#include "admin/client.hpp"
#include "config/config.hpp"

namespace popbox::cli {

void add_admin_options(CLI::App& cmd, AdminTarget& target, bool with_socket) {
  cmd.add_option("-c,--config", target.config, "Configuration file (TOML)")->capture_default_str();
  if (with_socket) {
    cmd.add_option("--socket", target.socket,
                   "Admin socket (default: the config's [admin] socket)");
  }
}

std::optional<nlohmann::json> admin_call(const char* verb, const AdminTarget& target,
                                         const admin::Request& request, std::chrono::seconds wait,
                                         int& rc) {
  std::string path = target.socket;
  if (path.empty()) {
    try {
      path = config::load(target.config).admin.socket;
    } catch (const std::exception& e) {
      std::cerr << "popbox " << verb << ": " << e.what() << "\n";
      rc = EX_CONFIG;
      return std::nullopt;
    }
    if (path.empty()) {
      std::cerr << "popbox " << verb << ": " << target.config
                << " has no admin socket ([admin] socket)\n";
      rc = EX_UNAVAILABLE;
      return std::nullopt;
    }
  }
  admin::CallError error;
  auto reply = admin::call(path, request, wait, error);
  if (!reply) {
    std::cerr << "popbox " << verb << ": " << error.message << "\n";
    rc = error.exit_code;
    return std::nullopt;
  }
  if (!(*reply)["ok"].get<bool>()) {
    const auto& why = (*reply)["error"];
    const std::string text = why.is_string() ? why.get<std::string>() : "request refused";
    std::cerr << "popbox " << verb << ": " << text << "\n";
    rc = text == "unknown user" ? EX_NOUSER : EX_SOFTWARE;
    return std::nullopt;
  }
  return reply;
}

std::string format_time(std::int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

}  // namespace popbox::cli
