// Tests of the .mds container: round trips, concatenated units, atomic writes,
// and one test per malformation the reader must refuse with a precise message.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/crc32.h"
#include "io/container.h"
#include "test_files.h"

namespace fs = std::filesystem;
using namespace mds;

namespace {

using mds::testing::TempDir;

Container sample_container(uint32_t seed = 1) {
  std::mt19937 rng(seed);
  Container c;
  c.kind = "test";
  c.meta = {{"name", "sample"}, {"seed", seed}, {"nested", {{"a", 1.5}}}};
  std::vector<float> f(37);
  for (auto& x : f) x = std::uniform_real_distribution<float>(-3, 3)(rng);
  c.add(Section::from("weights", f, {37}));
  std::vector<uint32_t> ids(1000);
  for (auto& x : ids) x = rng() % 50000;
  c.add(Section::from("ids", ids, {10, 100}));
  c.add(Section::from_string("text", "hello, container"));
  c.add(Section::from<double>("empty", std::vector<double>{}));
  return c;
}

void write_bytes(const fs::path& p, const std::vector<uint8_t>& b) {
  std::ofstream o(p, std::ios::binary);
  o.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// Expects reading `bytes` to throw bad_input whose message contains every needle.
void expect_rejected(const std::vector<uint8_t>& bytes, std::initializer_list<const char*> needles) {
  TempDir dir;
  fs::path p = dir.root() / "bad.mds";
  write_bytes(p, bytes);
  try {
    ContainerReader r(p.string());
    Container c;
    while (r.next(c)) {
    }
    FAIL() << "expected the reader to reject the file";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    std::string msg = e.what();
    EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
    for (const char* n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "missing '" << n << "' in: " << msg;
  }
}

// Rewrites the header checksum after a deliberate edit, so the reader gets
// past the checksum and must catch the edited field itself.
void fix_header_crc(std::vector<uint8_t>& b) {
  uint32_t hs = b[4] | (b[5] << 8) | (b[6] << 16) | (static_cast<uint32_t>(b[7]) << 24);
  uint32_t crc = crc32(b.data() + 8, hs - 4);
  for (int i = 0; i < 4; ++i) b[8 + hs - 4 + i] = static_cast<uint8_t>(crc >> (8 * i));
}

size_t find_bytes(const std::vector<uint8_t>& b, const std::string& needle) {
  auto it = std::search(b.begin(), b.end(), needle.begin(), needle.end());
  return static_cast<size_t>(it - b.begin());
}

}  // namespace

TEST(Container, RoundTripPreservesEverything) {
  TempDir dir;
  Container c = sample_container();
  write_container((dir.root() / "a.mds").string(), c);
  Container r = read_container((dir.root() / "a.mds").string(), "test");
  EXPECT_EQ(r.kind, "test");
  EXPECT_EQ(r.meta, c.meta);
  ASSERT_EQ(r.sections.size(), c.sections.size());
  for (size_t i = 0; i < c.sections.size(); ++i) {
    EXPECT_EQ(r.sections[i].name, c.sections[i].name);
    EXPECT_EQ(r.sections[i].dtype, c.sections[i].dtype);
    EXPECT_EQ(r.sections[i].shape, c.sections[i].shape);
    EXPECT_EQ(r.sections[i].data, c.sections[i].data);
  }
  EXPECT_EQ(r.section("ids").to_vector<uint32_t>(), c.section("ids").to_vector<uint32_t>());
  EXPECT_EQ(r.section("text").to_string(), "hello, container");
}

// A metadata string that is not UTF-8 (a file name in provenance) is written
// with U+FFFD instead of making the file unwritable.
TEST(Container, MetadataBytesThatAreNotUtf8AreReplaced) {
  TempDir dir;
  Container c;
  c.kind = "checkpoint";
  c.meta["provenance"] = {{"data", std::string("shard\xff.mds")}};
  const std::string p = (dir.root() / "m.mds").string();
  ASSERT_NO_THROW(write_container(p, c));
  EXPECT_EQ(read_container(p).meta["provenance"]["data"], "shard\xef\xbf\xbd.mds");
}

TEST(Container, WrongKindAndMissingSectionAndWrongDtypeAreErrors) {
  TempDir dir;
  write_container((dir.root() / "a.mds").string(), sample_container());
  EXPECT_THROW(read_container((dir.root() / "a.mds").string(), "checkpoint"), Error);
  Container r = read_container((dir.root() / "a.mds").string());
  EXPECT_THROW(r.section("nope"), Error);
  EXPECT_THROW(r.section("ids").to_vector<float>(), Error);
}

TEST(Container, ConcatenatedUnitsReadInOrder) {
  auto a = encode_container(sample_container(1));
  auto b = encode_container(sample_container(2));
  a.insert(a.end(), b.begin(), b.end());
  TempDir dir;
  write_bytes(dir.root() / "ab.mds", a);
  ContainerReader r((dir.root() / "ab.mds").string());
  Container c;
  ASSERT_TRUE(r.next(c));
  EXPECT_EQ(c.meta["seed"], 1);
  ASSERT_TRUE(r.next(c));
  EXPECT_EQ(c.meta["seed"], 2);
  EXPECT_FALSE(r.next(c));
}

TEST(Container, WriteIsAtomicAndLeavesNoTempFile) {
  TempDir dir;
  fs::path p = dir.root() / "x.mds";
  write_container(p.string(), sample_container(1));
  {
    ContainerWriter w(p.string());
    w.write(sample_container(2));
    // destroyed without commit: the old file must be untouched
  }
  EXPECT_EQ(read_container(p.string()).meta["seed"], 1);
  size_t files = 0;
  for (auto& e : fs::directory_iterator(dir.root())) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);
}

TEST(ContainerErrors, EmptyFile) { expect_rejected({}, {"empty file"}); }

TEST(ContainerErrors, WrongMagic) {
  auto b = encode_container(sample_container());
  b[0] = 'X';
  expect_rejected(b, {"offset 0", "wrong magic", "expected 5E 2A 4D 18", "found 58 2A 4D 18"});
}

TEST(ContainerErrors, PlainZstdStreamIsNamed) {
  std::vector<uint8_t> b = {0x28, 0xB5, 0x2F, 0xFD, 0, 0, 0, 0, 0};
  expect_rejected(b, {"plain zstd stream"});
}

TEST(ContainerErrors, WrongHeaderMagic) {
  auto b = encode_container(sample_container());
  b[8] = 'Z';
  expect_rejected(b, {"offset 8", "MDSF"});
}

TEST(ContainerErrors, NewerVersion) {
  auto b = encode_container(sample_container());
  b[12] = 7;  // version field follows "MDSF"
  expect_rejected(b, {"offset 12", "format version 7 is newer", "upgrade mds"});
}

TEST(ContainerErrors, TruncatedAnywhere) {
  auto full = encode_container(sample_container());
  // Every proper prefix must be refused with a message, never crash.
  for (size_t cut = 1; cut < full.size(); cut += (cut < 64 ? 1 : 7)) {
    std::vector<uint8_t> b(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut));
    SCOPED_TRACE(cut);
    expect_rejected(b, {"offset"});
  }
  std::vector<uint8_t> b(full.begin(), full.end() - 3);
  expect_rejected(b, {"truncated"});
}

TEST(ContainerErrors, HeaderChecksum) {
  auto b = encode_container(sample_container());
  b[find_bytes(b, "sample")] ^= 0x01;  // corrupt a byte of the metadata
  expect_rejected(b, {"header checksum mismatch", "expected", "found"});
}

TEST(ContainerErrors, SectionChecksum) {
  Container c;
  c.kind = "test";
  // Store data that zstd keeps raw so a flipped byte survives decompression.
  std::vector<uint8_t> noise(4096);
  std::mt19937 rng(5);
  for (auto& x : noise) x = static_cast<uint8_t>(rng());
  c.add(Section::from("noise", noise));
  auto b = encode_container(c);
  b[b.size() - 100] ^= 0xFF;
  expect_rejected(b, {"section 'noise'", "checksum mismatch"});
}

TEST(ContainerErrors, UnknownDtype) {
  auto b = encode_container(sample_container());
  size_t at = find_bytes(b, "weights") + 7;  // dtype byte follows the name
  b[at] = 42;
  fix_header_crc(b);
  expect_rejected(b, {"unknown dtype code 42", "section 'weights'"});
}

TEST(ContainerErrors, CountLargerThanFile) {
  auto b = encode_container(sample_container());
  // stored size of the first section: name, dtype, ndim, dims, raw size, then stored size
  size_t at = find_bytes(b, "weights") + 7 + 1 + 1 + 8 + 8;
  b[at + 5] = 0x10;  // ~17 TB
  fix_header_crc(b);
  expect_rejected(b, {"section 'weights'", "stored bytes but only", "remain"});
}

TEST(ContainerErrors, SectionCountLargerThanHeader) {
  Container c;
  c.kind = "test";
  auto b = encode_container(c);
  size_t at = b.size() - 8;  // the u32 section count precedes the header crc
  b[at + 3] = 0x7F;
  fix_header_crc(b);
  expect_rejected(b, {"section count", "larger than the header"});
}

TEST(ContainerErrors, RandomByteFlipsNeverCrash) {
  auto full = encode_container(sample_container());
  std::mt19937 rng(11);
  for (int trial = 0; trial < 300; ++trial) {
    auto b = full;
    b[rng() % b.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
    TempDir dir;
    write_bytes(dir.root() / "f.mds", b);
    try {
      ContainerReader r((dir.root() / "f.mds").string());
      Container c;
      while (r.next(c)) {
      }
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::bad_input);
    }
  }
}

// Metadata is JSON under the limits of every JSON input (docs/format.md): a
// value nested deeper than 512 levels, or a number beyond a double, is bad
// input at the offending byte, not a crash or a raw nlohmann error.
TEST(ContainerErrors, MetadataBeyondTheJsonLimits) {
  const auto with_meta_value = [](const std::string& replacement) {
    Container c;
    c.kind = "test";
    const std::string placeholder(replacement.size() - 2, 'Q');  // "QQ…Q" dumps to replacement's length
    c.meta = {{"x", placeholder}};
    auto b = encode_container(c);
    const size_t at = find_bytes(b, "\"" + placeholder + "\"");
    std::copy(replacement.begin(), replacement.end(), b.begin() + static_cast<std::ptrdiff_t>(at));
    fix_header_crc(b);
    return b;
  };
  expect_rejected(with_meta_value(std::string(600, '[') + std::string(600, ']')),
                  {"metadata: JSON nested too deeply at byte 517 of the metadata", "at most 512 levels"});
  expect_rejected(with_meta_value("1e99999"),
                  {"metadata: number out of range at byte 6 of the metadata", "found 1e99999"});
}
