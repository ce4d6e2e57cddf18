// Helpers shared by the libFuzzer targets in tests/fuzz/: the readers under
// test take file paths (they open, size and stream files themselves), so each
// input is written to one scratch file per fuzzing process and read back
// through the real code path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <unistd.h>
#include <zstd.h>

#include "core/crc32.h"

namespace mds::fuzz {

// The scratch file of this process, in $TMPDIR (or /tmp), removed at exit.
// A function-local static: libFuzzer calls the target millions of times in
// one process, and one file reused is far cheaper than one per input.
inline const std::string& scratch_path() {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    std::string p = std::string(dir && *dir ? dir : "/tmp") + "/mds-fuzz-" + std::to_string(::getpid()) + ".in";
    std::atexit([] { ::unlink(scratch_path().c_str()); });
    return p;
  }();
  return path;
}

// Writes the input to the scratch file and returns its path; aborts if the
// write fails (a harness problem, not a finding about the code under test).
inline const std::string& write_scratch(const uint8_t* data, size_t size) {
  const std::string& p = scratch_path();
  std::FILE* f = std::fopen(p.c_str(), "wb");
  if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::perror(p.c_str());
    std::abort();
  }
  return p;
}

inline const std::string& write_scratch(const std::vector<uint8_t>& bytes) {
  return write_scratch(bytes.data(), bytes.size());
}

// Rewrites the CRC-32s of every unit of an .mds byte string (each section's,
// then the header's) so that they match: a random mutation almost never
// keeps a checksum right, and without this the fuzzer would explore little
// beyond the checksum tests. Follows docs/format.md; stops where the layout
// no longer parses (the reader then reports that part as it is).
inline std::vector<uint8_t> repair_checksums(std::vector<uint8_t> b) {
  auto le = [&](size_t at, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(b[at + static_cast<size_t>(i)]) << (8 * i);
    return v;
  };
  auto put32 = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
  };
  size_t off = 0;
  while (off + 8 <= b.size()) {
    const uint64_t hs = le(off + 4, 4);
    const size_t h = off + 8;
    if (hs < 16 || hs > b.size() - h) break;
    const size_t hend = h + hs - 4;  // the header CRC sits here
    size_t p = h + 8;                // magic, version, flags
    auto fits = [&](uint64_t n) { return p <= hend && n <= hend - p; };
    if (!fits(2)) break;
    const uint64_t kind = le(p, 2);
    p += 2;
    if (!fits(kind + 8)) break;
    p += kind;
    const uint64_t meta = le(p, 8);
    p += 8;
    if (!fits(meta) || !fits(meta + 4)) break;
    p += meta;
    const uint64_t count = le(p, 4);
    p += 4;
    size_t data = h + hs;
    bool ok = true;
    for (uint64_t i = 0; i < count && ok; ++i) {
      if (!fits(2)) { ok = false; break; }
      const uint64_t name = le(p, 2);
      p += 2;
      if (!fits(name + 2)) { ok = false; break; }
      p += name + 1;
      const uint64_t ndim = b[p++];
      if (ndim > 8 || !fits(8 * ndim + 20)) { ok = false; break; }
      p += 8 * ndim;
      const uint64_t raw = le(p, 8), stored = le(p + 8, 8);
      const size_t crc_at = p + 16;
      p += 20;
      if (stored > b.size() - data) { ok = false; break; }
      if (raw <= (uint64_t{1} << 24)) {
        std::vector<uint8_t> out(raw);
        const size_t got = ZSTD_decompress(out.data(), out.size(), b.data() + data, stored);
        if (!ZSTD_isError(got) && got == raw) put32(crc_at, mds::crc32(out.data(), out.size()));
      }
      data += stored;
    }
    put32(hend, mds::crc32(b.data() + h, hs - 4));
    if (!ok) break;
    off = data;
  }
  return b;
}

// The file bytes of an input whose first byte is a mode byte: bit 0 set =
// checksums repaired; the other bits are the target's own.
inline std::vector<uint8_t> mds_bytes(const uint8_t* data, size_t size) {
  if (size == 0) return {};
  std::vector<uint8_t> b(data + 1, data + size);
  return (data[0] & 1) ? repair_checksums(std::move(b)) : b;
}

}  // namespace mds::fuzz
