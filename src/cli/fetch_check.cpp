// `popbox fetch check`: connect as an account would (same TLS settings and
// verification) and show what the server presents: greeting, CAPA, TLS
// version and cipher, the certificate chain and the key pin. Never logs in.
#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/x509.h>
#include <sysexits.h>
#include <CLI/CLI.hpp>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ssl.hpp>
#include <iostream>

#include "cli/fetch_verbs.hpp"
#include "client/console.hpp"
#include "client/error.hpp"
#include "client/tls_client.hpp"
#include "core/limits.hpp"

namespace popbox::cli {
namespace {

using asio::ip::tcp;
using client::fetch_errc;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

struct CheckArgs {
  std::string config;
  std::string account;
};

std::string name_text(X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string s(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return s;
}

std::string time_text(const ASN1_TIME* t) {
  BIO* bio = BIO_new(BIO_s_mem());
  ASN1_TIME_print(bio, t);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string s(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return s;
}

// Finishes the handshake whatever the chain looks like, so the chain can
// be shown; the verification result is read (and enforced) afterwards.
int accept_for_inspection(int, X509_STORE_CTX*) {
  return 1;
}

class Checker {
 public:
  explicit Checker(const client::AccountConfig& a) : a_(a) {}

  asio::awaitable<void> run() {
    auto ex = co_await asio::this_coro::executor;
    tcp::socket socket(ex);
    if (!co_await connect(socket)) co_return;
    std::shared_ptr<asio::ssl::context> ctx;
    if (a_.tls != client::TlsMode::none) {
      ctx = client::make_client_tls_context(a_, failure);
      if (failure) co_return;
    }
    if (a_.tls == client::TlsMode::implicit) {
      asio::ssl::stream<tcp::socket&> tls(socket, *ctx);
      if (!co_await handshake(tls)) co_return;
      co_await talk(tls, false);
    } else {
      std::cout << "tls: none (plaintext)\n";
      if (!co_await talk(socket, a_.tls == client::TlsMode::starttls)) co_return;
      if (a_.tls != client::TlsMode::starttls) co_return;
      buf_.clear();  // nothing sent before the handshake is kept
      asio::ssl::stream<tcp::socket&> tls(socket, *ctx);
      if (!co_await handshake(tls)) co_return;
      if (!co_await capa(tls, "capa (after STLS)")) co_return;
      co_await quit(tls);
    }
    done = true;
  }

  client::Failure failure;
  bool done = false;

 private:
  asio::awaitable<bool> connect(tcp::socket& socket) {
    auto ex = co_await asio::this_coro::executor;
    tcp::resolver resolver(ex);
    std::string port = std::to_string(a_.port);
    auto [rec, endpoints] = co_await resolver.async_resolve(a_.host, port, use_tuple);
    if (rec) {
      failure = client::fail(fetch_errc::unavailable,
                             fmt::format("cannot resolve {}: {}", a_.host, rec.message()));
      co_return false;
    }
    auto [cec, ep] = co_await asio::async_connect(socket, endpoints, use_tuple);
    if (cec) {
      failure = client::fail(fetch_errc::unavailable, fmt::format("cannot connect to {}:{}: {}",
                                                                  a_.host, a_.port, cec.message()));
      co_return false;
    }
    std::cout << fmt::format("connected: {}:{} ({})\n", a_.host, a_.port, ep.address().to_string());
    co_return true;
  }

  // Greeting, CAPA, and STLS when asked; QUIT otherwise.
  template <class Stream>
  asio::awaitable<bool> talk(Stream& s, bool stls) {
    std::string line;
    if (!co_await read_line(s, line)) co_return false;
    std::cout << "greeting: " << client::terminal_safe(line) << "\n";
    if (line.rfind("+OK", 0) != 0) {
      failure = client::fail(fetch_errc::temporary,
                             "the server refused the session: " + client::terminal_safe(line));
      co_return false;
    }
    if (!co_await capa(s, "capa")) co_return false;
    if (!stls) {
      co_await quit(s);
      co_return true;
    }
    if (!co_await send(s, "STLS\r\n") || !co_await read_line(s, line)) co_return false;
    if (line.rfind("+OK", 0) != 0) {
      failure =
          client::fail(fetch_errc::tls, "the server refused STLS: " + client::terminal_safe(line));
      co_return false;
    }
    co_return true;
  }

  template <class Stream>
  asio::awaitable<bool> capa(Stream& s, std::string_view label) {
    std::string line;
    if (!co_await send(s, "CAPA\r\n") || !co_await read_line(s, line)) co_return false;
    if (line.rfind("+OK", 0) != 0) {
      std::cout << label << ": not supported (" << client::terminal_safe(line) << ")\n";
      co_return true;
    }
    for (;;) {
      if (!co_await read_line(s, line)) co_return false;
      if (line == ".") break;
      if (!line.empty() && line[0] == '.') line.erase(0, 1);
      std::cout << label << ": " << client::terminal_safe(line) << "\n";
    }
    co_return true;
  }

  template <class Stream>
  asio::awaitable<void> quit(Stream& s) {
    std::string line;
    if (co_await send(s, "QUIT\r\n")) co_await read_line(s, line);
    failure = {};  // the answer to QUIT does not matter
  }

  template <class Tls>
  asio::awaitable<bool> handshake(Tls& tls) {
    SSL* ssl = tls.native_handle();
    if ((failure = client::prepare_tls(ssl, a_))) co_return false;
    int mode = SSL_get_verify_mode(ssl);
    SSL_set_verify(ssl, mode, accept_for_inspection);
    auto [ec] = co_await tls.async_handshake(asio::ssl::stream_base::client, use_tuple);
    if (ec) {
      failure = client::tls_handshake_failure(ssl, ec, a_);
      co_return false;
    }
    std::cout << fmt::format("tls: {} {}\n", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
    STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
    for (int i = 0; chain && i < sk_X509_num(chain); ++i) {
      X509* c = sk_X509_value(chain, i);
      std::cout << fmt::format("certificate {}: subject: {}\n  issuer: {}\n  valid: {} to {}\n", i,
                               client::terminal_safe(name_text(X509_get_subject_name(c))),
                               client::terminal_safe(name_text(X509_get_issuer_name(c))),
                               time_text(X509_get0_notBefore(c)), time_text(X509_get0_notAfter(c)));
    }
    X509* leaf = SSL_get1_peer_certificate(ssl);
    if (leaf) {
      std::cout << "fingerprint: sha256:" << client::public_key_pin(leaf) << "\n";
      X509_free(leaf);
    }
    long verify = SSL_get_verify_result(ssl);
    if ((mode & SSL_VERIFY_PEER) && verify != X509_V_OK) {
      failure = client::tls_handshake_failure(ssl, ec, a_);
      std::cout << "verification: failed: " << X509_verify_cert_error_string(verify) << "\n";
      co_return false;
    }
    if (mode & SSL_VERIFY_PEER) {
      std::cout << "verification: ok (chain and name " << a_.host << ")\n";
    }
    if ((failure = client::check_pin(ssl, a_))) {
      std::cout << "pin: does not match\n";
      co_return false;
    }
    if (!a_.fingerprint.empty()) std::cout << "pin: matches\n";
    co_return true;
  }

  template <class Stream>
  asio::awaitable<bool> send(Stream& s, std::string_view cmd) {
    auto [ec, n] = co_await asio::async_write(s, asio::buffer(cmd), use_tuple);
    if (ec) failure = lost(ec);
    co_return !ec;
  }

  template <class Stream>
  asio::awaitable<bool> read_line(Stream& s, std::string& line) {
    for (;;) {
      auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        line = buf_.substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        buf_.erase(0, nl + 1);
        co_return true;
      }
      if (buf_.size() > client::limits::max_line) {
        failure = client::fail(fetch_errc::protocol, "the server sent a line over 8 KiB");
        co_return false;
      }
      char tmp[4096];
      auto [ec, n] = co_await s.async_read_some(asio::buffer(tmp), use_tuple);
      if (ec) {
        failure = lost(ec);
        co_return false;
      }
      buf_.append(tmp, n);
    }
  }

  client::Failure lost(const std::error_code& ec) const {
    return client::fail(fetch_errc::temporary,
                        fmt::format("{}:{}: connection lost: {}", a_.host, a_.port, ec.message()));
  }

  const client::AccountConfig& a_;
  std::string buf_;
};

int run_check(const CheckArgs& args) {
  if (args.config.empty() || args.account.empty()) {
    std::cerr << "popbox fetch check: --config FILE and --account NAME are required\n";
    return EX_USAGE;
  }
  client::FetchConfig cfg;
  const client::AccountConfig* a = nullptr;
  if (int rc = load_account(args.config, args.account, cfg, a, "popbox fetch check")) return rc;
  Checker checker(*a);
  {
    asio::io_context io;
    asio::co_spawn(io, checker.run(), asio::detached);
    // One deadline for the whole check: nothing waits forever on the peer.
    io.run_for(a->timeout);
    if (!io.stopped() && !checker.done && !checker.failure) {
      checker.failure = client::fail(
          fetch_errc::temporary,
          fmt::format("{}:{}: no answer within {} s", a->host, a->port,
                      std::chrono::duration_cast<std::chrono::seconds>(a->timeout).count()));
    }
  }
  std::cout.flush();
  if (checker.failure) {
    std::cerr << "popbox fetch check: " << a->name << ": "
              << client::terminal_safe(checker.failure.message) << "\n";
    return client::exit_code(checker.failure.code);
  }
  return 0;
}

}  // namespace

void add_fetch_check(CLI::App& fetch, int& rc) {
  auto* cmd = fetch.add_subcommand(
      "check", "Connect as an account would and show greeting, CAPA, TLS and certificates");
  auto args = std::make_shared<CheckArgs>();
  cmd->add_option("-c,--config", args->config, "Fetch configuration file (TOML)");
  cmd->add_option("-a,--account", args->account, "The account to check");
  cmd->callback([args, &rc] { rc = run_check(*args); });
}

}  // namespace popbox::cli
