// The oauth* keys of the fetch config: presets, overrides and the rules.
#include <gtest/gtest.h>

#include "client/fetch_config.hpp"
#include "client_config_util.hpp"
#include "config/config.hpp"

using namespace popbox::client;

namespace {

using popbox::test::ConfigFile;

const std::string head =
    "[[account]]\nname = \"work\"\nuser = \"me@example.com\"\ndeliver = \"maildir:~/M\"\n";

AccountConfig load(const std::string& text) {
  return popbox::test::load_fetch_text(text).accounts.at(0);
}

std::string error_of(const std::string& text) {
  return popbox::test::fetch_config_error(text);
}

}  // namespace

TEST(FetchOAuthConfig, MicrosoftPresetFillsEndpointsScopesAndHost) {
  AccountConfig a =
      load(head + "auth = \"xoauth2\"\noauth = \"microsoft\"\noauth_client_id = \"id-1\"\n");
  ASSERT_TRUE(a.oauth);
  EXPECT_EQ(a.host, "outlook.office365.com");
  EXPECT_EQ(a.port, 995);
  EXPECT_EQ(a.tls, TlsMode::implicit);
  EXPECT_EQ(a.oauth->token_url, "https://login.microsoftonline.com/common/oauth2/v2.0/token");
  EXPECT_EQ(a.oauth->device_url, "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode");
  EXPECT_EQ(a.oauth->scopes,
            (std::vector<std::string>{"https://outlook.office.com/POP.AccessAsUser.All",
                                      "offline_access"}));
  EXPECT_EQ(a.oauth->client_id, "id-1");
  EXPECT_EQ(oauth_token_path(a), a.state_dir + "/work.oauth.json");
}

TEST(FetchOAuthConfig, GooglePresetAndOverrides) {
  AccountConfig a = load(head +
                         "host = \"pop.example.com\"\nport = 1995\nauth = \"oauthbearer\"\n"
                         "oauth = \"google\"\noauth_client_id = \"c\"\n"
                         "oauth_client_secret = \"s\"\noauth_scopes = [\"x\", \"y\"]\n"
                         "oauth_token_url = \"https://t.example/token\"\n");
  EXPECT_EQ(a.host, "pop.example.com");
  EXPECT_EQ(a.port, 1995);
  EXPECT_EQ(a.oauth->authorize_url, "https://accounts.google.com/o/oauth2/v2/auth");
  // Google refuses the mail scope in its device flow: the preset has none.
  EXPECT_EQ(a.oauth->device_url, "");
  EXPECT_EQ(a.oauth->token_url, "https://t.example/token");
  EXPECT_EQ(a.oauth->client_secret, "s");
  EXPECT_EQ(a.oauth->scopes, (std::vector<std::string>{"x", "y"}));
  AccountConfig g =
      load(head + "auth = \"xoauth2\"\noauth = \"google\"\noauth_client_id = \"c\"\n");
  EXPECT_EQ(g.host, "pop.gmail.com");
  EXPECT_EQ(g.oauth->scopes, (std::vector<std::string>{"https://mail.google.com/"}));
}

TEST(FetchOAuthConfig, Rules) {
  const std::string ms = "oauth = \"microsoft\"\noauth_client_id = \"c\"\n";
  EXPECT_NE(error_of(head + ms).find("'oauth' needs auth = \"xoauth2\" or \"oauthbearer\""),
            std::string::npos);
  EXPECT_NE(error_of(head + ms + "auth = \"plain\"\n").find("'oauth' needs auth"),
            std::string::npos);
  EXPECT_NE(error_of(head + "auth = \"xoauth2\"\noauth = \"microsoft\"\n")
                .find("needs 'oauth_client_id'"),
            std::string::npos);
  EXPECT_NE(error_of(head + "auth = \"xoauth2\"\noauth = \"yahoo\"\noauth_client_id = \"c\"\n")
                .find("'oauth' must be"),
            std::string::npos);
  EXPECT_NE(error_of(head + "host = \"h\"\nauth = \"xoauth2\"\noauth = \"custom\"\n"
                            "oauth_client_id = \"c\"\n")
                .find("needs 'oauth_token_url'"),
            std::string::npos);
  EXPECT_NE(
      error_of(head + "auth = \"xoauth2\"\n" + ms + "oauth_token_url = \"http://127.0.0.1/t\"\n")
          .find("https:// URL"),
      std::string::npos);
  EXPECT_NE(error_of(head + "host = \"h\"\noauth_client_id = \"c\"\n").find("needs 'oauth'"),
            std::string::npos);
  EXPECT_NE(
      error_of(head + "auth = \"xoauth2\"\npassword = \"p\"\n" + ms).find("exclude each other"),
      std::string::npos);
  EXPECT_NE(error_of(head + "auth = \"xoauth2\"\n" + ms + "oauth_scopes = \"x\"\n")
                .find("array of strings"),
            std::string::npos);
  // A token from password_command still works without oauth (today's way).
  AccountConfig a = load(head + "host = \"h\"\nauth = \"xoauth2\"\npassword_command = \"t\"\n");
  EXPECT_FALSE(a.oauth);
}

TEST(FetchOAuthConfig, CaFileAndPlainTextAreCheckedAtLoad) {
  const std::string ms = "auth = \"xoauth2\"\noauth = \"microsoft\"\noauth_client_id = \"c\"\n";
  EXPECT_NE(error_of(head + ms + "oauth_ca_file = \"/nonexistent/ca.pem\"\n")
                .find("'oauth_ca_file' /nonexistent/ca.pem: not a readable file"),
            std::string::npos);
  ConfigFile junk("not a certificate\n");
  EXPECT_NE(error_of(head + ms + "oauth_ca_file = \"" + junk.path + "\"\n")
                .find("holds no PEM certificate"),
            std::string::npos);
  // A bearer token in clear text only to this machine.
  EXPECT_NE(error_of(head + ms + "host = \"pop.example.com\"\ntls = \"none\"\n")
                .find("'oauth' needs TLS"),
            std::string::npos);
  for (const char* host : {"127.0.0.1", "::1", "localhost", "127.0.0.2"}) {
    AccountConfig a = load(head + ms + "host = \"" + host + "\"\ntls = \"none\"\n");
    EXPECT_EQ(a.tls, TlsMode::none) << host;
  }
  // Without oauth (a helper's token), tls = "none" stays the user's call.
  AccountConfig b = load(head +
                         "host = \"h\"\nauth = \"xoauth2\"\ntls = \"none\"\n"
                         "password_command = \"t\"\n");
  EXPECT_FALSE(b.oauth);
}
