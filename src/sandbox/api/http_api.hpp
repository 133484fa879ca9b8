#pragma once
// The sandbox's HTTP API v1 (docs/sandbox.md) and its web UI, served
// over sandbox::Hub: JSON routes, the wait endpoint, Server-Sent Events,
// webhooks, fault injection, the OpenAPI document. Own event threads and a
// small blocking pool for the hub calls that touch the disk; the wiring in
// `popbox sandbox` is: construct, start(), ..., stop().

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sandbox/hub.hpp"

namespace popbox::sandbox {

/// A listening address as /api/v1/settings shows it.
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
};

/// One embedded web asset (see sandbox/web/web_assets.hpp).
struct WebAssetView {
  std::string_view content_type;
  std::string_view body;
};

/// The fields of GET /api/v1/settings, and the web UI's assets.
struct ApiSettings {
  Endpoint smtp;
  /// Unset while nothing serves POP3: /settings then shows null.
  std::optional<Endpoint> pop3;
  std::optional<Endpoint> pop3s;
  bool strict_auth = false;
  std::string version;
  /// The asset at a path ("/", "/index.html", "/assets/app.js"); unset or
  /// nullopt: 404. The verb wires sandbox::web::find_web_asset() here.
  std::function<std::optional<WebAssetView>(std::string_view path)> web_assets;
};

class HttpApi {
 public:
  /// Serves `hub` (which must outlive this) on listen_host:port once
  /// started; an empty `api_token` means no token is asked for.
  HttpApi(Hub& hub, const std::string& listen_host, std::uint16_t port, std::string api_token,
          ApiSettings settings);
  /// Stops (see stop()).
  ~HttpApi();
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  /// The port bound (after start(); the one asked for before).
  std::uint16_t port() const;
  /// Binds, subscribes to the hub and starts serving; throws
  /// std::runtime_error when it cannot bind, or when the address is not
  /// loopback and there is no API token. Call once.
  void start();
  /// Ends every wait and stream, closes every connection, stops the
  /// webhook sender and joins every thread. Idempotent.
  void stop();

  /// Concurrent waits registered now (tests and measurements).
  std::size_t waiting() const;
  /// SSE clients connected now.
  std::size_t streaming() const;
  /// Every route as (method, pattern), for the OpenAPI cross-check.
  std::vector<std::pair<std::string, std::string>> routes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace popbox::sandbox
