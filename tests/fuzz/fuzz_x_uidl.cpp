// libFuzzer target for X-UIDL header scanning (store/x_uidl.hpp): the
// HeaderCollector, header_field() and read_x_uidl() on a real file.
//
// Input: one option byte, then a message. Option bits 0 and 1 both set: the
// message gets header lines in front that bring it to just below
// max_header_scan, so the input's bytes meet the cut-off; bits 1-7 seed the
// block sizes. Checks: the
// collected header is the same for any split into blocks, is a prefix of the
// message of at most max_header_scan octets ending at a line end, and holds
// no blank line; the X-UIDL value (if any) has no CR or LF and no white space
// around it; read_x_uidl() on the message written to a file gives the same
// value as scanning the bytes.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_store.hpp"
#include "store/x_uidl.hpp"

using popbox::fuzz::escaped;
namespace sd = popbox::store::detail;

namespace {

// A directory of our own for the message files, removed at exit.
int message_dir() {
  static std::string path;
  static int fd = [] {
    // tmpfs where there is one: a disk file per input would be slow.
    path = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    path += "/fuzz_x_uidl.XXXXXX";
    if (::mkdtemp(path.data()) == nullptr) std::abort();
    std::atexit([] {
      std::string file = path + "/msg";
      ::unlink(file.c_str());
      ::rmdir(path.c_str());
    });
    return ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }();
  return fd;
}

// Feeds `msg` in blocks: `first` octets at once, then sizes from `seed`
// (0: the rest at once).
sd::HeaderCollector collect(std::string_view msg, std::size_t first, std::uint8_t seed) {
  sd::HeaderCollector h;
  popbox::fuzz::SplitRng rng(seed);
  h.add(msg.substr(0, first));
  std::size_t pos = std::min(first, msg.size());
  while (pos < msg.size() && !h.complete()) {
    std::size_t n = seed == 0 ? msg.size() : rng.next(msg.size() - pos);
    h.add(msg.substr(pos, n));
    pos += n;
  }
  if (!h.complete()) h.finish();
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t options = data[0];
  std::string msg;
  if ((options & 3) == 3) {
    const std::size_t want = sd::max_header_scan - 64;
    while (msg.size() + 40 < want) msg += "Received: from x by y; filler filler\r\n";
    msg.append(want - msg.size() - 2, 'x');
    msg += "\r\n";
  }

  // The filler goes in as one block (fast); the fuzzed bytes in pieces.
  const std::size_t filler = msg.size();
  msg.append(reinterpret_cast<const char*>(data) + 1, size - 1);

  const sd::HeaderCollector whole = collect(msg, msg.size(), 0);
  const sd::HeaderCollector split = collect(msg, filler, options >> 1);
  const std::string_view header = whole.header();
  FUZZ_CHECK(whole.complete() && split.complete(), "header not complete after finish()");
  FUZZ_CHECK(header == split.header(), "header depends on the block split");
  FUZZ_CHECK(std::string_view(msg).starts_with(header), "header is not a prefix of the message");
  FUZZ_CHECK(header.size() <= sd::max_header_scan, "header longer than max_header_scan");
  FUZZ_CHECK(header.empty() || header.back() == '\n' || header.size() == msg.size(),
             "header ends inside a line");
  FUZZ_CHECK(header.find("\n\n") == std::string_view::npos &&
                 header.find("\n\r\n") == std::string_view::npos && !header.starts_with("\n") &&
                 !header.starts_with("\r\n"),
             "blank line inside the header");

  const std::optional<std::string> value = sd::header_field(header, "X-UIDL");
  if (value) {
    FUZZ_CHECK(value->find_first_of("\r\n") == std::string::npos, "CR or LF in " + escaped(*value));
    FUZZ_CHECK(value->empty() || (value->front() != ' ' && value->front() != '\t' &&
                                  value->back() != ' ' && value->back() != '\t'),
               "white space around " + escaped(*value));
  }

  // The same from a file, read in read_x_uidl's own blocks.
  const int dir = message_dir();
  int fd = ::openat(dir, "msg", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  FUZZ_CHECK(fd >= 0, "cannot create the message file");
  FUZZ_CHECK(::write(fd, msg.data(), msg.size()) == static_cast<ssize_t>(msg.size()),
             "cannot write the message file");
  ::close(fd);
  std::optional<std::string> from_file;
  FUZZ_CHECK(!sd::read_x_uidl(dir, "msg", from_file), "read_x_uidl failed");
  FUZZ_CHECK(from_file == value, "read_x_uidl disagrees with header_field");
  return 0;
}
