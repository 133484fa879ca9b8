// What the stored wire form costs RETR (docs/postgres.md, "Wire form"):
// the DotEncoder over CRLF-unstuffed bytes against a plain copy (what a
// dot-stuffed store would allow), and, given a DSN of a migrated database,
// PgStore delivery and RETR of a 10 MiB message. Built on request:
//   ninja -C build pg_wire_measure && build/pg_wire_measure [DSN]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/dot_codec.hpp"
#include "core/limits.hpp"
#include "store/postgres/pg_store.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

double mib_per_s(std::size_t bytes, clock_type::duration d) {
  return static_cast<double>(bytes) / (1 << 20) / std::chrono::duration<double>(d).count();
}

/// 10 MiB of 76-character lines (a base64 attachment), CRLF, in wire form.
std::string sample() {
  std::string s = "Subject: sample\r\n\r\n";
  const std::string line(76, 'Q');
  while (s.size() < (10u << 20)) s += line + "\r\n";
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string body = sample();
  const std::size_t block = popbox::limits::message_chunk;
  std::string out;
  out.reserve(2 * block + 16);
  for (int round = 0; round < 3; ++round) {
    auto t0 = clock_type::now();
    popbox::core::DotEncoder enc;
    std::size_t sent = 0;
    for (std::size_t i = 0; i < body.size(); i += block) {
      out.clear();
      enc.encode(std::string_view(body).substr(i, block), out);
      sent += out.size();
    }
    auto t1 = clock_type::now();
    std::size_t copied = 0;
    for (std::size_t i = 0; i < body.size(); i += block) {
      const std::size_t n = std::min(block, body.size() - i);
      out.assign(body.data() + i, n);
      copied += out.size();
    }
    auto t2 = clock_type::now();
    std::printf("DotEncoder over stored CRLF: %.0f MiB/s; plain copy: %.0f MiB/s (%zu/%zu bytes)\n",
                mib_per_s(body.size(), t1 - t0), mib_per_s(body.size(), t2 - t1), sent, copied);
  }
  if (argc < 2) return 0;
  popbox::store::pg::PgStore store(argv[1], 2);
  std::size_t pos = 0;
  popbox::store::pg::BodySource src = [&](std::span<char> buf, std::error_code& ec) {
    ec.clear();
    const std::size_t n = std::min(buf.size(), body.size() - pos);
    std::memcpy(buf.data(), body.data() + pos, n);
    pos += n;
    return n;
  };
  for (int round = 0; round < 3; ++round) {
    pos = 0;
    std::error_code ec;
    const std::string user = "measure" + std::to_string(round);
    auto t0 = clock_type::now();
    const std::vector<popbox::store::pg::Recipient> to{{user, "Delivered-To: x\n"}};
    store.deliver(to, src, ec);
    auto t1 = clock_type::now();
    if (ec) return std::fprintf(stderr, "deliver: %s\n", ec.message().c_str()), 1;
    auto box = store.open(user, ec);
    if (!box) return std::fprintf(stderr, "open: %s\n", ec.message().c_str()), 1;
    auto t2 = clock_type::now();
    auto reader = box->open(0, ec);
    std::string buf(block, '\0');
    std::size_t got = 0;
    for (std::size_t n; reader && (n = reader->read(buf, ec)) > 0;) got += n;
    auto t3 = clock_type::now();
    std::printf("PgStore 10 MiB: deliver %.0f MiB/s, RETR read %.0f MiB/s (%zu bytes)\n",
                mib_per_s(body.size(), t1 - t0), mib_per_s(got, t3 - t2), got);
  }
  return 0;
}
