// Opening a 100,000-message Maildir with and without a dovecot-uidlist
// (every message listed), first open and later ones. Run with
//   unit_store --gtest_also_run_disabled_tests --gtest_filter='*UidlBench*'
// Uses only MaildirMailbox::load(path, ec), so the same file measures the
// code before UIDL adoption existed.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "store/maildir_mailbox.hpp"
#include "store_test_util.hpp"

namespace popbox::store {
namespace {

constexpr int count = 100'000;

std::string make_bench_maildir(const std::string& root, bool with_uidlist) {
  test::make_maildir(root);
  std::string body =
      "From: a@example.com\nTo: b@example.com\nSubject: bench\n\n"
      "Hello, this is a message body line of typical length for a test.\n";
  std::string uidlist = "3 V1795447793 N" + std::to_string(count + 1) + " G0123\n";
  for (int i = 0; i < count; ++i) {
    std::string base = std::to_string(1'700'000'000 + i) + ".M" + std::to_string(i) +
                       "P1234.bench.example.com,S=" + std::to_string(body.size());
    std::string path = root + (i % 2 ? "/new/" : "/cur/") + base + (i % 2 ? "" : ":2,S");
    test::write_file(path, body);
    uidlist += std::to_string(i + 1) + " W" + std::to_string(body.size() + 5) + " :" + base + "\n";
  }
  if (with_uidlist) test::write_file(root + "/dovecot-uidlist", uidlist);
  return root;
}

double cpu_ms() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto ms = [](timeval t) { return static_cast<double>(t.tv_sec) * 1e3 + t.tv_usec / 1e3; };
  return ms(ru.ru_utime) + ms(ru.ru_stime);
}

// Opens `root` once; returns {wall ms, CPU ms} (CPU time is steadier on a
// shared machine).
std::pair<double, double> open_once(const std::string& root) {
  double cpu0 = cpu_ms();
  auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  auto box = MaildirMailbox::load(root, ec);
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
  double cpu = cpu_ms() - cpu0;
  EXPECT_TRUE(box) << ec.message();
  if (!box) return {0, 0};
  EXPECT_EQ(box->messages().size(), static_cast<std::size_t>(count));
  return {ms.count(), cpu};
}

void report(const std::string& root, const char* label, int runs) {
  double wall = 1e18, cpu = 1e18;
  for (int r = 0; r < runs; ++r) {
    auto [w, c] = open_once(root);
    wall = std::min(wall, w);
    cpu = std::min(cpu, c);
  }
  std::printf("  %-36s %8.1f ms wall %8.1f ms CPU%s\n", label, wall, cpu,
              runs > 1 ? " (best of 5)" : "");
}

TEST(UidlBench, DISABLED_Open100kWithAndWithoutDovecotUidlist) {
  test::TempDir tmp;
  for (bool with : {false, true}) {
    std::printf("%s dovecot-uidlist:\n", with ? "with" : "without");
    std::string root = make_bench_maildir(tmp / (with ? "with" : "without"), with);
    report(root, "first open (no index)", 1);
    report(root, "warm (index)", 5);
    std::filesystem::remove(root + "/popbox-index");
    report(root, "index deleted", 1);
    report(root, "warm again (index)", 5);
  }
}

}  // namespace
}  // namespace popbox::store
